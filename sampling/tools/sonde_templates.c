/*
 * sonde_templates.c - build/sonde-templates: the log template miner on the
 * command line.
 *
 * Reads lines from stdin, or from each file named (in order, one miner for
 * all), feeds them to one miner with the default configuration and prints,
 * for each input line, "<template id>\t<template>" with the template as it
 * stands after that line. With --summary it prints nothing per line and, at
 * the end, "<template id>\t<count>\t<template>" for every template, in id
 * order. Lines end at \n; a \r before it is dropped (CRLF files). Lines longer
 * than the miner's max_line_len are cut there (the rest is skipped).
 *
 * Threads: one. Exit status: 0, 1 on a read or miner error, 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/templates.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sonde-templates [--summary] [FILE...]\n"
               "\n"
               "Mines log templates from FILEs (or stdin) with sonde's template miner.\n"
               "Prints \"<template id>\\t<template>\" for each input line, the template as it\n"
               "is after that line; variables print as <*>.\n"
               "\n"
               "  --summary  print each template once at the end instead:\n"
               "             \"<template id>\\t<count>\\t<template>\", in id order\n"
               "  --help     this text\n");
}

typedef struct tool {
    sampling_miner *m;
    int summary;
    size_t max_line; /* longer lines are cut here; the rest is skipped */
    char *buf;       /* read buffer: max_line + 1 bytes at least */
    size_t cap;
} tool;

static int emit(tool *t, const char *line, size_t len, const char *name)
{
    if (len && line[len - 1] == '\r')
        len--;
    sampling_add_result r;
    sonde_status st = sampling_miner_add(t->m, line, len, &r);
    if (st != SONDE_OK) {
        fprintf(stderr, "sonde-templates: %s: %s\n", name, sonde_status_name(st));
        return -1;
    }
    if (!t->summary)
        printf("%llu\t%s\n", (unsigned long long)r.template_id, r.template_text);
    return 0;
}

/* Bounded line reader: the buffer never grows; an over-long line is handed
 * to the miner cut at max_line, and its tail up to the newline is dropped. */
static int feed(tool *t, FILE *in, const char *name)
{
    size_t have = 0;
    int skipping = 0;
    for (;;) {
        size_t r = fread(t->buf + have, 1, t->cap - have, in);
        if (r == 0) {
            if (ferror(in)) {
                fprintf(stderr, "sonde-templates: %s: %s\n", name, strerror(errno));
                return -1;
            }
            if (have && !skipping && emit(t, t->buf, have, name) != 0)
                return -1;
            return 0;
        }
        have += r;
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(t->buf + pos, '\n', have - pos);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (t->buf + pos));
            if (!skipping && emit(t, t->buf + pos, len, name) != 0)
                return -1;
            skipping = 0;
            pos += len + 1;
        }
        memmove(t->buf, t->buf + pos, have - pos);
        have -= pos;
        if (have >= t->max_line + 1 && !skipping) {
            /* keep one byte past the cap so a cut \r\n line still sees its \r */
            if (emit(t, t->buf, t->max_line, name) != 0)
                return -1;
            skipping = 1;
        }
        if (skipping)
            have = 0;
    }
}

static bool print_one(const sampling_template_info *ti, void *arg)
{
    (void)arg;
    printf("%llu\t%llu\t%s\n", (unsigned long long)ti->id, (unsigned long long)ti->count, ti->text);
    return true;
}

int main(int argc, char **argv)
{
    tool t = {0};
    int first_file = argc, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            first_file = i + 1;
            break;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--summary")) {
            t.summary = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "sonde-templates: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            first_file = i; /* options end at the first file */
            break;
        }
    }
    sampling_miner_config cfg;
    sampling_miner_config_default(&cfg);
    t.max_line = cfg.max_line_len;
    t.cap = t.max_line + 1 > (1u << 20) ? t.max_line + 1 : (1u << 20);
    t.buf = malloc(t.cap);
    char err[256] = "";
    if (!t.buf || sampling_miner_create(&cfg, &t.m, err, sizeof err) != SONDE_OK) {
        fprintf(stderr, "sonde-templates: %s\n", err[0] ? err : "out of memory");
        free(t.buf);
        return 1;
    }
    if (first_file >= argc) {
        rc = feed(&t, stdin, "stdin") ? 1 : 0;
    } else {
        for (int i = first_file; i < argc && !rc; i++) {
            if (!strcmp(argv[i], "-")) {
                rc = feed(&t, stdin, "stdin") ? 1 : 0;
                continue;
            }
            FILE *f = fopen(argv[i], "rb");
            if (!f) {
                fprintf(stderr, "sonde-templates: %s: %s\n", argv[i], strerror(errno));
                rc = 1;
                break;
            }
            rc = feed(&t, f, argv[i]) ? 1 : 0;
            fclose(f);
        }
    }
    if (!rc && t.summary && sampling_miner_foreach(t.m, print_one, NULL) != SONDE_OK) {
        fprintf(stderr, "sonde-templates: out of memory\n");
        rc = 1;
    }
    if (fflush(stdout) != 0)
        rc = 1;
    free(t.buf);
    sampling_miner_destroy(t.m);
    return rc;
}
