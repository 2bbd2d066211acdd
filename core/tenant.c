/*
 * tenant.c - tenant id validation (the Cortex/Mimir safe set). Threads: any.
 */
#include "tenant.h"

bool tenant_valid(const char *s, size_t n)
{
    if (!s || n == 0 || n > TENANT_MAX_LEN)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        switch (c) {
        case '!':
        case '.':
        case '_':
        case '*':
        case '\'':
        case '(':
        case ')':
        case '-':
            continue;
        default:
            return false;
        }
    }
    return true;
}
