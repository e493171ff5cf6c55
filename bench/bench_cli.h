/* What the two benchmark programs share: a monotonic clock and strict
 * parsing of integer options. */
#ifndef DIFFUSE_BENCH_CLI_H
#define DIFFUSE_BENCH_CLI_H

/* Seconds on CLOCK_MONOTONIC. */
double bench_now_seconds(void);

/* *out = the whole of `text` as a decimal integer in [min, max]; −1 (and
 * *out untouched) for anything else. */
int bench_parse_long(const char *text, long min, long max, long *out);

#endif
