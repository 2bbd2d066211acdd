/*
 * utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). protobuf-c does not check strings; we do.
 */
#ifndef SONDE_CORE_UTF8_H
#define SONDE_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *s, size_t n);

#endif
