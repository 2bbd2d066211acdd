/*
 * json_map.c - OTLP/JSON onto the protobuf-c structs of the export requests.
 *
 * The mapping is driven by the protobuf-c message descriptors, so every
 * OTLP message is covered by the same ~300 lines and stays in step with the
 * .proto files. Rules (OTLP/JSON, i.e. proto3 JSON with OTLP's exceptions):
 *   - keys are lowerCamelCase; the original snake_case names are accepted
 *     too, as proto3 JSON parsers do; unknown keys are ignored; null means
 *     "default" and is skipped;
 *   - traceId / spanId / parentSpanId are hex (either case), not base64, and
 *     must decode to 16 / 8 bytes (or be empty); other bytes are base64
 *     (standard or URL-safe alphabet, padding optional);
 *   - 64-bit (and 32-bit) integers are accepted as JSON numbers or decimal
 *     strings; a number written with fraction/exponent is accepted when its
 *     value is an exact integer in range;
 *   - enums as integers or as their value names;
 *   - doubles as numbers, numeric strings, or "NaN" / "Infinity" /
 *     "-Infinity";
 *   - two members of one oneof in the same object are rejected.
 * Errors name the field path, e.g.
 *   resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: expected integer
 * Nesting is capped at lim->max_depth messages (SONDE_ERR_LIMIT); JSON text
 * nesting is capped by the parser at twice that (arrays count as levels).
 *
 * Thread: any. Everything produced lives in the caller's arena.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../core/parse.h"
#include "json.h"
#include "otlp_internal.h"

typedef struct jm_ctx {
    arena *a;
    const otlp_limits *lim;
    otlp_path path;
    char *err;
    size_t errlen;
} jm_ctx;

#define JM_FAIL(c, st, ...) otlp_path_err(&(c)->path, (c)->err, (c)->errlen, st, __VA_ARGS__)

/* key equals name, or equals name in lowerCamelCase */
static bool jm_key_is(const char *key, size_t klen, const char *name)
{
    size_t nl = strlen(name);
    if (klen == nl && memcmp(key, name, nl) == 0)
        return true;
    size_t k = 0;
    for (size_t i = 0; i < nl; i++, k++) {
        char want = name[i];
        if (want == '_' && i + 1 < nl && name[i + 1] >= 'a' && name[i + 1] <= 'z')
            want = (char)(name[++i] - 'a' + 'A');
        if (k >= klen || key[k] != want)
            return false;
    }
    return k == klen;
}

static const ProtobufCFieldDescriptor *jm_field(const ProtobufCMessageDescriptor *d,
                                                const char *key, size_t klen)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if (jm_key_is(key, klen, d->fields[i].name))
            return &d->fields[i];
    return NULL;
}

static size_t jm_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return sizeof(void *);
}

/* Integer from a JSON number or a decimal string. */
static bool jm_int(const json_value *v, bool is_signed, int64_t *si, uint64_t *ui)
{
    if (v->type == JSON_STRING) {
        return is_signed ? parse_i64(v->s, v->len, si)
                         : (v->len && v->s[0] != '-' && parse_u64(v->s, v->len, ui));
    }
    if (v->type != JSON_NUMBER)
        return false;
    if (is_signed ? json_number_i64(v, si) : json_number_u64(v, ui))
        return true;
    /* 1e3 or 1.0: accepted when the value is an exact integer in range */
    double d;
    if (!json_number_f64(v, &d) || d != floor(d))
        return false;
    if (is_signed) {
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return false;
        *si = (int64_t)d;
    } else {
        if (d < 0 || d >= 18446744073709551616.0)
            return false;
        *ui = (uint64_t)d;
    }
    return true;
}

static bool jm_double(const json_value *v, double *out)
{
    if (v->type == JSON_NUMBER)
        return json_number_f64(v, out);
    if (v->type != JSON_STRING)
        return false;
    if (v->len == 3 && memcmp(v->s, "NaN", 3) == 0) {
        *out = NAN;
        return true;
    }
    if (v->len == 8 && memcmp(v->s, "Infinity", 8) == 0) {
        *out = INFINITY;
        return true;
    }
    if (v->len == 9 && memcmp(v->s, "-Infinity", 9) == 0) {
        *out = -INFINITY;
        return true;
    }
    return json_number_syntax(v->s, v->len) && parse_f64(v->s, v->len, out);
}

