/*
 * content.c - bounded content decoding (gzip, zstd) and gRPC message
 * framing for OTLP.
 *
 * Decompression never writes more than max_out bytes: the output grows by
 * doubling in the arena up to max_out + 1, and producing that one extra
 * byte proves the body is too large (SONDE_ERR_LIMIT). zstd is decoded with
 * the streaming API so that a frame header announcing a huge content size
 * cannot make us allocate it; the window is capped (OTLP_ZSTD_WINDOW_LOG)
 * for the same reason. gzip bodies may hold several members (as `cat a.gz
 * b.gz` makes), like Go's gzip reader accepts.
 *
 * Thread: any. Output lives in the caller's arena; zlib and zstd contexts
 * are malloc'd and freed inside each call.
 */
#include <string.h>
#include <strings.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "otlp_internal.h"

/* 2^24 = 16 MiB window: above what OTLP senders use (zstd level <= 19 at
 * sizes of a request), far below zstd's default 128 MiB limit. */
#define OTLP_ZSTD_WINDOW_LOG 24
#define OTLP_INFLATE_MIN 4096

typedef struct outbuf {
    arena *a;
    uint8_t *p;
    size_t len, cap, limit; /* limit = max_out + 1 */
} outbuf;

/* Makes room for more output; false when the arena refuses. */
static bool outbuf_grow(outbuf *o)
{
    size_t ncap = o->cap ? o->cap * 2 : OTLP_INFLATE_MIN;
    if (ncap < o->cap || ncap > o->limit)
        ncap = o->limit;
    uint8_t *np = o->p ? arena_realloc(o->a, o->p, o->cap, ncap) : arena_alloc(o->a, ncap);
    if (!np)
        return false;
    o->p = np;
    o->cap = ncap;
    return true;
}

static sonde_status otlp_gunzip(outbuf *o, const uint8_t *in, size_t n, char *err, size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return otlp_err(err, errlen, SONDE_ERR_NOMEM, "gzip: cannot initialise zlib");
    sonde_status st = SONDE_OK;
    size_t in_off = 0;
    for (;;) {
        if (o->len == o->cap) {
            if (o->cap >= o->limit) {
                st = otlp_err(err, errlen, SONDE_ERR_LIMIT,
                              "gzip: body inflates beyond %zu bytes (max_decoded)", o->limit - 1);
                break;
            }
            if (!outbuf_grow(o)) {
                st = otlp_err(err, errlen, SONDE_ERR_NOMEM, "gzip: arena cap reached");
                break;
            }
        }
        /* zlib counts in uInt: feed at most 1 GiB at a time */
        size_t in_chunk = n - in_off < (1u << 30) ? n - in_off : (1u << 30);
        size_t out_chunk = o->cap - o->len < (1u << 30) ? o->cap - o->len : (1u << 30);
        zs.next_in = (Bytef *)(in + in_off);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = o->p + o->len;
        zs.avail_out = (uInt)out_chunk;
        int rc = inflate(&zs, Z_NO_FLUSH);
        in_off += in_chunk - zs.avail_in;
        o->len += out_chunk - zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (in_off == n)
                break;
            if (inflateReset(&zs) != Z_OK) { /* another gzip member follows */
                st = otlp_err(err, errlen, SONDE_ERR_INVALID, "gzip: corrupt stream");
                break;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR && in_off == n && zs.avail_out > 0) {
            st = otlp_err(err, errlen, SONDE_ERR_INVALID, "gzip: truncated body");
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = otlp_err(err, errlen, SONDE_ERR_INVALID, "gzip: %s",
                          zs.msg ? zs.msg : "corrupt body");
            break;
        }
    }
    inflateEnd(&zs);
    if (st == SONDE_OK && o->len > o->limit - 1)
        st = otlp_err(err, errlen, SONDE_ERR_LIMIT,
                      "gzip: body inflates beyond %zu bytes (max_decoded)", o->limit - 1);
    return st;
}

