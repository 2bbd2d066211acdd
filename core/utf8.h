/*
 * utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). protobuf-c does not check strings; we do. And
 * the one UTF-8 encoder the string-literal parsers share.
 */
#ifndef SONDE_CORE_UTF8_H
#define SONDE_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool utf8_valid(const char *s, size_t n);

/* Writes the UTF-8 encoding of cp (at most U+10FFFF; the caller has checked)
 * into out, which has room for 4 bytes; returns its length, 1 to 4. */
size_t utf8_encode(char *out, uint32_t cp);

#endif
