/*
 * test_ws.c - the WebSocket parts of the Loki tail (ingest/ws.c) and SHA-1
 * (core/sha1.c), without sockets: RFC 3174's SHA-1 vectors, RFC 6455's
 * handshake example and bad keys, client frames (masking, every split of the
 * input, extended lengths, fragmentation with control frames in between,
 * close codes, UTF-8) and the errors a server must answer (unmasked,
 * reserved bits, unknown opcodes, non-minimal or oversize lengths, bad
 * continuation), plus the server's frame writer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha1.h"
#include "ingest/ingest_internal.h"
#include "test.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_sha1(const char *msg, size_t n, size_t repeat, const char *want)
{
    sha1_ctx c;
    uint8_t d[SHA1_DIGEST_LEN];
    char h[41];
    sha1_init(&c);
    for (size_t i = 0; i < repeat; i++)
        sha1_update(&c, msg, n);
    sha1_final(&c, d);
    hex(d, sizeof d, h);
    CHECK_EQ_STR(h, want);
}

static void test_sha1_rfc3174(void)
{
    check_sha1("abc", 3, 1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *t2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha1(t2, strlen(t2), 1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    check_sha1("a", 1, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    const char *t4 = "0123456701234567012345670123456701234567012345670123456701234567";
    check_sha1(t4, strlen(t4), 10, "dea356a2cddd90c7a7ecedc5ebb563934f460452");
    check_sha1("", 0, 1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    /* every split of one message gives the one-shot digest */
    uint8_t one[SHA1_DIGEST_LEN], two[SHA1_DIGEST_LEN];
    char msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)(i * 7 + 3);
    sha1(msg, sizeof msg, one);
    for (size_t k = 0; k <= sizeof msg; k++) {
        sha1_ctx c;
        sha1_init(&c);
        sha1_update(&c, msg, k);
        sha1_update(&c, msg + k, sizeof msg - k);
        sha1_final(&c, two);
        CHECK(memcmp(one, two, sizeof one) == 0);
    }
}

