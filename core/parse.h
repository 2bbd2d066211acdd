/*
 * parse.h - the one small, checked parsing helper (atoi/sscanf/strtok are
 * banned). Every function takes an explicit length, rejects trailing garbage
 * and overflow, and returns false without touching *out on failure.
 */
#ifndef SONDE_CORE_PARSE_H
#define SONDE_CORE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value of one hexadecimal digit (either case), or -1. */
int parse_hex_digit(char c);

bool parse_u64(const char *s, size_t n, uint64_t *out);
bool parse_i64(const char *s, size_t n, int64_t *out);
/* Decimal/scientific floats, hex floats, "Inf", "+Inf", "-Inf", "NaN" (case-insensitive). */
bool parse_f64(const char *s, size_t n, double *out);
/* Prometheus duration: one or more <int><unit>, units y w d h m s ms, largest
 * first, e.g. "1h30m", "90s", "0". Result in milliseconds. */
bool parse_duration_ms(const char *s, size_t n, int64_t *out);
/* Byte sizes for flags: "1048576", "64KiB", "16MiB", "1GiB", "10KB" (1000-based), "10k". */
bool parse_bytes(const char *s, size_t n, uint64_t *out);
/* Prometheus API time: RFC 3339 ("2026-11-23T11:35:20.123Z", with offsets) or
 * Unix seconds with optional fraction ("1700000000.5"). Result in ms. */
bool parse_time_ms(const char *s, size_t n, int64_t *out);

#endif
