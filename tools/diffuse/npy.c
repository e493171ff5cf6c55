/* The .npy reader and writer (rules in npy.h). Values are assembled from
 * their little-endian bytes, so the code does not depend on the host's
 * byte order. */
#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_SIZE 6

/* The header dictionary being parsed: text[pos] is at file offset base + pos. */
typedef struct header {
    const char *name;
    const char *text;
    size_t pos, length, base;
    size_t item_size; /* 4 or 8, from 'descr' */
    size_t rank, shape[TABLE_MAX_RANK];
    int seen; /* bit 0 descr, 1 fortran_order, 2 shape */
    char *error;
    size_t error_size;
} header;

static int fail_at(const char *name, size_t offset, const char *message, char *error,
                   size_t error_size)
{
    snprintf(error, error_size, "%s: offset %zu: %s", name, offset, message);
    return -1;
}

static int fail(header *h, const char *message)
{
    return fail_at(h->name, h->base + h->pos, message, h->error, h->error_size);
}

static void skip_spaces(header *h)
{
    while (h->pos < h->length && h->text[h->pos] == ' ')
        h->pos++;
}

/* Consumes `token` (after spaces) if it is next; 1 if it was. */
static int accept(header *h, const char *token)
{
    skip_spaces(h);
    size_t n = strlen(token);
    if (h->length - h->pos < n || memcmp(h->text + h->pos, token, n) != 0)
        return 0;
    h->pos += n;
    return 1;
}

static int expect(header *h, const char *token, const char *message)
{
    return accept(h, token) ? 0 : fail(h, message);
}

/* A quoted Python string without escapes into buffer (size bytes). */
static int parse_string(header *h, char *buffer, size_t size)
{
    skip_spaces(h);
    char quote = h->pos < h->length ? h->text[h->pos] : 0;
    if (quote != '\'' && quote != '"')
        return fail(h, "expected a quoted string");
    size_t start = ++h->pos;
    while (h->pos < h->length && h->text[h->pos] != quote && h->text[h->pos] != '\\')
        h->pos++;
    if (h->pos >= h->length || h->text[h->pos] != quote || h->pos - start >= size)
        return fail(h, "bad or unexpected string");
    memcpy(buffer, h->text + start, h->pos - start);
    buffer[h->pos - start] = '\0';
    h->pos++;
    return 0;
}

static int parse_descr(header *h)
{
    char descr[16];
    skip_spaces(h);
    size_t at = h->pos;
    if (parse_string(h, descr, sizeof descr) != 0)
        return -1;
    h->item_size = strcmp(descr, "<f4") == 0 ? 4 : strcmp(descr, "<f8") == 0 ? 8 : 0;
    if (h->item_size == 0) {
        char message[128];
        snprintf(message, sizeof message,
                 "dtype '%s' is not supported: only little-endian float32 '<f4' or float64 "
                 "'<f8'",
                 descr);
        h->pos = at;
        return fail(h, message);
    }
    return 0;
}

static int parse_fortran_order(header *h)
{
    if (accept(h, "False"))
        return 0;
    return fail(h, accept(h, "True") ? "Fortran-order arrays are not supported (use C order: "
                                       "numpy.ascontiguousarray)"
                                     : "fortran_order must be False");
}

/* A size of the shape: decimal digits, at least 1, at most 2^48. */
static int parse_size(header *h, size_t *value)
{
    skip_spaces(h);
    uint64_t parsed = 0;
    size_t start = h->pos;
    while (h->pos < h->length && h->text[h->pos] >= '0' && h->text[h->pos] <= '9') {
        parsed = parsed * 10 + (uint64_t)(h->text[h->pos++] - '0');
        if (parsed > ((uint64_t)1 << 48))
            return fail(h, "size too large");
    }
    if (h->pos == start)
        return fail(h, "expected a size");
    if (parsed == 0) {
        h->pos = start;
        return fail(h, "a size of 0: the array is empty");
    }
    *value = (size_t)parsed;
    return 0;
}

/* "(a, b, …)" with an optional trailing comma ("(n,)" for one size). */
static int parse_shape(header *h)
{
    if (expect(h, "(", "expected a tuple") != 0)
        return -1;
    if (accept(h, ")"))
        return fail(h, "a 0-d array (a scalar) is not a data set");
    for (;;) {
        if (h->rank == TABLE_MAX_RANK)
            return fail(h, "more than 4 dimensions");
        if (parse_size(h, &h->shape[h->rank++]) != 0)
            return -1;
        int comma = accept(h, ",");
        if (accept(h, ")"))
            return 0;
        if (!comma)
            return fail(h, "expected ',' or ')' in the shape");
    }
}