static int jm_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int jm_b64val(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

static bool jm_base64(arena *a, const char *s, size_t n, ProtobufCBinaryData *out, bool *nomem)
{
    while (n && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return false;
    uint8_t *o = arena_alloc(a, n / 4 * 3 + 3);
    if (!o) {
        *nomem = true;
        return false;
    }
    size_t olen = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = jm_b64val(s[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[olen++] = (uint8_t)(acc >> bits);
        }
    }
    out->data = o;
    out->len = olen;
    return true;
}

static sonde_status jm_message(jm_ctx *c, const ProtobufCMessageDescriptor *d,
                               const json_value *obj, unsigned depth, ProtobufCMessage **out);

/* Stores one JSON value into the field slot dst. */
static sonde_status jm_store(jm_ctx *c, const ProtobufCFieldDescriptor *f, const json_value *v,
                             void *dst, unsigned depth)
{
    int64_t si = 0;
    uint64_t ui = 0;
    double dv;
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE:
        if (depth + 1 > c->lim->max_depth)
            return JM_FAIL(c, SONDE_ERR_LIMIT, "messages nested deeper than %u (max_depth)",
                           c->lim->max_depth);
        return jm_message(c, f->descriptor, v, depth + 1, dst);
    case PROTOBUF_C_TYPE_STRING:
        if (v->type != JSON_STRING)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected string");
        if (memchr(v->s, 0, v->len))
            return JM_FAIL(c, SONDE_ERR_INVALID, "string contains a NUL character");
        *(char **)dst = (char *)v->s;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_BYTES: {
        if (v->type != JSON_STRING)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected string");
        ProtobufCBinaryData *b = dst;
        otlp_id_kind k = otlp_field_id_kind(f);
        if (k == OTLP_ID_NONE) {
            bool nomem = false;
            if (!jm_base64(c->a, v->s, v->len, b, &nomem))
                return nomem ? JM_FAIL(c, SONDE_ERR_NOMEM, "arena cap reached")
                             : JM_FAIL(c, SONDE_ERR_INVALID, "invalid base64");
            return SONDE_OK;
        }
        size_t want = k == OTLP_ID_TRACE ? 16 : 8;
        if (v->len != 0 && v->len != 2 * want)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected %zu hex digits, got %zu", 2 * want,
                           v->len);
        uint8_t *o = arena_alloc(c->a, want);
        if (!o)
            return JM_FAIL(c, SONDE_ERR_NOMEM, "arena cap reached");
        for (size_t i = 0; i < v->len / 2; i++) {
            int hi = jm_hexval(v->s[2 * i]), lo = jm_hexval(v->s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return JM_FAIL(c, SONDE_ERR_INVALID, "invalid hex id");
            o[i] = (uint8_t)(hi << 4 | lo);
        }
        b->data = v->len ? o : NULL;
        b->len = v->len / 2;
        return SONDE_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (v->type != JSON_BOOL)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected boolean");
        *(protobuf_c_boolean *)dst = v->b;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!jm_int(v, true, &si, &ui) || si < INT32_MIN || si > INT32_MAX)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected 32-bit integer");
        *(int32_t *)dst = (int32_t)si;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!jm_int(v, false, &si, &ui) || ui > UINT32_MAX)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected unsigned 32-bit integer");
        *(uint32_t *)dst = (uint32_t)ui;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (!jm_int(v, true, &si, &ui))
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected integer");
        *(int64_t *)dst = si;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!jm_int(v, false, &si, &ui))
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected integer");
        *(uint64_t *)dst = ui;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        if (v->type == JSON_STRING && !(v->len && parse_i64(v->s, v->len, &si))) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v->s);
            if (!ev)
                return JM_FAIL(c, SONDE_ERR_INVALID, "unknown enum value");
            *(int32_t *)dst = ev->value;
            return SONDE_OK;
        }
        if (!jm_int(v, true, &si, &ui) || si < INT32_MIN || si > INT32_MAX)
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected enum (integer or name)");
        *(int32_t *)dst = (int32_t)si;
        return SONDE_OK;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        if (!jm_double(v, &dv))
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected number");
        *(float *)dst = (float)dv;
        return SONDE_OK;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!jm_double(v, &dv))
            return JM_FAIL(c, SONDE_ERR_INVALID, "expected number");
        *(double *)dst = dv;
        return SONDE_OK;
    }
    return JM_FAIL(c, SONDE_ERR_INTERNAL, "unhandled field type");
}

