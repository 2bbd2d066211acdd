/*
 * regex.c - PCRE2 regexes with Prometheus semantics: fully anchored
 * (^(?:re)$ via PCRE2_ANCHORED|PCRE2_ENDANCHORED), UTF mode, JIT-compiled
 * when the platform allows (falls back to the interpreter otherwise).
 *
 * Ownership: a query_regex owns its code and one match-data block, so a
 * regex is used by one thread at a time (queries are single-threaded; each
 * query compiles its own regexes at parse time).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql.h"

struct query_regex {
    pcre2_code *code;
    pcre2_match_data *md;
};

query_regex *query_regex_compile(const char *pat, size_t n, char *err, size_t errlen)
{
    int ec = 0;
    PCRE2_SIZE eo = 0;
    /* Go's RE2 "." does not match "\n" by default either; DOTALL stays off. */
    pcre2_code *code = pcre2_compile(
        (PCRE2_SPTR)pat, n, PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)eo);
        return NULL;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* interpreter if JIT is unavailable */
    query_regex *re = calloc(1, sizeof(*re));
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!re || !md) {
        free(re);
        pcre2_match_data_free(md);
        pcre2_code_free(code);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    re->code = code;
    re->md = md;
    return re;
}

void query_regex_free(query_regex *re)
{
    if (!re)
        return;
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    free(re);
}

bool query_regex_match(query_regex *re, const char *s, size_t n)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(n ? s : ""), n, 0, 0, re->md, NULL);
    return rc >= 0;
}

bool query_regex_replace(query_regex *re, const char *s, size_t n, const char *repl,
                         size_t repl_len, buf *out)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(n ? s : ""), n, 0, 0, re->md, NULL);
    if (rc < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    uint32_t ngroups = pcre2_get_ovector_count(re->md);
    /* Go's Regexp.Expand: $1, ${1}, ${name}, $$; an unknown group expands to "". */
    for (size_t i = 0; i < repl_len; i++) {
        char c = repl[i];
        if (c != '$' || i + 1 >= repl_len) {
            buf_putc(out, c);
            continue;
        }
        if (repl[i + 1] == '$') {
            buf_putc(out, '$');
            i++;
            continue;
        }
        size_t st = i + 1, en;
        bool braced = repl[st] == '{';
        if (braced) {
            st++;
            en = st;
            while (en < repl_len && repl[en] != '}')
                en++;
            if (en >= repl_len) {
                buf_putc(out, c);
                continue;
            }
        } else {
            en = st;
            while (en < repl_len &&
                   (repl[en] == '_' || (repl[en] >= '0' && repl[en] <= '9') ||
                    (repl[en] >= 'a' && repl[en] <= 'z') || (repl[en] >= 'A' && repl[en] <= 'Z')))
                en++;
            if (en == st) {
                buf_putc(out, c);
                continue;
            }
        }
        const char *name = repl + st;
        size_t nlen = en - st;
        long g = -1;
        bool numeric = nlen > 0;
        for (size_t k = 0; k < nlen; k++)
            if (name[k] < '0' || name[k] > '9')
                numeric = false;
        if (numeric) {
            g = 0;
            for (size_t k = 0; k < nlen && g < 100000; k++)
                g = g * 10 + (name[k] - '0');
        } else {
            char tmp[128];
            if (nlen < sizeof(tmp)) {
                memcpy(tmp, name, nlen);
                tmp[nlen] = 0;
                int r = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)tmp);
                if (r >= 0)
                    g = r;
            }
        }
        if (g >= 0 && (uint32_t)g < ngroups && (int)g < rc && ov[2 * g] != PCRE2_UNSET)
            buf_append(out, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        i = braced ? en : en - 1;
    }
    return true;
}
