/* A small, strict CSV reader for numeric vectors, and a writer
 * (tools/diffuse, not part of libdiffuse).
 *
 * What the reader accepts (anything else is an error naming the line and
 * field, "data.csv:7: field 2: \"abc\" is not a number"):
 *   - one row a line, fields separated by commas; lines end with LF or
 *     CR LF; the last line may lack its line end;
 *   - spaces and tabs around a field are ignored;
 *   - a field may be enclosed in double quotes (RFC 4180), with "" for a
 *     quote inside; a quoted field cannot span lines;
 *   - lines whose first character is '#' are comments (numpy.savetxt's
 *     header), and blank lines after the last row are ignored; a blank line
 *     between rows is an error;
 *   - the first line that is not a comment is a header when none of its
 *     fields is a number (its names are skipped); a first line that mixes
 *     numbers and names is an error;
 *   - every other field is a decimal number as C's strtod reads it in the
 *     "C" locale (1, -2.5, 3e-4), finite and within float's range: nan,
 *     inf and empty fields are errors;
 *   - every line has as many fields as the first, at most
 *     CSV_MAX_COLUMNS, and there is at least one row; NUL bytes are
 *     errors. */
#ifndef DIFFUSE_CLI_CSV_H
#define DIFFUSE_CLI_CSV_H

#include <stdio.h>

#include "table.h"

#define CSV_MAX_COLUMNS ((size_t)1 << 24)

/* Parses `length` bytes of text (`name` is the file name used in
 * messages) into *out (rank 2: rows × columns). Returns 0, or -1 with the
 * message in `error` and *out zeroed. */
int csv_parse(const char *name, const void *text, size_t length, table *out, char *error,
              size_t error_size);

/* Reads the file at `path` ("-": standard input) with csv_parse. */
int csv_read(const char *path, table *out, char *error, size_t error_size);

/* Writes rows × cols values, one row a line, without a header, each value
 * with 9 significant digits (a float reads back exactly). Returns 0, or -1
 * when the stream reports a write error. */
int csv_write(FILE *stream, const float *values, size_t rows, size_t cols);

#endif
