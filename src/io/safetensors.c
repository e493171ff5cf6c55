/* safetensors reader and writer (format and rules: see safetensors.h). */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/json_reader.h"

#define ST_LENGTH_FIELD_BYTES 8
#define ST_METADATA_KEY "__metadata__"
/* The data section starts at a multiple of this in files and in memory. */
#define ST_DATA_ALIGNMENT 8
/* Largest single read(2). */
#define ST_MAX_READ_CHUNK ((size_t)1 << 30)
/* Names in messages are cut so the rest of the message survives. */
#define ST_NAME_IN_MESSAGE "%.150s"
/* Longest checksum key (it is searched for in a rendered header). */
#define ST_MAX_CHECKSUM_KEY 200
/* ST_MAX_RANK in messages. */
#define ST_MAX_RANK_TEXT "8"
_Static_assert(ST_MAX_RANK == 8, "ST_MAX_RANK_TEXT must spell ST_MAX_RANK");

/* ---- dtypes and byte order ------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},   [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4},   [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},   [ST_I64] = {"I64", 8},   [ST_U64] = {"U64", 8},
    [ST_F64] = {"F64", 8},
};
#define ST_DTYPE_COUNT (sizeof dtype_table / sizeof dtype_table[0])

static bool dtype_valid(st_dtype dtype)
{
    return (unsigned)dtype < ST_DTYPE_COUNT;
}

const char *st_dtype_name(st_dtype dtype)
{
    return dtype_valid(dtype) ? dtype_table[dtype].name : NULL;
}

size_t st_dtype_size(st_dtype dtype)
{
    return dtype_valid(dtype) ? dtype_table[dtype].size : 0;
}

static bool dtype_from_name(const char *name, st_dtype *dtype)
{
    for (size_t i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(dtype_table[i].name, name) == 0) {
            *dtype = (st_dtype)i;
            return true;
        }
    }
    return false;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

void st_swap_bytes(void *data, size_t count, size_t element_size)
{
    unsigned char *p = data;
    for (size_t i = 0; i < count; i++, p += element_size) {
        for (size_t lo = 0, hi = element_size - 1; lo < hi; lo++, hi--) {
            unsigned char byte = p[lo];
            p[lo] = p[hi];
            p[hi] = byte;
        }
    }
}

static uint64_t load_u64_le(const unsigned char *p)
{
    uint64_t value = 0;
    for (int i = ST_LENGTH_FIELD_BYTES - 1; i >= 0; i--)
        value = (value << 8) | p[i];
    return value;
}

static void store_u64_le(unsigned char *p, uint64_t value)
{
    for (int i = 0; i < ST_LENGTH_FIELD_BYTES; i++, value >>= 8)
        p[i] = (unsigned char)(value & 0xFF);
}

/* ---- strict number parsing ------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool st_parse_uint64(const char *text, uint64_t *out)
{
    if (text == NULL || out == NULL || !is_digit(text[0]))
        return false;
    if (text[0] == '0' && text[1] != '\0')
        return false; /* one spelling per value: no leading zeros */
    uint64_t value = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (!is_digit(*p))
            return false;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

bool st_parse_int64(const char *text, int64_t *out)
{
    if (text == NULL || out == NULL)
        return false;
    bool negative = text[0] == '-';
    uint64_t magnitude;
    if (!st_parse_uint64(text + negative, &magnitude) || (negative && magnitude == 0))
        return false; /* "-0" would be a second spelling of 0 */
    /* |INT64_MIN| = INT64_MAX + 1 */
    uint64_t limit = (uint64_t)INT64_MAX + (negative ? 1u : 0u);
    if (magnitude > limit)
        return false;
    if (!negative)
        *out = (int64_t)magnitude;
    else
        *out = magnitude == limit ? INT64_MIN : -(int64_t)magnitude;
    return true;
}

/* JSON's number grammar, converted by strtod without the decimal point:
 * "0.25e1" becomes "025e-1" (the digits, then the exponent minus the
 * number of fraction digits), the same value written without the one
 * character that depends on the C locale. strtod rounds correctly, and it
 * does not allocate (the number is at most ST_MAX_NUMBER_TEXT long). */
bool st_parse_double(const char *text, double *out)
{
    if (text == NULL || out == NULL)
        return false;
    size_t length = strlen(text);
    if (length == 0 || length > ST_MAX_NUMBER_TEXT || json_number_length(text, length) != length)
        return false;
    char digits[ST_MAX_NUMBER_TEXT + 32];
    size_t used = 0, fraction = 0, i = 0;
    bool in_fraction = false;
    for (; i < length && text[i] != 'e' && text[i] != 'E'; i++) {
        if (text[i] == '.') {
            in_fraction = true;
            continue;
        }
        digits[used++] = text[i];
        fraction += in_fraction;
    }
    /* The exponent saturates: beyond ±99999 every value here is 0 or ∞. */
    long exponent = 0;
    bool negative = false;
    if (i < length) { /* text[i] is 'e' or 'E' */
        i++;
        negative = text[i] == '-';
        i += text[i] == '-' || text[i] == '+';
    }
    for (; i < length; i++)
        exponent = exponent >= 99999 ? 99999 : exponent * 10 + (text[i] - '0');
    exponent = (negative ? -exponent : exponent) - (long)fraction;
    snprintf(digits + used, sizeof digits - used, "e%ld", exponent);
    char *end = NULL;
    double value = strtod(digits, &end);
    if (*end != '\0' || !isfinite(value))
        return false;
    *out = value;
    return true;
}

/* ---- reading: the file's parts ----------------------------------------- */

/* One "__metadata__" entry; value_at/value_raw_size locate the value's
 * bytes between its quotes in the header (for st_checksum). */
typedef struct metadata_entry {
    const char *key;
    const char *value;
    size_t value_at;
    size_t value_raw_size;
} metadata_entry;

struct st_file {
    unsigned char length_field[ST_LENGTH_FIELD_BYTES];
    char *header;              /* the N header bytes as in the file */
    size_t header_size;
    unsigned char *data;       /* data section; malloc'ed, so 8-byte aligned */
    size_t data_size;
    uint32_t data_crc;         /* CRC-32C of the data section as in the file */
    char *strings;             /* decoded names, keys and values */
    metadata_entry *metadata;  /* sorted by key */
    size_t metadata_count;
    st_tensor *tensors;        /* sorted by name */
    size_t tensor_count;
};

_Static_assert(_Alignof(max_align_t) % ST_DATA_ALIGNMENT == 0,
               "malloc must align the data section for in-place typed reads");

const st_limits st_default_limits = {ST_MAX_HEADER_BYTES, ST_MAX_TENSORS, ST_MAX_METADATA};

/* Where the bytes come from: a file descriptor or memory. Reads are in
 * order: length field, header, data section. */
typedef struct source {
    int fd;                     /* -1 for memory */
    const unsigned char *bytes; /* memory */
    const char *path;           /* for messages */
    uint64_t size;
} source;

