/*
 * loghub_test.c - template-mining accuracy on the labelled LogHub-2k sets.
 *
 * For each data set it feeds the Content column of <DS>/<DS>_2k.log_structured.csv,
 * in file order, to ONE fresh miner with the default configuration, then scores
 * the grouping against both label sets (the corrected labels beside the data
 * and the original ones in original/), as ../shared/conformance/loghub/README.md
 * defines them:
 *   GA   lines whose produced group is exactly one true group / all lines;
 *   FGA  F1 of (correct groups / produced groups, correct groups / true groups);
 *   PA   lines whose final template text equals EventTemplate / all lines.
 * With --floor FILE ("<DS> <labels> <min GA>" lines) it exits 1 when a GA is
 * below its floor. It also reports the miner's lines per second.
 *
 * Usage: loghub-test [--floor FILE] [--only DS] [--threshold X] [--depth N]
 *                    [--explain DS | --explain-corrected DS] [--repeat N] DIR
 * --explain prints each true group that was not reproduced, with the groups
 * its lines went to.
 * --threshold and --depth are for experiments; the test uses the defaults.
 *
 * Threads: one. Data is read from the shared directory, never copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/parse.h"
#include "sampling/templates.h"

static const char *const SETS[] = {"HDFS",    "Spark", "Zookeeper", "BGL",    "HPC",
                                   "Windows", "Linux", "Android",   "Apache", "OpenSSH"};
#define NSETS (sizeof SETS / sizeof SETS[0])

typedef struct row {
    char *content;
    char *event_id;
    char *event_tmpl;
} row;

typedef struct table {
    row *rows;
    size_t n, cap;
} table;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    b[n] = 0;
    *len = n;
    return b;
}

/* Parses one CSV record at *p (RFC 4180 quoting, "" inside quotes); fields
 * are unescaped in place and NUL-terminated. Returns the field count. */
static size_t csv_record(char **p, char *end, char **fields, size_t max)
{
    char *s = *p;
    size_t nf = 0;
    if (s >= end)
        return 0;
    for (;;) {
        char *w = s, *start = s;
        if (s < end && *s == '"') {
            s++;
            for (;;) {
                if (s >= end)
                    break;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *w++ = *s++;
            }
            while (s < end && *s != ',' && *s != '\n' && *s != '\r')
                *w++ = *s++;
        } else {
            while (s < end && *s != ',' && *s != '\n' && *s != '\r')
                *w++ = *s++;
        }
        char sep = '\n';
        if (s < end)
            sep = *s;
        *w = 0;
        if (nf < max)
            fields[nf] = start;
        nf++;
        if (sep == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\r')
            s++;
        if (s < end && *s == '\n')
            s++;
        break;
    }
    *p = s;
    return nf;
}

static int load_table(const char *path, table *t, char **keep)
{
    size_t len;
    char *b = read_file(path, &len);
    if (!b) {
        fprintf(stderr, "loghub-test: %s: %s\n", path, strerror(errno));
        return -1;
    }
    *keep = b;
    char *p = b, *end = b + len;
    char *f[32];
    size_t nf = csv_record(&p, end, f, 32);
    int ci = -1, ei = -1, ti = -1;
    for (size_t i = 0; i < nf && i < 32; i++) {
        if (!strcmp(f[i], "Content"))
            ci = (int)i;
        else if (!strcmp(f[i], "EventId"))
            ei = (int)i;
        else if (!strcmp(f[i], "EventTemplate"))
            ti = (int)i;
    }
    if (ci < 0 || ei < 0 || ti < 0) {
        fprintf(stderr, "loghub-test: %s: no Content/EventId/EventTemplate header\n", path);
        return -1;
    }
    memset(t, 0, sizeof *t);
    while (p < end) {
        nf = csv_record(&p, end, f, 32);
        if (nf == 0)
            break;
        if (nf == 1 && !f[0][0])
            continue;
        if ((int)nf <= ci || (int)nf <= ei || (int)nf <= ti) {
            fprintf(stderr, "loghub-test: %s: short record %zu\n", path, t->n + 2);
            return -1;
        }
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 2048;
            row *nr = realloc(t->rows, t->cap * sizeof *nr);
            if (!nr)
                return -1;
            t->rows = nr;
        }
        t->rows[t->n++] = (row){f[ci], f[ei], f[ti]};
    }
    return 0;
}

