/* safetensors reader and writer (format and rules: see safetensors.h). */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"

#define ST_LENGTH_FIELD_BYTES 8
#define ST_METADATA_KEY "__metadata__"
/* The data section starts at a multiple of this in files and in memory. */
#define ST_DATA_ALIGNMENT 8
/* Largest single read(2). */
#define ST_MAX_READ_CHUNK ((size_t)1 << 30)
/* Names in messages are cut so the rest of the message survives. */
#define ST_NAME_IN_MESSAGE "%.150s"

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

/* Jansson's number grammar is JSON's, and its conversion ignores the C
 * locale's decimal separator — exactly what a file format needs. JSON allows
 * whitespace around a value; the first/last character test excludes it. */
bool st_parse_double(const char *text, double *out)
{
    if (text == NULL || out == NULL)
        return false;
    size_t length = strlen(text);
    if (length == 0 || !(text[0] == '-' || is_digit(text[0])) || !is_digit(text[length - 1]))
        return false;
    json_error_t error;
    json_t *number = json_loadb(text, length, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
    bool ok = json_is_real(number) && isfinite(json_real_value(number));
    if (ok)
        *out = json_real_value(number);
    json_decref(number);
    return ok;
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p != '\0') {
        unsigned lead = *p;
        size_t extra;
        uint32_t code, smallest;
        if (lead < 0x80) {
            p++;
            continue;
        }
        if ((lead & 0xE0) == 0xC0) {
            extra = 1, code = lead & 0x1F, smallest = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            extra = 2, code = lead & 0x0F, smallest = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            extra = 3, code = lead & 0x07, smallest = 0x10000;
        } else {
            return false;
        }
        /* A NUL terminator fails the continuation test, so no over-read. */
        for (size_t i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            code = (code << 6) | (p[i] & 0x3F);
        }
        if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        p += extra + 1;
    }
    return true;
}

/* ---- reading: loading the bytes -------------------------------------- */

struct st_file {
    unsigned char *buffer; /* allocation holding the whole file */
    const char *header;    /* the N header bytes */
    size_t header_size;
    unsigned char *data;   /* data section, ST_DATA_ALIGNMENT-aligned */
    size_t data_size;
    json_t *json;          /* parsed header; owns names and metadata strings */
    json_t *metadata;      /* "__metadata__" inside json, or NULL */
    st_tensor *tensors;    /* sorted by name */
    size_t tensor_count;
};

/* Checks the length field against the file size before anything is
 * allocated. */
static diffuse_status check_length_field(const unsigned char *field, uint64_t file_size,
                                         size_t *header_size, diffuse_error *err)
{
    uint64_t n = load_u64_le(field);
    if (n == 0)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "header length is 0");
    if (n > ST_MAX_HEADER_BYTES)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes",
                            n, ST_MAX_HEADER_BYTES);
    if (n > file_size - ST_LENGTH_FIELD_BYTES)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "header length %" PRIu64 " exceeds the %" PRIu64
                            " bytes that follow the length field (truncated file?)",
                            n, file_size - ST_LENGTH_FIELD_BYTES);
    *header_size = (size_t)n;
    return DIFFUSE_OK;
}

static diffuse_status check_file_size(uint64_t file_size, diffuse_error *err)
{
    if (file_size < ST_LENGTH_FIELD_BYTES)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "file has %" PRIu64 " bytes, fewer than the 8-byte header length",
                            file_size);
    return DIFFUSE_OK;
}

/* Allocates the file and its buffer. The file's bytes must go to the
 * returned address: it is placed so that the data section (after 8 + N
 * bytes) starts ST_DATA_ALIGNMENT-aligned, given malloc's alignment. */