static diffuse_status source_read(const source *src, uint64_t at, void *out, size_t size,
                                  diffuse_error *err)
{
    if (src->fd < 0) {
        memcpy(out, src->bytes + at, size);
        return DIFFUSE_OK;
    }
    unsigned char *p = out;
    while (size > 0) {
        ssize_t got = pread(src->fd, p, size < ST_MAX_READ_CHUNK ? size : ST_MAX_READ_CHUNK,
                            (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot read '%s': %s", src->path,
                                strerror(errno));
        if (got == 0)
            return diffuse_fail(err, DIFFUSE_ERROR_IO,
                                "'%s' ended early: it shrank while being read", src->path);
        p += got;
        at += (uint64_t)got;
        size -= (size_t)got;
    }
    return DIFFUSE_OK;
}

/* The header length N, checked against the file size and the limit before
 * anything is allocated. */
static diffuse_status read_length_field(const source *src, const st_limits *limits,
                                        st_file *file, diffuse_error *err)
{
    if (src->size < ST_LENGTH_FIELD_BYTES)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "file has %" PRIu64 " bytes, fewer than the 8-byte header length",
                            src->size);
    diffuse_status status = source_read(src, 0, file->length_field, ST_LENGTH_FIELD_BYTES, err);
    if (status != DIFFUSE_OK)
        return status;
    uint64_t n = load_u64_le(file->length_field);
    if (n == 0)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "header length is 0");
    if (n > limits->max_header_bytes)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes",
                            n, limits->max_header_bytes);
    if (n > src->size - ST_LENGTH_FIELD_BYTES)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "header length %" PRIu64 " exceeds the %" PRIu64
                            " bytes that follow the length field (truncated file?)",
                            n, src->size - ST_LENGTH_FIELD_BYTES);
    file->header_size = (size_t)n;
    file->data_size = (size_t)(src->size - ST_LENGTH_FIELD_BYTES - n);
    return DIFFUSE_OK;
}

/* The header and the arena its strings decode into (never larger than
 * the header, see json_reader.h). */
static diffuse_status read_header_bytes(const source *src, st_file *file, diffuse_error *err)
{
    file->header = malloc(file->header_size);
    file->strings = malloc(file->header_size);
    if (file->header == NULL || file->strings == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a %zu-byte header", file->header_size);
    return source_read(src, ST_LENGTH_FIELD_BYTES, file->header, file->header_size, err);
}

static diffuse_status parse_header(st_file *file, const st_limits *limits, diffuse_error *err);

static void swap_to_host_order(st_file *file)
{
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *t = &file->tensors[i];
        st_swap_bytes(file->data + t->offset, t->element_count, st_dtype_size(t->dtype));
    }
}

/* Only once the header has accounted for every byte of the file is the
 * data section allocated and read. */
static diffuse_status read_data(const source *src, st_file *file, diffuse_error *err)
{
    file->data = malloc(file->data_size > 0 ? file->data_size : 1);
    if (file->data == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory for a %zu-byte data section", file->data_size);
    diffuse_status status =
        source_read(src, ST_LENGTH_FIELD_BYTES + file->header_size, file->data, file->data_size,
                    err);
    if (status != DIFFUSE_OK)
        return status;
    file->data_crc = crc32c_update(0, file->data, file->data_size); /* before any swap */
    for (size_t i = 0; i < file->tensor_count; i++)
        file->tensors[i].data = file->data + file->tensors[i].offset;
    if (!host_is_little_endian())
        swap_to_host_order(file);
    return DIFFUSE_OK;
}

static diffuse_status open_source(st_file **out, const source *src, const st_limits *limits,
                                  diffuse_error *err)
{
    if (limits == NULL)
        limits = &st_default_limits;
    st_file *file = calloc(1, sizeof *file);
    if (file == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory opening a file");
    diffuse_status status = read_length_field(src, limits, file, err);
    if (status == DIFFUSE_OK)
        status = read_header_bytes(src, file, err);
    if (status == DIFFUSE_OK)
        status = parse_header(file, limits, err);
    if (status == DIFFUSE_OK)
        status = read_data(src, file, err);
    if (status != DIFFUSE_OK) {
        st_close(file);
        return status;
    }
    *out = file;
    return DIFFUSE_OK;
}

diffuse_status st_open_memory(st_file **out, const void *bytes, size_t size, diffuse_error *err)
{
    if (out == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = NULL;
    if (bytes == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "bytes must not be NULL");
    source src = {-1, bytes, "memory", size};
    return open_source(out, &src, NULL, err);
}

diffuse_status st_open(st_file **out, const char *path, const st_limits *limits,
                       diffuse_error *err)
{
    if (out == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = NULL;
    if (path == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "path must not be NULL");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
     * refused as not a regular file); it changes nothing for regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot open '%s': %s", path,
                            strerror(errno));
    struct stat info;
    diffuse_status status = DIFFUSE_OK;
    if (fstat(fd, &info) != 0)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot stat '%s': %s", path,
                              strerror(errno));
    else if (!S_ISREG(info.st_mode))
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "'%s' is not a regular file", path);
#if SIZE_MAX < UINT64_MAX
    else if ((uint64_t)info.st_size > SIZE_MAX)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "'%s' is too large to load", path);
#endif
    if (status == DIFFUSE_OK) {
        source src = {fd, NULL, path, (uint64_t)info.st_size};
        status = open_source(out, &src, limits, err);
    }
    close(fd);
    return status;
}

void st_close(st_file *file)
{
    if (file == NULL)
        return;
    free(file->header);
    free(file->strings);
    free(file->data);
    free(file->metadata);
    free(file->tensors);
    free(file);
}

/* ---- reading: the header's structure ------------------------------------ */

/* Parsing state: the JSON reader and the limits. */
typedef struct header_parser {
    json_reader json;
    st_file *file;
    const st_limits *limits;
    size_t tensor_capacity, metadata_capacity;
    bool seen_metadata;
} header_parser;

static diffuse_status syntax_error(const header_parser *p, const char *expected,
                                   diffuse_error *err)
{
    return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                        "header is not valid JSON (at byte %zu): expected %s", p->json.at,
                        expected);
}

/* Room for one more item (capacity doubles) up to `limit` items. */
static diffuse_status grow(void **items, size_t count, size_t *capacity, size_t item_size,
                           size_t limit, const char *what, diffuse_error *err)
{
    if (count >= limit)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "the header holds more than %zu %s, the most this reader accepts",
                            limit, what);
    if (count < *capacity)
        return DIFFUSE_OK;
    size_t grown = *capacity == 0 ? 16 : *capacity * 2;
    grown = grown < limit ? grown : limit;
    void *moved = realloc(*items, grown * item_size);
    if (moved == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for %zu %s", grown,
                            what);
    *items = moved;
    *capacity = grown;
    return DIFFUSE_OK;
}