typedef struct score {
    double ga, fga, pa;
} score;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Interns the labels as small integers (sorted unique list + bsearch). */
static int *label_ids(const table *t, size_t *nlabels)
{
    size_t n = t->n;
    char **v = malloc(n * sizeof *v);
    int *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        v[i] = t->rows[i].event_id;
    qsort(v, n, sizeof *v, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0)
            v[u++] = v[i];
    for (size_t i = 0; i < n; i++) {
        char *key = t->rows[i].event_id;
        char **hit = bsearch(&key, v, u, sizeof *v, cmp_str);
        ids[i] = (int)(hit - v);
    }
    free(v);
    *nlabels = u;
    return ids;
}

/* pred[i]: dense produced group of line i (0..npred). */
static score evaluate(const table *t, const int *pred, size_t npred, char **final_tmpl,
                      const char *explain_name)
{
    size_t n = t->n, nl;
    int *lab = label_ids(t, &nl);
    size_t *lab_size = calloc(nl, sizeof *lab_size);
    size_t *pred_size = calloc(npred, sizeof *pred_size);
    int *pred_lab = malloc(npred * sizeof *pred_lab); /* -1 unset, -2 mixed */
    for (size_t g = 0; g < npred; g++)
        pred_lab[g] = -1;
    for (size_t i = 0; i < n; i++) {
        lab_size[lab[i]]++;
        pred_size[pred[i]]++;
        int g = pred[i];
        if (pred_lab[g] == -1)
            pred_lab[g] = lab[i];
        else if (pred_lab[g] != lab[i])
            pred_lab[g] = -2;
    }
    size_t correct_lines = 0, correct_groups = 0, pa = 0;
    for (size_t g = 0; g < npred; g++)
        if (pred_lab[g] >= 0 && lab_size[pred_lab[g]] == pred_size[g]) {
            correct_groups++;
            correct_lines += pred_size[g];
        }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(final_tmpl[i], t->rows[i].event_tmpl))
            pa++;
    if (explain_name) {
        /* print every true group that was not reproduced, with its lines' templates */
        for (size_t l = 0; l < nl; l++) {
            int ok = 0;
            for (size_t g = 0; g < npred && !ok; g++)
                ok = pred_lab[g] == (int)l && pred_size[g] == lab_size[l];
            if (ok)
                continue;
            const char *eid = NULL;
            for (size_t i = 0; i < n; i++)
                if (lab[i] == (int)l) {
                    if (!eid) {
                        eid = t->rows[i].event_id;
                        printf("%s %s (%zu lines) %s\n", explain_name, eid, lab_size[l],
                               t->rows[i].event_tmpl);
                    }
                    static int shown[1 << 16];
                    if (shown[pred[i] & 0xffff] != (int)l + 1) {
                        shown[pred[i] & 0xffff] = (int)l + 1;
                        printf("    group %d (%zu lines%s): %s\n        e.g. %s\n", pred[i],
                               pred_size[pred[i]], pred_lab[pred[i]] == -2 ? ", mixed" : "",
                               final_tmpl[i], t->rows[i].content);
                    }
                }
        }
    }
    score s;
    s.ga = (double)correct_lines / (double)n;
    double prec = npred ? (double)correct_groups / (double)npred : 0;
    double rec = nl ? (double)correct_groups / (double)nl : 0;
    s.fga = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
    s.pa = (double)pa / (double)n;
    free(lab);
    free(lab_size);
    free(pred_size);
    free(pred_lab);
    return s;
}

typedef struct floor_entry {
    char ds[32];
    char labels[32];
    double min_ga;
} floor_entry;

/* Next whitespace-separated word of [*p, end); NULL at the end of the line. */
static char *next_word(char **p, char *end)
{
    char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
        s++;
    if (s >= end || *s == '#')
        return NULL;
    char *w = s;
    while (s < end && *s != ' ' && *s != '\t' && *s != '\r')
        s++;
    if (s < end)
        *s++ = 0;
    *p = s;
    return w;
}

