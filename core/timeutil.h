/*
 * timeutil.h - clocks.
 */
#ifndef SONDE_CORE_TIMEUTIL_H
#define SONDE_CORE_TIMEUTIL_H

#include <stdint.h>

int64_t time_now_ms(void);   /* CLOCK_REALTIME, milliseconds since the epoch */
int64_t time_mono_ns(void);  /* CLOCK_MONOTONIC, nanoseconds */

#endif
