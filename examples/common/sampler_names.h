/* The example programs' names of the sampling methods on their command
 * lines (not part of libdiffuse): ddpm, ddim, dpmpp. */
#ifndef EXAMPLES_SAMPLER_NAMES_H
#define EXAMPLES_SAMPLER_NAMES_H

/* The diffuse_sample_method named `name`, or −1. */
int sampler_from_name(const char *name);

#endif
