/*
 * templates_internal.h - private to sampling/templates*.c: the variable
 * masker (one combined PCRE2 JIT pattern) that the miner runs before
 * tokenising.
 */
#ifndef SONDE_SAMPLING_TEMPLATES_INTERNAL_H
#define SONDE_SAMPLING_TEMPLATES_INTERNAL_H

#include <stddef.h>

#include "sampling/templates.h"

/* The boundary most default masks open with: not glued to a letter or digit
 * before. Masks that start with exactly this text share one test of it. */
#define SAMPLING_MASK_GUARD "(?<![A-Za-z0-9])"

typedef struct sampling_masker {
    void *code;             /* pcre2_code_8 *, NULL when there are no masks */
    void *anchored;         /* the same, compiled anchored: for the default-set scan */
    void *plain;            /* anchored, without the masks that need a run follower */
    void *match_data;       /* pcre2_match_data_8 *, sized for the pattern, reused per line */
    int jit;                /* 1 when JIT compiled: pcre2_jit_match is used */
    unsigned char cls[256]; /* byte classes for the default-set scan */
} sampling_masker;

/* Compiles masks[0..n) into one alternation. masks == NULL: the default set,
 * which is scanned with a prefilter that tries the pattern only where one of
 * its masks can start. SONDE_ERR_INVALID names the failing mask in errbuf;
 * SONDE_ERR_NOMEM. */
sonde_status sampling_masker_init(sampling_masker *mk, const sampling_mask *masks, size_t n,
                                  char *errbuf, size_t errbuf_len);
void sampling_masker_fini(sampling_masker *mk);

/* Writes in[0..len) to out with every mask match replaced by <*> (adjacent
 * wildcards collapse into one). out must hold 3 * len + 1 bytes; the result
 * is NUL-terminated and its length is returned. */
size_t sampling_masker_apply(sampling_masker *mk, const char *in, size_t len, char *out);

#endif
