/*
 * tenant.h - tenant ids (X-Scope-OrgID). A valid id is 1..TENANT_MAX_LEN bytes
 * of [A-Za-z0-9!._*'()-], and is not "." or "..", the safe set Cortex/Mimir use.
 */
#ifndef SONDE_CORE_TENANT_H
#define SONDE_CORE_TENANT_H

#include <stdbool.h>
#include <stddef.h>

#define TENANT_MAX_LEN 150
#define TENANT_DEFAULT "anonymous"

bool tenant_valid(const char *s, size_t n);

#endif
