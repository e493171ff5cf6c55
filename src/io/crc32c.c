/* CRC-32C, table-driven, slicing by 8 (see crc32c.h). */
#include "io/crc32c.h"

#include <pthread.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

/* table[0][b]: the CRC of byte b; table[k][b]: of b followed by k zero
 * bytes, so eight table look-ups advance the CRC by eight bytes. */
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t crc = b;
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 1u ? (crc >> 1) ^ CRC32C_POLY : crc >> 1;
        table[0][b] = crc;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t b = 0; b < 256; b++)
            table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xFFu];
}

uint32_t crc32c_update(uint32_t crc, const void *bytes, size_t size)
{
    pthread_once(&table_once, build_table);
    const unsigned char *p = bytes;
    crc = ~crc;
    for (; size >= 8; size -= 8, p += 8) {
        /* Bytes combined one by one: independent of the host's byte order. */
        uint32_t low = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        crc = table[7][low & 0xFFu] ^ table[6][(low >> 8) & 0xFFu] ^
              table[5][(low >> 16) & 0xFFu] ^ table[4][low >> 24] ^ table[3][p[4]] ^
              table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
    }
    for (; size > 0; size--, p++)
        crc = (crc >> 8) ^ table[0][(crc ^ *p) & 0xFFu];
    return ~crc;
}