static int parse_entry(header *h)
{
    static const char *const keys[] = {"descr", "fortran_order", "shape"};
    char key[16];
    skip_spaces(h);
    size_t at = h->pos;
    if (parse_string(h, key, sizeof key) != 0)
        return -1;
    int k = 0;
    while (k < 3 && strcmp(key, keys[k]) != 0)
        k++;
    if (k == 3 || (h->seen & (1 << k))) {
        h->pos = at;
        return fail(h, k == 3 ? "unknown key in the header" : "key repeated in the header");
    }
    h->seen |= 1 << k;
    if (expect(h, ":", "expected ':'") != 0)
        return -1;
    return k == 0 ? parse_descr(h) : k == 1 ? parse_fortran_order(h) : parse_shape(h);
}

/* The dictionary, then padding spaces and the newline that ends it. */
static int parse_dictionary(header *h)
{
    if (expect(h, "{", "the header is not a dictionary") != 0)
        return -1;
    while (!accept(h, "}")) {
        if (parse_entry(h) != 0)
            return -1;
        if (!accept(h, ",") && !(skip_spaces(h), h->pos < h->length && h->text[h->pos] == '}'))
            return fail(h, "expected ',' or '}'");
    }
    if (h->seen != 7)
        return fail(h, "the header lacks 'descr', 'fortran_order' or 'shape'");
    skip_spaces(h);
    if (h->pos + 1 != h->length || h->text[h->pos] != '\n')
        return fail(h, "unexpected bytes after the header's dictionary");
    return 0;
}

static uint64_t little_endian(const unsigned char *p, size_t n)
{
    uint64_t value = 0;
    for (size_t i = n; i-- > 0;)
        value = value << 8 | p[i];
    return value;
}

/* The magic and version; sets *header_start and *header_length. */
static int parse_preamble(const char *name, const unsigned char *data, size_t length,
                          size_t *header_start, size_t *header_length, char *error,
                          size_t error_size)
{
    if (length < 10 || memcmp(data, NPY_MAGIC, NPY_MAGIC_SIZE) != 0)
        return fail_at(name, 0, "not an .npy file (no \\x93NUMPY magic)", error, error_size);
    if ((data[6] != 1 && data[6] != 2) || data[7] != 0) {
        char message[96];
        snprintf(message, sizeof message, "format version %u.%u is not supported (1.0, 2.0)",
                 data[6], data[7]);
        return fail_at(name, 6, message, error, error_size);
    }
    *header_start = data[6] == 1 ? 10 : 12;
    if (length < *header_start)
        return fail_at(name, 8, "truncated header length", error, error_size);
    *header_length = (size_t)little_endian(data + 8, data[6] == 1 ? 2 : 4);
    if (*header_length > length - *header_start)
        return fail_at(name, 8, "the header runs past the end of the file", error, error_size);
    return 0;
}

/* The element count and byte count of the shape, checked against the file. */
static int check_data_size(const header *h, size_t data_start, size_t length, size_t *count)
{
    uint64_t n = 1;
    for (size_t r = 0; r < h->rank; r++) {
        if (n > (SIZE_MAX / 8) / h->shape[r])
            return fail_at(h->name, h->base, "the shape is too large", h->error, h->error_size);
        n *= h->shape[r];
    }
    size_t bytes = (size_t)n * h->item_size, available = length - data_start;
    char message[128];
    if (bytes != available) {
        snprintf(message, sizeof message, "%s: the shape needs %zu bytes of data, the file has %zu",
                 bytes > available ? "truncated" : "bytes after the data", bytes, available);
        return fail_at(h->name, data_start + (bytes < available ? bytes : available), message,
                       h->error, h->error_size);
    }
    *count = (size_t)n;
    return 0;
}

