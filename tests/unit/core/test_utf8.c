/* test_utf8.c - strict UTF-8: overlongs, surrogates, range, truncation. */
#include "core/utf8.h"
#include "test.h"

#define V(s) utf8_valid(s, sizeof(s) - 1)

static void test_valid(void)
{
    CHECK(V(""));
    CHECK(V("plain ascii label_name"));
    CHECK(V("caf\xc3\xa9"));
    CHECK(V("\xe2\x82\xac"));         /* U+20AC */
    CHECK(V("\xf0\x9f\x98\x80"));     /* U+1F600 */
    CHECK(V("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    CHECK(V("\xed\x9f\xbf"));         /* U+D7FF */
    CHECK(V("\xee\x80\x80"));         /* U+E000 */
    CHECK(V("0123456789abcdef\xc3\xa9xyz")); /* fast path then multi-byte */
    CHECK(utf8_valid("a\0b", 3));     /* NUL is valid UTF-8 */
}

static void test_invalid(void)
{
    CHECK(!V("\xc0\x80"));             /* overlong NUL */
    CHECK(!V("\xc1\xbf"));             /* overlong */
    CHECK(!V("\xe0\x80\xaf"));         /* overlong '/' */
    CHECK(!V("\xe0\x9f\xbf"));         /* overlong */
    CHECK(!V("\xf0\x8f\xbf\xbf"));     /* overlong */
    CHECK(!V("\xed\xa0\x80"));         /* U+D800 surrogate */
    CHECK(!V("\xed\xbf\xbf"));         /* U+DFFF surrogate */
    CHECK(!V("\xf4\x90\x80\x80"));     /* U+110000 */
    CHECK(!V("\xf5\x80\x80\x80"));
    CHECK(!V("\xff"));
    CHECK(!V("\x80"));                 /* stray continuation */
    CHECK(!V("abc\xc3"));              /* truncated */
    CHECK(!V("\xe2\x82"));             /* truncated */
    CHECK(!V("\xf0\x9f\x98"));         /* truncated */
    CHECK(!V("\xe2\x28\xa1"));         /* bad continuation */
    CHECK(!V("01234567\xc3\x28"));
}

/* utf8_encode: the boundary code points encode to valid UTF-8 of the
 * right length, and a few known byte sequences. */
static void test_encode(void)
{
    static const struct {
        uint32_t cp;
        size_t n;
    } cases[] = {{0, 1},      {0x7F, 1},    {0x80, 2},     {0x7FF, 2},      {0x800, 3},
                 {0xFFFF, 3}, {0x10000, 4}, {0x10FFFF, 4}, {0xD7FF, 3}, {0xE000, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char b[4];
        size_t n = utf8_encode(b, cases[i].cp);
        CHECK_EQ_INT(n, cases[i].n);
        CHECK(utf8_valid(b, n));
    }
    char b[4];
    CHECK_EQ_INT(utf8_encode(b, 0xE9), 2);
    CHECK(memcmp(b, "\xC3\xA9", 2) == 0);
    CHECK_EQ_INT(utf8_encode(b, 0x1F600), 4);
    CHECK(memcmp(b, "\xF0\x9F\x98\x80", 4) == 0);
}

int main(void)
{
    RUN(test_valid);
    RUN(test_invalid);
    RUN(test_encode);
    return TEST_DONE();
}
