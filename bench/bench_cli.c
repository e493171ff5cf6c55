/* Clock and option parsing for the benchmark programs (see bench_cli.h). */
#define _POSIX_C_SOURCE 200809L

#include "bench_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

double bench_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int bench_parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}
