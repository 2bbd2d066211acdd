/*
 * wire.c - the pre-pass over protobuf wire bytes that runs before
 * protobuf-c unpacks an OTLP request.
 *
 * protobuf-c 1.4.1 recurses once per nested message with no depth limit
 * (an AnyValue nested 100,000 deep overflows the stack) and copies strings
 * without looking at them. This walk follows the message descriptors over
 * the raw bytes, without allocating (except the path, in the arena), and
 * rejects:
 *   - broken framing: truncated varints/lengths, group wire types, field 0;
 *   - a known field carried with a wire type its declared type never uses;
 *   - messages nested deeper than lim->max_depth (SONDE_ERR_LIMIT);
 *   - strings or bytes longer than lim->max_str (SONDE_ERR_LIMIT);
 *   - strings that are not UTF-8 or contain NUL (protobuf-c hands us
 *     NUL-terminated strings, so a NUL would silently truncate the value);
 *   - more than lim->max_attrs elements in a repeated KeyValue field;
 *   - trace/span ids whose length is neither 0 nor 16/8 bytes.
 * Unknown fields are skipped without recursion, as protobuf-c keeps them
 * as opaque bytes. Recursion here is bounded by max_depth.
 *
 * Thread: any.
 */
#include <string.h>

#include "../../core/utf8.h"
#include "otlp_internal.h"

/* no OTLP message has more fields than this; larger ones skip the counts */
#define WIRE_MAX_FIELDS 32

typedef struct wire_ctx {
    const otlp_limits *lim;
    otlp_path path;
    char *err;
    size_t errlen;
} wire_ctx;

static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        if (i == 9 && b > 1)
            return false;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* The wire type a field of this type uses (packed repeated fields aside). */
static unsigned wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
        return 0;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    }
    return 2;
}

static sonde_status wire_walk(wire_ctx *c, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                              const uint8_t *end, unsigned depth)
{
    uint32_t counts[WIRE_MAX_FIELDS] = {0};
    bool counted = desc->n_fields <= WIRE_MAX_FIELDS;

    while (p < end) {
        uint64_t key;
        if (!wire_varint(&p, end, &key))
            return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                 "protobuf: truncated field key in %s", desc->short_name);
        uint64_t tag = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        if (tag == 0 || tag > 0x1fffffff)
            return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                 "protobuf: invalid field number %llu in %s",
                                 (unsigned long long)tag, desc->short_name);
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)tag);
        if (f) {
            unsigned want = wire_type_of(f->type);
            bool packed = f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2;
            if (wt != want && !packed)
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                     "protobuf: field %s of %s has wire type %u, expected %u",
                                     f->name, desc->short_name, wt, want);
        }
        const uint8_t *val;
        uint64_t len = 0, dummy;
        switch (wt) {
        case 0:
            if (!wire_varint(&p, end, &dummy))
                goto truncated;
            continue;
        case 1:
            if (end - p < 8)
                goto truncated;
            p += 8;
            continue;
        case 5:
            if (end - p < 4)
                goto truncated;
            p += 4;
            continue;
        case 2:
            if (!wire_varint(&p, end, &len) || len > (uint64_t)(end - p))
                goto truncated;
            val = p;
            p += len;
            break;
        default:
            return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                 "protobuf: unsupported wire type %u (field %llu of %s)", wt,
                                 (unsigned long long)tag, desc->short_name);
        }
        if (!f)
            continue;

        long idx = -1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED && counted) {
            size_t fi = (size_t)(f - desc->fields);
            idx = (long)counts[fi]++;
            if (otlp_field_is_attrs(f) && counts[fi] > c->lim->max_attrs) {
                c->path.steps[c->path.n++] = (otlp_path_step){f, -1};
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_LIMIT,
                                     "more than %zu attributes (max_attrs)", c->lim->max_attrs);
            }
        }
        if (c->path.n >= c->path.cap)
            return otlp_err(c->err, c->errlen, SONDE_ERR_INTERNAL, "otlp: path overflow");
        c->path.steps[c->path.n++] = (otlp_path_step){f, idx};

        sonde_status st = SONDE_OK;
        switch (f->type) {
        case PROTOBUF_C_TYPE_MESSAGE:
            if (depth + 1 > c->lim->max_depth)
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_LIMIT,
                                     "messages nested deeper than %u (max_depth)",
                                     c->lim->max_depth);
            st = wire_walk(c, f->descriptor, val, val + len, depth + 1);
            break;
        case PROTOBUF_C_TYPE_STRING:
            if (len > c->lim->max_str)
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_LIMIT,
                                     "string of %llu bytes exceeds %zu (max_str)",
                                     (unsigned long long)len, c->lim->max_str);
            if (memchr(val, 0, len))
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                     "string contains a NUL byte");
            if (!utf8_valid((const char *)val, len))
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                     "string is not valid UTF-8");
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            if (len > c->lim->max_str)
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_LIMIT,
                                     "bytes of %llu exceed %zu (max_str)", (unsigned long long)len,
                                     c->lim->max_str);
            otlp_id_kind k = otlp_field_id_kind(f);
            size_t want = k == OTLP_ID_TRACE ? 16 : 8;
            if (k != OTLP_ID_NONE && len != 0 && len != want)
                return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID,
                                     "id of %llu bytes, expected %zu", (unsigned long long)len,
                                     want);
            break;
        }
        default:
            break;
        }
        if (st != SONDE_OK)
            return st;
        c->path.n--;
    }
    return SONDE_OK;

truncated:
    return otlp_path_err(&c->path, c->err, c->errlen, SONDE_ERR_INVALID, "protobuf: truncated %s",
                         desc->short_name);
}

sonde_status otlp_wire_check(arena *a, const ProtobufCMessageDescriptor *desc, const uint8_t *in,
                             size_t n, const otlp_limits *lim, char *err, size_t errlen)
{
    wire_ctx c = {.lim = lim, .err = err, .errlen = errlen};
    c.path.cap = lim->max_depth + 2;
    c.path.steps = arena_alloc(a, (size_t)c.path.cap * sizeof(*c.path.steps));
    if (!c.path.steps)
        return otlp_err(err, errlen, SONDE_ERR_NOMEM, "otlp: arena cap reached");
    return wire_walk(&c, desc, in, in + n, 1);
}
