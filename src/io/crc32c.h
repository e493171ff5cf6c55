/* CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected as 0x82F63B78): the
 * checksum of checkpoint files (src/io/checkpoint.h). Written here rather
 * than taken from a library: it is 60 lines, needs no dependency, and the
 * same few lines in Python (tests/reference/checkpoint_read.py) check it.
 * Check value: crc32c("123456789") = 0xE3069283 (RFC 3720, B.4).
 *
 * Thread-safety: pure functions (the table is built once, thread-safely). */
#ifndef DIFFUSE_SRC_CRC32C_H
#define DIFFUSE_SRC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of the bytes seen so far followed by `bytes`; start with
 * crc = 0: crc32c_update(crc32c_update(0, a, n), b, m) is the CRC of a‖b. */
uint32_t crc32c_update(uint32_t crc, const void *bytes, size_t size);

#endif
