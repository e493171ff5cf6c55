/* The size rule of the public structs that start with their own size
 * (diffuse_model_call, diffuse_nll_request; internal). A struct written by
 * a program built against an older header is shorter: the fields it lacks
 * read as zero. One from a newer header is longer: accepted when the bytes
 * this library does not know are all zero, refused otherwise, so that a
 * request it cannot honour never passes silently. */
#ifndef DIFFUSE_SRC_STRUCT_SIZE_H
#define DIFFUSE_SRC_STRUCT_SIZE_H

#include <stddef.h>

#include "util/error.h"

/* `full` (full_size bytes, this library's struct) = `in` completed with
 * zeros, its size field set to full_size. `in` starts with a size_t size
 * of at least first_size (the first release's struct). INVALID_ARGUMENT
 * otherwise, naming `type` and the initialiser macro `init`. */
diffuse_status struct_size_read(diffuse_error *error, const void *in, size_t first_size,
                                void *full, size_t full_size, const char *type,
                                const char *init);

#endif
