/*
 * libdiffuse — built-in 2-D toy data sets.
 *
 * Four classic 2-D distributions for fast end-to-end tests and examples. Each
 * is centred and scaled to fit in about [−4, 4]² with a per-coordinate
 * standard deviation between 0.7 and 2: close enough to the unit scale a
 * diffusion model with x_T ~ N(0, I) expects, yet far enough from N(0, I)
 * that "how much closer to the data than noise" is a sharp quality measure
 * (for the swiss roll and the moons, N(0, I) scores 20× the energy distance
 * that two independent 2000-point data samples fluctuate by). In raw
 * coordinates first, then the normalisation applied:
 *
 *  SWISS_ROLL      s ~ U(1.5π, 4.5π), raw = (s cos s, s sin s) + 0.25·n,
 *                  n ~ N(0, I) (the x/z projection of scikit-learn's
 *                  make_swiss_roll, noise 0.25);
 *                  point = (raw − (2, 2/(3π))) / 3.5. The subtracted vector
 *                  is the exact mean of the noiseless spiral; std ≈ (1.89, 1.99).
 *  TWO_MOONS       moon m ∈ {upper, lower} with probability 1/2, θ ~ U(0, π),
 *                  upper raw = (cos θ, sin θ), lower raw = (1 − cos θ,
 *                  1/2 − sin θ) (scikit-learn's make_moons), plus 0.08·n;
 *                  point = 2.5·(raw − (1/2, 1/4)). Mean exactly 0,
 *                  std ≈ (2.17, 1.27).
 *  EIGHT_GAUSSIANS k ~ U{0..7}, raw = 2·(cos kπ/4, sin kπ/4) + 0.15·n;
 *                  point = raw / √2: centres on the circle of radius √2,
 *                  per-component std 0.15/√2 ≈ 0.106. Mean 0, per-coordinate
 *                  variance exactly 1 + 0.15²/2 ≈ 1.011.
 *  CHECKERBOARD    uniform on the 8 unit squares [i, i+1) × [j, j+1) of
 *                  [−2, 2]² with i + j even (integer i, j ∈ −2..1), i.e. the
 *                  black squares of a 4×4 board whose square at the origin's
 *                  upper right, [0,1)×[0,1), is filled. No normalisation:
 *                  mean 0, std = 2/√3 ≈ 1.155 per coordinate. (In exact
 *                  arithmetic points lie inside their square; float rounding
 *                  can put one on the square's edge, never beyond it.)
 *
 * Randomness: point p uses values with index p of fixed Philox streams
 * (seed, tag + kind + component); so point i of a call depends only on
 * (kind, seed, first_index + i), and a data callback can fill batches
 * deterministically, in any order or split (7 + 9 points equal 16). The
 * streams are far from the small stream numbers the trainer and sampler use,
 * so sharing one seed with them does not correlate data and noise.
 */
#ifndef DIFFUSE_TOY2D_H
#define DIFFUSE_TOY2D_H

#include "diffuse/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values are fixed forever; new data sets are only ever appended. */
typedef enum diffuse_toy2d {
    DIFFUSE_TOY2D_SWISS_ROLL = 0,
    DIFFUSE_TOY2D_TWO_MOONS = 1,
    DIFFUSE_TOY2D_EIGHT_GAUSSIANS = 2,
    DIFFUSE_TOY2D_CHECKERBOARD = 3
} diffuse_toy2d;

/* Writes points first_index .. first_index + n − 1 of data set `kind` for
 * `seed` into out[0 .. 2n−1] (row-major n × 2: out[2i] = x, out[2i+1] = y).
 * `out` is borrowed for the call; on failure nothing has been written (every
 * argument is validated first).
 * Errors: DIFFUSE_ERROR_INVALID_ARGUMENT for an unknown kind, out == NULL,
 * n == 0 or n too large; DIFFUSE_ERROR_OUT_OF_RANGE when the last index
 * first_index + n − 1 exceeds 2^64 − 1.
 * Thread-safe (pure function of its arguments). */
DIFFUSE_API diffuse_status diffuse_toy2d_sample(diffuse_toy2d kind, uint64_t seed,
                                                uint64_t first_index, size_t n, float *out);

/* diffuse_toy2d_sample that also writes each point's class into
 * labels[0 .. n−1] (borrowed; NULL: none), for class-conditional training:
 * EIGHT_GAUSSIANS the mode k (0..7, centre (cos kπ/4, sin kπ/4)·√2),
 * TWO_MOONS the moon (0 upper, 1 lower), CHECKERBOARD the square c (0..7),
 * SWISS_ROLL 0 (one class). The points are those of diffuse_toy2d_sample.
 * Errors as for diffuse_toy2d_sample. Thread-safe. */
DIFFUSE_API diffuse_status diffuse_toy2d_sample_labeled(diffuse_toy2d kind, uint64_t seed,
                                                        uint64_t first_index, size_t n,
                                                        float *out, int32_t *labels);

/* The number of classes of `kind` (above): 8, 2, 8 or 1. Errors:
 * INVALID_ARGUMENT (unknown kind, classes NULL). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_toy2d_classes(diffuse_toy2d kind, size_t *classes);

/* The name of `kind` ("swiss_roll", "two_moons", "8gaussians",
 * "checkerboard"), static storage, or NULL for an unknown value.
 * Thread-safe. */
DIFFUSE_API const char *diffuse_toy2d_name(diffuse_toy2d kind);

/* Looks a data set up by its exact name (as returned by diffuse_toy2d_name)
 * and stores it in *kind. *kind is untouched on failure.
 * Errors: DIFFUSE_ERROR_INVALID_ARGUMENT for NULL pointers or an unknown name
 * (the message lists the valid names). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_toy2d_from_name(const char *name, diffuse_toy2d *kind);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_TOY2D_H */
