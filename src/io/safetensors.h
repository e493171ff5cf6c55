/* safetensors: the checkpoint file format (https://github.com/huggingface/safetensors).
 *
 * Layout of a file:
 *
 *     [8 bytes]  N, the header length, unsigned 64-bit little-endian
 *     [N bytes]  UTF-8 JSON object, may be padded at the end with spaces:
 *                  { "__metadata__": { "key": "value", ... },          (optional)
 *                    "<tensor name>": { "dtype": "F32",
 *                                       "shape": [2, 3],
 *                                       "data_offsets": [begin, end] }, ... }
 *     [rest]     the data section: raw little-endian tensor bytes; a tensor's
 *                bytes are data[begin, end), offsets relative to the section.
 *
 * Reading validates everything before anything is handed out (the reader is
 * fuzzed): header length against the file size and the limits (st_limits);
 * the header parsed by a reader of its own (src/io/json_reader.h: no
 * recursion, no allocation per token, so running out of memory is always
 * NO_MEMORY and never a changed value): JSON well-formed, an object at the
 * top, no duplicate keys at any level; each tensor entry has exactly the
 * fields dtype/shape/data_offsets with the right JSON types; dtype known;
 * rank at most ST_MAX_RANK; dimensions non-negative integers whose product
 * times the element size does not overflow and equals end - begin; the
 * tensors tile the data section exactly: sorted by offset, each begins
 * where the previous one ended and the last ends at the end of the file (no
 * overlap, no hole, no trailing bytes) — the rule the reference
 * implementation enforces; "__metadata__" is an object of strings. All of
 * this is checked before the data section is read or allocated, so a file
 * whose size disagrees with its header (a valid header followed by a GiB)
 * costs only its header. Any violation is DIFFUSE_ERROR_FORMAT with a
 * message naming the offending tensor or key.
 *
 * Files written here are canonical, so equal content gives equal bytes:
 *  - data order: element size descending, then name (bytewise strcmp); this
 *    keeps every tensor aligned to its element size without padding holes
 *    (the same order as the reference Python/Rust writer);
 *  - JSON: compact, "__metadata__" first with keys sorted bytewise, then the
 *    tensors in data order; padded with spaces so the data section starts at
 *    a multiple of 8 bytes;
 *  - numbers in metadata: integers in decimal, doubles with 17 significant
 *    digits (exact round trip), both independent of the C locale.
 *
 * Byte order: files are little-endian. On a big-endian host the writer swaps
 * while writing and the reader swaps the data section in place after
 * validation, so data pointers handed out are always in host order.
 *
 * Checksums (optional, st_writer_set_checksum): metadata `key` =
 * "crc32c:" and 8 lowercase hex digits, the CRC-32C (src/io/crc32c.h) of
 * the data section followed by the first 8 + N bytes of the file without
 * those 8 digits: crc32c(data ‖ head before the digits ‖ head after them).
 * The data comes first so that a reader can take its CRC as it reads it,
 * before a big-endian host swaps it; st_verify_checksum checks it.
 *
 * Memory: a reader keeps the header and the data section in two buffers;
 * the data section starts at an 8-byte aligned address, so a tensor whose
 * begin offset is a multiple of its element size (always true for files
 * written here) can be read in place through a typed pointer; for other
 * files use memcpy.
 *
 * Errors go through diffuse_fail() into `err` (may be NULL). Statuses:
 * INVALID_ARGUMENT (bad arguments), IO (open/read/write failures, with
 * strerror), FORMAT (corrupt file), MISMATCH (a valid file whose tensor does
 * not match what the caller expects), NUMERIC (non-finite metadata double),
 * NO_MEMORY. Nothing here prints, aborts or leaks on any path. (Jansson is
 * used by the writer only, where each of its failures is checked.)
 *
 * Thread-safety: an st_file is immutable after opening and may be read from
 * several threads at once; an st_writer is used by one thread at a time.
 */
#ifndef DIFFUSE_SRC_SAFETENSORS_H
#define DIFFUSE_SRC_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Limits. The header limit is the reference implementation's; the counts
 * bound what a header within it can make the reader allocate. */
#define ST_MAX_HEADER_BYTES ((uint64_t)100000000)
#define ST_MAX_TENSORS ((size_t)1 << 20)
#define ST_MAX_METADATA ((size_t)1 << 20)
#define ST_MAX_RANK 8
/* Longest text st_parse_double reads (a double needs at most 24). */
#define ST_MAX_NUMBER_TEXT 100
#define ST_CHECKSUM_PREFIX "crc32c:"
#define ST_CHECKSUM_DIGITS 8