/* "key": "value", ... } of "__metadata__" (after its '{'). */
static diffuse_status parse_metadata(header_parser *p, diffuse_error *err)
{
    st_file *file = p->file;
    if (json_take(&p->json, '}'))
        return DIFFUSE_OK;
    do {
        metadata_entry entry;
        size_t key_at, key_size;
        if (!json_read_string(&p->json, &entry.key, &key_at, &key_size))
            return syntax_error(p, "a metadata key (a string)", err);
        if (!json_take(&p->json, ':'))
            return syntax_error(p, "':'", err);
        if (!json_next_is(&p->json, '"'))
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "metadata \"" ST_NAME_IN_MESSAGE "\" is not a string", entry.key);
        if (!json_read_string(&p->json, &entry.value, &entry.value_at, &entry.value_raw_size))
            return syntax_error(p, "a string", err);
        diffuse_status status =
            grow((void **)&file->metadata, file->metadata_count, &p->metadata_capacity,
                 sizeof entry, p->limits->max_metadata, "metadata entries", err);
        if (status != DIFFUSE_OK)
            return status;
        file->metadata[file->metadata_count++] = entry;
    } while (json_take(&p->json, ','));
    return json_take(&p->json, '}') ? DIFFUSE_OK : syntax_error(p, "',' or '}'", err);
}

/* [n, n, ...] of at most `most` non-negative integers into values;
 * *count receives how many. Anything else fails with "<field> is not
 * <expected>". */
static diffuse_status parse_counts(header_parser *p, const char *name, const char *field,
                                   const char *expected, size_t most, uint64_t *values,
                                   size_t *count, diffuse_error *err)
{
    *count = 0;
    bool ok = json_take(&p->json, '[');
    if (ok && !json_take(&p->json, ']')) {
        do
            ok = *count < most &&
                 json_read_number(&p->json, &values[(*count)++]) == JSON_NUMBER_COUNT;
        while (ok && json_take(&p->json, ','));
        if (ok && !json_take(&p->json, ']'))
            return syntax_error(p, "',' or ']'", err);
    }
    if (!ok)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": %s is not %s", name, field,
                            expected);
    return DIFFUSE_OK;
}

/* A tensor entry's fields as read, before they are checked together. */
typedef struct raw_tensor {
    const char *dtype;
    uint64_t shape[ST_MAX_RANK];
    size_t rank;
    uint64_t offsets[2];
    size_t offset_count;
    unsigned seen; /* bit per field */
} raw_tensor;

static const char *const tensor_fields[3] = {"dtype", "shape", "data_offsets"};

static diffuse_status parse_field(header_parser *p, const char *name, const char *field,
                                  raw_tensor *raw, diffuse_error *err)
{
    unsigned k = 0;
    while (k < 3 && strcmp(field, tensor_fields[k]) != 0)
        k++;
    if (k == 3 || (raw->seen & (1u << k)))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE
                            "\": entry must have exactly the fields dtype, shape, data_offsets",
                            name);
    raw->seen |= 1u << k;
    if (k == 1)
        return parse_counts(p, name, "shape",
                            "an array of at most " ST_MAX_RANK_TEXT " non-negative integers",
                            ST_MAX_RANK, raw->shape, &raw->rank, err);
    if (k == 2)
        return parse_counts(p, name, "data_offsets", "[begin, end] with non-negative integers",
                            2, raw->offsets, &raw->offset_count, err);
    size_t at, size;
    if (!json_next_is(&p->json, '"'))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": dtype is not a string", name);
    return json_read_string(&p->json, &raw->dtype, &at, &size) ? DIFFUSE_OK
                                                               : syntax_error(p, "a string", err);
}

static diffuse_status check_tensor(const st_file *file, const char *name, const raw_tensor *raw,
                                   st_tensor *tensor, diffuse_error *err);

/* { "dtype": ..., "shape": [...], "data_offsets": [b, e] } */
static diffuse_status parse_tensor(header_parser *p, const char *name, diffuse_error *err)
{
    if (!json_take(&p->json, '{'))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": entry is not a JSON object",
                            name);
    raw_tensor raw = {0};
    diffuse_status status = DIFFUSE_OK;
    if (!json_take(&p->json, '}')) {
        do {
            const char *field;
            size_t at, size;
            if (!json_read_string(&p->json, &field, &at, &size))
                return syntax_error(p, "a field name (a string)", err);
            if (!json_take(&p->json, ':'))
                return syntax_error(p, "':'", err);
            if ((status = parse_field(p, name, field, &raw, err)) != DIFFUSE_OK)
                return status;
        } while (json_take(&p->json, ','));
        if (!json_take(&p->json, '}'))
            return syntax_error(p, "',' or '}'", err);
    }
    if (raw.seen != 7u)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE
                            "\": entry must have exactly the fields dtype, shape, data_offsets",
                            name);
    st_file *file = p->file;
    status = grow((void **)&file->tensors, file->tensor_count, &p->tensor_capacity,
                  sizeof *file->tensors, p->limits->max_tensors, "tensors", err);
    if (status == DIFFUSE_OK)
        status = check_tensor(file, name, &raw, &file->tensors[file->tensor_count], err);
    if (status == DIFFUSE_OK)
        file->tensor_count++;
    return status;
}

/* One member of the top-level object. */
static diffuse_status parse_member(header_parser *p, diffuse_error *err)
{
    const char *key;
    size_t at, size;
    if (!json_read_string(&p->json, &key, &at, &size))
        return syntax_error(p, "a key (a string)", err);
    if (!json_take(&p->json, ':'))
        return syntax_error(p, "':'", err);
    if (strcmp(key, ST_METADATA_KEY) != 0)
        return parse_tensor(p, key, err);
    if (p->seen_metadata)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "duplicate key \"" ST_METADATA_KEY "\" in the header");
    p->seen_metadata = true;
    if (!json_take(&p->json, '{'))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "\"" ST_METADATA_KEY "\" is not a JSON object");
    return parse_metadata(p, err);
}

/* ---- reading: checking the tensors ------------------------------------- */

/* bytes = (prod_i shape[i]) · sizeof(dtype), rejected if the product
 * overflows 64 bits even when another dimension is 0, so the answer does
 * not depend on the order of the dimensions. */
static diffuse_status shape_bytes(const char *name, const raw_tensor *raw, st_tensor *tensor,
                                  uint64_t *bytes, diffuse_error *err)
{
    uint64_t product = 1;
    bool empty = false;
    for (size_t i = 0; i < raw->rank; i++) {
        uint64_t dim = raw->shape[i];
#if SIZE_MAX < UINT64_MAX
        if (dim > SIZE_MAX)
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "tensor \"" ST_NAME_IN_MESSAGE "\": shape[%zu] is too large",
                                name, i);
#endif
        tensor->shape[i] = (size_t)dim;
        if (dim == 0)
            empty = true;
        else if (product > UINT64_MAX / dim)
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "tensor \"" ST_NAME_IN_MESSAGE "\": shape size overflows", name);
        else
            product *= dim;
    }
    uint64_t element_size = st_dtype_size(tensor->dtype);
    if (product > UINT64_MAX / element_size)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": byte size overflows", name);
    tensor->rank = raw->rank;
    *bytes = empty ? 0 : product * element_size;
    return DIFFUSE_OK;
}