static diffuse_status allocate_file(st_file **out, size_t file_size, size_t header_size,
                                    unsigned char **file_start, diffuse_error *err)
{
    size_t shift = (ST_DATA_ALIGNMENT - header_size % ST_DATA_ALIGNMENT) % ST_DATA_ALIGNMENT;
    st_file *file = calloc(1, sizeof *file);
    if (file != NULL && file_size <= SIZE_MAX - shift)
        file->buffer = malloc(file_size + shift);
    if (file == NULL || file->buffer == NULL) {
        free(file);
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY,
                            "out of memory loading a %zu-byte file", file_size);
    }
    *file_start = file->buffer + shift;
    file->header = (const char *)*file_start + ST_LENGTH_FIELD_BYTES;
    file->header_size = header_size;
    file->data = *file_start + ST_LENGTH_FIELD_BYTES + header_size;
    file->data_size = file_size - ST_LENGTH_FIELD_BYTES - header_size;
    *out = file;
    return DIFFUSE_OK;
}

static diffuse_status parse_header(st_file *file, diffuse_error *err);

static diffuse_status finish_open(st_file **out, st_file *file, diffuse_error *err)
{
    diffuse_status status = parse_header(file, err);
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
    size_t header_size = 0;
    unsigned char *start = NULL;
    st_file *file = NULL;
    diffuse_status status = check_file_size(size, err);
    if (status == DIFFUSE_OK)
        status = check_length_field(bytes, size, &header_size, err);
    if (status == DIFFUSE_OK)
        status = allocate_file(&file, size, header_size, &start, err);
    if (status != DIFFUSE_OK)
        return status;
    memcpy(start, bytes, size);
    return finish_open(out, file, err);
}

static diffuse_status read_fully(int fd, unsigned char *p, size_t size, const char *path,
                                 diffuse_error *err)
{
    while (size > 0) {
        ssize_t got = read(fd, p, size < ST_MAX_READ_CHUNK ? size : ST_MAX_READ_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot read '%s': %s", path,
                                strerror(errno));
        if (got == 0)
            return diffuse_fail(err, DIFFUSE_ERROR_IO,
                                "'%s' ended early: it shrank while being read", path);
        p += got;
        size -= (size_t)got;
    }
    return DIFFUSE_OK;
}

static diffuse_status load_descriptor(st_file **out, int fd, const char *path, diffuse_error *err)
{
    struct stat info;
    if (fstat(fd, &info) != 0)
        return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot stat '%s': %s", path,
                            strerror(errno));
    if (!S_ISREG(info.st_mode))
        return diffuse_fail(err, DIFFUSE_ERROR_IO, "'%s' is not a regular file", path);
    uint64_t file_size = (uint64_t)info.st_size;
#if SIZE_MAX < UINT64_MAX
    if (file_size > SIZE_MAX)
        return diffuse_fail(err, DIFFUSE_ERROR_IO, "'%s' is too large to load", path);
#endif
    unsigned char field[ST_LENGTH_FIELD_BYTES];
    size_t header_size = 0;
    unsigned char *start = NULL;
    st_file *file = NULL;
    diffuse_status status = check_file_size(file_size, err);
    if (status == DIFFUSE_OK)
        status = read_fully(fd, field, sizeof field, path, err);
    if (status == DIFFUSE_OK)
        status = check_length_field(field, file_size, &header_size, err);
    if (status == DIFFUSE_OK)
        status = allocate_file(&file, (size_t)file_size, header_size, &start, err);
    if (status != DIFFUSE_OK)
        return status;
    memcpy(start, field, sizeof field);
    status = read_fully(fd, start + sizeof field, (size_t)file_size - sizeof field, path, err);
    if (status != DIFFUSE_OK) {
        st_close(file);
        return status;
    }
    *out = file;
    return DIFFUSE_OK;
}

diffuse_status st_open(st_file **out, const char *path, diffuse_error *err)
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
    st_file *file = NULL;
    diffuse_status status = load_descriptor(&file, fd, path, err);
    close(fd);
    if (status != DIFFUSE_OK)
        return status;
    return finish_open(out, file, err);
}

