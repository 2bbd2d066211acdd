/*
 * common.c - helpers shared inside sonde_otlp: error formatting with a JSON
 * field path, and descriptor lookups. (protobuf-c allocates through
 * core/arena.h's arena_bump.)
 *
 * Thread: any. Nothing here has state of its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "otlp_internal.h"


sonde_status otlp_err(char *err, size_t errlen, sonde_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* snake_case -> lowerCamelCase, the OTLP/JSON spelling, so that protobuf and
 * JSON requests name a bad field the same way. */
static size_t otlp_camel(char *dst, size_t cap, const char *name)
{
    size_t o = 0;
    bool up = false;
    for (const char *s = name; *s && o + 1 < cap; s++) {
        if (*s == '_') {
            up = true;
            continue;
        }
        char ch = *s;
        if (up && ch >= 'a' && ch <= 'z')
            ch = (char)(ch & ~0x20); /* ASCII upper case */
        dst[o++] = ch;
        up = false;
    }
    if (cap)
        dst[o] = 0;
    return o;
}

sonde_status otlp_path_err(const otlp_path *p, char *err, size_t errlen, sonde_status st,
                           const char *fmt, ...)
{
    if (!err || !errlen)
        return st;
    size_t o = 0;
    err[0] = 0;
    for (unsigned i = 0; p && i < p->n && o + 1 < errlen; i++) {
        char name[64];
        otlp_camel(name, sizeof name, p->steps[i].field->name);
        int w = p->steps[i].idx >= 0 ? snprintf(err + o, errlen - o, "%s%s[%ld]", i ? "." : "",
                                                name, p->steps[i].idx)
                                     : snprintf(err + o, errlen - o, "%s%s", i ? "." : "", name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (o >= errlen)
        o = errlen - 1;
    if (o && o + 3 < errlen) {
        memcpy(err + o, ": ", 3);
        o += 2;
    }
    if (o + 1 < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + o, errlen - o, fmt, ap);
        va_end(ap);
    }
    return st;
}

const ProtobufCMessageDescriptor *otlp_request_descriptor(otlp_signal sig)
{
    switch (sig) {
    case OTLP_SIGNAL_TRACES:
        return &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
    case OTLP_SIGNAL_METRICS:
        return &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;
    case OTLP_SIGNAL_LOGS:
        return &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor;
    }
    return NULL;
}

otlp_id_kind otlp_field_id_kind(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_BYTES)
        return OTLP_ID_NONE;
    if (strcmp(f->name, "trace_id") == 0)
        return OTLP_ID_TRACE;
    if (strcmp(f->name, "span_id") == 0 || strcmp(f->name, "parent_span_id") == 0)
        return OTLP_ID_SPAN;
    return OTLP_ID_NONE;
}

bool otlp_field_is_attrs(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           f->descriptor == &opentelemetry__proto__common__v1__key_value__descriptor;
}
