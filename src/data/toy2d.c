/* Built-in 2-D toy data sets (see include/diffuse/toy2d.h for the
 * distributions and their normalisation). */
#include "diffuse/toy2d.h"

#include <math.h>
#include <string.h>

#include "util/error.h"
#include "util/philox.h"

#define TOY2D_PI 3.14159265358979323846

/* Random inputs of one point: up to three uniforms on (0, 1) and two N(0, 1). */
#define TOY2D_MAX_UNIFORMS 3
#define TOY2D_MAX_NORMALS 2

/* Philox stream of component c of data set `kind`: TAG + 8·kind + c, with
 * uniforms at c = 0..2 and normals at c = 3..4. Separate streams for the
 * uniforms and the normals because philox_normal(seed, s, p) and
 * philox_uniform(seed, s, p) are computed from the same Philox block. The
 * tag ("toy2d" in ASCII) keeps these streams away from the small stream
 * numbers the trainer and sampler use. */
#define TOY2D_STREAM_TAG UINT64_C(0x746f793264000000)
#define TOY2D_NORMAL_COMPONENT0 3

/* Points generated per Philox call: keeps the scratch buffers on the stack. */
#define TOY2D_CHUNK 128

typedef struct toy2d_draws {
    double u[TOY2D_MAX_UNIFORMS]; /* uniform on (0, 1) */
    double z[TOY2D_MAX_NORMALS];  /* N(0, 1) */
} toy2d_draws;

/* Writes one point and returns its class (toy2d.h). */
typedef int32_t (*toy2d_point_fn)(const toy2d_draws *r, float out[2]);

typedef struct toy2d_spec {
    const char *name;
    size_t uniforms; /* draws of each kind one point uses */
    size_t normals;
    toy2d_point_fn point;
    size_t classes;
} toy2d_spec;

static void store_point(double x, double y, float out[2])
{
    out[0] = (float)x;
    out[1] = (float)y;
}

/* raw = (s cos s, s sin s) + 0.25 n, s ~ U(1.5π, 4.5π);
 * point = (raw − (2, 2/(3π))) / 3.5, where E[s cos s] = 2 and
 * E[s sin s] = 2/(3π) for that s (integrate s cos s = s sin s + cos s). */
static int32_t swiss_roll_point(const toy2d_draws *r, float out[2])
{
    const double noise = 0.25, scale = 1.0 / 3.5;
    double s = 1.5 * TOY2D_PI * (1.0 + 2.0 * r->u[0]);
    double x = s * cos(s) + noise * r->z[0];
    double y = s * sin(s) + noise * r->z[1];
    store_point((x - 2.0) * scale, (y - 2.0 / (3.0 * TOY2D_PI)) * scale, out);
    return 0;
}

/* Upper moon (cos θ, sin θ), lower moon (1 − cos θ, 1/2 − sin θ), θ ~ U(0, π),
 * plus 0.08 n; point = 2.5 (raw − (1/2, 1/4)), (1/2, 1/4) being the mean. */
static int32_t two_moons_point(const toy2d_draws *r, float out[2])
{
    const double noise = 0.08, scale = 2.5;
    double theta = TOY2D_PI * r->u[1];
    double x, y;
    if (r->u[0] < 0.5) {
        x = cos(theta);
        y = sin(theta);
    } else {
        x = 1.0 - cos(theta);
        y = 0.5 - sin(theta);
    }
    x += noise * r->z[0];
    y += noise * r->z[1];
    store_point((x - 0.5) * scale, (y - 0.25) * scale, out);
    return r->u[0] < 0.5 ? 0 : 1;
}

/* k = ⌊8u⌋ ∈ 0..7 (u < 1 so k ≤ 7); raw = 2 (cos kπ/4, sin kπ/4) + 0.15 n;
 * point = raw / √2 (per-coordinate variance (2 + 0.15²)/2 ≈ 1). */
static int32_t eight_gaussians_point(const toy2d_draws *r, float out[2])
{
    const double radius = 2.0, noise = 0.15, scale = 1.0 / sqrt(2.0);
    double k = floor(8.0 * r->u[0]), angle = k * (TOY2D_PI / 4.0);
    double x = radius * cos(angle) + noise * r->z[0];
    double y = radius * sin(angle) + noise * r->z[1];
    store_point(x * scale, y * scale, out);
    return (int32_t)k;
}

/* Square c = ⌊8u₀⌋ ∈ 0..7: row j = ⌊c/2⌋ − 2, and in that row the two columns
 * i with i + j even: i = (j even ? −2 : −1) + 2 (c mod 2). The point is
 * (i + u₁, j + u₂), uniform in the square. */
static int32_t checkerboard_point(const toy2d_draws *r, float out[2])
{
    int c = (int)floor(8.0 * r->u[0]);
    int j = c / 2 - 2;
    int i = (j % 2 == 0 ? -2 : -1) + 2 * (c % 2);
    store_point(i + r->u[1], j + r->u[2], out);
    return c;
}

