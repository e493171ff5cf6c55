/* Dependency-free PNG writer (see png_writer.h).
 *
 * File layout (all integers big-endian unless noted):
 *   signature  89 50 4E 47 0D 0A 1A 0A
 *   chunk      length(4) type(4) data(length) crc32(type + data)(4)
 *   IHDR       width(4) height(4) bit depth 8, colour type (2 RGB / 0 gray),
 *              compression 0, filter 0, interlace 0
 *   IDAT       zlib stream of the scanlines, each "filter byte 0 + pixels":
 *                78 01                     (CMF: deflate, 32K window; FLG: check bits)
 *                stored blocks             BFINAL|BTYPE=00 byte, LEN, NLEN (little-endian
 *                                          16-bit, NLEN = ~LEN), then LEN raw bytes
 *                adler32(raw)(4)
 *   IEND       empty
 * Everything is streamed: the IDAT length is known in advance, so no buffer
 * of the whole image is needed. */
#include "png_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFLATE_MAX_STORED 65535u /* largest LEN of a stored block */
#define ADLER_MODULUS 65521u      /* largest prime below 2^16 */

typedef struct png_stream {
    FILE *file;
    int failed;             /* a write failed: finish quietly, report at the end */
    uint32_t crc;           /* running CRC-32 of the current chunk (pre-inverted) */
    uint32_t crc_table[256];
    uint32_t adler_a, adler_b; /* Adler-32 of the raw scanlines so far */
    uint64_t raw_left;      /* raw bytes not yet written */
    uint32_t block_left;    /* bytes left in the current stored block */
} png_stream;

/* CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected), byte-wise table. The
 * table lives in the stream, so no global state needs initialising. */
static void crc_table_init(uint32_t table[256])
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
}

/* Writes bytes to the file and adds them to the chunk CRC. */
static void put_bytes(png_stream *s, const uint8_t *bytes, size_t n)
{
    if (!s->failed && fwrite(bytes, 1, n, s->file) != n)
        s->failed = 1;
    uint32_t c = s->crc;
    for (size_t i = 0; i < n; i++)
        c = s->crc_table[(c ^ bytes[i]) & 0xFFu] ^ (c >> 8);
    s->crc = c;
}

static void put_u32_be(png_stream *s, uint32_t v)
{
    const uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put_bytes(s, b, 4);
}

/* Chunk start: length (outside the CRC), then the type (inside it). */
static void chunk_begin(png_stream *s, uint32_t length, const char type[4])
{
    put_u32_be(s, length);
    s->crc = 0xFFFFFFFFu;
    put_bytes(s, (const uint8_t *)type, 4);
}

static void chunk_end(png_stream *s)
{
    put_u32_be(s, s->crc ^ 0xFFFFFFFFu);
}

/* Stored block header: BFINAL in bit 0, BTYPE = 00 in bits 1–2, padding to
 * the byte boundary, then LEN and NLEN = ~LEN, little-endian. */
static void stored_block_begin(png_stream *s)
{
    uint32_t len = s->raw_left < DEFLATE_MAX_STORED ? (uint32_t)s->raw_left : DEFLATE_MAX_STORED;
    uint32_t nlen = ~len & 0xFFFFu;
    const uint8_t header[5] = {(uint8_t)(len == s->raw_left ? 1 : 0), (uint8_t)len,
                               (uint8_t)(len >> 8), (uint8_t)nlen, (uint8_t)(nlen >> 8)};
    put_bytes(s, header, 5);
    s->block_left = len;
}

/* Raw scanline bytes into the zlib stream: split into stored blocks and
 * added to the Adler-32 (a = 1 + Σ bytes, b = Σ a, both mod 65521). */
static void put_raw(png_stream *s, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s->adler_a = (s->adler_a + bytes[i]) % ADLER_MODULUS;
        s->adler_b = (s->adler_b + s->adler_a) % ADLER_MODULUS;
    }
    while (n > 0) {
        if (s->block_left == 0)
            stored_block_begin(s);
        size_t part = n < s->block_left ? n : s->block_left;
        put_bytes(s, bytes, part);
        bytes += part;
        n -= part;
        s->block_left -= (uint32_t)part;
        s->raw_left -= part;
    }
}

