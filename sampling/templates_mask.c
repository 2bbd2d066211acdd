/*
 * templates_mask.c - the variable masker of the template miner.
 *
 * Design: all masks are compiled into ONE alternation "(?:m1)|(?:m2)|..."
 * (PCRE2, 8-bit, no UTF so any bytes are accepted, JIT when available). One
 * left-to-right scan replaces each match with <*>; where two masks could match
 * at the same position, the earlier one wins (alternation order), and a match
 * that starts earlier always wins over a later one. The match data is
 * allocated once per masker and reused, so a line costs no allocation.
 *
 * Threads: a masker belongs to one miner and so to one thread.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/templates_internal.h"

/*
 * The default variable classes. Each starts with the same guard, "not glued
 * to a letter or digit before it", so that a variable glued to punctuation
 * ("(uid=0)", "size:1024,", "blk_-42") is found while the digits of names
 * ("ipv4", "t761") are left alone: such tokens are often constants. Only
 * idnum looks inside names, for the number of a numbered one ("bglio78").
 * Quantifiers that cannot need backtracking are possessive (++, *+), so a
 * failed attempt costs one pass over the token.
 *
 * Changing this set: apply_prefiltered() relies on where these masks can
 * start and on default_needs_follower below. Keep its rules true for every
 * mask; test_prefilter_agrees (tests/unit/sampling) and the fuzz target
 * compare it with a plain scan of the same masks.
 */
#define G SAMPLING_MASK_GUARD
static const sampling_mask default_masks[] = {
    {"url", G "[A-Za-z][A-Za-z0-9+.-]*+://[^\\s\"'<>]++"},
    {"email", G "(?<![.+-])[\\w.+-]++@[A-Za-z0-9-]++(?:\\.[A-Za-z0-9-]++)*\\.[A-Za-z]{2,}\\b"},
    {"uuid", G "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\b"},
    /* ISO 8601 / RFC 3339 date with optional time; also 2015/10/18 */
    {"datetime", G "\\d{4}[-/]\\d{1,2}[-/]\\d{1,2}(?:[T ]\\d{1,2}:\\d{2}(?::\\d{2})?(?:[.,]\\d+)?"
                   "(?:Z|[+-]\\d{2}:?\\d{2})?)?\\b"},
    /* ctime / syslog dates: "Sun Jul  3 10:05:25 2005", "Jun 17 07:07:00" */
    {"ctime", G "(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep"
                "|Oct|Nov|Dec)\\s+\\d{1,2}\\s+\\d{1,2}:\\d{2}:\\d{2}(?:\\s+\\d{4})?\\b"},
    {"time", G "\\d{1,2}:\\d{2}:\\d{2}(?:[.,]\\d+)?\\b"},
    /* IPv6: full form or with "::"; optional [..]:port */
    {"ipv6", G "(?<![_:.])\\[?(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
               "|(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{0,4}::(?:[0-9a-fA-F]{1,4}:){0,6}"
               "[0-9a-fA-F]{1,4})\\]?(?::\\d{1,5})?(?![\\w:])"},
    /* IPv4 with optional port, and the "/ip:port" form Java prints */
    {"ipv4", G "(?<![_.])/?(?:\\d{1,3}\\.){3}\\d{1,3}(?::\\d{1,5})?(?![\\w.])"},
    /* MAC address */
    {"mac", G "[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\\b"},
    /* paths: two or more segments ("/var/log/x", "a/b/c"), Windows paths */
    {"path", G "(?<![_.:/-])[\\w.-]*+(?:/[\\w.@%+~,-]++){2,}/?"},
    {"winpath", G "[A-Za-z]:\\\\[^\\s\"'<>]*+"},
    {"winpath2", G "(?<![_.$?\\\\-])(?:[\\w.$?-]*+\\\\){2,}[^\\s'\"<>]*+"},
    {"hex", G "0[xX][0-9a-fA-F]++\\b"},
    /* bare hex ids: at least 6 hex digits with both a digit and a letter */
    {"hexid", G "(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}+\\b"},
    /* sizes with a unit, the unit included: "5.2 KB", "64MiB" */
    {"size", G "\\d++(?:\\.\\d++)? ?[KMGTP]i?B\\b"},
    {"duration", G "(?<!\\.)\\d++(?:\\.\\d++)?(?:ns|us|ms|s|m|h)(?![A-Za-z0-9])"},
    /* numbers, signed, decimal, scientific */
    {"number", G "[-+]?\\d++(?:\\.\\d++)*+(?:[eE][-+]?\\d++)?(?![A-Za-z0-9])"},
    /* the number of a numbered name: "bglio78" -> "bglio<*>" (one digit stays: "eth0") */
    {"idnum", "(?<=[A-Za-z])\\d{2,}+(?![A-Za-z0-9])"},
};
#undef G

