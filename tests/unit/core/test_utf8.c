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

int main(void)
{
    RUN(test_valid);
    RUN(test_invalid);
    return TEST_DONE();
}
