/*
 * json_encode.c - protobuf-c message -> OTLP/JSON, the mirror of json_map.c.
 *
 * Driven by the protobuf-c descriptors like the decoder, so every OTLP
 * message is covered and stays in step with the .proto files. Rules
 * (OTLP/JSON as the specification writes it, and as json_map.c reads it):
 *   - keys are lowerCamelCase;
 *   - a field is written when protobuf-c would pack it: repeated fields with
 *     elements, a oneof member when it is the case (even with a default
 *     value: {"intValue":"0"}), proto3 scalars that are not zero, strings
 *     that are not empty, bytes that are not empty, messages that are not
 *     NULL (an empty message is {});
 *   - traceId / spanId / parentSpanId as lowercase hex; other bytes as
 *     standard base64 with padding;
 *   - 64-bit integers as decimal strings; 32-bit integers and enums as
 *     numbers; bool as true/false;
 *   - doubles as the shortest decimal that reads back to the same bits
 *     (%.15g..%.17g), "NaN", "Infinity", "-Infinity" as strings.
 * The round trip (encode, otlp_request_decode JSON, pack) gives the bytes
 * that packing the original gives; tests and the OTLP fuzz targets check it.
 *
 * Thread: any. Output goes to the caller's buf; on error its length is put
 * back to where it was.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

#define JE_MAX_DEPTH 256

static sonde_status je_message(buf *b, const ProtobufCMessage *m, unsigned depth);

static sonde_status je_name(buf *b, const char *name)
{
    char tmp[128];
    size_t o = 0;
    bool up = false;
    for (const char *s = name; *s && o + 1 < sizeof tmp; s++) {
        if (*s == '_') {
            up = true;
            continue;
        }
        char ch = *s;
        if (up && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        tmp[o++] = ch;
        up = false;
    }
    sonde_status st = buf_putc(b, '"');
    if (st == SONDE_OK)
        st = buf_append(b, tmp, o);
    if (st == SONDE_OK)
        st = buf_puts(b, "\":");
    return st;
}

static sonde_status je_hex(buf *b, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    sonde_status st = buf_putc(b, '"');
    for (size_t i = 0; i < n && st == SONDE_OK; i++) {
        char two[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
        st = buf_append(b, two, 2);
    }
    return st == SONDE_OK ? buf_putc(b, '"') : st;
}

static sonde_status je_base64(buf *b, const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sonde_status st = buf_putc(b, '"');
    for (size_t i = 0; i < n && st == SONDE_OK; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            x |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            x |= p[i + 2];
        char q[4] = {tbl[(x >> 18) & 63], tbl[(x >> 12) & 63],
                     (char)(i + 1 < n ? tbl[(x >> 6) & 63] : '='),
                     (char)(i + 2 < n ? tbl[x & 63] : '=')};
        st = buf_append(b, q, 4);
    }
    return st == SONDE_OK ? buf_putc(b, '"') : st;
}

static sonde_status je_double(buf *b, double v, bool is_float)
{
    if (isnan(v))
        return buf_puts(b, "\"NaN\"");
    if (isinf(v))
        return buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char tmp[40];
    int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        double back = strtod(tmp, NULL);
        if (is_float ? (float)back == (float)v : back == v)
            break;
    }
    return buf_puts(b, tmp);
}

/* One value of field f stored at p (an element of a repeated field, or the
 * field itself). */
static sonde_status je_value(buf *b, const ProtobufCFieldDescriptor *f, const void *p,
                             unsigned depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m;
        memcpy(&m, p, sizeof(const ProtobufCMessage *));
        return m ? je_message(b, m, depth + 1) : buf_puts(b, "{}");
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s;
        memcpy(&s, p, sizeof s);
        return buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData d;
        memcpy(&d, p, sizeof d);
        if (d.len && !d.data)
            return SONDE_ERR_INVALID;
        return otlp_field_id_kind(f) != OTLP_ID_NONE ? je_hex(b, d.data, d.len)
                                                     : je_base64(b, d.data, d.len);
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean v;
        memcpy(&v, p, sizeof v);
        return buf_puts(b, v ? "true" : "false");
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return buf_printf(b, "%ld", (long)v);
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return buf_printf(b, "%lu", (unsigned long)v);
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return buf_printf(b, "\"%lld\"", (long long)v);
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return buf_printf(b, "\"%llu\"", (unsigned long long)v);
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v;
        memcpy(&v, p, sizeof v);
        return je_double(b, v, true);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof v);
        return je_double(b, v, false);
    }
    }
    return SONDE_ERR_INTERNAL;
}

static size_t je_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4; /* 32-bit integers and enums */
    }
}

/* True when protobuf-c would not pack this singular proto3 field. */
static bool je_zeroish(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean v;
        memcpy(&v, p, sizeof v);
        return !v;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v == 0;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v;
        memcpy(&v, p, sizeof v);
        return v == 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof v);
        return v == 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s;
        memcpy(&s, p, sizeof s);
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData d;
        memcpy(&d, p, sizeof d);
        return d.len == 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const void *m;
        memcpy(&m, p, sizeof m);
        return m == NULL;
    }
    default: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v == 0;
    }
    }
}

static sonde_status je_message(buf *b, const ProtobufCMessage *m, unsigned depth)
{
    if (depth > JE_MAX_DEPTH)
        return SONDE_ERR_INVALID;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    sonde_status st = buf_putc(b, '{');
    bool first = true;
    for (unsigned i = 0; i < d->n_fields && st == SONDE_OK; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *slot = base + f->offset;
        size_t count = 0;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            memcpy(&count, base + f->quantifier_offset, sizeof count);
            if (count == 0)
                continue;
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t c;
            memcpy(&c, base + f->quantifier_offset, sizeof c);
            if (c != f->id)
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
                const void *ptr;
                memcpy(&ptr, slot, sizeof ptr);
                /* protobuf-c's oneof_field_pack packs nothing for these */
                if (!ptr || ptr == f->default_value)
                    continue;
            }
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                   f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
            protobuf_c_boolean has;
            memcpy(&has, base + f->quantifier_offset, sizeof has);
            if (!has)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
            const void *ptr;
            memcpy(&ptr, slot, sizeof ptr);
            if (!ptr)
                continue;
        } else if (je_zeroish(f, slot)) {
            continue;
        }
        if (!first)
            st = buf_putc(b, ',');
        first = false;
        if (st == SONDE_OK)
            st = je_name(b, f->name);
        if (st != SONDE_OK)
            break;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            st = je_value(b, f, slot, depth);
            continue;
        }
        const char *arr;
        memcpy(&arr, slot, sizeof arr);
        if (!arr)
            return SONDE_ERR_INVALID;
        size_t sz = je_elem_size(f->type);
        st = buf_putc(b, '[');
        for (size_t k = 0; k < count && st == SONDE_OK; k++) {
            if (k)
                st = buf_putc(b, ',');
            if (st == SONDE_OK)
                st = je_value(b, f, arr + k * sz, depth);
        }
        if (st == SONDE_OK)
            st = buf_putc(b, ']');
    }
    if (st == SONDE_OK)
        st = buf_putc(b, '}');
    return st;
}

sonde_status otlp_json_encode(buf *out, const struct ProtobufCMessage *msg)
{
    if (!out || !msg)
        return SONDE_ERR_INVALID;
    size_t mark = out->len;
    sonde_status st = je_message(out, msg, 1);
    if (st != SONDE_OK) {
        out->len = mark;
        if (out->data && out->len)
            out->data[out->len] = 0;
    }
    return st;
}