/* Default masks that can match from a run byte only when the run ends at
 * '@', '/', ':' or '\\' (url, email, ipv6, mac, path, winpath, winpath2,
 * time): apply_prefiltered() leaves them out elsewhere. Same order as above. */
static const unsigned char default_needs_follower[] = {
    [0] = 1,  /* url: "://" */
    [1] = 1,  /* email: "@" */
    [5] = 1,  /* time: ":" */
    [6] = 1,  /* ipv6: ":" after the first group (or '[', not a run byte) */
    [8] = 1,  /* mac: ":" */
    [9] = 1,  /* path: "/" */
    [10] = 1, /* winpath: ":" */
    [11] = 1, /* winpath2: "\\" */
    [17] = 0, /* idnum, the last: sizes the table */
};
_Static_assert(sizeof default_needs_follower == sizeof default_masks / sizeof default_masks[0],
               "one entry per default mask");

const sampling_mask *sampling_default_masks(size_t *n)
{
    *n = sizeof default_masks / sizeof default_masks[0];
    return default_masks;
}

enum { C_ALPHA = 1, C_DIGIT = 2, C_RUN = 4, C_FOLLOW = 8, C_NUMSTOP = 16 };

/* Byte classes for the scan: letters, digits, run bytes, the run followers
 * that some mask needs ('@', '/', ':', '\\'), and the bytes after a digit
 * run that could let a mask other than "number" match (C_NUMSTOP). */
static void byte_class(unsigned char *t)
{
    {
        for (int c = 0; c < 256; c++) {
            uint8_t k = 0;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                k |= C_ALPHA | C_RUN | C_NUMSTOP;
            if (c >= '0' && c <= '9')
                k |= C_DIGIT | C_RUN | C_NUMSTOP;
            if (strchr("_.+-$?", c) && c)
                k |= C_RUN | C_NUMSTOP;
            if (strchr("@/:\\", c) && c)
                k |= C_FOLLOW | C_NUMSTOP;
            t[c] = k;
        }
    }
}

/*
 * One alternation of masks[0..n) in priority order; plain: without the
 * default masks that need a run follower. Masks that open with the shared
 * guard are grouped behind one copy of it: "G(?:(?:a)|(?:b))|(?:c)".
 * Equivalent (the guard is a lookbehind at the same position for each), but
 * a position inside a word then fails once instead of once per mask. Only
 * adjacent masks are grouped, so priority order is kept. malloc'd; NULL on
 * OOM.
 */
static char *combine(const sampling_mask *masks, size_t n, int plain, size_t total, size_t *len)
{
    const size_t gl = strlen(SAMPLING_MASK_GUARD);
    char *pat = malloc(total + n * 8 + 16);
    if (!pat)
        return NULL;
    size_t off = 0;
    int in_group = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
        if (plain && default_needs_follower[i])
            continue;
        const char *mp = masks[i].pattern;
        int guarded = strncmp(mp, SAMPLING_MASK_GUARD, gl) == 0 && mp[gl];
        if (in_group && !guarded) {
            pat[off++] = ')';
            in_group = 0;
        }
        if (any)
            pat[off++] = '|';
        any = 1;
        if (guarded) {
            mp += gl;
            if (!in_group) {
                memcpy(pat + off, SAMPLING_MASK_GUARD "(?:", gl + 3);
                off += gl + 3;
                in_group = 1;
            }
        }
        size_t l = strlen(mp);
        memcpy(pat + off, "(?:", 3);
        off += 3;
        memcpy(pat + off, mp, l);
        off += l;
        pat[off++] = ')';
    }
    if (in_group)
        pat[off++] = ')';
    pat[off] = 0;
    *len = off;
    return pat;
}

