/* In-memory data sets and whole-file reads (see table.h). */
#include "table.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int table_fits_float(double v)
{
    return isfinite(v) && fabs(v) < (double)FLT_MAX + ldexp(1.0, 103);
}

void table_free(table *t)
{
    if (t == NULL)
        return;
    free(t->values);
    memset(t, 0, sizeof *t);
}

/* Grows *data to hold at least `needed` bytes (doubling). */
static int reserve(char **data, size_t *capacity, size_t needed)
{
    if (needed <= *capacity)
        return 0;
    size_t grown = *capacity < 65536 ? 65536 : *capacity;
    while (grown < needed) {
        if (grown > SIZE_MAX / 2)
            return -1;
        grown *= 2;
    }
    char *bigger = realloc(*data, grown);
    if (bigger == NULL)
        return -1;
    *data = bigger;
    *capacity = grown;
    return 0;
}

/* Reads until the end of `file`; works on pipes, whose size is unknown. */
static int read_all(FILE *file, char **data, size_t *length)
{
    size_t capacity = 0, used = 0;
    *data = NULL;
    for (;;) {
        if (reserve(data, &capacity, used + 65536 + 1) != 0)
            return -1;
        size_t got = fread(*data + used, 1, capacity - used - 1, file);
        used += got;
        if (got == 0)
            break;
    }
    (*data)[used] = '\0';
    *length = used;
    return ferror(file) ? -1 : 0;
}

int table_read_file(const char *path, char **data, size_t *length, char *error, size_t error_size)
{
    int from_stdin = strcmp(path, "-") == 0;
    FILE *file = from_stdin ? stdin : fopen(path, "rb");
    if (file == NULL) {
        snprintf(error, error_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int failed = read_all(file, data, length) != 0;
    if (failed) {
        snprintf(error, error_size, "%s: cannot read: %s", path,
                 errno != 0 ? strerror(errno) : "out of memory");
        free(*data);
        *data = NULL;
    }
    if (!from_stdin)
        fclose(file);
    return failed ? -1 : 0;
}

int table_read(const char *path, table_parser parse, table *out, char *error, size_t error_size)
{
    char *data = NULL;
    size_t length = 0;
    memset(out, 0, sizeof *out);
    if (table_read_file(path, &data, &length, error, error_size) != 0)
        return -1;
    int status = parse(path, data, length, out, error, error_size);
    free(data);
    return status;
}
