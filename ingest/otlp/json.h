/*
 * json.h - a small, strict, bounded JSON parser (RFC 8259) into an arena.
 *
 * Strict: no comments, no trailing commas, no leading zeros, no control
 * characters or invalid UTF-8 in strings, no lone surrogates, nothing but
 * whitespace after the value. Bounded: nesting depth, string size and total
 * element count are capped before the corresponding memory is taken, and
 * recursion depth equals the nesting depth cap.
 *
 * Values form a tree of json_value nodes in the caller's arena. Children of
 * arrays and objects are singly linked in document order (objects keep
 * duplicate keys; the consumer decides). Numbers are kept as their source
 * text, so that 64-bit integers are exact; use json_number_* to read them.
 * Strings are unescaped, NUL-terminated, and may contain U+0000 (their
 * length is exact). Used by OTLP/JSON and, later, Loki push.
 *
 * Thread: any. Errors: SONDE_ERR_INVALID (syntax, with the byte offset),
 * SONDE_ERR_LIMIT (a cap), SONDE_ERR_NOMEM (arena cap).
 */
#ifndef SONDE_INGEST_OTLP_JSON_H
#define SONDE_INGEST_OTLP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/status.h"

typedef enum json_type {
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    bool b;            /* JSON_BOOL */
    const char *s;     /* JSON_STRING: unescaped; JSON_NUMBER: source text */
    size_t len;        /* length of s */
    json_value *child; /* JSON_ARRAY / JSON_OBJECT: first element or member */
    size_t n;          /* number of children */
    json_value *next;  /* next sibling */
    const char *key;   /* member key when the parent is an object (unescaped) */
    size_t key_len;
};

typedef struct json_limits {
    unsigned max_depth; /* arrays and objects nested (e.g. 64) */
    size_t max_str;     /* bytes per string or key after unescaping */
    size_t max_values;  /* values in the whole document */
} json_limits;

/* Parses in[0..n) into *out (in the arena). err gets "json: <what> at byte N". */
sonde_status json_parse(arena *a, const char *in, size_t n, const json_limits *lim,
                        json_value **out, char *err, size_t errlen);

/* First member of obj whose key equals key (NULL when none or not an object). */
const json_value *json_object_get(const json_value *obj, const char *key);

/* True when s[0..n) is a number in JSON syntax. */
bool json_number_syntax(const char *s, size_t n);
/* Integer value of a JSON number written without fraction or exponent. */
bool json_number_i64(const json_value *v, int64_t *out);
bool json_number_u64(const json_value *v, uint64_t *out);
bool json_number_f64(const json_value *v, double *out);

#endif