sonde_status sampling_masker_init(sampling_masker *mk, const sampling_mask *masks, size_t n,
                                  char *errbuf, size_t errbuf_len)
{
    memset(mk, 0, sizeof *mk);
    int defaults = masks == NULL;
    if (defaults)
        masks = sampling_default_masks(&n);
    if (n == 0)
        return SONDE_OK;
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        if (!masks[i].pattern || !masks[i].pattern[0]) {
            if (errbuf && errbuf_len)
                snprintf(errbuf, errbuf_len, "mask %zu (%s): empty pattern", i,
                         masks[i].name ? masks[i].name : "?");
            return SONDE_ERR_INVALID;
        }
        /* each mask alone must compile, so that the error names it */
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *one =
            pcre2_compile((PCRE2_SPTR)masks[i].pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
        if (!one) {
            if (errbuf && errbuf_len) {
                PCRE2_UCHAR msg[128];
                pcre2_get_error_message(ec, msg, sizeof msg);
                snprintf(errbuf, errbuf_len, "mask %zu (%s): %s at offset %zu", i,
                         masks[i].name ? masks[i].name : "?", (const char *)msg, (size_t)eo);
            }
            return SONDE_ERR_INVALID;
        }
        pcre2_code_free(one);
        total += strlen(masks[i].pattern) + 5;
    }
    int ec;
    PCRE2_SIZE eo;
    size_t off;
    char *pat = combine(masks, n, 0, total, &off);
    if (!pat)
        return SONDE_ERR_NOMEM;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, off, 0, &ec, &eo, NULL);
    if (!code) {
        free(pat);
        if (errbuf && errbuf_len)
            snprintf(errbuf, errbuf_len, "masks do not combine (error %d at %zu)", ec, (size_t)eo);
        return SONDE_ERR_INVALID;
    }
    mk->code = code;
    mk->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    if (defaults) {
        /* the default-set scan: the whole set anchored, and the set without
         * the masks that need a run follower (see apply_prefiltered) */
        mk->anchored = pcre2_compile((PCRE2_SPTR)pat, off, PCRE2_ANCHORED, &ec, &eo, NULL);
        free(pat);
        pat = combine(masks, n, 1, total, &off);
        if (pat)
            mk->plain = pcre2_compile((PCRE2_SPTR)pat, off, PCRE2_ANCHORED, &ec, &eo, NULL);
        if (!mk->anchored || !mk->plain) {
            free(pat);
            sampling_masker_fini(mk);
            return SONDE_ERR_NOMEM;
        }
        if (mk->jit && (pcre2_jit_compile(mk->anchored, PCRE2_JIT_COMPLETE) != 0 ||
                        pcre2_jit_compile(mk->plain, PCRE2_JIT_COMPLETE) != 0))
            mk->jit = 0;
        byte_class(mk->cls);
    }
    free(pat);
    /* sized for the full pattern, which has the most capture slots */
    mk->match_data = pcre2_match_data_create_from_pattern(code, NULL);
    if (!mk->match_data) {
        sampling_masker_fini(mk);
        return SONDE_ERR_NOMEM;
    }
    return SONDE_OK;
}

void sampling_masker_fini(sampling_masker *mk)
{
    pcre2_match_data_free(mk->match_data);
    pcre2_code_free(mk->code);
    pcre2_code_free(mk->anchored);
    pcre2_code_free(mk->plain);
    memset(mk, 0, sizeof *mk);
}

static size_t put_wild(char *out, size_t o)
{
    /* adjacent variables ("<*><*>") are one variable */
    if (o >= 3 && memcmp(out + o - 3, SAMPLING_WILDCARD, 3) == 0)
        return o;
    memcpy(out + o, SAMPLING_WILDCARD, 3);
    return o + 3;
}

/*
 * The default-set scan. An unanchored search tries every mask at every byte;
 * most bytes are inside words that no mask can match. The default masks can
 * only start (see their comments) on a byte of a "run" ([A-Za-z0-9_.+$?-]+)
 * or on '/', '\\', '[' or ':', and all but idnum only where the byte before
 * is not a letter or digit (the guard); idnum starts on a digit after a
 * letter. A run can hold a match start only if it has a digit, a letter
 * segment of exactly three letters (ctime's "Sun", "Jul"), 36 bytes or more
 * (a UUID of hex letters), or is followed by '@', '/', ':' or '\\' (email,
 * path, URL, drive, Windows path). So the pattern, compiled anchored, is
 * tried only at those positions, in order: the first position that matches
 * is the one the unanchored search would have found.
 */
static inline int is_alpha(unsigned char c)
{
    return (unsigned)((c | 32) - 'a') < 26u;
}

static inline int is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10u;
}

static inline int is_hex(unsigned char c)
{
    return is_digit(c) || (unsigned)((c | 32) - 'a') < 6u;
}

static inline int is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

/* Anchored attempt at p: the match end, or 0 for none. */
static inline size_t try_at(sampling_masker *mk, void *code, const char *in, size_t len, size_t p)
{
    pcre2_match_data *md = mk->match_data;
    int rc = mk->jit ? pcre2_jit_match(code, (PCRE2_SPTR)in, len, p, 0, md, NULL)
                     : pcre2_match(code, (PCRE2_SPTR)in, len, p, 0, md, NULL);
    if (rc < 0)
        return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    return ov[0] == p && ov[1] > p && ov[1] <= len ? ov[1] : 0;
}

/* Whether a mask of the plain set (the run has no follower) can match at a
 * guarded run byte p; 0 is sure. Of those masks only uuid and hexid (six or
 * more hex digits), ctime (a day or month name) start on a letter, only
 * number starts on a sign (before a digit), none on '_', '.', '$' or '?'. */
