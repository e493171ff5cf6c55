/* The sampling methods' command-line names (see sampler_names.h). */
#include "sampler_names.h"

#include <diffuse/diffuse.h>
#include <string.h>

int sampler_from_name(const char *name)
{
    static const char *const names[] = {[DIFFUSE_METHOD_DDPM] = "ddpm",
                                        [DIFFUSE_METHOD_DDIM] = "ddim",
                                        [DIFFUSE_METHOD_DPMPP_2M] = "dpmpp"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}
