/* Timestep lists (internal): the t's a sampler visits, in order. */
#ifndef DIFFUSE_SRC_SAMPLE_TIMESTEPS_H
#define DIFFUSE_SRC_SAMPLE_TIMESTEPS_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse/sampler.h"
#include "util/error.h"

/* `count` timesteps of a schedule of T = `steps` steps (1 ≤ count ≤ T),
 * spaced as diffusers' set_timesteps spaces them, i = 0 … count − 1:
 *   LEADING   list[i] = (count − 1 − i) · ⌊T/count⌋
 *   TRAILING  list[i] = round(T − i · T/count) − 1
 *   LINSPACE  list[i] = round((count − 1 − i) · (T − 1)/(count − 1))  (0 for count = 1)
 * (round: half to even, as numpy). count = T gives T−1, …, 0 for each. */
void timesteps_spaced(int32_t *list, size_t count, size_t steps, diffuse_spacing spacing);

/* Up to `count` timesteps (1 ≤ count ≤ T; one: T − 1) at the noise levels of Karras et
 * al. 2022, as diffusers' use_karras_sigmas places them: with σ(t) =
 * √((1−ᾱ_t)/ᾱ_t) (ᾱ = 0 of zero terminal SNR read as a quarter of the
 * smallest positive ᾱ, so σ is finite and increasing; diffusers uses 2^−24,
 * which is not increasing there),
 *   σ_i = (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,  ρ = 7,
 * σ_max = σ(T−1), σ_min = σ(0), and t_i = the t where log σ(t), linearly
 * interpolated, is log σ_i, rounded half to even. Entries that round to the
 * previous one are dropped (diffusers keeps them); returns how many are
 * left. */
size_t timesteps_karras(int32_t *list, size_t count, const double *alpha_bar, size_t steps);

/* Checks a list for a schedule of T = `steps` steps: not empty, every entry
 * in [0, T), no entry repeated and strictly decreasing. INVALID_ARGUMENT
 * naming the first offending entry otherwise. The last entry need not be 0:
 * the step from it goes to the sample (diffuse/sampler.h). */
diffuse_status timesteps_check(diffuse_error *error, const int32_t *list, size_t count,
                               size_t steps);

#endif