static diffuse_status check_offsets(const st_file *file, const char *name, const raw_tensor *raw,
                                    uint64_t bytes, st_tensor *tensor, diffuse_error *err)
{
    uint64_t begin = raw->offsets[0], end = raw->offsets[1];
    if (raw->offset_count != 2)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE
                            "\": data_offsets is not [begin, end] with non-negative integers",
                            name);
    if (begin > end || end > file->data_size)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": data_offsets [%" PRIu64
                            ", %" PRIu64 "] do not lie within the %zu-byte data section",
                            name, begin, end, file->data_size);
    if (end - begin != bytes)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": data_offsets span %" PRIu64
                            " bytes but dtype and shape need %" PRIu64,
                            name, end - begin, bytes);
    /* Both fit in size_t now: end <= data_size. */
    tensor->offset = (size_t)begin;
    tensor->byte_size = (size_t)bytes;
    tensor->element_count = (size_t)(bytes / st_dtype_size(tensor->dtype));
    return DIFFUSE_OK;
}

static diffuse_status check_tensor(const st_file *file, const char *name, const raw_tensor *raw,
                                   st_tensor *tensor, diffuse_error *err)
{
    *tensor = (st_tensor){.name = name};
    if (!dtype_from_name(raw->dtype, &tensor->dtype))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": unknown dtype \"%.32s\"", name,
                            raw->dtype);
    uint64_t bytes = 0;
    diffuse_status status = shape_bytes(name, raw, tensor, &bytes, err);
    if (status == DIFFUSE_OK)
        status = check_offsets(file, name, raw, bytes, tensor, err);
    return status;
}

static int compare_by_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->byte_size != y->byte_size)
        return x->byte_size < y->byte_size ? -1 : 1;
    return 0;
}

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int compare_by_key(const void *a, const void *b)
{
    return strcmp(((const metadata_entry *)a)->key, ((const metadata_entry *)b)->key);
}

/* The tensors must tile the data section: in offset order each one starts
 * where the previous one ended (no overlap, no hole), and the last one ends
 * at the end of the file. Sorts file->tensors by offset. */
static diffuse_status check_tiling(st_file *file, diffuse_error *err)
{
    if (file->tensor_count > 0) /* no array at all without tensors */
        qsort(file->tensors, file->tensor_count, sizeof *file->tensors, compare_by_offset);
    size_t covered = 0;
    const char *previous = NULL;
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *t = &file->tensors[i];
        if (t->offset < covered)
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "tensor \"" ST_NAME_IN_MESSAGE "\" overlaps tensor \""
                                ST_NAME_IN_MESSAGE "\" in the data section", t->name, previous);
        if (t->offset > covered)
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "data bytes [%zu, %zu) before tensor \"" ST_NAME_IN_MESSAGE
                                "\" belong to no tensor", covered, t->offset, t->name);
        covered = t->offset + t->byte_size;
        previous = t->name;
    }
    if (covered != file->data_size)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "data bytes [%zu, %zu) at the end of the file belong to no tensor",
                            covered, file->data_size);
    return DIFFUSE_OK;
}

/* Sorts tensors by name and metadata by key; equal neighbours are
 * duplicate keys (JSON leaves them undefined; the format forbids them). */
static diffuse_status sort_and_check_unique(st_file *file, diffuse_error *err)
{
    if (file->tensor_count > 0)
        qsort(file->tensors, file->tensor_count, sizeof *file->tensors, compare_by_name);
    for (size_t i = 1; i < file->tensor_count; i++) {
        if (strcmp(file->tensors[i - 1].name, file->tensors[i].name) == 0)
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "duplicate key \"" ST_NAME_IN_MESSAGE "\" in the header",
                                file->tensors[i].name);
    }
    if (file->metadata_count > 0)
        qsort(file->metadata, file->metadata_count, sizeof *file->metadata, compare_by_key);
    for (size_t i = 1; i < file->metadata_count; i++) {
        if (strcmp(file->metadata[i - 1].key, file->metadata[i].key) == 0)
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "duplicate metadata key \"" ST_NAME_IN_MESSAGE "\"",
                                file->metadata[i].key);
    }
    return DIFFUSE_OK;
}

static diffuse_status parse_header(st_file *file, const st_limits *limits, diffuse_error *err)
{
    header_parser p = {{file->header, file->header_size, 0, file->strings, 0}, file, limits,
                       0, 0, false};
    /* The specification requires the JSON to start at the first byte. */
    if (file->header[0] != '{')
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "header does not start with '{'");
    p.json.at = 1;
    diffuse_status status = DIFFUSE_OK;
    if (!json_take(&p.json, '}')) {
        do
            status = parse_member(&p, err);
        while (status == DIFFUSE_OK && json_take(&p.json, ','));
        if (status == DIFFUSE_OK && !json_take(&p.json, '}'))
            status = syntax_error(&p, "',' or '}'", err);
    }
    json_skip_space(&p.json);
    if (status == DIFFUSE_OK && p.json.at != p.json.size)
        status = syntax_error(&p, "only white space after the header object", err);
    if (status == DIFFUSE_OK)
        status = check_tiling(file, err);
    if (status == DIFFUSE_OK)
        status = sort_and_check_unique(file, err);
    return status;
}

static const metadata_entry *find_metadata(const st_file *file, const char *key)
{
    if (file == NULL || key == NULL || file->metadata_count == 0)
        return NULL;
    metadata_entry probe = {.key = key};
    return bsearch(&probe, file->metadata, file->metadata_count, sizeof probe, compare_by_key);
}

/* ---- checksums ----------------------------------------------------------- */

diffuse_status st_checksum_compute(const st_file *file, const char *key, uint32_t *crc,
                                   size_t *digits_at, diffuse_error *err)
{
    if (file == NULL || key == NULL || crc == NULL || digits_at == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "file, key, crc and digits_at must not be NULL");
    const metadata_entry *entry = find_metadata(file, key);
    if (entry == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "metadata \"" ST_NAME_IN_MESSAGE "\" is missing", key);
    /* The raw bytes must be the decoded ones (no escapes), so that the
     * digits' place in the file is known. */
    size_t prefix = strlen(ST_CHECKSUM_PREFIX);
    const char *raw = file->header + entry->value_at;
    bool well_formed = entry->value_raw_size == prefix + ST_CHECKSUM_DIGITS &&
                       memcmp(raw, entry->value, entry->value_raw_size) == 0 &&
                       strncmp(raw, ST_CHECKSUM_PREFIX, prefix) == 0;
    for (size_t i = prefix; well_formed && i < entry->value_raw_size; i++)
        well_formed = is_digit(raw[i]) || (raw[i] >= 'a' && raw[i] <= 'f');
    if (!well_formed)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "metadata \"" ST_NAME_IN_MESSAGE "\" = \"%.64s\" is not \""
                            ST_CHECKSUM_PREFIX "\" and %d lowercase hex digits",
                            key, entry->value, ST_CHECKSUM_DIGITS);
    size_t digits = entry->value_at + prefix; /* within the header */
    uint32_t c = crc32c_update(file->data_crc, file->length_field, ST_LENGTH_FIELD_BYTES);
    c = crc32c_update(c, file->header, digits);
    *crc = crc32c_update(c, file->header + digits + ST_CHECKSUM_DIGITS,
                         file->header_size - digits - ST_CHECKSUM_DIGITS);
    *digits_at = ST_LENGTH_FIELD_BYTES + digits;
    return DIFFUSE_OK;
}