static void test_accept_key(void)
{
    char out[29];
    /* RFC 6455 section 1.3 */
    const char *k = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK_EQ_INT(ingest_ws_accept_key(k, strlen(k), out), 0);
    CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *sp = "  dGhlIHNhbXBsZSBub25jZQ== ";
    CHECK_EQ_INT(ingest_ws_accept_key(sp, strlen(sp), out), 0);
    CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *bad[] = {
        "",
        "short",
        "dGhlIHNhbXBsZSBub25jZQ=",     /* 23 characters */
        "dGhlIHNhbXBsZSBub25jZQ===",   /* 25 */
        "dGhlIHNhbXBsZSBub25jZQAA",    /* no padding: 18 bytes */
        "dGhlIHNhbXBsZSBub25j*Q==",    /* not base64 */
        "dGhlIHNhbXBsZSBub25jZR==",    /* unused bits set */
        "dGhlIHNhbXBsZSBub2=jZQ==",    /* padding inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(ingest_ws_accept_key(bad[i], strlen(bad[i]), out), -EINVAL);
    CHECK_EQ_INT(ingest_ws_accept_key("dGhlIHNhbXBsZSBub25j\0Q==", 24, out), -EINVAL);
}

/* A client frame: header with the given length encoding, mask, payload. */
static size_t frame(uint8_t *out, uint8_t b0, const void *payload, size_t n, int lenform,
                    bool mask)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t o = 0;
    out[o++] = b0;
    uint8_t m = mask ? 0x80 : 0;
    if (lenform == 0) {
        out[o++] = (uint8_t)(m | n);
    } else if (lenform == 16) {
        out[o++] = m | 126;
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
    } else {
        out[o++] = m | 127;
        for (int i = 0; i < 8; i++)
            out[o++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    for (size_t i = 0; i < n && payload; i++)
        out[o + i] = ((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0);
    return o + (payload ? n : 0);
}

static ingest_ws_event parse1(ingest_ws_parser *p, const uint8_t *d, size_t n, size_t *used)
{
    return ingest_ws_parse(p, d, n, used);
}

static void expect_error(const uint8_t *d, size_t n, uint16_t code)
{
    ingest_ws_parser p;
    ingest_ws_parser_init(&p);
    size_t used = 99;
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_ERROR);
    CHECK_EQ_INT(used, 0);
    CHECK_EQ_INT(p.close_code, code);
    CHECK(p.error && *p.error);
    /* failed for good */
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_ERROR);
}

static void test_ping_every_split(void)
{
    uint8_t d[64];
    size_t n = frame(d, 0x89, "hello", 5, 0, true);
    ingest_ws_parser p;
    ingest_ws_parser_init(&p);
    for (size_t k = 0; k < n; k++) {
        size_t used = 99;
        CHECK_EQ_INT(parse1(&p, d, k, &used), INGEST_WS_NEED_MORE);
        CHECK_EQ_INT(used, 0);
    }
    size_t used;
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(used, n);
    CHECK_EQ_INT(p.opcode, INGEST_WS_OP_PING);
    CHECK_EQ_INT(p.payload_len, 5);
    CHECK(memcmp(p.payload, "hello", 5) == 0);
    /* the input is not written (it is the connection's buffer) */
    uint8_t copy[64];
    memcpy(copy, d, n);
    parse1(&p, d, n, &used);
    CHECK(memcmp(copy, d, n) == 0);
    /* two frames back to back: one at a time */
    size_t n2 = frame(d + n, 0x8a, "", 0, 0, true);
    CHECK_EQ_INT(parse1(&p, d, n + n2, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(used, n);
    CHECK_EQ_INT(parse1(&p, d + n, n2, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(p.opcode, INGEST_WS_OP_PONG);
    CHECK_EQ_INT(p.payload_len, 0);
}

static void test_lengths(void)
{
    static uint8_t d[INGEST_WS_MAX_FRAME + 64];
    static uint8_t pl[INGEST_WS_MAX_FRAME + 1];
    for (size_t i = 0; i < sizeof pl; i++)
        pl[i] = (uint8_t)i;
    ingest_ws_parser p;
    size_t used;
    /* 16-bit length, 126 .. the cap */
    size_t sizes[] = {126, 1000, INGEST_WS_MAX_FRAME};
    for (size_t i = 0; i < 3; i++) {
        ingest_ws_parser_init(&p);
        size_t n = frame(d, 0x82, pl, sizes[i], 16, true);
        CHECK_EQ_INT(parse1(&p, d, n - 1, &used), INGEST_WS_NEED_MORE);
        CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_MESSAGE);
        CHECK_EQ_INT(used, n);
        CHECK_EQ_INT(p.opcode, INGEST_WS_OP_BINARY);
        CHECK_EQ_INT(p.payload_len, sizes[i]);
        CHECK(memcmp(p.payload, pl, sizes[i]) == 0);
    }
    /* not minimal: 5 bytes as 16-bit, 200 as 64-bit */
    size_t n = frame(d, 0x82, pl, 5, 16, true);
    expect_error(d, n, 1002);
    n = frame(d, 0x82, pl, 200, 64, true);
    expect_error(d, n, 1002);
    /* 64-bit with the top bit set */
    n = frame(d, 0x82, NULL, 0, 64, true);
    d[2] = 0x80;
    expect_error(d, n, 1002);
    /* over the cap: refused from the header alone (1009), before any payload */
    n = frame(d, 0x82, NULL, INGEST_WS_MAX_FRAME + 1, 16, true);
    expect_error(d, 4, 1009);
    n = frame(d, 0x82, NULL, (size_t)1 << 40, 64, true);
    expect_error(d, 10, 1009);
    /* a control frame over 125 bytes */
    n = frame(d, 0x89, pl, 126, 16, true);
    expect_error(d, n, 1002);
    n = frame(d, 0x89, pl, 126, 0, true); /* 7-bit 126 means 16-bit follows */
    expect_error(d, 2, 1002);
}

static void test_protocol_errors(void)
{
    uint8_t d[64];
    size_t n;
    n = frame(d, 0x89, "x", 1, 0, false); /* unmasked */
    expect_error(d, n, 1002);
    n = frame(d, 0xC9, "x", 1, 0, true); /* RSV1 */
    expect_error(d, n, 1002);
    n = frame(d, 0xA9, "x", 1, 0, true); /* RSV2 */
    expect_error(d, n, 1002);
    n = frame(d, 0x83, "x", 1, 0, true); /* reserved data opcode */
    expect_error(d, n, 1002);
    n = frame(d, 0x8B, "x", 1, 0, true); /* reserved control opcode */
    expect_error(d, n, 1002);
    n = frame(d, 0x09, "x", 1, 0, true); /* fragmented ping */
    expect_error(d, n, 1002);
    n = frame(d, 0x80, "x", 1, 0, true); /* continuation of nothing */
    expect_error(d, n, 1002);
    n = frame(d, 0x81, "\xff\xfe", 2, 0, true); /* text that is not UTF-8 */
    expect_error(d, n, 1007);
    /* binary may hold anything */
    ingest_ws_parser p;
    ingest_ws_parser_init(&p);
    size_t used;
    n = frame(d, 0x82, "\xff\xfe", 2, 0, true);
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_MESSAGE);
    /* a server's (unmasked) frame is refused */
    buf b;
    buf_init(&b, 1024);
    CHECK(ingest_ws_frame_write(&b, INGEST_WS_OP_TEXT, "hi", 2) == SONDE_OK);
    expect_error((const uint8_t *)b.data, b.len, 1002);
    buf_fini(&b);
}

static void test_fragmentation(void)
{
    uint8_t d[128];
    ingest_ws_parser p;
    ingest_ws_parser_init(&p);
    size_t used, o = 0;
    o += frame(d + o, 0x01, "ab", 2, 0, true);         /* text, not final */
    o += frame(d + o, 0x89, "in", 2, 0, true);         /* ping in between */
    o += frame(d + o, 0x00, "cd", 2, 0, true);         /* continuation */
    o += frame(d + o, 0x80, "\xc3\xa9", 2, 0, true);   /* final: é */
    size_t off = 0;
    CHECK_EQ_INT(parse1(&p, d + off, o - off, &used), INGEST_WS_FRAGMENT);
    off += used;
    CHECK_EQ_INT(parse1(&p, d + off, o - off, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(p.opcode, INGEST_WS_OP_PING);
    off += used;
    CHECK_EQ_INT(parse1(&p, d + off, o - off, &used), INGEST_WS_FRAGMENT);
    off += used;
    CHECK_EQ_INT(parse1(&p, d + off, o - off, &used), INGEST_WS_MESSAGE);
    off += used;
    CHECK_EQ_INT(off, o);
    CHECK_EQ_INT(p.opcode, INGEST_WS_OP_TEXT);
    CHECK_EQ_INT(p.payload_len, 6);
    CHECK(memcmp(p.payload, "abcd\xc3\xa9", 6) == 0);
    /* UTF-8 split across fragments is fine; only the whole message counts */
    ingest_ws_parser_init(&p);
    o = frame(d, 0x01, "\xc3", 1, 0, true);
    o += frame(d + o, 0x80, "\xa9", 1, 0, true);
    CHECK_EQ_INT(parse1(&p, d, o, &used), INGEST_WS_FRAGMENT);
    CHECK_EQ_INT(parse1(&p, d + used, o - used, &used), INGEST_WS_MESSAGE);
    /* a new message inside one */
    ingest_ws_parser_init(&p);
    o = frame(d, 0x01, "ab", 2, 0, true);
    CHECK_EQ_INT(parse1(&p, d, o, &used), INGEST_WS_FRAGMENT);
    o = frame(d, 0x82, "cd", 2, 0, true);
    CHECK_EQ_INT(parse1(&p, d, o, &used), INGEST_WS_ERROR);
    CHECK_EQ_INT(p.close_code, 1002);
    /* fragments adding up to more than the cap */
    static uint8_t big[INGEST_WS_MAX_FRAME + 64];
    static uint8_t pl[3000];
    memset(pl, 'a', sizeof pl);
    ingest_ws_parser_init(&p);
    o = frame(big, 0x01, pl, sizeof pl, 16, true);
    CHECK_EQ_INT(parse1(&p, big, o, &used), INGEST_WS_FRAGMENT);
    o = frame(big, 0x80, pl, sizeof pl, 16, true);
    CHECK_EQ_INT(parse1(&p, big, 4, &used), INGEST_WS_ERROR);
    CHECK_EQ_INT(p.close_code, 1009);
}

static void test_close(void)
{
    uint8_t d[160];
    ingest_ws_parser p;
    size_t used, n;
    ingest_ws_parser_init(&p);
    n = frame(d, 0x88, NULL, 0, 0, true);
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(p.opcode, INGEST_WS_OP_CLOSE);
    CHECK_EQ_INT(p.close_code, 1005);
    ingest_ws_parser_init(&p);
    n = frame(d, 0x88, "\x03\xe8" "bye", 5, 0, true);
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(p.close_code, 1000);
    CHECK_EQ_INT(p.payload_len, 5);
    ingest_ws_parser_init(&p);
    n = frame(d, 0x88, "\x0b\xb8", 2, 0, true); /* 3000: registered range */
    CHECK_EQ_INT(parse1(&p, d, n, &used), INGEST_WS_CONTROL);
    CHECK_EQ_INT(p.close_code, 3000);
    n = frame(d, 0x88, "\x03", 1, 0, true);
    expect_error(d, n, 1002);
    const char *bad_codes[] = {"\x03\xe7", "\x03\xec", "\x03\xed", "\x03\xee", "\x03\xf7",
                               "\x07\xd0", "\x13\x88"}; /* 999 1004 1005 1006 1015 2000 5000 */
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        n = frame(d, 0x88, bad_codes[i], 2, 0, true);
        expect_error(d, n, 1002);
    }
    n = frame(d, 0x88, "\x03\xe8\xff", 3, 0, true);
    expect_error(d, n, 1007);
}

static void test_writer(void)
{
    buf b;
    buf_init(&b, 1 << 20);
    static char pl[70000];
    memset(pl, 'x', sizeof pl);
    struct {
        size_t n, hl;
        uint8_t b1;
    } cases[] = {{0, 2, 0}, {125, 2, 125}, {126, 4, 126}, {65535, 4, 126}, {65536, 10, 127}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        CHECK(ingest_ws_frame_write(&b, INGEST_WS_OP_TEXT, pl, cases[i].n) == SONDE_OK);
        CHECK_EQ_INT(b.len, cases[i].hl + cases[i].n);
        CHECK_EQ_INT((uint8_t)b.data[0], 0x81);
        CHECK_EQ_INT((uint8_t)b.data[1], cases[i].b1); /* never masked */
        if (cases[i].hl == 4)
            CHECK_EQ_INT(((uint8_t)b.data[2] << 8) | (uint8_t)b.data[3], cases[i].n);
    }
    /* close: code, reason cut to 123 bytes at a UTF-8 boundary */
    char reason[200];
    for (size_t i = 0; i + 2 <= 198; i += 2)
        memcpy(reason + i, "\xc3\xa9", 2);
    reason[198] = 0;
    buf_reset(&b);
    CHECK(ingest_ws_close_write(&b, 1011, reason) == SONDE_OK);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x88);
    size_t plen = (uint8_t)b.data[1];
    CHECK(plen <= 125);
    CHECK_EQ_INT(plen, 2 + 122);
    CHECK_EQ_INT(((uint8_t)b.data[2] << 8) | (uint8_t)b.data[3], 1011);
    buf_reset(&b);
    CHECK(ingest_ws_close_write(&b, 1000, "") == SONDE_OK);
    CHECK_EQ_INT(b.len, 4);
    /* the cap of the output buffer is honoured */
    buf small;
    buf_init(&small, 8);
    CHECK(ingest_ws_frame_write(&small, INGEST_WS_OP_TEXT, pl, 100) == SONDE_ERR_LIMIT);
    CHECK_EQ_INT(small.len, 0);
    buf_fini(&small);
    buf_fini(&b);
}

int main(void)
{
    RUN(test_sha1_rfc3174);
    RUN(test_accept_key);
    RUN(test_ping_every_split);
    RUN(test_lengths);
    RUN(test_protocol_errors);
    RUN(test_fragmentation);
    RUN(test_close);
    RUN(test_writer);
    return TEST_DONE();
}
