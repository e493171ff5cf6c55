/* The size rule of size-first public structs (see struct_size.h). */
#include "util/struct_size.h"

#include <string.h>

diffuse_status struct_size_read(diffuse_error *error, const void *in, size_t first_size,
                                void *full, size_t full_size, const char *type,
                                const char *init)
{
    size_t size;
    memcpy(&size, in, sizeof size);
    if (size < first_size)
        return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "%s size = %zu is smaller than any %s (%zu); initialise it with %s",
                            type, size, type, first_size, init);
    const unsigned char *bytes = in;
    for (size_t i = full_size; i < size; i++) {
        if (bytes[i] != 0)
            return diffuse_fail(error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                                "%s size = %zu: byte %zu is set but this library knows "
                                "only the first %zu bytes of %s",
                                type, size, i, full_size, type);
    }
    memset(full, 0, full_size);
    memcpy(full, in, size < full_size ? size : full_size);
    memcpy(full, &full_size, sizeof full_size);
    return DIFFUSE_OK;
}