diffuse_status st_verify_checksum(const st_file *file, const char *key, diffuse_error *err)
{
    uint32_t crc = 0;
    size_t digits_at = 0;
    diffuse_status status = st_checksum_compute(file, key, &crc, &digits_at, err);
    if (status != DIFFUSE_OK)
        return status;
    char expected[ST_CHECKSUM_DIGITS + 1];
    snprintf(expected, sizeof expected, "%08" PRIx32, crc);
    const char *stored = file->header + digits_at - ST_LENGTH_FIELD_BYTES;
    if (memcmp(stored, expected, ST_CHECKSUM_DIGITS) != 0)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "checksum mismatch: metadata \"" ST_NAME_IN_MESSAGE
                            "\" says " ST_CHECKSUM_PREFIX "%.8s but the file's bytes give "
                            ST_CHECKSUM_PREFIX "%s (the file was damaged or edited)",
                            key, stored, expected);
    return DIFFUSE_OK;
}

/* ---- reading: queries ------------------------------------------------- */

size_t st_tensor_count(const st_file *file)
{
    return file != NULL ? file->tensor_count : 0;
}

const st_tensor *st_tensor_at(const st_file *file, size_t index)
{
    if (file == NULL || index >= file->tensor_count)
        return NULL;
    return &file->tensors[index];
}

const st_tensor *st_lookup(const st_file *file, const char *name)
{
    if (file == NULL || name == NULL || file->tensor_count == 0)
        return NULL;
    st_tensor key = {.name = name};
    return bsearch(&key, file->tensors, file->tensor_count, sizeof key, compare_by_name);
}

/* "F32[2, 3]" into `buffer`. */
static void describe(char *buffer, size_t size, st_dtype dtype, size_t rank, const size_t *shape)
{
    int used = snprintf(buffer, size, "%s[", st_dtype_name(dtype));
    for (size_t i = 0; i < rank && used > 0 && (size_t)used < size; i++)
        used += snprintf(buffer + used, size - (size_t)used, i == 0 ? "%zu" : ", %zu", shape[i]);
    if (used > 0 && (size_t)used < size)
        snprintf(buffer + used, size - (size_t)used, "]");
}

diffuse_status st_find(const st_file *file, const char *name, st_dtype dtype, size_t rank,
                       const size_t *shape, const void **data, diffuse_error *err)
{
    if (data == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "data must not be NULL");
    *data = NULL;
    if (file == NULL || name == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "file and name must not be NULL");
    if (!dtype_valid(dtype))
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown dtype %d", (int)dtype);
    if (rank > ST_MAX_RANK || (rank > 0 && shape == NULL))
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "rank %zu needs a shape and must be at most %d", rank, ST_MAX_RANK);
    const st_tensor *t = st_lookup(file, name);
    if (t == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_MISMATCH,
                            "tensor \"" ST_NAME_IN_MESSAGE "\" is not in the file", name);
    if (t->dtype != dtype || t->rank != rank ||
        (rank > 0 && memcmp(t->shape, shape, rank * sizeof *shape) != 0)) {
        char expected[256], found[256];
        describe(expected, sizeof expected, dtype, rank, shape);
        describe(found, sizeof found, t->dtype, t->rank, t->shape);
        return diffuse_fail(err, DIFFUSE_ERROR_MISMATCH,
                            "tensor \"" ST_NAME_IN_MESSAGE "\" is %s in the file, expected %s",
                            name, found, expected);
    }
    *data = t->data;
    return DIFFUSE_OK;
}

const char *st_metadata(const st_file *file, const char *key)
{
    const metadata_entry *entry = find_metadata(file, key);
    return entry != NULL ? entry->value : NULL;
}

static diffuse_status required_metadata(const st_file *file, const char *key, const void *out,
                                        const char **text, diffuse_error *err)
{
    if (file == NULL || key == NULL || out == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "file, key and out must not be NULL");
    *text = st_metadata(file, key);
    if (*text == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "metadata \"" ST_NAME_IN_MESSAGE "\" is missing", key);
    return DIFFUSE_OK;
}

#define ST_BAD_METADATA "metadata \"" ST_NAME_IN_MESSAGE "\" = \"%.64s\" "

diffuse_status st_metadata_int64(const st_file *file, const char *key, int64_t min,
                                 int64_t max, int64_t *out, diffuse_error *err)
{
    const char *text = NULL;
    diffuse_status status = required_metadata(file, key, out, &text, err);
    if (status != DIFFUSE_OK)
        return status;
    if (min > max)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "min > max");
    int64_t value;
    if (!st_parse_int64(text, &value))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, ST_BAD_METADATA "is not an integer",
                            key, text);
    if (value < min || value > max)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            ST_BAD_METADATA "is outside [%" PRId64 ", %" PRId64 "]", key, text,
                            min, max);
    *out = value;
    return DIFFUSE_OK;
}

diffuse_status st_metadata_uint64(const st_file *file, const char *key, uint64_t max,
                                  uint64_t *out, diffuse_error *err)
{
    const char *text = NULL;
    diffuse_status status = required_metadata(file, key, out, &text, err);
    if (status != DIFFUSE_OK)
        return status;
    uint64_t value;
    if (!st_parse_uint64(text, &value))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            ST_BAD_METADATA "is not an unsigned integer", key, text);
    if (value > max)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, ST_BAD_METADATA "exceeds %" PRIu64, key,
                            text, max);
    *out = value;
    return DIFFUSE_OK;
}

diffuse_status st_metadata_double(const st_file *file, const char *key, double min, double max,
                                  double *out, diffuse_error *err)
{
    const char *text = NULL;
    diffuse_status status = required_metadata(file, key, out, &text, err);
    if (status != DIFFUSE_OK)
        return status;
    if (!(min <= max)) /* also catches NaN bounds */
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "need min <= max (not NaN)");
    double value;
    if (!st_parse_double(text, &value))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, ST_BAD_METADATA "is not a finite number",
                            key, text);
    if (value < min || value > max)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, ST_BAD_METADATA "is outside [%g, %g]",
                            key, text, min, max);
    *out = value;
    return DIFFUSE_OK;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct writer_tensor {
    char *name;
    st_dtype dtype;
    size_t rank;
    size_t shape[ST_MAX_RANK];
    const void *data; /* borrowed */
    size_t byte_size;
} writer_tensor;

typedef struct writer_entry {
    char *key;
    char *value;
} writer_entry;

struct st_writer {
    writer_tensor *tensors;
    size_t tensor_count, tensor_capacity;
    writer_entry *metadata;
    size_t metadata_count, metadata_capacity;
    char *checksum_key; /* NULL: no checksum */
};

