/* A small, strict reader and a writer of NumPy's .npy files
 * (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html),
 * for tools/diffuse (not part of libdiffuse).
 *
 * What the reader accepts (anything else is an error naming the byte
 * offset, "x.npy: offset 50: ..."):
 *   - the magic "\x93NUMPY", format version 1.0 (2-byte header length) or
 *     2.0 (4-byte); version 3.0 (a UTF-8 header) is refused;
 *   - a header that is exactly the dictionary numpy writes, in any key
 *     order: 'descr' '<f4' (float32) or '<f8' (float64), little-endian;
 *     'fortran_order' False (C order); 'shape' a tuple of 1 to
 *     TABLE_MAX_RANK sizes, each at least 1; then spaces and a newline;
 *   - exactly the bytes the shape needs after it (truncated files and
 *     trailing bytes are errors);
 *   - finite values; float64 values must fit a float.
 * Row i is a[i] (shape[0] rows of shape[1]·… values; a 1-D array has rows
 * of one value). */
#ifndef DIFFUSE_CLI_NPY_H
#define DIFFUSE_CLI_NPY_H

#include <stddef.h>

#include "table.h"

/* Parses `length` bytes of an .npy file into *out (`name` is used in
 * messages). Returns 0, or -1 with the message in `error`, *out zeroed. */
int npy_parse(const char *name, const void *data, size_t length, table *out, char *error,
              size_t error_size);

/* Reads the file at `path` ("-": standard input) with npy_parse. */
int npy_read(const char *path, table *out, char *error, size_t error_size);

/* Writes a float32 C-order version 1.0 file of `rank` (1..TABLE_MAX_RANK)
 * sizes `shape` ("-": standard output). Returns 0, or -1 with a message. */
int npy_write(const char *path, const float *values, size_t rank, const size_t *shape, char *error,
              size_t error_size);

#endif
