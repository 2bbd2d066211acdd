/* test_tenant.c - tenant id validation. */
#include <string.h>

#include "core/tenant.h"
#include "test.h"

#define T(s) tenant_valid(s, strlen(s))

static void test_tenant(void)
{
    CHECK(T("anonymous"));
    CHECK(T("team-a_1.prod"));
    CHECK(T("!*'()"));
    CHECK(T("..."));
    CHECK(!T(""));
    CHECK(!T("."));
    CHECK(!T(".."));
    CHECK(!T("a/b"));
    CHECK(!T("a b"));
    CHECK(!T("caf\xc3\xa9"));
    CHECK(!tenant_valid("a\0b", 3));
    char longid[TENANT_MAX_LEN + 2];
    memset(longid, 'x', sizeof longid);
    CHECK(tenant_valid(longid, TENANT_MAX_LEN));
    CHECK(!tenant_valid(longid, TENANT_MAX_LEN + 1));
}

int main(void)
{
    RUN(test_tenant);
    return TEST_DONE();
}