diffuse_status st_writer_create(st_writer **out, diffuse_error *err)
{
    if (out == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a writer");
    return DIFFUSE_OK;
}

void st_writer_free(st_writer *writer)
{
    if (writer == NULL)
        return;
    for (size_t i = 0; i < writer->tensor_count; i++)
        free(writer->tensors[i].name);
    for (size_t i = 0; i < writer->metadata_count; i++) {
        free(writer->metadata[i].key);
        free(writer->metadata[i].value);
    }
    free(writer->tensors);
    free(writer->metadata);
    free(writer->checksum_key);
    free(writer);
}

/* Room for one more item in a growing array (capacity doubles). */
static bool reserve_one(void **items, size_t count, size_t *capacity, size_t item_size)
{
    if (count < *capacity)
        return true;
    size_t grown = *capacity == 0 ? 8 : *capacity * 2;
    if (grown > SIZE_MAX / item_size)
        return false;
    void *moved = realloc(*items, grown * item_size);
    if (moved == NULL)
        return false;
    *items = moved;
    *capacity = grown;
    return true;
}

static char *duplicate(const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = malloc(size);
    if (copy != NULL)
        memcpy(copy, text, size);
    return copy;
}

/* Names, keys and values: not NULL, valid UTF-8 (JSON strings must be),
 * non-empty unless allowed. */
static diffuse_status check_text(const char *text, const char *what, bool may_be_empty,
                                 diffuse_error *err)
{
    if (text == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "%s must not be NULL", what);
    if (!may_be_empty && text[0] == '\0')
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "%s must not be empty", what);
    if (!json_utf8_valid(text))
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "%s \"" ST_NAME_IN_MESSAGE "\" is not valid UTF-8", what, text);
    return DIFFUSE_OK;
}

/* bytes = prod(shape) * sizeof(dtype), checked against byte_size. */
static diffuse_status check_tensor_size(const char *name, st_dtype dtype, size_t rank,
                                        const size_t *shape, size_t byte_size,
                                        diffuse_error *err)
{
    size_t product = st_dtype_size(dtype);
    bool empty = false;
    for (size_t i = 0; i < rank; i++) {
        if ((uint64_t)shape[i] > (uint64_t)INT64_MAX)
            return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "tensor \"" ST_NAME_IN_MESSAGE "\": shape[%zu] is too large",
                                name, i);
        if (shape[i] == 0)
            empty = true;
        else if (product > SIZE_MAX / shape[i])
            return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "tensor \"" ST_NAME_IN_MESSAGE "\": byte size overflows", name);
        else
            product *= shape[i];
    }
    size_t expected = empty ? 0 : product;
    if (byte_size != expected)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "tensor \"" ST_NAME_IN_MESSAGE
                            "\": byte_size %zu does not match dtype and shape (%zu bytes)",
                            name, byte_size, expected);
    return DIFFUSE_OK;
}

diffuse_status st_writer_add_tensor(st_writer *writer, const char *name, st_dtype dtype,
                                    size_t rank, const size_t *shape, const void *data,
                                    size_t byte_size, diffuse_error *err)
{
    if (writer == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "writer must not be NULL");
    diffuse_status status = check_text(name, "tensor name", false, err);
    if (status != DIFFUSE_OK)
        return status;
    if (strcmp(name, ST_METADATA_KEY) == 0)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "\"" ST_METADATA_KEY "\" is reserved and cannot name a tensor");
    if (!dtype_valid(dtype))
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": unknown dtype %d", name,
                            (int)dtype);
    if (rank > ST_MAX_RANK || (rank > 0 && shape == NULL))
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "tensor \"" ST_NAME_IN_MESSAGE
                            "\": rank %zu needs a shape and must be at most %d",
                            name, rank, ST_MAX_RANK);
    status = check_tensor_size(name, dtype, rank, shape, byte_size, err);
    if (status != DIFFUSE_OK)
        return status;
    if (data == NULL && byte_size > 0)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": data must not be NULL", name);
    for (size_t i = 0; i < writer->tensor_count; i++) {
        if (strcmp(writer->tensors[i].name, name) == 0)
            return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "tensor \"" ST_NAME_IN_MESSAGE "\" was already added", name);
    }
    writer_tensor tensor = {.dtype = dtype, .rank = rank, .data = data, .byte_size = byte_size};
    if (rank > 0)
        memcpy(tensor.shape, shape, rank * sizeof *shape);
    tensor.name = duplicate(name);
    if (tensor.name == NULL || !reserve_one((void **)&writer->tensors, writer->tensor_count,
                                            &writer->tensor_capacity, sizeof tensor)) {
        free(tensor.name);
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory adding a tensor");
    }
    writer->tensors[writer->tensor_count++] = tensor;
    return DIFFUSE_OK;
}

diffuse_status st_writer_add_metadata(st_writer *writer, const char *key, const char *value,
                                      diffuse_error *err)
{
    if (writer == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "writer must not be NULL");
    diffuse_status status = check_text(key, "metadata key", false, err);
    if (status == DIFFUSE_OK)
        status = check_text(value, "metadata value", true, err);
    if (status != DIFFUSE_OK)
        return status;
    for (size_t i = 0; i < writer->metadata_count; i++) {
        if (strcmp(writer->metadata[i].key, key) == 0)
            return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "metadata \"" ST_NAME_IN_MESSAGE "\" was already added", key);
    }
    writer_entry entry = {duplicate(key), duplicate(value)};
    if (entry.key == NULL || entry.value == NULL ||
        !reserve_one((void **)&writer->metadata, writer->metadata_count,
                     &writer->metadata_capacity, sizeof entry)) {
        free(entry.key);
        free(entry.value);
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory adding metadata");
    }
    writer->metadata[writer->metadata_count++] = entry;
    return DIFFUSE_OK;
}

diffuse_status st_writer_add_metadata_int64(st_writer *writer, const char *key, int64_t value,
                                            diffuse_error *err)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, value);
    return st_writer_add_metadata(writer, key, text, err);
}

diffuse_status st_writer_add_metadata_uint64(st_writer *writer, const char *key,
                                             uint64_t value, diffuse_error *err)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, value);
    return st_writer_add_metadata(writer, key, text, err);
}

/* `value` with `digits` significant digits into text[size]: Jansson
 * formats without the C locale's decimal comma. The length, or 0. */
static size_t format_double(double value, int digits, char *text, size_t size)
{
    json_t *number = json_real(value);
    size_t length = number == NULL ? 0
                                   : json_dumpb(number, text, size - 1,
                                                JSON_ENCODE_ANY | JSON_REAL_PRECISION(digits));
    json_decref(number);
    if (length >= size)
        return 0;
    text[length] = '\0';
    return length;
}

/* The shortest text that st_parse_double reads back as exactly `value`
 * ("0.9", not "0.90000000000000002"; 17 significant digits always do),
 * whole numbers below 10^17 without an exponent ("10000.0", not "1e4"):
 * more digits than the shortest still read back exactly. */