static sonde_status jm_message(jm_ctx *c, const ProtobufCMessageDescriptor *d,
                               const json_value *obj, unsigned depth, ProtobufCMessage **out)
{
    if (obj->type != JSON_OBJECT)
        return JM_FAIL(c, SONDE_ERR_INVALID, "expected object");
    ProtobufCMessage *msg = arena_alloc(c->a, d->sizeof_message);
    if (!msg)
        return JM_FAIL(c, SONDE_ERR_NOMEM, "arena cap reached");
    d->message_init(msg);
    char *base = (char *)msg;

    for (const json_value *m = obj->child; m; m = m->next) {
        const ProtobufCFieldDescriptor *f = jm_field(d, m->key, m->key_len);
        if (!f || m->type == JSON_NULL)
            continue; /* unknown fields are ignored; null means default */
        if (c->path.n >= c->path.cap)
            return otlp_err(c->err, c->errlen, SONDE_ERR_INTERNAL, "otlp: path overflow");
        otlp_path_step *step = &c->path.steps[c->path.n++];
        *step = (otlp_path_step){f, -1};
        sonde_status st;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (m->type != JSON_ARRAY)
                return JM_FAIL(c, SONDE_ERR_INVALID, "expected array");
            if (otlp_field_is_attrs(f) && m->n > c->lim->max_attrs)
                return JM_FAIL(c, SONDE_ERR_LIMIT, "more than %zu attributes (max_attrs)",
                               c->lim->max_attrs);
            size_t sz = jm_elem_size(f->type);
            char *arr = m->n ? arena_calloc(c->a, m->n, sz) : NULL;
            if (m->n && !arr)
                return JM_FAIL(c, SONDE_ERR_NOMEM, "arena cap reached");
            size_t i = 0;
            for (const json_value *e = m->child; e && i < m->n; e = e->next, i++) {
                step->idx = (long)i;
                if (e->type == JSON_NULL)
                    return JM_FAIL(c, SONDE_ERR_INVALID, "null in array");
                if ((st = jm_store(c, f, e, arr + i * sz, depth)) != SONDE_OK)
                    return st;
            }
            *(size_t *)(base + f->quantifier_offset) = m->n;
            *(void **)(base + f->offset) = arr;
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t *cs = (uint32_t *)(base + f->quantifier_offset);
                if (*cs && *cs != f->id)
                    return JM_FAIL(c, SONDE_ERR_INVALID, "a second value for the same oneof");
                *cs = f->id;
            } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                       f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
                *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
            }
            if ((st = jm_store(c, f, m, base + f->offset, depth)) != SONDE_OK)
                return st;
        }
        c->path.n--;
    }
    *out = msg;
    return SONDE_OK;
}

sonde_status otlp_json_decode(arena *a, const ProtobufCMessageDescriptor *desc, const uint8_t *in,
                              size_t n, const otlp_limits *lim, ProtobufCMessage **out, char *err,
                              size_t errlen)
{
    json_limits jl = {
        .max_depth = lim->max_depth > (UINT32_MAX - 2) / 2 ? UINT32_MAX : lim->max_depth * 2 + 2,
        .max_str = lim->max_str,
        .max_values = SIZE_MAX,
    };
    json_value *root;
    sonde_status st = json_parse(a, (const char *)in, n, &jl, &root, err, errlen);
    if (st != SONDE_OK)
        return st;
    jm_ctx c = {.a = a, .lim = lim, .err = err, .errlen = errlen};
    c.path.cap = lim->max_depth + 2;
    c.path.steps = arena_alloc(a, (size_t)c.path.cap * sizeof(*c.path.steps));
    if (!c.path.steps)
        return otlp_err(err, errlen, SONDE_ERR_NOMEM, "otlp: arena cap reached");
    return jm_message(&c, desc, root, 1, out);
}