void st_close(st_file *file)
{
    if (file == NULL)
        return;
    json_decref(file->json);
    free(file->tensors);
    free(file->buffer);
    free(file);
}

/* ---- reading: validating the header ---------------------------------- */

/* Maximum bracket nesting outside strings is at most `limit`. Runs before the
 * JSON parser so that hostile nesting never reaches its recursion. Malformed
 * input is left for the parser to reject. */
static bool nesting_within(const char *text, size_t size, int limit)
{
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > limit)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

static diffuse_status check_metadata(json_t *metadata, diffuse_error *err)
{
    if (!json_is_object(metadata))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "\"" ST_METADATA_KEY
                            "\" is not a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach(metadata, key, value) {
        if (!json_is_string(value))
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "metadata \"" ST_NAME_IN_MESSAGE "\" is not a string", key);
    }
    return DIFFUSE_OK;
}

/* A JSON integer >= 0 (Jansson already refuses integers beyond int64). */
static bool json_to_count(const json_t *value, uint64_t *out)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return false;
    *out = (uint64_t)json_integer_value(value);
    return true;
}

static diffuse_status parse_dtype(const char *name, const json_t *value, st_tensor *tensor,
                                  diffuse_error *err)
{
    if (!json_is_string(value))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": dtype is not a string", name);
    if (!dtype_from_name(json_string_value(value), &tensor->dtype))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": unknown dtype \"%.32s\"", name,
                            json_string_value(value));
    return DIFFUSE_OK;
}

/* Fills rank and shape and computes the byte size:
 *   bytes = (prod_i shape[i]) * sizeof(dtype)
 * rejected if the product overflows 64 bits, even when another dimension is
 * 0, so the answer does not depend on the order of the dimensions. */
static diffuse_status parse_shape(const char *name, const json_t *value, st_tensor *tensor,
                                  uint64_t *bytes, diffuse_error *err)
{
    if (!json_is_array(value))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": shape is not an array", name);
    size_t rank = json_array_size(value);
    if (rank > ST_MAX_RANK)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": rank %zu exceeds the maximum %d",
                            name, rank, ST_MAX_RANK);
    uint64_t product = 1;
    bool empty = false;
    for (size_t i = 0; i < rank; i++) {
        uint64_t dim;
        if (!json_to_count(json_array_get(value, i), &dim))
            return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                                "tensor \"" ST_NAME_IN_MESSAGE
                                "\": shape[%zu] is not a non-negative integer", name, i);
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
    tensor->rank = rank;
    *bytes = empty ? 0 : product * element_size;
    return DIFFUSE_OK;
}

static diffuse_status parse_offsets(const char *name, const json_t *value, uint64_t bytes,
                                    const st_file *file, st_tensor *tensor, diffuse_error *err)
{
    uint64_t begin, end;
    if (!json_is_array(value) || json_array_size(value) != 2 ||
        !json_to_count(json_array_get(value, 0), &begin) ||
        !json_to_count(json_array_get(value, 1), &end))
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
    tensor->data = file->data + begin;
    return DIFFUSE_OK;
}

static diffuse_status parse_tensor(const st_file *file, const char *name, const json_t *entry,
                                   st_tensor *tensor, diffuse_error *err)
{
    if (!json_is_object(entry))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE "\": entry is not a JSON object",
                            name);
    const json_t *dtype = json_object_get(entry, "dtype");
    const json_t *shape = json_object_get(entry, "shape");
    const json_t *offsets = json_object_get(entry, "data_offsets");
    if (json_object_size(entry) != 3 || dtype == NULL || shape == NULL || offsets == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "tensor \"" ST_NAME_IN_MESSAGE
                            "\": entry must have exactly the fields dtype, shape, data_offsets",
                            name);
    tensor->name = name;
    uint64_t bytes = 0;
    diffuse_status status = parse_dtype(name, dtype, tensor, err);
    if (status == DIFFUSE_OK)
        status = parse_shape(name, shape, tensor, &bytes, err);
    if (status == DIFFUSE_OK)
        status = parse_offsets(name, offsets, bytes, file, tensor, err);
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