diffuse_status st_writer_add_metadata_double(st_writer *writer, const char *key, double value,
                                             diffuse_error *err)
{
    if (!isfinite(value))
        return diffuse_fail(err, DIFFUSE_ERROR_NUMERIC,
                            "metadata \"" ST_NAME_IN_MESSAGE "\" is not finite (%g)",
                            key != NULL ? key : "(null)", value);
    char text[64];
    size_t length = 0;
    double back = 0.0;
    int digits = 1;
    for (; digits <= 17; digits++) {
        length = format_double(value, digits, text, sizeof text);
        if (length == 0 || (st_parse_double(text, &back) && back == value))
            break;
    }
    double magnitude = fabs(value);
    if (length != 0 && magnitude >= 10.0 && magnitude < 1e17) {
        int integer_digits = (int)floor(log10(magnitude)) + 1;
        if (integer_digits > digits)
            length = format_double(value, integer_digits, text, sizeof text);
    }
    if (length == 0)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "cannot format the number %g", value);
    return st_writer_add_metadata(writer, key, text, err);
}

/* The key is written verbatim by Jansson (printable ASCII without quotes
 * or backslashes), so the sealing step finds its value in the header. */
diffuse_status st_writer_set_checksum(st_writer *writer, const char *key, diffuse_error *err)
{
    if (writer == NULL || key == NULL || key[0] == '\0')
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "writer and a non-empty key are required");
    for (const char *c = key; *c != '\0'; c++) {
        if (*c < 0x20 || *c > 0x7E || *c == '"' || *c == '\\')
            return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "checksum key \"" ST_NAME_IN_MESSAGE
                                "\" must be printable ASCII without quotes or backslashes",
                                key);
    }
    if (writer->checksum_key != NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "the checksum is already set");
    if (strlen(key) > ST_MAX_CHECKSUM_KEY)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "checksum key is longer than %d bytes", ST_MAX_CHECKSUM_KEY);
    char *copy = duplicate(key);
    if (copy == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a checksum key");
    /* A placeholder of the final length: sealing only replaces the digits. */
    diffuse_status status =
        st_writer_add_metadata(writer, key, ST_CHECKSUM_PREFIX "00000000", err);
    if (status != DIFFUSE_OK) {
        free(copy);
        return status;
    }
    writer->checksum_key = copy;
    return DIFFUSE_OK;
}

/* ---- writing: layout and serialization -------------------------------- */

/* Data order: element size descending, then name. Every tensor then starts
 * at a multiple of its element size (all earlier sizes are multiples of it). */
static int compare_for_layout(const void *a, const void *b)
{
    const writer_tensor *x = *(const writer_tensor *const *)a;
    const writer_tensor *y = *(const writer_tensor *const *)b;
    size_t x_size = st_dtype_size(x->dtype), y_size = st_dtype_size(y->dtype);
    if (x_size != y_size)
        return x_size > y_size ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const writer_entry *)a)->key, ((const writer_entry *)b)->key);
}

/* A serialization plan: the 8-byte length field plus padded header in
 * `head`, and the tensors in data order. */
typedef struct write_plan {
    const writer_tensor **order;
    unsigned char *head;
    size_t head_size;
    size_t data_size;
} write_plan;

static void plan_free(write_plan *plan)
{
    free(plan->order);
    free(plan->head);
}

static json_t *metadata_json(const st_writer *writer)
{
    writer_entry *sorted = malloc(writer->metadata_count * sizeof *sorted);
    json_t *object = json_object();
    if (sorted == NULL || object == NULL) {
        free(sorted);
        json_decref(object);
        return NULL;
    }
    memcpy(sorted, writer->metadata, writer->metadata_count * sizeof *sorted);
    qsort(sorted, writer->metadata_count, sizeof *sorted, compare_entries);
    for (size_t i = 0; i < writer->metadata_count && object != NULL; i++) {
        if (json_object_set_new(object, sorted[i].key, json_string(sorted[i].value)) != 0) {
            json_decref(object);
            object = NULL;
        }
    }
    free(sorted);
    return object;
}

static json_t *tensor_json(const writer_tensor *tensor, size_t begin)
{
    json_t *shape = json_array();
    for (size_t i = 0; i < tensor->rank && shape != NULL; i++) {
        if (json_array_append_new(shape, json_integer((json_int_t)tensor->shape[i])) != 0) {
            json_decref(shape);
            shape = NULL;
        }
    }
    /* json_pack steals `shape` ("o"), also when it fails or shape is NULL. */
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtype_name(tensor->dtype), "shape",
                     shape, "data_offsets", (json_int_t)begin,
                     (json_int_t)(begin + tensor->byte_size));
}

/* Builds the header object in canonical order and sums the data size. */
static json_t *header_json(const st_writer *writer, const write_plan *plan, size_t *data_size)
{
    json_t *root = json_object();
    if (root != NULL && writer->metadata_count > 0 &&
        json_object_set_new(root, ST_METADATA_KEY, metadata_json(writer)) != 0) {
        json_decref(root);
        return NULL;
    }
    size_t offset = 0;
    for (size_t i = 0; i < writer->tensor_count && root != NULL; i++) {
        const writer_tensor *t = plan->order[i];
        if (t->byte_size > SIZE_MAX / 2 - offset || /* keeps 8 + N + data in size_t */
            json_object_set_new(root, t->name, tensor_json(t, offset)) != 0) {
            json_decref(root);
            return NULL;
        }
        offset += t->byte_size;
    }
    *data_size = offset;
    return root;
}

/* Dumps `root` into plan->head after the length field. json_dumpb
 * allocates internally (cycle detection) and returns 0 when that fails, so
 * both calls are checked: a short dump must never reach the file. */
static diffuse_status render_header(const json_t *root, write_plan *plan, diffuse_error *err)
{
    size_t json_size = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (json_size == 0)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory writing the header");
    /* Pad with spaces so that 8 + N is a multiple of ST_DATA_ALIGNMENT. */
    size_t padded = json_size + (ST_DATA_ALIGNMENT - json_size % ST_DATA_ALIGNMENT) %
                                    ST_DATA_ALIGNMENT;
    if (padded > ST_MAX_HEADER_BYTES)
        return diffuse_fail(err, DIFFUSE_ERROR_UNSUPPORTED,
                            "header of %zu bytes exceeds the limit of %" PRIu64 " bytes",
                            json_size, ST_MAX_HEADER_BYTES);
    plan->head_size = ST_LENGTH_FIELD_BYTES + padded;
    plan->head = malloc(plan->head_size);
    if (plan->head == NULL ||
        json_dumpb(root, (char *)plan->head + ST_LENGTH_FIELD_BYTES, json_size, JSON_COMPACT) !=
            json_size)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory writing the header");
    store_u64_le(plan->head, padded);
    memset(plan->head + ST_LENGTH_FIELD_BYTES + json_size, ' ', padded - json_size);
    return DIFFUSE_OK;
}