/* The values as floats; every one finite. */
static int convert(const header *h, const unsigned char *data, size_t count, float *out)
{
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = data + i * h->item_size;
        uint64_t bits = little_endian(p, h->item_size);
        double value;
        if (h->item_size == 4) {
            uint32_t narrow = (uint32_t)bits;
            float f;
            memcpy(&f, &narrow, sizeof f);
            value = f;
        } else {
            memcpy(&value, &bits, sizeof value);
        }
        if (!table_fits_float(value)) {
            char message[128];
            snprintf(message, sizeof message,
                     "value %zu (row %zu) is not finite or outside "
                     "float's range",
                     i, i / (count / h->shape[0]));
            return fail_at(h->name, (size_t)(p - data) + h->base + h->length, message, h->error,
                           h->error_size);
        }
        out[i] = (float)value;
    }
    return 0;
}

int npy_parse(const char *name, const void *bytes, size_t length, table *out, char *error,
              size_t error_size)
{
    const unsigned char *data = bytes;
    size_t start = 0, header_length = 0, count = 0;
    memset(out, 0, sizeof *out);
    if (parse_preamble(name, data, length, &start, &header_length, error, error_size) != 0)
        return -1;
    header h = {name,      (const char *)data + start, 0, header_length, start, 0, 0, {0}, 0, error,
                error_size};
    if (parse_dictionary(&h) != 0 || check_data_size(&h, start + header_length, length, &count))
        return -1;
    float *values = malloc(count * sizeof(float));
    if (values == NULL)
        return fail_at(name, start + header_length, "out of memory", error, error_size);
    if (convert(&h, data + start + header_length, count, values) != 0) {
        free(values);
        return -1;
    }
    *out = (table){values, h.shape[0], count / h.shape[0], h.rank, {0}};
    memcpy(out->shape, h.shape, sizeof h.shape);
    return 0;
}

int npy_read(const char *path, table *out, char *error, size_t error_size)
{
    return table_read(path, npy_parse, out, error, error_size);
}

/* numpy's header: the dictionary padded with spaces and a newline to a
 * multiple of 64 bytes including the 10-byte preamble. */
static size_t format_header(char *buffer, size_t size, size_t rank, const size_t *shape)
{
    char dims[128] = "";
    size_t used = 0;
    for (size_t r = 0; r < rank; r++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, "%zu%s", shape[r],
                                 rank == 1 || r + 1 < rank ? ", " : "");
    if (rank == 1)
        dims[used - 1] = '\0'; /* "(n,)" */
    int n =
        snprintf(buffer, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    size_t length = (size_t)n;
    while ((10 + length + 1) % 64 != 0)
        buffer[length++] = ' ';
    buffer[length++] = '\n';
    return length;
}

static int write_values(FILE *file, const float *values, size_t count)
{
    unsigned char bytes[4096];
    for (size_t i = 0; i < count;) {
        size_t chunk = count - i < sizeof bytes / 4 ? count - i : sizeof bytes / 4;
        for (size_t k = 0; k < chunk; k++) {
            uint32_t bits;
            memcpy(&bits, &values[i + k], sizeof bits);
            for (size_t b = 0; b < 4; b++)
                bytes[4 * k + b] = (unsigned char)(bits >> (8 * b));
        }
        if (fwrite(bytes, 4, chunk, file) != chunk)
            return -1;
        i += chunk;
    }
    return 0;
}

int npy_write(const char *path, const float *values, size_t rank, const size_t *shape, char *error,
              size_t error_size)
{
    char text[256];
    if (rank < 1 || rank > TABLE_MAX_RANK)
        return fail_at(path, 0, "bad rank", error, error_size);
    size_t length = format_header(text, sizeof text, rank, shape), count = 1;
    for (size_t r = 0; r < rank; r++)
        count *= shape[r];
    unsigned char preamble[10] = {0x93,
                                  'N',
                                  'U',
                                  'M',
                                  'P',
                                  'Y',
                                  1,
                                  0,
                                  (unsigned char)(length & 255),
                                  (unsigned char)(length >> 8)};
    int to_stdout = strcmp(path, "-") == 0;
    FILE *file = to_stdout ? stdout : fopen(path, "wb");
    int ok = file != NULL && fwrite(preamble, 1, 10, file) == 10 &&
             fwrite(text, 1, length, file) == length && write_values(file, values, count) == 0;
    ok = file != NULL && (to_stdout ? fflush(file) == 0 : fclose(file) == 0) && ok;
    if (!ok)
        snprintf(error, error_size, "%s: cannot write: %s", path, strerror(errno));
    return ok ? 0 : -1;
}