static void write_header(png_stream *s, uint32_t width, uint32_t height, uint8_t colour_type)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    put_bytes(s, signature, sizeof signature);
    chunk_begin(s, 13, "IHDR");
    put_u32_be(s, width);
    put_u32_be(s, height);
    const uint8_t rest[5] = {8, colour_type, 0, 0, 0}; /* depth, colour, compression, filter, interlace */
    put_bytes(s, rest, sizeof rest);
    chunk_end(s);
}

/* IDAT with the whole zlib stream: header, stored blocks, Adler-32. */
static void write_image_data(png_stream *s, const uint8_t *pixels, uint32_t height,
                             size_t row_bytes)
{
    uint64_t raw = (uint64_t)height * (1 + row_bytes);
    uint64_t blocks = (raw + DEFLATE_MAX_STORED - 1) / DEFLATE_MAX_STORED;
    /* raw ≤ 2^30 (checked by the caller), so the chunk length fits easily */
    chunk_begin(s, (uint32_t)(2 + raw + 5 * blocks + 4), "IDAT");
    /* CMF 0x78: method 8 (deflate), window 2^15; FLG 0x01 makes
     * (CMF·256 + FLG) a multiple of 31, no preset dictionary. */
    static const uint8_t zlib_header[2] = {0x78, 0x01};
    put_bytes(s, zlib_header, sizeof zlib_header);
    s->adler_a = 1;
    s->adler_b = 0;
    s->raw_left = raw;
    s->block_left = 0;
    static const uint8_t filter_none = 0;
    for (uint32_t y = 0; y < height; y++) {
        put_raw(s, &filter_none, 1);
        put_raw(s, pixels + (size_t)y * row_bytes, row_bytes);
    }
    put_u32_be(s, (s->adler_b << 16) | s->adler_a);
    chunk_end(s);
    chunk_begin(s, 0, "IEND");
    chunk_end(s);
}

static png_writer_status write_png(const char *path, const uint8_t *pixels, uint32_t width,
                                   uint32_t height, uint32_t channels, uint8_t colour_type)
{
    if (path == NULL || pixels == NULL || width == 0 || height == 0 ||
        (uint64_t)height * (1 + (uint64_t)width * channels) > PNG_WRITER_MAX_RAW_BYTES)
        return PNG_WRITER_ERROR_ARGUMENT;
    size_t path_length = strlen(path);
    char *temp_path = malloc(path_length + sizeof ".tmp");
    if (temp_path == NULL)
        return PNG_WRITER_ERROR_MEMORY;
    memcpy(temp_path, path, path_length);
    memcpy(temp_path + path_length, ".tmp", sizeof ".tmp");

    png_stream *s = malloc(sizeof *s);
    if (s == NULL) {
        free(temp_path);
        return PNG_WRITER_ERROR_MEMORY;
    }
    memset(s, 0, sizeof *s);
    crc_table_init(s->crc_table);
    s->file = fopen(temp_path, "wb");
    int ok = s->file != NULL;
    if (ok) {
        write_header(s, width, height, colour_type);
        write_image_data(s, pixels, height, (size_t)width * channels);
        ok = !s->failed && !ferror(s->file);
        ok = (fclose(s->file) == 0) && ok;
        ok = ok && rename(temp_path, path) == 0;
        if (!ok)
            remove(temp_path);
    }
    free(s);
    free(temp_path);
    return ok ? PNG_WRITER_OK : PNG_WRITER_ERROR_IO;
}

png_writer_status png_write_rgb(const char *path, const uint8_t *rgb, uint32_t width,
                                uint32_t height)
{
    return write_png(path, rgb, width, height, 3, 2);
}

png_writer_status png_write_gray(const char *path, const uint8_t *gray, uint32_t width,
                                 uint32_t height)
{
    return write_png(path, gray, width, height, 1, 0);
}

const char *png_writer_status_string(png_writer_status status)
{
    switch (status) {
    case PNG_WRITER_OK:
        return "success";
    case PNG_WRITER_ERROR_ARGUMENT:
        return "invalid argument (NULL pointer, zero size or image too large)";
    case PNG_WRITER_ERROR_MEMORY:
        return "out of memory";
    case PNG_WRITER_ERROR_IO:
        return "the file could not be written";
    }
    return "unknown status";
}
