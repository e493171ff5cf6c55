/* FNV-1a 64 digests of results, for tests that compare bits across runs,
 * builds and processes (header-only: plain programs use it too). */
#ifndef DIFFUSE_TEST_DIGEST_H
#define DIFFUSE_TEST_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define FNV_OFFSET 0xcbf29ce484222325u

static inline uint64_t fnv1a(uint64_t hash, const void *bytes, size_t size)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < size; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3u;
    }
    return hash;
}

#endif
