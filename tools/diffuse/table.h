/* A data set held in memory: rows of floats, as the CSV and NPY readers
 * return it (tools/diffuse, not part of libdiffuse). */
#ifndef DIFFUSE_CLI_TABLE_H
#define DIFFUSE_CLI_TABLE_H

#include <stddef.h>

/* The largest rank an NPY array may have (n, C, H, W). */
#define TABLE_MAX_RANK 4

typedef struct table {
    float *values;                /* rows × cols, row-major; owned */
    size_t rows, cols;            /* cols = the product of shape[1 …] */
    size_t rank;                  /* 2 for CSV; the NPY array's rank */
    size_t shape[TABLE_MAX_RANK]; /* shape[0] = rows */
} table;

/* 1 when v is finite and rounds to a finite float: |v| below FLT_MAX plus
 * half its ulp (2^103), where round-to-nearest-even goes to infinity. */
int table_fits_float(double v);

/* Frees the values; *t is zeroed. NULL is a no-op. */
void table_free(table *t);

/* A parser of a whole file's bytes (csv_parse, npy_parse). */
typedef int (*table_parser)(const char *name, const void *data, size_t length, table *out,
                            char *error, size_t error_size);

/* Reads the file at `path` ("-": standard input) and parses it. Returns 0,
 * or -1 with a message naming the file; *out is zeroed on failure. */
int table_read(const char *path, table_parser parse, table *out, char *error, size_t error_size);

/* Reads a whole file ("-": standard input) into a malloc'd buffer of
 * *length bytes (plus a NUL after them, for the parsers). Returns 0, or -1
 * with a message naming the file in `error`. */
int table_read_file(const char *path, char **data, size_t *length, char *error, size_t error_size);

#endif