static const toy2d_spec toy2d_specs[] = {
    [DIFFUSE_TOY2D_SWISS_ROLL] = {"swiss_roll", 1, 2, swiss_roll_point, 1},
    [DIFFUSE_TOY2D_TWO_MOONS] = {"two_moons", 2, 2, two_moons_point, 2},
    [DIFFUSE_TOY2D_EIGHT_GAUSSIANS] = {"8gaussians", 1, 2, eight_gaussians_point, 8},
    [DIFFUSE_TOY2D_CHECKERBOARD] = {"checkerboard", 3, 0, checkerboard_point, 8},
};

#define TOY2D_KIND_COUNT (sizeof toy2d_specs / sizeof toy2d_specs[0])

static const toy2d_spec *toy2d_find(diffuse_toy2d kind)
{
    if ((int)kind < 0 || (size_t)kind >= TOY2D_KIND_COUNT)
        return NULL;
    return &toy2d_specs[kind];
}

static uint64_t toy2d_stream(diffuse_toy2d kind, size_t component)
{
    return TOY2D_STREAM_TAG + 8u * (uint64_t)kind + component;
}

/* Points first .. first + n − 1 (n ≤ TOY2D_CHUNK) into out[2n], and their
 * classes into labels[n] unless it is NULL. */
static void toy2d_fill_chunk(const toy2d_spec *spec, diffuse_toy2d kind, uint64_t seed,
                             uint64_t first, size_t n, float *out, int32_t *labels)
{
    float uniforms[TOY2D_MAX_UNIFORMS][TOY2D_CHUNK];
    float normals[TOY2D_MAX_NORMALS][TOY2D_CHUNK];
    for (size_t c = 0; c < spec->uniforms; c++)
        philox_uniform(seed, toy2d_stream(kind, c), first, uniforms[c], n);
    for (size_t c = 0; c < spec->normals; c++)
        philox_normal(seed, toy2d_stream(kind, TOY2D_NORMAL_COMPONENT0 + c), first, normals[c],
                      n);
    for (size_t i = 0; i < n; i++) {
        toy2d_draws draws;
        memset(&draws, 0, sizeof draws);
        for (size_t c = 0; c < spec->uniforms; c++)
            draws.u[c] = uniforms[c][i];
        for (size_t c = 0; c < spec->normals; c++)
            draws.z[c] = normals[c][i];
        int32_t label = spec->point(&draws, out + 2 * i);
        if (labels != NULL)
            labels[i] = label;
    }
}

DIFFUSE_API diffuse_status diffuse_toy2d_sample_labeled(diffuse_toy2d kind, uint64_t seed,
                                                        uint64_t first_index, size_t n,
                                                        float *out, int32_t *labels)
{
    const toy2d_spec *spec = toy2d_find(kind);
    if (spec == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "unknown toy data set %d (valid: 0..%zu)", (int)kind,
                            TOY2D_KIND_COUNT - 1);
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    size_t count;
    if (status == DIFFUSE_OK)
        status = diffuse_check_matrix_size(NULL, n, 2, &count);
    if (status != DIFFUSE_OK)
        return status;
    /* The last index first_index + n − 1 must exist in a stream of 2^64 values. */
    if ((uint64_t)(n - 1) > UINT64_MAX - first_index)
        return diffuse_fail(NULL, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "points %llu .. %llu + %zu - 1 run past index 2^64 - 1",
                            (unsigned long long)first_index, (unsigned long long)first_index,
                            n);
    for (size_t done = 0; done < n; done += TOY2D_CHUNK) {
        size_t chunk = n - done < TOY2D_CHUNK ? n - done : TOY2D_CHUNK;
        toy2d_fill_chunk(spec, kind, seed, first_index + done, chunk, out + 2 * done,
                         labels != NULL ? labels + done : NULL);
    }
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_toy2d_sample(diffuse_toy2d kind, uint64_t seed,
                                                uint64_t first_index, size_t n, float *out)
{
    return diffuse_toy2d_sample_labeled(kind, seed, first_index, n, out, NULL);
}

DIFFUSE_API diffuse_status diffuse_toy2d_classes(diffuse_toy2d kind, size_t *classes)
{
    const toy2d_spec *spec = toy2d_find(kind);
    diffuse_status status = diffuse_check_pointer(NULL, classes, "classes");
    if (status == DIFFUSE_OK && spec == NULL)
        status = diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown toy data set %d",
                              (int)kind);
    if (status == DIFFUSE_OK)
        *classes = spec->classes;
    return status;
}

DIFFUSE_API const char *diffuse_toy2d_name(diffuse_toy2d kind)
{
    const toy2d_spec *spec = toy2d_find(kind);
    return spec != NULL ? spec->name : NULL;
}

DIFFUSE_API diffuse_status diffuse_toy2d_from_name(const char *name, diffuse_toy2d *kind)
{
    diffuse_status status = diffuse_check_pointer(NULL, name, "name");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, kind, "kind");
    if (status != DIFFUSE_OK)
        return status;
    char valid[128] = "";
    for (size_t k = 0; k < TOY2D_KIND_COUNT; k++) {
        if (strcmp(name, toy2d_specs[k].name) == 0) {
            *kind = (diffuse_toy2d)k;
            return DIFFUSE_OK;
        }
        if (k > 0)
            strncat(valid, ", ", sizeof valid - strlen(valid) - 1);
        strncat(valid, toy2d_specs[k].name, sizeof valid - strlen(valid) - 1);
    }
    return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                        "unknown toy data set \"%.64s\" (valid: %s)", name, valid);
}