/* What a reader accepts; a file beyond a limit is DIFFUSE_ERROR_FORMAT,
 * reported before the corresponding memory is allocated. */
typedef struct st_limits {
    uint64_t max_header_bytes;
    size_t max_tensors;
    size_t max_metadata; /* entries of "__metadata__" */
} st_limits;

/* ST_MAX_HEADER_BYTES, ST_MAX_TENSORS, ST_MAX_METADATA. */
extern const st_limits st_default_limits;

/* Element types: every byte-sized dtype of the safetensors specification, so
 * that foreign files open; values are internal (never stored as numbers). */
typedef enum st_dtype {
    ST_BOOL = 0,
    ST_U8 = 1,
    ST_I8 = 2,
    ST_F8_E5M2 = 3,
    ST_F8_E4M3 = 4,
    ST_I16 = 5,
    ST_U16 = 6,
    ST_F16 = 7,
    ST_BF16 = 8,
    ST_I32 = 9,
    ST_U32 = 10,
    ST_F32 = 11,
    ST_I64 = 12,
    ST_U64 = 13,
    ST_F64 = 14
} st_dtype;

/* "F32", ... ; NULL for a value outside the enum. */
const char *st_dtype_name(st_dtype dtype);
/* Bytes per element; 0 for a value outside the enum. */
size_t st_dtype_size(st_dtype dtype);

/* Reverses the bytes of each of `count` elements of `element_size` bytes in
 * place (element sizes 1, 2, 4, 8; 1 is a no-op). Used on big-endian hosts. */
void st_swap_bytes(void *data, size_t count, size_t element_size);

/* ---- Reading ---------------------------------------------------------- */

typedef struct st_file st_file;

/* One tensor of an open file. Everything points into the st_file and stays
 * valid until st_close. */
typedef struct st_tensor {
    const char *name;        /* UTF-8, NUL-terminated */
    st_dtype dtype;
    size_t rank;             /* 0 for a scalar */
    size_t shape[ST_MAX_RANK];
    size_t element_count;    /* product of shape (1 for a scalar) */
    size_t byte_size;        /* element_count * st_dtype_size(dtype) */
    size_t offset;           /* begin offset within the data section */
    const void *data;        /* host byte order; see "Memory" above */
} st_tensor;

/* Reads and validates the whole file at `path` within `limits` (NULL:
 * st_default_limits); *out = NULL on failure.
 * Errors: INVALID_ARGUMENT, IO (cannot open/read, not a regular file — a
 * FIFO or device is refused without reading from it), FORMAT, NO_MEMORY. */
diffuse_status st_open(st_file **out, const char *path, const st_limits *limits,
                       diffuse_error *err);

/* Same from `size` bytes in memory (copied; the caller keeps its buffer),
 * within st_default_limits. */
diffuse_status st_open_memory(st_file **out, const void *bytes, size_t size,
                              diffuse_error *err);

/* Frees everything; st_close(NULL) is a no-op. */
void st_close(st_file *file);

/* Iteration: tensors are ordered by name (bytewise). st_tensor_at returns
 * NULL for index >= st_tensor_count(file) or file == NULL. */
size_t st_tensor_count(const st_file *file);
const st_tensor *st_tensor_at(const st_file *file, size_t index);

/* The tensor called `name`, or NULL if there is none (or an argument is
 * NULL). O(log n). */
const st_tensor *st_lookup(const st_file *file, const char *name);

/* Checked lookup: the tensor `name` must exist with exactly this dtype, rank
 * and shape (`shape` may be NULL when rank == 0); *data then points at its
 * bytes. Errors: INVALID_ARGUMENT, MISMATCH (missing tensor, other dtype,
 * rank or shape; the message names the tensor and both descriptions). */
diffuse_status st_find(const st_file *file, const char *name, st_dtype dtype, size_t rank,
                       const size_t *shape, const void **data, diffuse_error *err);

/* Metadata value for `key`, or NULL when absent (or an argument is NULL). */
const char *st_metadata(const st_file *file, const char *key);

/* Metadata parsed strictly as a number in [min, max] (see st_parse_*).
 * Errors: INVALID_ARGUMENT, FORMAT (key missing, not a number of that kind,
 * out of range; the message names key and value). */
diffuse_status st_metadata_int64(const st_file *file, const char *key, int64_t min,
                                 int64_t max, int64_t *out, diffuse_error *err);
diffuse_status st_metadata_uint64(const st_file *file, const char *key, uint64_t max,
                                  uint64_t *out, diffuse_error *err);