static diffuse_status plan_create(const st_writer *writer, write_plan *plan, diffuse_error *err)
{
    *plan = (write_plan){0};
    plan->order = malloc((writer->tensor_count + 1) * sizeof *plan->order);
    if (plan->order == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory planning a file");
    for (size_t i = 0; i < writer->tensor_count; i++)
        plan->order[i] = &writer->tensors[i];
    qsort(plan->order, writer->tensor_count, sizeof *plan->order, compare_for_layout);
    json_t *root = header_json(writer, plan, &plan->data_size);
    if (root == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot build the header (out of memory or data too large)");
    diffuse_status status = render_header(root, plan, err);
    json_decref(root);
    return status;
}

/* Where the bytes go: an atomic file or a memory buffer. */
typedef struct write_sink {
    diffuse_status (*write)(void *target, const void *bytes, size_t size, diffuse_error *err);
    void *target;
} write_sink;

/* Little-endian output: on a big-endian host elements are swapped through a
 * small buffer (a multiple of every element size), never in the caller's
 * borrowed data. */
static diffuse_status emit_tensor(const writer_tensor *t, const write_sink *sink,
                                  diffuse_error *err)
{
    size_t element = st_dtype_size(t->dtype);
    if (t->byte_size == 0)
        return DIFFUSE_OK;
    if (element == 1 || host_is_little_endian())
        return sink->write(sink->target, t->data, t->byte_size, err);
    unsigned char chunk[4096];
    const unsigned char *p = t->data;
    for (size_t done = 0; done < t->byte_size;) {
        size_t n = t->byte_size - done < sizeof chunk ? t->byte_size - done : sizeof chunk;
        memcpy(chunk, p + done, n);
        st_swap_bytes(chunk, n / element, element);
        diffuse_status status = sink->write(sink->target, chunk, n, err);
        if (status != DIFFUSE_OK)
            return status;
        done += n;
    }
    return DIFFUSE_OK;
}

static diffuse_status emit(const st_writer *writer, const write_plan *plan,
                           const write_sink *sink, diffuse_error *err)
{
    diffuse_status status = sink->write(sink->target, plan->head, plan->head_size, err);
    for (size_t i = 0; i < writer->tensor_count && status == DIFFUSE_OK; i++)
        status = emit_tensor(plan->order[i], sink, err);
    return status;
}

static diffuse_status write_to_crc(void *target, const void *bytes, size_t size,
                                   diffuse_error *err)
{
    (void)err;
    uint32_t *crc = target;
    *crc = crc32c_update(*crc, bytes, size);
    return DIFFUSE_OK;
}

/* Where the checksum's digits are in the rendered head: right after the
 * first "<key>":"crc32c: — metadata comes first, and inside a JSON string
 * every quote is escaped, so the first match is the metadata entry. */
static size_t find_checksum_digits(const write_plan *plan, const char *key)
{
    char pattern[ST_MAX_CHECKSUM_KEY + 32];
    int length = snprintf(pattern, sizeof pattern, "\"%s\":\"" ST_CHECKSUM_PREFIX, key);
    size_t n = (size_t)length;
    for (size_t at = ST_LENGTH_FIELD_BYTES; at + n <= plan->head_size; at++) {
        if (memcmp(plan->head + at, pattern, n) == 0)
            return at + n;
    }
    return 0;
}

/* Replaces the placeholder digits by the checksum (see safetensors.h): the
 * data as it will be written (little-endian), then the head without them. */
static diffuse_status seal(const st_writer *writer, write_plan *plan, diffuse_error *err)
{
    size_t digits = find_checksum_digits(plan, writer->checksum_key);
    if (digits == 0)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "the checksum entry is not in the header");
    uint32_t crc = 0;
    write_sink sink = {write_to_crc, &crc};
    for (size_t i = 0; i < writer->tensor_count; i++)
        (void)emit_tensor(plan->order[i], &sink, err); /* cannot fail */
    crc = crc32c_update(crc, plan->head, digits);
    crc = crc32c_update(crc, plan->head + digits + ST_CHECKSUM_DIGITS,
                        plan->head_size - digits - ST_CHECKSUM_DIGITS);
    char hex[ST_CHECKSUM_DIGITS + 1];
    snprintf(hex, sizeof hex, "%08" PRIx32, crc);
    memcpy(plan->head + digits, hex, ST_CHECKSUM_DIGITS);
    return DIFFUSE_OK;
}

/* The plan, sealed when the writer carries a checksum. */
static diffuse_status plan_build(const st_writer *writer, write_plan *plan, diffuse_error *err)
{
    diffuse_status status = plan_create(writer, plan, err);
    if (status == DIFFUSE_OK && writer->checksum_key != NULL)
        status = seal(writer, plan, err);
    return status;
}

static diffuse_status write_to_atomic_file(void *target, const void *bytes, size_t size,
                                           diffuse_error *err)
{
    return atomic_file_write(target, bytes, size, err);
}

diffuse_status st_write_file(const st_writer *writer, const char *path, diffuse_error *err)
{
    if (writer == NULL || path == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "writer and path must not be NULL");
    write_plan plan;
    diffuse_status status = plan_build(writer, &plan, err);
    if (status != DIFFUSE_OK) {
        plan_free(&plan);
        return status;
    }
    atomic_file file;
    status = atomic_file_begin(&file, path, err);
    if (status == DIFFUSE_OK) {
        write_sink sink = {write_to_atomic_file, &file};
        status = emit(writer, &plan, &sink, err);
        if (status == DIFFUSE_OK)
            status = atomic_file_commit(&file, err);
        atomic_file_abort(&file);
    }
    plan_free(&plan);
    return status;
}

typedef struct memory_target {
    unsigned char *bytes;
    size_t used;
} memory_target;

/* The buffer was sized from the plan, so this cannot overflow it. */
static diffuse_status write_to_memory(void *target, const void *bytes, size_t size,
                                      diffuse_error *err)
{
    (void)err;
    memory_target *memory = target;
    memcpy(memory->bytes + memory->used, bytes, size);
    memory->used += size;
    return DIFFUSE_OK;
}

diffuse_status st_write_memory(const st_writer *writer, void **bytes, size_t *size,
                               diffuse_error *err)
{
    if (bytes != NULL)
        *bytes = NULL;
    if (writer == NULL || bytes == NULL || size == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "writer, bytes and size must not be NULL");
    write_plan plan;
    diffuse_status status = plan_build(writer, &plan, err);
    memory_target memory = {NULL, 0};
    if (status == DIFFUSE_OK) {
        memory.bytes = malloc(plan.head_size + plan.data_size);
        if (memory.bytes == NULL)
            status = diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY,
                                  "out of memory for a %zu-byte file",
                                  plan.head_size + plan.data_size);
    }
    if (status == DIFFUSE_OK) {
        write_sink sink = {write_to_memory, &memory};
        status = emit(writer, &plan, &sink, err);
    }
    plan_free(&plan);
    if (status != DIFFUSE_OK) {
        free(memory.bytes);
        return status;
    }
    *bytes = memory.bytes;
    *size = memory.used;
    return DIFFUSE_OK;
}