/* Floor file: "<set> <labels> <min GA>" per line; '#' starts a comment. */
static size_t load_floor(const char *path, floor_entry *fl, size_t max)
{
    size_t len, n = 0;
    char *b = read_file(path, &len);
    if (!b) {
        fprintf(stderr, "loghub-test: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char *p = b, *end = b + len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        *eol = 0;
        char *cur = p;
        p = eol + 1;
        char *a = next_word(&cur, eol);
        if (!a)
            continue;
        char *l = next_word(&cur, eol), *v = next_word(&cur, eol);
        double d;
        if (!l || !v || next_word(&cur, eol) || !parse_f64(v, strlen(v), &d) || strlen(a) >= 32 ||
            strlen(l) >= 32 || n == max) {
            fprintf(stderr, "loghub-test: %s: bad line \"%s\"\n", path, a);
            exit(2);
        }
        snprintf(fl[n].ds, sizeof fl[n].ds, "%s", a);
        snprintf(fl[n].labels, sizeof fl[n].labels, "%s", l);
        fl[n].min_ga = d;
        n++;
    }
    free(b);
    return n;
}

/* CPU time of this thread: the machine is shared, and wall time would
 * measure the neighbours too */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *floor_path = NULL, *only = NULL, *explain = NULL;
    sampling_miner_config cfg;
    sampling_miner_config_default(&cfg);
    long repeat = 1;
    int explain_labels = 1; /* --explain: original labels */
    for (int i = 1; i < argc; i++) {
        size_t al = strlen(argv[i]);
        (void)al;
        if (!strcmp(argv[i], "--floor") && i + 1 < argc)
            floor_path = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--explain") && i + 1 < argc)
            explain = argv[++i];
        else if (!strcmp(argv[i], "--explain-corrected") && i + 1 < argc) {
            explain = argv[++i];
            explain_labels = 0;
        } else if (!strcmp(argv[i], "--threshold") && i + 1 < argc) {
            if (!parse_f64(argv[i + 1], strlen(argv[i + 1]), &cfg.sim_threshold))
                return 2;
            i++;
        } else if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
            uint64_t v;
            if (!parse_u64(argv[i + 1], strlen(argv[i + 1]), &v) || v > 31)
                return 2;
            cfg.depth = (uint32_t)v;
            i++;
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            uint64_t v;
            if (!parse_u64(argv[i + 1], strlen(argv[i + 1]), &v) || v == 0 || v > 100000)
                return 2;
            repeat = (long)v;
            i++;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: loghub-test [--floor FILE] [--only DS] [--explain DS] "
                            "[--explain-corrected DS] [--threshold X] [--depth N] [--repeat N] "
                            "DIR\n");
            return 2;
        } else
            dir = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "loghub-test: no data directory given\n");
        return 2;
    }
    floor_entry fl[64];
    size_t nfl = floor_path ? load_floor(floor_path, fl, 64) : 0;

    static const char *const LABELS[2] = {"corrected", "original"};
    double sum[2][3] = {{0}};
    size_t nsum = 0, total_lines = 0, total_bytes = 0;
    double total_time = 0;
    int failed = 0;
    printf("%-10s %-9s %6s %6s %6s %6s\n", "set", "labels", "GA", "FGA", "PA", "groups");
    for (size_t k = 0; k < NSETS; k++) {
        if (only && strcmp(only, SETS[k]) != 0)
            continue;
        char path[4096];
        table lt[2];
        char *keep[2] = {NULL, NULL};
        int bad = 0;
        for (int L = 0; L < 2; L++) {
            snprintf(path, sizeof path, "%s/%s/%s%s_2k.log_structured.csv", dir, SETS[k],
                     L ? "original/" : "", SETS[k]);
            if (load_table(path, &lt[L], &keep[L]) != 0)
                bad = 1;
        }
        if (bad || lt[0].n != lt[1].n || lt[0].n == 0) {
            fprintf(stderr, "loghub-test: %s: cannot read both label sets\n", SETS[k]);
            return 2;
        }
        size_t n = lt[0].n;
        uint64_t *ids = malloc(n * sizeof *ids);
        sampling_miner *m = NULL;
        char err[256] = "";
        if (sampling_miner_create(&cfg, &m, err, sizeof err) != SONDE_OK) {
            fprintf(stderr, "loghub-test: miner: %s\n", err);
            return 2;
        }
        size_t *lens = malloc(n * sizeof *lens);
        for (size_t i = 0; i < n; i++)
            lens[i] = strlen(lt[0].rows[i].content);
        /* accuracy is scored on the first pass; --repeat feeds the set again
         * to the same miner (a steady stream) to time it */
        double t0 = now_s();
        for (long r = 0; r < repeat; r++) {
            for (size_t i = 0; i < n; i++) {
                sampling_add_result res;
                const char *c = lt[0].rows[i].content;
                if (sampling_miner_add(m, c, lens[i], &res) != SONDE_OK) {
                    fprintf(stderr, "loghub-test: add failed\n");
                    return 2;
                }
                if (r == 0)
                    ids[i] = res.template_id;
            }
        }
        total_time += now_s() - t0;
        free(lens);
        total_lines += n * (size_t)repeat;
        for (size_t i = 0; i < n; i++)
            total_bytes += strlen(lt[0].rows[i].content) * (size_t)repeat;
        /* dense group numbers and final template texts */
        int *pred = malloc(n * sizeof *pred);
        char **tmpl = malloc(n * sizeof *tmpl);
        size_t npred = 0;
        {
            uint64_t maxid = 0;
            for (size_t i = 0; i < n; i++)
                maxid = ids[i] > maxid ? ids[i] : maxid;
            int *dense = malloc((maxid + 1) * sizeof *dense);
            for (uint64_t i = 0; i <= maxid; i++)
                dense[i] = -1;
            for (size_t i = 0; i < n; i++) {
                if (dense[ids[i]] < 0)
                    dense[ids[i]] = (int)npred++;
                pred[i] = dense[ids[i]];
                const char *txt = "";
                if (sampling_miner_lookup(m, ids[i], &txt, NULL) != SONDE_OK)
                    txt = "";
                tmpl[i] = (char *)txt;
            }
            free(dense);
        }
        for (int L = 0; L < 2; L++) {
            score s = evaluate(
                &lt[L], pred, npred, tmpl,
                (explain && !strcmp(explain, SETS[k]) && L == explain_labels) ? SETS[k] : NULL);
            printf("%-10s %-9s %6.3f %6.3f %6.3f %6zu\n", SETS[k], LABELS[L], s.ga, s.fga, s.pa,
                   npred);
            sum[L][0] += s.ga;
            sum[L][1] += s.fga;
            sum[L][2] += s.pa;
            for (size_t f = 0; f < nfl; f++)
                if (!strcmp(fl[f].ds, SETS[k]) && !strcmp(fl[f].labels, LABELS[L]) &&
                    s.ga + 1e-9 < fl[f].min_ga) {
                    printf("FAIL %s %s: GA %.3f below floor %.3f\n", SETS[k], LABELS[L], s.ga,
                           fl[f].min_ga);
                    failed = 1;
                }
        }
        nsum++;
        sampling_miner_destroy(m);
        free(ids);
        free(pred);
        free(tmpl);
        for (int L = 0; L < 2; L++) {
            free(lt[L].rows);
            free(keep[L]);
        }
    }
    if (nsum)
        for (int L = 0; L < 2; L++)
            printf("%-10s %-9s %6.3f %6.3f %6.3f\n", "mean", LABELS[L], sum[L][0] / (double)nsum,
                   sum[L][1] / (double)nsum, sum[L][2] / (double)nsum);
    if (total_time > 0)
        printf("miner: %zu lines in %.3f s CPU = %.0f lines/s on one thread "
               "(%.0f bytes/line)\n",
               total_lines, total_time, (double)total_lines / total_time,
               (double)total_bytes / (double)total_lines);
    for (size_t f = 0; f < nfl; f++)
        if (!strcmp(fl[f].ds, "mean")) {
            int L = !strcmp(fl[f].labels, "original");
            if (nsum == NSETS && sum[L][0] / (double)nsum + 1e-9 < fl[f].min_ga) {
                printf("FAIL mean %s: GA %.3f below floor %.3f\n", LABELS[L],
                       sum[L][0] / (double)nsum, fl[f].min_ga);
                failed = 1;
            }
        }
    return failed;
}