diffuse_status st_metadata_double(const st_file *file, const char *key, double min, double max,
                                  double *out, diffuse_error *err);

/* The checksum of metadata `key` (see "Checksums" above): *crc as computed
 * from the file's bytes and *digits_at, the offset in the file of the 8
 * stored digits. Errors: INVALID_ARGUMENT, FORMAT (key missing, or its
 * value is not "crc32c:" and 8 lowercase hex digits written without
 * escapes). */
diffuse_status st_checksum_compute(const st_file *file, const char *key, uint32_t *crc,
                                   size_t *digits_at, diffuse_error *err);

/* FORMAT (naming both values) unless the stored checksum is the computed
 * one; errors of st_checksum_compute otherwise. */
diffuse_status st_verify_checksum(const st_file *file, const char *key, diffuse_error *err);

/* Strict, locale-independent parsers; the WHOLE string must be the number.
 *  int64:  -?[0-9]+ within int64, no leading zeros, no "-0" (so each value
 *          has one spelling: "+1", " 1", "1 ", "01", "0x1", "" fail)
 *  uint64: [0-9]+ within uint64, no leading zeros
 *  double: a JSON number (-?digits[.digits][e[+-]digits]) of at most
 *          ST_MAX_NUMBER_TEXT characters whose value is finite ("nan",
 *          "inf", "1e999", ".5", "1." fail); correctly rounded.
 * Return false (and leave *out untouched) on failure. */
bool st_parse_int64(const char *text, int64_t *out);
bool st_parse_uint64(const char *text, uint64_t *out);
bool st_parse_double(const char *text, double *out);

/* ---- Writing ---------------------------------------------------------- */

typedef struct st_writer st_writer;

/* An empty writer. Errors: INVALID_ARGUMENT, NO_MEMORY. */
diffuse_status st_writer_create(st_writer **out, diffuse_error *err);
/* st_writer_free(NULL) is a no-op. Tensor data was only borrowed. */
void st_writer_free(st_writer *writer);

/* Adds a tensor. `name` is copied: non-empty valid UTF-8, unique, not
 * "__metadata__". `shape` (rank entries, may be NULL when rank == 0) is
 * copied; dimensions may be 0. `data` (byte_size bytes, host byte order) is
 * BORROWED until the last st_write_* call; it may be NULL only when
 * byte_size == 0. byte_size must equal product(shape) * st_dtype_size(dtype).
 * Errors: INVALID_ARGUMENT (any of the above, rank > ST_MAX_RANK, a
 * dimension > INT64_MAX, size overflow), NO_MEMORY. */
diffuse_status st_writer_add_tensor(st_writer *writer, const char *name, st_dtype dtype,
                                    size_t rank, const size_t *shape, const void *data,
                                    size_t byte_size, diffuse_error *err);

/* Adds metadata key -> value (both copied, valid UTF-8, key unique).
 * Errors: INVALID_ARGUMENT, NO_MEMORY; the double variant also NUMERIC for
 * NaN/Inf. The number variants format so that st_parse_* gives the value
 * back exactly. */
diffuse_status st_writer_add_metadata(st_writer *writer, const char *key, const char *value,
                                      diffuse_error *err);
diffuse_status st_writer_add_metadata_int64(st_writer *writer, const char *key, int64_t value,
                                            diffuse_error *err);
diffuse_status st_writer_add_metadata_uint64(st_writer *writer, const char *key,
                                             uint64_t value, diffuse_error *err);
diffuse_status st_writer_add_metadata_double(st_writer *writer, const char *key, double value,
                                             diffuse_error *err);

/* Makes the file carry a checksum under metadata `key` (see "Checksums"
 * above; `key` is copied and must not also be added as metadata).
 * Errors: INVALID_ARGUMENT, NO_MEMORY. */
diffuse_status st_writer_set_checksum(st_writer *writer, const char *key, diffuse_error *err);

/* Writes the canonical file atomically (src/atomic_file.h): on failure the
 * previous file at `path` is untouched and no temporary file remains.
 * Errors: INVALID_ARGUMENT, IO, NO_MEMORY, UNSUPPORTED (header would exceed
 * ST_MAX_HEADER_BYTES). */
diffuse_status st_write_file(const st_writer *writer, const char *path, diffuse_error *err);

/* The same bytes in memory: *bytes is malloc'ed (release with free()),
 * *size its length. *bytes = NULL on failure. */
diffuse_status st_write_memory(const st_writer *writer, void **bytes, size_t *size,
                               diffuse_error *err);

#endif