static sonde_status otlp_unzstd(outbuf *o, const uint8_t *in, size_t n, char *err, size_t errlen)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc)
        return otlp_err(err, errlen, SONDE_ERR_NOMEM, "zstd: cannot create a context");
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, OTLP_ZSTD_WINDOW_LOG);
    sonde_status st = SONDE_OK;
    ZSTD_inBuffer ib = {in, n, 0};
    size_t last = 1; /* ZSTD_decompressStream's hint: 0 once a frame is complete */
    if (n == 0)
        st = otlp_err(err, errlen, SONDE_ERR_INVALID, "zstd: empty body");
    while (st == SONDE_OK) {
        if (o->len == o->cap) {
            if (o->cap >= o->limit) {
                st = otlp_err(err, errlen, SONDE_ERR_LIMIT,
                              "zstd: body decompresses beyond %zu bytes (max_decoded)",
                              o->limit - 1);
                break;
            }
            if (!outbuf_grow(o)) {
                st = otlp_err(err, errlen, SONDE_ERR_NOMEM, "zstd: arena cap reached");
                break;
            }
        }
        ZSTD_outBuffer ob = {o->p, o->cap, o->len};
        size_t before_in = ib.pos;
        last = ZSTD_decompressStream(dc, &ob, &ib);
        o->len = ob.pos;
        if (ZSTD_isError(last)) {
            /* a frame asking for a window above our cap is a limit, not corruption */
            if (ZSTD_getErrorCode(last) == ZSTD_error_frameParameter_windowTooLarge)
                st = otlp_err(err, errlen, SONDE_ERR_LIMIT,
                              "zstd: frame window exceeds %d MiB (decoder limit)",
                              1 << (OTLP_ZSTD_WINDOW_LOG - 20));
            else
                st = otlp_err(err, errlen, SONDE_ERR_INVALID, "zstd: %s", ZSTD_getErrorName(last));
            break;
        }
        if (last == 0 && ib.pos == ib.size)
            break; /* every frame complete, all input consumed */
        if (ib.pos == ib.size && ob.pos < ob.size && ib.pos == before_in) {
            st = otlp_err(err, errlen, SONDE_ERR_INVALID, "zstd: truncated body");
            break;
        }
    }
    ZSTD_freeDCtx(dc);
    if (st == SONDE_OK && o->len > o->limit - 1)
        st = otlp_err(err, errlen, SONDE_ERR_LIMIT,
                      "zstd: body decompresses beyond %zu bytes (max_decoded)", o->limit - 1);
    return st;
}

sonde_status otlp_content_decode(arena *a, const char *encoding, const uint8_t *in, size_t n,
                                 size_t max_out, const uint8_t **out, size_t *out_len, char *err,
                                 size_t errlen)
{
    if (!encoding || !*encoding || strcasecmp(encoding, "identity") == 0) {
        if (n > max_out)
            return otlp_err(err, errlen, SONDE_ERR_LIMIT,
                            "body of %zu bytes exceeds %zu (max_decoded)", n, max_out);
        *out = in;
        *out_len = n;
        return SONDE_OK;
    }
    bool gz = strcasecmp(encoding, "gzip") == 0 || strcasecmp(encoding, "x-gzip") == 0;
    bool zs = strcasecmp(encoding, "zstd") == 0;
    if (!gz && !zs)
        return otlp_err(err, errlen, SONDE_ERR_UNSUPPORTED,
                        "unsupported content encoding \"%.32s\"", encoding);
    outbuf o = {a, NULL, 0, 0, max_out == SIZE_MAX ? SIZE_MAX : max_out + 1};
    sonde_status st =
        gz ? otlp_gunzip(&o, in, n, err, errlen) : otlp_unzstd(&o, in, n, err, errlen);
    if (st != SONDE_OK)
        return st;
    *out = o.p ? o.p : (const uint8_t *)"";
    *out_len = o.len;
    return SONDE_OK;
}

/* ---- gRPC framing ---- */

sonde_status otlp_grpc_frame_parse(const uint8_t *in, size_t n, size_t max_len, bool *compressed,
                                   const uint8_t **msg, size_t *msg_len, char *err, size_t errlen)
{
    if (n < 5)
        return otlp_err(err, errlen, SONDE_ERR_INVALID,
                        "grpc: message of %zu bytes is shorter than the 5-byte prefix", n);
    size_t len = (size_t)in[1] << 24 | (size_t)in[2] << 16 | (size_t)in[3] << 8 | in[4];
    if (len > max_len)
        return otlp_err(err, errlen, SONDE_ERR_LIMIT,
                        "grpc: message of %zu bytes exceeds the %zu-byte limit", len, max_len);
    if (in[0] > 1)
        return otlp_err(err, errlen, SONDE_ERR_INVALID, "grpc: invalid compressed flag %u", in[0]);
    if (len != n - 5)
        return otlp_err(err, errlen, SONDE_ERR_INVALID,
                        "grpc: length prefix says %zu bytes, %zu present", len, n - 5);
    *compressed = in[0] == 1;
    *msg = in + 5;
    *msg_len = len;
    return SONDE_OK;
}

sonde_status otlp_grpc_frame_append(buf *out, const uint8_t *msg, size_t n)
{
    if (n > UINT32_MAX)
        return SONDE_ERR_LIMIT;
    uint8_t hdr[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    sonde_status st = buf_reserve(out, sizeof hdr + n);
    if (st != SONDE_OK)
        return st;
    buf_append(out, hdr, sizeof hdr);
    return n ? buf_append(out, msg, n) : SONDE_OK;
}
