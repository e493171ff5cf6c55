/* The strict CSV reader and the writer (rules in csv.h). */
#include "csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_ERROR "unterminated quote, or text after a closing quote"

/* One field of a line: the bytes between its quotes or its trimmed text. */
typedef struct field {
    const char *text;
    size_t length;
} field;

/* The parser's position and what it has read so far. */
typedef struct parser {
    const char *name;
    const char *next, *end; /* the rest of the text */
    size_t line;            /* 1-based number of the current line */
    size_t cols;            /* fields per line, 0 until the first line */
    size_t rows, capacity;  /* rows stored, room in `values` */
    float *values;
    char *error;
    size_t error_size;
} parser;

/* Records "NAME:LINE: [field K: ]message" and returns -1. */
static int fail(parser *p, size_t field_index, const char *message)
{
    char where[48] = "";
    if (field_index > 0)
        snprintf(where, sizeof where, " field %zu:", field_index);
    snprintf(p->error, p->error_size, "%s:%zu:%s %s", p->name, p->line, where, message);
    return -1;
}

/* `message` with the field's text (at most 40 bytes of it) in place of %s. */
static int fail_field(parser *p, size_t field_index, const char *before, const field *f,
                      const char *after)
{
    char message[256];
    int clipped = f->length > 40;
    snprintf(message, sizeof message, "%s\"%.*s%s\"%s", before, (int)(clipped ? 40 : f->length),
             f->text, clipped ? "..." : "", after);
    return fail(p, field_index, message);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits off the next field of the line [*cursor, end). Returns 1 and the
 * field, 0 after the line's last field, -1 on a quoting error. `more` says
 * whether a comma promised another field. */
static int next_field(const char **cursor, const char *end, int *more, field *f)
{
    const char *c = *cursor;
    if (c == end && !*more)
        return 0;
    while (c < end && is_blank(*c))
        c++;
    if (c < end && *c == '"') {
        const char *start = ++c;
        while (c < end && !(*c == '"' && (c + 1 == end || c[1] != '"')))
            c += *c == '"' ? 2 : 1;
        if (c >= end)
            return -1;
        *f = (field){start, (size_t)(c - start)};
        for (c++; c < end && is_blank(*c); c++)
            ;
        if (c < end && *c != ',')
            return -1;
    } else {
        const char *start = c;
        while (c < end && *c != ',')
            c++;
        const char *stop = c;
        while (stop > start && is_blank(stop[-1]))
            stop--;
        *f = (field){start, (size_t)(stop - start)};
    }
    *more = c < end; /* on a comma */
    *cursor = c < end ? c + 1 : c;
    return 1;
}

/* 0 and *value for a finite float; -1 not a number; -2 nan, inf or outside
 * float's range. */
static int parse_number(const field *f, float *value)
{
    char copy[128];
    if (f->length == 0 || f->length >= sizeof copy || is_blank(f->text[0]))
        return -1;
    memcpy(copy, f->text, f->length);
    copy[f->length] = '\0';
    char *stop = NULL;
    double parsed = strtod(copy, &stop);
    if (stop != copy + f->length)
        return -1;
    if (!table_fits_float(parsed))
        return -2;
    *value = (float)parsed;
    return 0;
}

static int grow(parser *p)
{
    if (p->rows < p->capacity)
        return 0;
    size_t rows = p->capacity < 1024 ? 1024 : p->capacity * 2;
    if (rows > SIZE_MAX / sizeof(float) / p->cols)
        return -1;
    float *bigger = realloc(p->values, rows * p->cols * sizeof(float));
    if (bigger == NULL)
        return -1;
    p->values = bigger;
    p->capacity = rows;
    return 0;
}

/* Counts the fields of the first line and tells a header from data:
 * 1 header, 0 data, -1 error. */
static int classify_first_line(parser *p, const char *line, const char *end)
{
    size_t numbers = 0, names = 0, first_name = 0;
    field name = {"", 0};
    int more = 0, got;
    field f;
    while ((got = next_field(&line, end, &more, &f)) == 1) {
        float ignored;
        if (parse_number(&f, &ignored) == 0) {
            numbers++;
        } else if (names++ == 0) {
            first_name = numbers + names;
            name = f;
        }
        if (numbers + names > CSV_MAX_COLUMNS)
            return fail(p, 0, "more than 16777216 fields");
    }
    if (got < 0)
        return fail(p, numbers + names + 1, QUOTE_ERROR);
    p->cols = numbers + names;
    if (numbers > 0 && names > 0)
        return fail_field(p, first_name, "", &name,
                          " is not a number, but other fields of this first line are: a "
                          "header must have only names, a row only numbers");
    return names > 0;
}

/* Appends the row [line, end) to the values. */
static int parse_row(parser *p, const char *line, const char *end)
{
    if (grow(p) != 0)
        return fail(p, 0, "out of memory");
    float *row = p->values + p->rows * p->cols;
    size_t count = 0;
    int more = 0, got;
    field f;
    while ((got = next_field(&line, end, &more, &f)) == 1) {
        if (count == p->cols)
            break;
        int status = parse_number(&f, &row[count++]);
        if (status == -1 && f.length == 0)
            return fail(p, count, "empty field");
        if (status == -1)
            return fail_field(p, count, "", &f, " is not a number");
        if (status == -2)
            return fail_field(p, count, "", &f, " is not finite or outside float's range");
    }
    if (got < 0)
        return fail(p, count + 1, QUOTE_ERROR);
    if (got == 1 || count != p->cols) {
        char message[96];
        snprintf(message, sizeof message, "%s fields than the first line's %zu",
                 got == 1 ? "more" : "fewer", p->cols);
        return fail(p, 0, message);
    }
    p->rows++;
    return 0;
}

/* The next line [*start, *stop) without its line end; 0 at the end. */
static int next_line(parser *p, const char **start, const char **stop)
{
    if (p->next >= p->end)
        return 0;
    const char *eol = memchr(p->next, '\n', (size_t)(p->end - p->next));
    const char *line_end = eol ? eol : p->end;
    *start = p->next;
    *stop = line_end > *start && line_end[-1] == '\r' ? line_end - 1 : line_end;
    p->next = eol ? eol + 1 : p->end;
    p->line++;
    return 1;
}

static int is_blank_line(const char *start, const char *stop)
{
    while (start < stop && is_blank(*start))
        start++;
    return start == stop;
}

static int parse_lines(parser *p)
{
    const char *start, *stop;
    size_t blank_line = 0;
    while (next_line(p, &start, &stop)) {
        if (memchr(start, '\0', (size_t)(stop - start)) != NULL)
            return fail(p, 0, "NUL byte (not a text file?)");
        if (start < stop && *start == '#')
            continue;
        if (is_blank_line(start, stop)) {
            blank_line = blank_line ? blank_line : p->line;
            continue;
        }
        if (blank_line) {
            size_t line = p->line;
            p->line = blank_line;
            fail(p, 0, "blank line between rows");
            p->line = line;
            return -1;
        }
        int header = 0;
        if (p->cols == 0 && (header = classify_first_line(p, start, stop)) < 0)
            return -1;
        if (!header && parse_row(p, start, stop) != 0)
            return -1;
    }
    if (p->rows == 0)
        return fail(p, 0, "no rows of numbers");
    return 0;
}

int csv_parse(const char *name, const void *data, size_t length, table *out, char *error,
              size_t error_size)
{
    const char *text = data;
    parser p = {name, text, text + length, 0, 0, 0, 0, NULL, error, error_size};
    memset(out, 0, sizeof *out);
    if (parse_lines(&p) != 0) {
        free(p.values);
        return -1;
    }
    *out = (table){p.values, p.rows, p.cols, 2, {p.rows, p.cols}};
    return 0;
}

int csv_read(const char *path, table *out, char *error, size_t error_size)
{
    return table_read(path, csv_parse, out, error, error_size);
}

int csv_write(FILE *stream, const float *values, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            fprintf(stream, "%.9g%c", (double)values[i * cols + j], j + 1 < cols ? ',' : '\n');
    return ferror(stream) ? -1 : 0;
}
