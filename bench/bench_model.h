/* What the libdiffuse benchmark programs build the same way: the MLP of
 * docs/performance.md and a sampler set to a method over trailing-spaced
 * steps. */
#ifndef DIFFUSE_BENCH_MODEL_H
#define DIFFUSE_BENCH_MODEL_H

#include "diffuse/model.h"
#include "diffuse/sampler.h"

#define BENCH_DIM 2

/* DIFFUSE_ARCH_MLP on 2-D data: width H, L residual SiLU blocks, time
 * embedding E, its seeded default weights. */
diffuse_status bench_mlp_create(long width, long layers, long embed, diffuse_model **out);

/* "ddpm", "ddim", "dpmpp" by diffuse_sample_method. */
const char *bench_method_name(long method);
/* *method = the diffuse_sample_method named `name`; −1 (untouched) if none. */
int bench_parse_method(const char *name, long *method);
/* The steps of `method` when none are asked for: T (0) for ddpm, 50 for
 * ddim, 20 for dpmpp. */
long bench_default_steps(long method);

/* Sets σ² = β, `threads`, `method` and `steps` trailing-spaced entries. */
diffuse_status bench_sampler_configure(diffuse_sampler *sampler, long method, long steps,
                                       long threads);

#endif
