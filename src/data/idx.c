/* IDX reader (see idx.h). zlib's gz* functions read gzip and raw files
 * alike, so one path serves both. */
#include "data/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_TYPE_UNSIGNED_BYTE 0x08
/* gzread takes an unsigned count: read in pieces well inside it. */
#define IDX_READ_CHUNK ((size_t)1 << 30)
/* The values' first buffer; it doubles as the data keeps coming. */
#define IDX_FIRST_CAPACITY ((size_t)1 << 20)

static diffuse_status fail_file(diffuse_error *error, diffuse_status status, const char *path,
                                const char *what)
{
    return diffuse_fail(error, status, "cannot read IDX file \"%s\": %s", path, what);
}

/* Exactly `size` bytes, or FORMAT (truncated, corrupt gzip) / IO. */
static diffuse_status read_exactly(diffuse_error *error, gzFile file, const char *path,
                                   void *buffer, size_t size)
{
    unsigned char *at = buffer;
    while (size > 0) {
        size_t piece = size < IDX_READ_CHUNK ? size : IDX_READ_CHUNK;
        int got = gzread(file, at, (unsigned)piece);
        if (got < 0) {
            int code;
            const char *message = gzerror(file, &code);
            return fail_file(error, code == Z_ERRNO ? DIFFUSE_ERROR_IO : DIFFUSE_ERROR_FORMAT,
                             path, code == Z_ERRNO ? strerror(errno) : message);
        }
        if (got == 0)
            return fail_file(error, DIFFUSE_ERROR_FORMAT, path,
                             "truncated (the data ends before the header's sizes say)");
        at += got;
        size -= (size_t)got;
    }
    return DIFFUSE_OK;
}

/* The header: magic 00 00 08 <rank>, then rank big-endian sizes, checked
 * against the caller's expectations and the limits before any allocation. */
static diffuse_status read_header(diffuse_error *error, gzFile file, const char *path,
                                  size_t rank, uint64_t max_count, uint64_t max_side,
                                  idx_array *out)
{
    unsigned char magic[4], sizes[4 * IDX_MAX_RANK];
    diffuse_status status = read_exactly(error, file, path, magic, sizeof magic);
    if (status != DIFFUSE_OK)
        return status;
    if (magic[0] != 0 || magic[1] != 0)
        return fail_file(error, DIFFUSE_ERROR_FORMAT, path, "not an IDX file (bad magic)");
    if (magic[2] != IDX_TYPE_UNSIGNED_BYTE)
        return diffuse_fail(error, DIFFUSE_ERROR_FORMAT,
                            "cannot read IDX file \"%s\": value type 0x%02x, not unsigned "
                            "bytes (0x08)", path, magic[2]);
    if (magic[3] != rank)
        return diffuse_fail(error, DIFFUSE_ERROR_FORMAT,
                            "cannot read IDX file \"%s\": %u dimensions, expected %zu (%s)",
                            path, magic[3], rank, rank == 1 ? "labels" : "images");
    if ((status = read_exactly(error, file, path, sizes, 4 * rank)) != DIFFUSE_OK)
        return status;
    uint64_t count = 1;
    for (size_t k = 0; k < rank; k++) {
        const unsigned char *b = sizes + 4 * k;
        uint32_t dim = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (dim == 0)
            return diffuse_fail(error, DIFFUSE_ERROR_FORMAT,
                                "cannot read IDX file \"%s\": dimension %zu is 0", path, k);
        if (k > 0 && dim > max_side)
            return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                                "cannot read IDX file \"%s\": dimension %zu = %u is above %llu",
                                path, k, dim, (unsigned long long)max_side);
        /* count · dim > max_count, without overflow (count ≤ max_count so far). */
        if (dim > max_count / count)
            return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                                "cannot read IDX file \"%s\": more than %llu values", path,
                                (unsigned long long)max_count);
        count *= dim;
        out->dims[k] = dim;
    }
    out->rank = rank;
    out->count = count;
    return DIFFUSE_OK;
}

/* Nothing may follow the values: a longer file is not what its header says. */
static diffuse_status check_end(diffuse_error *error, gzFile file, const char *path)
{
    unsigned char extra;
    int got = gzread(file, &extra, 1);
    if (got == 0)
        return DIFFUSE_OK;
    return fail_file(error, DIFFUSE_ERROR_FORMAT, path,
                     got > 0 ? "data continues after the header's sizes"
                             : "corrupt data after the values");
}

/* The values, into a buffer that grows (doubling) with the data actually
 * read: a header that claims gigabytes over a short file costs what the
 * file holds, not what it claims. */
static diffuse_status read_values(diffuse_error *error, gzFile file, const char *path,
                                  idx_array *out)
{
    size_t want = (size_t)out->count, have = 0, capacity = 0;
    while (have < want) {
        if (have == capacity) {
            size_t grown = capacity == 0 ? IDX_FIRST_CAPACITY : 2 * capacity;
            grown = grown < want ? grown : want;
            uint8_t *bigger = realloc(out->values, grown);
            if (bigger == NULL)
                return diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                                    "cannot allocate %zu bytes for IDX file \"%s\"", grown,
                                    path);
            out->values = bigger;
            capacity = grown;
        }
        diffuse_status status = read_exactly(error, file, path, out->values + have,
                                             capacity - have);
        if (status != DIFFUSE_OK)
            return status;
        have = capacity;
    }
    return check_end(error, file, path);
}

static diffuse_status read_file(diffuse_error *error, gzFile file, const char *path,
                                size_t rank, uint64_t max_count, uint64_t max_side,
                                idx_array *out)
{
    diffuse_status status = read_header(error, file, path, rank, max_count, max_side, out);
    if (status != DIFFUSE_OK)
        return status;
    if (out->count > SIZE_MAX)
        return diffuse_fail(error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "IDX file \"%s\" is too large for this machine", path);
    return read_values(error, file, path, out);
}

diffuse_status idx_read(diffuse_error *error, const char *path, size_t rank, uint64_t max_count,
                        uint64_t max_side, idx_array *out)
{
    *out = (idx_array){0};
    struct stat info;
    if (stat(path, &info) != 0)
        return fail_file(error, DIFFUSE_ERROR_IO, path, strerror(errno));
    if (!S_ISREG(info.st_mode))
        return fail_file(error, DIFFUSE_ERROR_IO, path, "not a regular file");
    errno = 0; /* zlib leaves it 0 when it ran out of memory */
    gzFile file = gzopen(path, "rb");
    if (file == NULL)
        return errno == 0 ? diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY,
                                         "out of memory opening IDX file \"%s\"", path)
                          : fail_file(error, DIFFUSE_ERROR_IO, path, strerror(errno));
    diffuse_status status = read_file(error, file, path, rank, max_count, max_side, out);
    gzclose(file);
    if (status != DIFFUSE_OK)
        idx_free(out);
    return status;
}

void idx_free(idx_array *a)
{
    free(a->values);
    *a = (idx_array){0};
}