/* The tensors must tile the data section: in offset order each one starts
 * where the previous one ended (no overlap, no hole), and the last one ends
 * at the end of the file. Sorts file->tensors by offset. */
static diffuse_status check_tiling(st_file *file, diffuse_error *err)
{
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

static void swap_to_host_order(st_file *file)
{
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *t = &file->tensors[i];
        st_swap_bytes(file->data + t->offset, t->element_count, st_dtype_size(t->dtype));
    }
}

static diffuse_status parse_entries(st_file *file, diffuse_error *err)
{
    file->tensors = calloc(json_object_size(file->json) + 1, sizeof *file->tensors);
    if (file->tensors == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for the tensor index");
    const char *key;
    json_t *value;
    json_object_foreach(file->json, key, value) {
        diffuse_status status;
        if (strcmp(key, ST_METADATA_KEY) == 0) {
            status = check_metadata(value, err);
            file->metadata = value;
        } else {
            status = parse_tensor(file, key, value, &file->tensors[file->tensor_count++], err);
        }
        if (status != DIFFUSE_OK)
            return status;
    }
    return DIFFUSE_OK;
}

static diffuse_status parse_header(st_file *file, diffuse_error *err)
{
    /* The specification requires the JSON to start at the first byte; with
     * that, a successful parse can only yield an object. */
    if (file->header[0] != '{')
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT, "header does not start with '{'");
    if (!nesting_within(file->header, file->header_size, ST_MAX_NESTING))
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "header JSON is nested deeper than %d levels", ST_MAX_NESTING);
    json_error_t error;
    file->json = json_loadb(file->header, file->header_size, JSON_REJECT_DUPLICATES, &error);
    /* Jansson sets no error text on some of its out-of-memory paths (and on
     * others reports a syntax error, which then reads as FORMAT). */
    if (file->json == NULL &&
        (json_error_code(&error) == json_error_out_of_memory || error.text[0] == '\0'))
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory parsing the header");
    if (file->json == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_FORMAT,
                            "header is not valid JSON (at byte %d): %s", error.position,
                            error.text);
    diffuse_status status = parse_entries(file, err);
    if (status == DIFFUSE_OK)
        status = check_tiling(file, err);
    if (status != DIFFUSE_OK)
        return status;
    qsort(file->tensors, file->tensor_count, sizeof *file->tensors, compare_by_name);
    if (!host_is_little_endian())
        swap_to_host_order(file);
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
    if (file == NULL || name == NULL)
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
    if (file == NULL || key == NULL || file->metadata == NULL)
        return NULL;
    return json_string_value(json_object_get(file->metadata, key));
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
    if (!utf8_valid(text))
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

/* 17 significant digits identify every double; Jansson formats without the
 * C locale's decimal comma and st_parse_double reads it back exactly. */
diffuse_status st_writer_add_metadata_double(st_writer *writer, const char *key, double value,
                                             diffuse_error *err)
{
    if (!isfinite(value))
        return diffuse_fail(err, DIFFUSE_ERROR_NUMERIC,
                            "metadata \"" ST_NAME_IN_MESSAGE "\" is not finite (%g)",
                            key != NULL ? key : "(null)", value);
    char text[64];
    json_t *number = json_real(value);
    size_t length = number == NULL ? 0
                                   : json_dumpb(number, text, sizeof text - 1,
                                                JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    json_decref(number);
    if (length == 0 || length >= sizeof text)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "cannot format the number %g", value);
    text[length] = '\0';
    return st_writer_add_metadata(writer, key, text, err);
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
    diffuse_status status = plan_create(writer, &plan, err);
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
    diffuse_status status = plan_create(writer, &plan, err);
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