static int plain_may_start(const unsigned char *u, size_t p, size_t len)
{
    unsigned char c = u[p];
    if (is_digit(c))
        return 1;
    if (c == '-' || c == '+')
        return p + 1 < len && is_digit(u[p + 1]);
    if (!is_alpha(c))
        return 0;
    size_t h = p;
    while (h < len && h - p < 6 && is_hex(u[h]))
        h++;
    if (h - p >= 6)
        return 1;
    if (len - p < 3)
        return 0;
    static const char names[] = "MonTueWedThuFriSatSunJanFebMarAprMayJunJulAugSepOctNovDec";
    for (size_t i = 0; i + 3 <= sizeof names - 1; i += 3)
        if (names[i] == c && names[i + 1] == u[p + 1] && names[i + 2] == u[p + 2])
            return 1;
    return 0;
}

static size_t apply_prefiltered(sampling_masker *mk, const char *in, size_t len, char *out)
{
    const unsigned char *u = (const unsigned char *)in;
    const unsigned char *cls = mk->cls;
    size_t o = 0, pos = 0, i = 0;
    while (i < len) {
        size_t e = 0, at = i;
        if (cls[u[i]] & C_RUN) {
            size_t j = i, seg = 0;
            int interesting = 0;
            for (; j < len && (cls[u[j]] & C_RUN); j++) {
                if (cls[u[j]] & C_ALPHA) {
                    seg++;
                    continue;
                }
                interesting |= (cls[u[j]] & C_DIGIT) || seg == 3;
                seg = 0;
            }
            interesting |= seg == 3 || j - i >= 36;
            int follower = j < len && (cls[u[j]] & C_FOLLOW);
            interesting |= follower;
            void *code = follower ? mk->anchored : mk->plain;
            if (!interesting) {
                i = j;
                continue;
            }
            for (size_t p = i; p < j && !e; p++) {
                int guard = p == 0 || !is_alnum(u[p - 1]);
                if (guard && is_digit(u[p])) {
                    /* a plain digit run ended by a byte no other mask can
                     * continue with is a "number": skip the pattern */
                    size_t q = p + 1;
                    while (q < j && is_digit(u[q]))
                        q++;
                    if (q == len ||
                        (!(cls[u[q]] & C_NUMSTOP) &&
                         !(u[q] == ' ' && q + 1 < len && strchr("KMGTP", u[q + 1]) && u[q + 1]))) {
                        e = q;
                        at = p;
                        break;
                    }
                }
                if (!guard) {
                    /* a digit glued to a letter: only idnum, which starts
                     * without the guard, can match here */
                    if (is_digit(u[p]) && is_alpha(u[p - 1])) {
                        size_t q = p + 1;
                        while (q < len && is_digit(u[q]))
                            q++;
                        if (q - p >= 2 && (q == len || !is_alnum(u[q]))) {
                            e = q;
                            at = p;
                        }
                    }
                } else if (code == mk->anchored || plain_may_start(u, p, len)) {
                    e = try_at(mk, code, in, len, p);
                    at = p;
                }
            }
            if (!e) {
                i = j;
                continue;
            }
        } else {
            unsigned char c = u[i];
            if ((c == '/' || c == '\\' || c == '[' || c == ':') && (i == 0 || !is_alnum(u[i - 1])))
                e = try_at(mk, mk->anchored, in, len, i);
            if (!e) {
                i++;
                continue;
            }
        }
        memcpy(out + o, in + pos, at - pos);
        o = put_wild(out, o + (at - pos));
        pos = i = e;
    }
    memcpy(out + o, in + pos, len - pos);
    o += len - pos;
    out[o] = 0;
    return o;
}

size_t sampling_masker_apply(sampling_masker *mk, const char *in, size_t len, char *out)
{
    if (mk->anchored)
        return apply_prefiltered(mk, in, len, out);
    size_t o = 0, pos = 0;
    if (mk->code) {
        pcre2_code *code = mk->code;
        pcre2_match_data *md = mk->match_data;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        while (pos < len) {
            int rc = mk->jit ? pcre2_jit_match(code, (PCRE2_SPTR)in, len, pos, 0, md, NULL)
                             : pcre2_match(code, (PCRE2_SPTR)in, len, pos, 0, md, NULL);
            if (rc < 0)
                break; /* no match (or a match limit): the rest is literal */
            size_t s = ov[0], e = ov[1];
            if (s < pos || e > len || e < s)
                break; /* \K tricks in a caller's mask: treat the rest as literal */
            memcpy(out + o, in + pos, s - pos);
            o += s - pos;
            if (e == s) {
                /* an empty match replaces nothing; step over one byte */
                if (s < len)
                    out[o++] = in[s];
                pos = s + 1;
                continue;
            }
            o = put_wild(out, o);
            pos = e;
        }
    }
    if (pos < len) {
        memcpy(out + o, in + pos, len - pos);
        o += len - pos;
    }
    out[o] = 0;
    return o;
}
