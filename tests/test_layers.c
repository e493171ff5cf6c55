/* The layers of the ε-network: every fast kernel against its double
 * precision reference, and every backward against central finite
 * differences of the double precision reference forward (layers, the time
 * branch, residual blocks and the whole MLP). */
#include <cblas.h>
#include <diffuse/diffuse.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/block.h"
#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/layers.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/resample.h"
#include "nn/time_embedding.h"
#include "nn/time_mlp.h"
#include "nn/workspace.h"
#include "util/philox.h"
#include "nn_reference.h"
#include "test_support.h"

static const diffuse_activation activations[] = {DIFFUSE_ACTIVATION_SILU,
                                                 DIFFUSE_ACTIVATION_GELU};

/* ---- helpers ------------------------------------------------------------ */

/* x[i] uniform on (lo, hi), reproducible per stream. */
static float *random_floats(size_t n, uint64_t stream, float lo, float hi)
{
    return diffuse_test_uniform_floats(n, 2024, stream, lo, hi);
}

static float *zero_floats(size_t n)
{
    float *x = calloc(n, sizeof *x);
    ck_assert_ptr_nonnull(x);
    return x;
}

static double *zero_doubles(size_t n)
{
    double *x = calloc(n, sizeof *x);
    ck_assert_ptr_nonnull(x);
    return x;
}

static double dot(const double *a, const double *b, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

/* |fast − reference| ≤ atol + rtol·|reference| elementwise. */
static void check_close(const float *fast, const double *reference, size_t n, double rtol,
                        double atol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(fast[i] - reference[i]) <= atol + rtol * fabs(reference[i]),
                      "%s[%zu] = %.9g, reference %.9g", what, i, (double)fast[i], reference[i]);
}

/* An analytic (float) gradient against a numeric one, with the error
 * measured relative to the largest numeric entry (float rounding in the
 * analytic one is relative to that scale, not to each entry). */
static void check_gradient(const float *analytic, const double *numeric, size_t n,
                           const char *what)
{
    double scale = 1e-6;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(numeric[i]));
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(fabs(analytic[i] - numeric[i]) <= 2e-4 * scale + 1e-3 * fabs(numeric[i]),
                      "%s[%zu]: analytic %.9g, numeric %.9g (scale %.3g)", what, i,
                      (double)analytic[i], numeric[i], scale);
        worst = fmax(worst, fabs(analytic[i] - numeric[i]) / scale);
    }
    /* DIFFUSE_TEST_VERBOSE=1: the figure for reports */
    if (getenv("DIFFUSE_TEST_VERBOSE") != NULL)
        fprintf(stderr, "gradient %s: max |analytic - numeric| / max |numeric| = %.2g\n", what,
                worst);
}

/* Central difference of loss(ctx) with respect to *value (restored). */
static double numeric_derivative(double *value, double (*loss)(void *), void *ctx)
{
    double saved = *value, h = 1e-6 * fmax(1.0, fabs(saved));
    *value = saved + h;
    double up = loss(ctx);
    *value = saved - h;
    double down = loss(ctx);
    *value = saved;
    return (up - down) / (2.0 * h);
}

/* numeric[i] = dloss/dvalues[i] for i < n. */
static double *numeric_gradient(double *values, size_t n, double (*loss)(void *), void *ctx)
{
    double *numeric = zero_doubles(n);
    for (size_t i = 0; i < n; i++)
        numeric[i] = numeric_derivative(&values[i], loss, ctx);
    return numeric;
}

/* The whole backward of a linear layer: both halves of linear.h. */
static void linear_backward(float *d_in, float *d_weight, float *d_bias, const float *d_out,
                            const float *in, const float *weight, size_t n, size_t in_dim,
                            size_t out_dim)
{
    nn_linear_backward_params(d_weight, d_bias, d_out, in, n, in_dim, out_dim);
    nn_linear_backward_input(d_in, d_out, weight, n, in_dim, out_dim);
}

/* ---- activations ------------------------------------------------------ */

START_TEST(activation_matches_reference)
{
    diffuse_activation kind = activations[_i];
    /* A grid over the useful range, both tails and odd length (tail loop). */
    enum { N = 4001 };
    float *x = zero_floats(N), *y = zero_floats(N), *dy = zero_floats(N);
    float *y_only = zero_floats(N);
    for (size_t i = 0; i < N; i++)
        x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    x[0] = -100.0f;
    x[1] = -1e4f;
    x[N - 1] = 100.0f;
    x[N - 2] = 1e4f;
    nn_activation_forward(kind, y, dy, x, N);
    nn_activation_forward(kind, y_only, NULL, x, N);
    for (size_t i = 0; i < N; i++) {
        double ref = nn_activation_reference(kind, x[i]);
        double dref = nn_activation_derivative_reference(kind, x[i]);
        ck_assert_msg(fabs(y[i] - ref) <= 1e-7 + 1e-6 * fabs(ref),
                      "phi(%g) = %.9g, reference %.9g", (double)x[i], (double)y[i], ref);
        ck_assert_msg(fabs(dy[i] - dref) <= 5e-7 + 1e-6 * fabs(dref),
                      "phi'(%g) = %.9g, reference %.9g", (double)x[i], (double)dy[i], dref);
        ck_assert_msg(isfinite(y[i]) && isfinite(dy[i]), "non-finite at %g", (double)x[i]);
    }
    /* The inference variant gives the same bits, and so does one element
     * at a time (the scalar tail) as the vectorised blocks. */
    ck_assert_int_eq(memcmp(y, y_only, N * sizeof *y), 0);
    for (size_t i = 0; i < N; i += 97) {
        float one, done;
        nn_activation_forward(kind, &one, &done, &x[i], 1);
        ck_assert_msg(one == y[i] && done == dy[i], "element %zu differs from its block", i);
    }
    free(x);
    free(y);
    free(dy);
    free(y_only);
}
END_TEST

/* One ulp of a float of magnitude |v| (the subnormal spacing below the
 * normal range). */
static double float_ulp(double v)
{
    if (fabs(v) < 0x1p-126)
        return 0x1p-149;
    int exponent;
    frexp(v, &exponent); /* |v| = m·2^exponent with ½ ≤ m < 1 */
    return ldexp(1.0, exponent - 24);
}

/* The float with these bits. */
static float float_from_bits(uint32_t bits)
{
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* The bounds stated in nn/activation.h, against the double reference, at
 * every 1999th float of either sign up to 100 (every binade, subnormals,
 * ±0, both sides of the clamp at |z| = 87; z = x for SiLU, z = 2u for
 * GELU):
 *   z ≥ −87:  |φ − ref| ≤ (4 + c)·ulp(ref),
 *             |φ' − ref'| ≤ (5 + c)·ulp(σ + |ref' − σ|)   (σ = ref/x),
 *             c = 3·|z| for GELU with |z| ≤ 87 (the rounding of z in
 *             float), else 0;
 *   z < −87:  |φ − ref| and |φ' − ref'| ≤ 1e-35.
 * The first violation is reported (one assertion, not a million). */
START_TEST(activation_sweep_within_ulp_bounds)
{
    diffuse_activation kind = activations[_i];
    const uint32_t stride = 1999, top = 0x42c80000u; /* 100.0f */
    size_t n = 2 * (top / stride + 1);
    float *x = zero_floats(n), *y = zero_floats(n), *dy = zero_floats(n);
    float *y_only = zero_floats(n);
    for (size_t i = 0; i < n / 2; i++) {
        x[2 * i] = float_from_bits((uint32_t)i * stride);
        x[2 * i + 1] = float_from_bits((uint32_t)i * stride | 0x80000000u);
    }
    nn_activation_forward(kind, y, dy, x, n);
    nn_activation_forward(kind, y_only, NULL, x, n);
    ck_assert_int_eq(memcmp(y, y_only, n * sizeof *y), 0);
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++) {
        double xi = x[i], ref = nn_activation_reference(kind, xi);
        double dref = nn_activation_derivative_reference(kind, xi);
        double z = kind == DIFFUSE_ACTIVATION_SILU
                       ? xi
                       : 2.0 * 0.7978845608028654 * (xi + 0.044715 * xi * xi * xi);
        double error = fabs(y[i] - ref), derror = fabs(dy[i] - dref);
        if (z < -87.0) {
            if (error > 1e-35 || derror > 1e-35)
                bad = i;
            continue;
        }
        double c = kind == DIFFUSE_ACTIVATION_GELU && z <= 87.0 ? 3.0 * fabs(z) : 0.0;
        double sigma = xi != 0.0 ? ref / xi : 0.5;
        if (error > (4.0 + c) * float_ulp(ref) ||
            derror > (5.0 + c) * float_ulp(sigma + fabs(dref - sigma)))
            bad = i;
    }
    ck_assert_msg(bad == n, "x = %.9g: phi = %.9g (reference %.9g), phi' = %.9g (reference %.9g)",
                  bad < n ? (double)x[bad] : 0.0, bad < n ? (double)y[bad] : 0.0,
                  bad < n ? nn_activation_reference(kind, x[bad]) : 0.0,
                  bad < n ? (double)dy[bad] : 0.0,
                  bad < n ? nn_activation_derivative_reference(kind, x[bad]) : 0.0);
    free(x);
    free(y);
    free(dy);
    free(y_only);
}
END_TEST

/* ±∞, ±FLT_MAX, NaNs (quiet, signalling, either sign), ±0 and the
 * smallest subnormals, in a vectorised block and one at a time (the scalar
 * tail): φ(+∞) = +∞ and φ'(+∞) = 1, φ(−∞) = 0 with a finite φ', NaN gives
 * NaN, φ(±0) = ±0 and φ'(0) = ½. */
START_TEST(activation_special_values)
{
    diffuse_activation kind = activations[_i];
    const float special[] = {
        INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 0.0f, -0.0f, FLT_TRUE_MIN, -FLT_TRUE_MIN,
        float_from_bits(0x7fc00000u), float_from_bits(0xffc00000u),  /* quiet NaNs */
        float_from_bits(0x7f800001u), float_from_bits(0xff812345u)}; /* signalling */
    enum { COUNT = sizeof special / sizeof special[0], N = 5 * COUNT + 7 };
    float x[N], y[N], dy[N];
    for (size_t i = 0; i < N; i++)
        x[i] = special[i % COUNT];
    nn_activation_forward(kind, y, dy, x, N);
    for (size_t i = 0; i < N; i++) {
        float one, done;
        nn_activation_forward(kind, &one, &done, &x[i], 1);
        ck_assert_msg(memcmp(&one, &y[i], sizeof one) == 0 &&
                          memcmp(&done, &dy[i], sizeof done) == 0,
                      "element %zu differs from its block", i);
        if (isnan(x[i])) {
            ck_assert_msg(isnan(y[i]) && isnan(dy[i]), "NaN in, %g and %g out", (double)y[i],
                          (double)dy[i]);
            continue;
        }
        ck_assert_msg(isfinite(dy[i]), "phi'(%g) = %g", (double)x[i], (double)dy[i]);
        if (x[i] >= FLT_MAX) { /* +∞, FLT_MAX: φ = x, φ' = 1 */
            ck_assert_msg(y[i] == x[i] && dy[i] == 1.0f, "phi(%g) = %g, phi' = %g", (double)x[i],
                          (double)y[i], (double)dy[i]);
        } else if (x[i] <= -FLT_MAX) { /* −∞, −FLT_MAX: φ = 0, φ' ≈ 0 */
            ck_assert_msg(y[i] == 0.0f && fabsf(dy[i]) <= 1e-35f, "phi(%g) = %g, phi' = %g",
                          (double)x[i], (double)y[i], (double)dy[i]);
        } else { /* ±0 and the subnormals: φ = x/2 rounded, φ' = ½ */
            ck_assert_msg(fabsf(y[i]) <= fabsf(x[i]) && !signbit(y[i]) == !signbit(x[i]) &&
                              dy[i] == 0.5f,
                          "phi(%g) = %g, phi' = %g", (double)x[i], (double)y[i], (double)dy[i]);
        }
    }
}
END_TEST

/* Recomputing φ and φ' in place (the backward passes) gives the bits the
 * forward pass gives, in full blocks and in the tail. */
START_TEST(activation_recompute_matches_forward)
{
    diffuse_activation kind = activations[_i];
    enum { N = 3 * 64 + 29 };
    float *x = random_floats(N, 13, -30.0f, 30.0f), y[N], dy[N], again[N];
    x[5] = INFINITY;
    x[77] = -0.0f;
    nn_activation_forward(kind, y, dy, x, N);
    nn_activation_recompute(kind, again, x, N);
    ck_assert_mem_eq(again, y, sizeof y);
    ck_assert_mem_eq(x, dy, sizeof dy);
    free(x);
}
END_TEST

typedef struct activation_case {
    diffuse_activation kind;
    size_t n;
    double *x, *r;
} activation_case;

static double activation_loss(void *ctx)
{
    const activation_case *c = ctx;
    double sum = 0.0;
    for (size_t i = 0; i < c->n; i++)
        sum += c->r[i] * nn_activation_reference(c->kind, c->x[i]);
    return sum;
}

START_TEST(activation_gradient_matches_finite_differences)
{
    enum { N = 200 };
    float *x = random_floats(N, 1, -6.0f, 6.0f), *r = random_floats(N, 2, -1.0f, 1.0f);
    float *y = zero_floats(N), *derivative = zero_floats(N), *grad = zero_floats(N);
    activation_case c = {activations[_i], N, diffuse_test_doubles(x, N),
                         diffuse_test_doubles(r, N)};
    double *numeric = numeric_gradient(c.x, N, activation_loss, &c);
    /* backward: dL/dx = r ⊙ φ'(x), from what forward kept */
    nn_activation_forward(c.kind, y, derivative, x, N);
    memcpy(grad, r, N * sizeof *grad);
    nn_activation_backward(grad, derivative, NULL, N);
    check_gradient(grad, numeric, N, "activation dx");
    /* the reference derivative agrees with the differences too */
    for (size_t i = 0; i < N; i++)
        ck_assert_close(c.r[i] * nn_activation_derivative_reference(c.kind, c.x[i]), numeric[i],
                        1e-7, 1e-8);
    /* with a skip term: grad = r ⊙ φ' + skip */
    memcpy(grad, r, N * sizeof *grad);
    nn_activation_backward(grad, derivative, r, N);
    for (size_t i = 0; i < N; i++)
        ck_assert_close(grad[i], numeric[i] + c.r[i], 1e-5, 1e-6);
    free(x);
    free(r);
    free(y);
    free(derivative);
    free(grad);
    free(c.x);
    free(c.r);
    free(numeric);
}
END_TEST

/* ---- linear ------------------------------------------------------------- */

typedef struct linear_case {
    size_t n, in_dim, out_dim;
    double *x, *w, *b, *r, *y;
} linear_case;

static double linear_loss(void *ctx)
{
    const linear_case *c = ctx;
    nn_linear_forward_reference(c->y, c->x, c->w, c->b, c->n, c->in_dim, c->out_dim);
    return dot(c->r, c->y, c->n * c->out_dim);
}

START_TEST(linear_forward_matches_reference)
{
    enum { N = 37, IN = 19, OUT = 70 };
    float *x = random_floats(N * IN, 3, -2.0f, 2.0f), *w = random_floats(OUT * IN, 4, -1.0f, 1.0f);
    float *b = random_floats(OUT, 5, -1.0f, 1.0f), *y = zero_floats(N * OUT);
    float *start = random_floats(N * OUT, 6, -1.0f, 1.0f);
    double *xd = diffuse_test_doubles(x, N * IN), *wd = diffuse_test_doubles(w, OUT * IN),
           *bd = diffuse_test_doubles(b, OUT);
    double *ref = zero_doubles(N * OUT);

    nn_linear_forward(y, x, w, b, N, IN, OUT, false);
    nn_linear_forward_reference(ref, xd, wd, bd, N, IN, OUT);
    check_close(y, ref, N * OUT, 1e-5, 1e-5, "y");

    nn_linear_forward(y, x, w, NULL, N, IN, OUT, false);
    nn_linear_forward_reference(ref, xd, wd, NULL, N, IN, OUT);
    check_close(y, ref, N * OUT, 1e-5, 1e-5, "y without bias");

    /* accumulate: y = start + x Wᵀ + b */
    memcpy(y, start, N * OUT * sizeof *y);
    nn_linear_forward(y, x, w, b, N, IN, OUT, true);
    nn_linear_forward_reference(ref, xd, wd, bd, N, IN, OUT);
    for (size_t i = 0; i < N * OUT; i++)
        ref[i] += start[i];
    check_close(y, ref, N * OUT, 1e-5, 1e-5, "accumulated y");
    free(x);
    free(w);
    free(b);
    free(y);
    free(start);
    free(xd);
    free(wd);
    free(bd);
    free(ref);
}
END_TEST

START_TEST(linear_backward_matches_reference_and_finite_differences)
{
    enum { N = 9, IN = 5, OUT = 7 };
    float *x = random_floats(N * IN, 7, -2.0f, 2.0f), *w = random_floats(OUT * IN, 8, -1.0f, 1.0f);
    float *b = random_floats(OUT, 9, -1.0f, 1.0f), *r = random_floats(N * OUT, 10, -1.0f, 1.0f);
    float *dx = zero_floats(N * IN), *dw = zero_floats(OUT * IN), *db = zero_floats(OUT);
    linear_case c = {N,
                     IN,
                     OUT,
                     diffuse_test_doubles(x, N * IN),
                     diffuse_test_doubles(w, OUT * IN),
                     diffuse_test_doubles(b, OUT),
                     diffuse_test_doubles(r, N * OUT),
                     zero_doubles(N * OUT)};
    /* dL/dY = r for L = Σ r ⊙ Y */
    linear_backward(dx, dw, db, r, x, w, N, IN, OUT);

    double *ref_dx = zero_doubles(N * IN), *ref_dw = zero_doubles(OUT * IN);
    double *ref_db = zero_doubles(OUT);
    nn_linear_backward_reference(ref_dx, ref_dw, ref_db, c.r, c.x, c.w, N, IN, OUT);
    check_close(dx, ref_dx, N * IN, 1e-5, 1e-6, "dx vs reference");
    check_close(dw, ref_dw, OUT * IN, 1e-5, 1e-6, "dW vs reference");
    check_close(db, ref_db, OUT, 1e-5, 1e-6, "db vs reference");

    double *num_dx = numeric_gradient(c.x, N * IN, linear_loss, &c);
    double *num_dw = numeric_gradient(c.w, OUT * IN, linear_loss, &c);
    double *num_db = numeric_gradient(c.b, OUT, linear_loss, &c);
    check_gradient(dx, num_dx, N * IN, "linear dx");
    check_gradient(dw, num_dw, OUT * IN, "linear dW");
    check_gradient(db, num_db, OUT, "linear db");

    /* backward accumulates into dW and db (and overwrites dx) */
    linear_backward(dx, dw, db, r, x, w, N, IN, OUT);
    for (size_t i = 0; i < OUT * IN; i++)
        ck_assert_close(dw[i], 2.0 * ref_dw[i], 1e-5, 1e-6);
    for (size_t i = 0; i < OUT; i++)
        ck_assert_close(db[i], 2.0 * ref_db[i], 1e-5, 1e-6);
    check_close(dx, ref_dx, N * IN, 1e-5, 1e-6, "dx after a second backward");
    free(x);
    free(w);
    free(b);
    free(r);
    free(dx);
    free(dw);
    free(db);
    free(c.x);
    free(c.w);
    free(c.b);
    free(c.r);
    free(c.y);
    free(ref_dx);
    free(ref_dw);
    free(ref_db);
    free(num_dx);
    free(num_dw);
    free(num_db);
}
END_TEST

/* ---- pre-activation blocks (hidden, residual, output) ------------------ */

typedef struct block_case {
    size_t n, in_dim, out_dim;
    diffuse_activation kind;
    bool residual;
    double *x, *w, *b, *r, *y;
} block_case;

static double block_loss(void *ctx)
{
    const block_case *c = ctx;
    nn_block_forward_reference(c->y, c->x, c->w, c->b, c->n, c->in_dim, c->out_dim, c->kind,
                               c->residual);
    return dot(c->r, c->y, c->n * c->out_dim);
}

/* _i: bit 0 = activation, bit 1 = residual (then square), else 6 → 4. */
static void run_block_case(int variant)
{
    diffuse_activation kind = activations[variant & 1];
    bool residual = (variant & 2) != 0;
    size_t n = 11, in_dim = 6, out_dim = residual ? 6 : 4;
    float *x = random_floats(n * in_dim, 11, -3.0f, 3.0f);
    float *w = random_floats(out_dim * in_dim, 12, -1.0f, 1.0f);
    float *b = random_floats(out_dim, 13, -1.0f, 1.0f);
    float *r = random_floats(n * out_dim, 14, -1.0f, 1.0f);
    float *y = zero_floats(n * out_dim), *act = zero_floats(n * in_dim);
    float *derivative = zero_floats(n * in_dim), *dx = zero_floats(n * in_dim);
    float *dw = zero_floats(out_dim * in_dim), *db = zero_floats(out_dim);
    block_case c = {n,
                    in_dim,
                    out_dim,
                    kind,
                    residual,
                    diffuse_test_doubles(x, n * in_dim),
                    diffuse_test_doubles(w, out_dim * in_dim),
                    diffuse_test_doubles(b, out_dim),
                    diffuse_test_doubles(r, n * out_dim),
                    zero_doubles(n * out_dim)};

    nn_block_forward(y, act, derivative, x, w, b, n, in_dim, out_dim, kind, residual);
    block_loss(&c);
    check_close(y, c.y, n * out_dim, 1e-5, 1e-5, "block y");
    if (residual) {
        /* in place gives the same result */
        float *inplace = malloc(n * in_dim * sizeof *inplace);
        memcpy(inplace, x, n * in_dim * sizeof *inplace);
        nn_block_forward(inplace, act, derivative, inplace, w, b, n, in_dim, out_dim, kind,
                         true);
        ck_assert_int_eq(memcmp(inplace, y, n * out_dim * sizeof *y), 0);
        free(inplace);
    }

    nn_linear_backward_params(dw, db, r, act, n, in_dim, out_dim);
    nn_block_backward_input(dx, r, derivative, w, n, in_dim, out_dim, residual);
    double *num_dx = numeric_gradient(c.x, n * in_dim, block_loss, &c);
    double *num_dw = numeric_gradient(c.w, out_dim * in_dim, block_loss, &c);
    double *num_db = numeric_gradient(c.b, out_dim, block_loss, &c);
    check_gradient(dx, num_dx, n * in_dim, "block dx");
    check_gradient(dw, num_dw, out_dim * in_dim, "block dW");
    check_gradient(db, num_db, out_dim, "block db");

    free(x);
    free(w);
    free(b);
    free(r);
    free(y);
    free(act);
    free(derivative);
    free(dx);
    free(dw);
    free(db);
    free(c.x);
    free(c.w);
    free(c.b);
    free(c.r);
    free(c.y);
    free(num_dx);
    free(num_dw);
    free(num_db);
}

START_TEST(block_forward_and_gradients)
{
    run_block_case(_i);
}
END_TEST

/* ---- time embedding and the time branch -------------------------------- */

START_TEST(time_embedding_matches_formula)
{
    enum { E = 16, N = 6 };
    nn_time_table table;
    ck_assert_int_eq(nn_time_table_init(NULL, &table, E, 10000.0), DIFFUSE_OK);
    /* t beyond the cache limit (2^22 / 16 rows) is computed directly */
    const int32_t t[N] = {0, 1, 999, 17, 300000, INT32_MAX};
    float out[N * E];
    ck_assert_int_eq(nn_time_table_lookup(NULL, &table, t, N, out), DIFFUSE_OK);
    ck_assert_uint_ge(table.row_count, 1000);
    ck_assert_uint_le(table.row_count * E, NN_TIME_TABLE_MAX_FLOATS);
    double ref[E];
    for (size_t i = 0; i < N; i++) {
        nn_time_embedding_reference(t[i], E, 10000.0, ref);
        check_close(out + i * E, ref, E, 0.0, 1e-6, "emb");
    }
    /* t = 0: cosines 1, sines 0; f_0 = 1: emb[0] = cos t, emb[E/2] = sin t;
     * f_k = 10000^(−k/8): emb[1] = cos(17·10000^(−1/8)) for t = 17. */
    for (size_t k = 0; k < E / 2; k++) {
        ck_assert_float_eq(out[k], 1.0f);
        ck_assert_float_eq(out[E / 2 + k], 0.0f);
    }
    ck_assert_close(out[2 * E + 0], cos(999.0), 0, 1e-6);
    ck_assert_close(out[2 * E + E / 2], sin(999.0), 0, 1e-6);
    ck_assert_close(out[3 * E + 1], cos(17.0 * pow(10000.0, -1.0 / 8.0)), 0, 1e-6);
    ck_assert_close(out[3 * E + E / 2 + 7], sin(17.0 * pow(10000.0, -7.0 / 8.0)), 0, 1e-6);
    nn_time_table_release(&table);
}
END_TEST

typedef struct time_case {
    size_t n;
    const int32_t *t;
    nn_time_shape shape;
    double max_period;
    double *w1, *b1, *w2, *b2, *bias, *r;
} time_case;

/* L = Σ_i r_i · (features(t_i) + bias), features in double. */
static double time_loss(void *ctx)
{
    const time_case *c = ctx;
    size_t embed = c->shape.embed_dim, width = c->shape.width;
    double *emb = zero_doubles(embed), *pre = zero_doubles(width), *out = zero_doubles(width);
    double sum = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        nn_time_embedding_reference(c->t[i], embed, c->max_period, emb);
        nn_linear_forward_reference(pre, emb, c->w1, c->b1, 1, embed, width);
        nn_block_forward_reference(out, pre, c->w2, c->b2, 1, width, width, c->shape.activation,
                                   false);
        for (size_t k = 0; k < width; k++)
            sum += c->r[i * width + k] * (out[k] + c->bias[k]);
    }
    free(emb);
    free(pre);
    free(out);
    return sum;
}

/* nn_time_grads over one plain buffer (the context); groups need no order. */
static float *open_gradient(void *buffer, size_t offset, size_t count)
{
    (void)count;
    return (float *)buffer + offset;
}

static void close_gradient(void *buffer)
{
    (void)buffer;
}

START_TEST(time_branch_forward_and_gradients)
{
    enum { N = 9, E = 6, H = 5 };
    /* repeated timesteps exercise the per-distinct-value path */
    static const int32_t t[N] = {5, 17, 5, 5, 999, 17, 0, 7000, 5};
    nn_time_shape shape = {E, H, activations[_i]};
    float *w1 = random_floats(H * E, 20, -0.8f, 0.8f), *b1 = random_floats(H, 21, -0.5f, 0.5f);
    float *w2 = random_floats(H * H, 22, -0.8f, 0.8f), *b2 = random_floats(H, 23, -0.5f, 0.5f);
    float *bias = random_floats(H, 24, -0.5f, 0.5f), *r = random_floats(N * H, 25, -1.0f, 1.0f);
    nn_time_table table;
    ck_assert_int_eq(nn_time_table_init(NULL, &table, E, 1000.0), DIFFUSE_OK);
    nn_time_pass pass;
    nn_workspace memory = {NULL, 0};
    nn_carver measure = {NULL, 0};
    nn_time_pass_carve(&measure, &pass, &shape, N);
    ck_assert_int_eq(nn_workspace_reserve(NULL, &memory, measure.used), DIFFUSE_OK);
    nn_carver assign = {memory.data, 0};
    nn_time_pass_carve(&assign, &pass, &shape, N);
    float *scratch = random_floats(N * H, 26, -9.0f, 9.0f);

    nn_time_weights weights = {w1, b1, w2, b2};
    float rows[N * H];
    ck_assert_int_eq(nn_time_mlp_forward(NULL, &shape, &table, &pass, &weights, t, N,
                                         scratch, bias, rows),
                     DIFFUSE_OK);
    ck_assert_uint_eq(pass.unique, 5);

    time_case c = {N,
                   t,
                   shape,
                   1000.0,
                   diffuse_test_doubles(w1, H * E),
                   diffuse_test_doubles(b1, H),
                   diffuse_test_doubles(w2, H * H),
                   diffuse_test_doubles(b2, H),
                   diffuse_test_doubles(bias, H),
                   diffuse_test_doubles(r, N * H)};
    /* forward: row i against the reference of features(t_i) + bias */
    for (size_t i = 0; i < N; i++) {
        double *saved = c.r;
        double one_hot[N * H];
        for (size_t k = 0; k < H; k++) {
            memset(one_hot, 0, sizeof one_hot);
            one_hot[i * H + k] = 1.0;
            c.r = one_hot;
            ck_assert_close(rows[i * H + k], time_loss(&c), 1e-5, 1e-5);
        }
        c.r = saved;
    }

    /* [dW1 | db1 | dW2 | db2], the layout of a network's gradient buffer */
    float *gradient = zero_floats(H * E + H + H * H + H);
    float *dw1 = gradient, *db1 = dw1 + H * E, *dw2 = db1 + H, *db2 = dw2 + H * H;
    nn_time_grads grads = {open_gradient, close_gradient, gradient, 0, H * E + H};
    float *d_rows = zero_floats(N * H); /* backward overwrites it */
    memcpy(d_rows, r, N * H * sizeof *d_rows);
    nn_time_mlp_backward(&shape, &pass, &weights, &grads, d_rows, scratch);
    double *num_w1 = numeric_gradient(c.w1, H * E, time_loss, &c);
    double *num_b1 = numeric_gradient(c.b1, H, time_loss, &c);
    double *num_w2 = numeric_gradient(c.w2, H * H, time_loss, &c);
    double *num_b2 = numeric_gradient(c.b2, H, time_loss, &c);
    check_gradient(dw1, num_w1, H * E, "time dW1");
    check_gradient(db1, num_b1, H, "time db1");
    check_gradient(dw2, num_w2, H * H, "time dW2");
    check_gradient(db2, num_b2, H, "time db2");

    nn_workspace_release(&memory);
    nn_time_table_release(&table);
    double *doubles[] = {c.w1, c.b1, c.w2, c.b2, c.bias, c.r, num_w1, num_b1, num_w2, num_b2};
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
        free(doubles[i]);
    float *floats[] = {w1, b1, w2, b2, bias, r, gradient, d_rows, scratch};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        free(floats[i]);
}
END_TEST

/* ---- convolution -------------------------------------------------------- */

/* C_in, C_out, H, W, k, stride: both kernels at both strides, odd and even
 * sizes (the last row/column of a stride-2 output reads padding or not),
 * and an image one pixel high (taps that read only padding). */
static const nn_conv_shape conv_cases[] = {
    {3, 4, 5, 6, 3, 1}, {3, 4, 6, 5, 3, 2}, {2, 5, 4, 4, 1, 1}, {4, 3, 5, 5, 1, 2},
    {2, 3, 1, 4, 3, 1},
};

typedef struct conv_case {
    const nn_conv_shape *shape;
    size_t n;
    double *x, *weight, *bias, *r, *out;
} conv_case;

static double conv_loss(void *ctx)
{
    const conv_case *c = ctx;
    nn_conv2d_forward_reference(c->out, c->x, c->weight, c->bias, c->n, c->shape);
    return dot(c->r, c->out, c->n * c->shape->out_channels * nn_conv_out_pixels(c->shape));
}

/* _i: conv_cases[_i]. The kernel against the reference, its backward
 * against finite differences (accumulating onto non-zero gradients), and
 * a second backward call giving the same input gradient. */
START_TEST(conv2d_forward_and_gradients)
{
    enum { N = 2 };
    const nn_conv_shape *shape = &conv_cases[_i];
    size_t in_size = N * shape->in_channels * shape->height * shape->width;
    size_t out_size = N * shape->out_channels * nn_conv_out_pixels(shape);
    size_t w_size = shape->out_channels * shape->in_channels * shape->kernel * shape->kernel;
    size_t b_size = shape->out_channels, cols = nn_conv_columns_floats(shape);
    float *x = random_floats(in_size, 70, -2.0f, 2.0f), *w = random_floats(w_size, 71, -1.0f, 1.0f);
    float *b = random_floats(b_size, 72, -1.0f, 1.0f),
          *r = random_floats(out_size, 73, -1.0f, 1.0f);
    float *dw = random_floats(w_size, 74, -1.0f, 1.0f),
          *db = random_floats(b_size, 75, -1.0f, 1.0f);
    float *out = zero_floats(out_size), *dx = zero_floats(in_size);
    float *columns = cols > 0 ? zero_floats(cols) : NULL;
    double *dw0 = diffuse_test_doubles(dw, w_size), *db0 = diffuse_test_doubles(db, b_size);
    conv_case c = {shape,
                   N,
                   diffuse_test_doubles(x, in_size),
                   diffuse_test_doubles(w, w_size),
                   diffuse_test_doubles(b, b_size),
                   diffuse_test_doubles(r, out_size),
                   zero_doubles(out_size)};

    nn_conv2d_forward(out, columns, x, w, b, N, shape, false);
    conv_loss(&c);
    check_close(out, c.out, out_size, 1e-5, 1e-5, "conv output");
    nn_conv2d_backward_params(dw, db, columns, r, x, N, shape);
    nn_conv2d_backward_input(dx, columns, r, w, N, shape);
    for (size_t i = 0; i < w_size; i++)
        dw[i] -= (float)dw0[i];
    for (size_t i = 0; i < b_size; i++)
        db[i] -= (float)db0[i];
    double *num_dx = numeric_gradient(c.x, in_size, conv_loss, &c);
    double *num_dw = numeric_gradient(c.weight, w_size, conv_loss, &c);
    double *num_db = numeric_gradient(c.bias, b_size, conv_loss, &c);
    check_gradient(dx, num_dx, in_size, "conv dx");
    check_gradient(dw, num_dw, w_size, "conv dW");
    check_gradient(db, num_db, b_size, "conv db");
    /* the input gradient is overwritten, not accumulated */
    float *again = zero_floats(in_size);
    nn_conv2d_backward_input(again, columns, r, w, N, shape);
    ck_assert_int_eq(memcmp(again, dx, in_size * sizeof *dx), 0);
    /* accumulate adds onto what the output held */
    nn_conv2d_forward(out, columns, x, w, NULL, N, shape, true);
    for (size_t i = 0; i < out_size; i++)
        c.out[i] = 2.0 * c.out[i] - c.bias[i / nn_conv_out_pixels(shape) % shape->out_channels];
    check_close(out, c.out, out_size, 1e-5, 1e-5, "accumulated conv output");
    free(x);
    free(w);
    free(b);
    free(r);
    free(dw);
    free(db);
    free(out);
    free(dx);
    free(columns);
    free(again);
    free(dw0);
    free(db0);
    free(num_dx);
    free(num_dw);
    free(num_db);
    free(c.x);
    free(c.weight);
    free(c.bias);
    free(c.r);
    free(c.out);
}
END_TEST

/* Sizes past the GEMM kernels' blocks, against the reference backward. */
START_TEST(conv2d_backward_matches_reference_at_block_sizes)
{
    enum { N = 3 };
    const nn_conv_shape shape = {24, 40, 11, 9, 3, (size_t)_i + 1};
    size_t in_size = N * shape.in_channels * shape.height * shape.width;
    size_t out_size = N * shape.out_channels * nn_conv_out_pixels(&shape);
    size_t w_size = shape.out_channels * shape.in_channels * 9, b_size = shape.out_channels;
    float *x = random_floats(in_size, 80, -2.0f, 2.0f), *w = random_floats(w_size, 81, -1.0f, 1.0f);
    float *g = random_floats(out_size, 82, -1.0f, 1.0f), *dx = zero_floats(in_size);
    float *dw = zero_floats(w_size), *db = zero_floats(b_size), *out = zero_floats(out_size);
    float *columns = zero_floats(nn_conv_columns_floats(&shape));
    double *xd = diffuse_test_doubles(x, in_size), *wd = diffuse_test_doubles(w, w_size),
           *gd = diffuse_test_doubles(g, out_size);
    double *ref_out = zero_doubles(out_size), *ref_dx = zero_doubles(in_size);
    double *ref_dw = zero_doubles(w_size), *ref_db = zero_doubles(b_size);
    nn_conv2d_forward(out, columns, x, w, NULL, N, &shape, false);
    nn_conv2d_backward_params(dw, db, columns, g, x, N, &shape);
    nn_conv2d_backward_input(dx, columns, g, w, N, &shape);
    nn_conv2d_forward_reference(ref_out, xd, wd, NULL, N, &shape);
    nn_conv2d_backward_reference(ref_dx, ref_dw, ref_db, gd, xd, wd, N, &shape);
    check_close(out, ref_out, out_size, 1e-5, 1e-4, "conv output");
    check_close(dx, ref_dx, in_size, 1e-5, 1e-4, "conv dx");
    check_close(dw, ref_dw, w_size, 1e-5, 1e-4, "conv dW");
    check_close(db, ref_db, b_size, 1e-5, 1e-4, "conv db");
    free(x);
    free(w);
    free(g);
    free(dx);
    free(dw);
    free(db);
    free(out);
    free(columns);
    free(xd);
    free(wd);
    free(gd);
    free(ref_out);
    free(ref_dx);
    free(ref_dw);
    free(ref_db);
}
END_TEST

/* ---- group normalisation, up-sampling, dropout -------------------------- */

/* C, P, G, ε: one group, several, one channel per group (InstanceNorm). */
static const nn_norm_shape norm_cases[] = {
    {4, 6, 1, 1e-5f}, {6, 5, 3, 1e-5f}, {3, 4, 3, 1e-2f},
};

typedef struct norm_case {
    const nn_norm_shape *shape;
    size_t n;
    double *x, *gain, *bias, *r, *out;
} norm_case;

static double norm_loss(void *ctx)
{
    const norm_case *c = ctx;
    nn_group_norm_forward_reference(c->out, c->x, c->gain, c->bias, c->n, c->shape);
    return dot(c->r, c->out, c->n * c->shape->channels * c->shape->pixels);
}

/* _i: norm_cases[_i]. Forward against the reference (also in place),
 * backward (also in place, accumulating dγ, dβ) against finite
 * differences. */
START_TEST(group_norm_forward_and_gradients)
{
    enum { N = 2 };
    const nn_norm_shape *shape = &norm_cases[_i];
    size_t size = N * shape->channels * shape->pixels, c_size = shape->channels;
    /* an offset and scale far from 0 and 1, which the normalisation removes */
    float *x = random_floats(size, 90, 3.0f, 7.0f), *gain = random_floats(c_size, 91, 0.5f, 1.5f);
    float *bias = random_floats(c_size, 92, -1.0f, 1.0f), *r = random_floats(size, 93, -1.0f, 1.0f);
    float *dgain = zero_floats(c_size), *dbias = zero_floats(c_size);
    float *out = zero_floats(size), *dx = zero_floats(size), *stats = zero_floats(2 * N * 3);
    float *inplace = zero_floats(size);
    norm_case c = {shape,
                   N,
                   diffuse_test_doubles(x, size),
                   diffuse_test_doubles(gain, c_size),
                   diffuse_test_doubles(bias, c_size),
                   diffuse_test_doubles(r, size),
                   zero_doubles(size)};
    nn_group_norm_forward(out, stats, x, gain, bias, N, shape);
    norm_loss(&c);
    check_close(out, c.out, size, 1e-5, 1e-5, "group norm output");
    memcpy(inplace, x, size * sizeof *x);
    nn_group_norm_forward(inplace, stats, inplace, gain, bias, N, shape);
    ck_assert_int_eq(memcmp(inplace, out, size * sizeof *out), 0);
    /* the output again from the kept statistics (a backward's recomputation) */
    memset(inplace, 0, size * sizeof *inplace);
    nn_group_norm_apply(inplace, stats, x, gain, bias, N, shape);
    ck_assert_int_eq(memcmp(inplace, out, size * sizeof *out), 0);
    nn_group_norm_backward(dx, dgain, dbias, r, x, gain, stats, N, shape);
    double *num_dx = numeric_gradient(c.x, size, norm_loss, &c);
    double *num_dgain = numeric_gradient(c.gain, c_size, norm_loss, &c);
    double *num_dbias = numeric_gradient(c.bias, c_size, norm_loss, &c);
    check_gradient(dx, num_dx, size, "group norm dx");
    check_gradient(dgain, num_dgain, c_size, "group norm dgain");
    check_gradient(dbias, num_dbias, c_size, "group norm dbias");
    /* in place over the output gradient, accumulating the parameters' */
    memcpy(inplace, r, size * sizeof *r);
    nn_group_norm_backward(inplace, dgain, dbias, inplace, x, gain, stats, N, shape);
    ck_assert_int_eq(memcmp(inplace, dx, size * sizeof *dx), 0);
    for (size_t k = 0; k < c_size; k++)
        ck_assert_close(dgain[k], 2.0 * num_dgain[k], 1e-4, 1e-5);
    free(x);
    free(gain);
    free(bias);
    free(r);
    free(dgain);
    free(dbias);
    free(out);
    free(dx);
    free(stats);
    free(inplace);
    free(num_dx);
    free(num_dgain);
    free(num_dbias);
    free(c.x);
    free(c.gain);
    free(c.bias);
    free(c.r);
    free(c.out);
}
END_TEST

/* Up-sampling against the reference; its backward is the adjoint:
 * ⟨up(x), g⟩ = ⟨x, up_backward(g)⟩ exactly enough for sums of 4. */
START_TEST(upsample_forward_and_adjoint)
{
    enum { PLANES = 3, H = 3, W = 5, SIZE = PLANES * H * W };
    float *x = random_floats(SIZE, 100, -2.0f, 2.0f),
          *g = random_floats(4 * SIZE, 101, -1.0f, 1.0f);
    float *out = zero_floats(4 * SIZE), *dx = zero_floats(SIZE);
    double *xd = diffuse_test_doubles(x, SIZE), *ref = zero_doubles(4 * SIZE);
    nn_upsample2_forward(out, x, PLANES, H, W);
    nn_upsample2_forward_reference(ref, xd, PLANES, H, W);
    check_close(out, ref, 4 * SIZE, 0.0, 0.0, "up-sampled");
    nn_upsample2_backward(dx, g, PLANES, H, W);
    double *gd = diffuse_test_doubles(g, 4 * SIZE), *dxd = diffuse_test_doubles(dx, SIZE);
    ck_assert_double_eq_tol(dot(ref, gd, 4 * SIZE), dot(xd, dxd, SIZE), 1e-5);
    free(x);
    free(g);
    free(out);
    free(dx);
    free(xd);
    free(ref);
    free(gd);
    free(dxd);
}
END_TEST

/* Dropout keeps about 1 − q of the values, scaled by 1/(1 − q); the same
 * keys give the same mask (so backward, applied to dL/dy, zeroes the same
 * entries); other keys another; q = 0 changes nothing. */
START_TEST(dropout_masks_by_key)
{
    enum { N = 3, DIM = 1000 };
    const double rate = 0.3;
    const uint64_t keys[N] = {5, 6, 5};
    float *x = zero_floats(N * DIM), *g = zero_floats(N * DIM);
    for (size_t i = 0; i < N * DIM; i++)
        x[i] = g[i] = 1.0f + (float)(i % 7);
    nn_dropout_apply(x, N, DIM, rate, 11, keys);
    nn_dropout_apply(g, N, DIM, rate, 11, keys);
    ck_assert_int_eq(memcmp(x, g, sizeof(float) * N * DIM), 0);
    size_t kept = 0, same = 0, repeated = 0;
    for (size_t i = 0; i < N * DIM; i++) {
        float original = 1.0f + (float)(i % 7);
        ck_assert(x[i] == 0.0f || x[i] == original * (float)(1.0 / (1.0 - rate)));
        kept += x[i] != 0.0f;
    }
    for (size_t j = 0; j < DIM; j++) {
        same += (x[j] == 0.0f) == (x[DIM + j] == 0.0f);
        repeated += (x[j] == 0.0f) == (x[2 * DIM + j] == 0.0f);
    }
    /* 3000 Bernoulli(0.7) draws: mean 2100, sd 25 */
    ck_assert_msg(kept > 2000 && kept < 2200, "kept %zu of %d", kept, N * DIM);
    ck_assert_uint_eq(repeated, DIM); /* key 5 twice */
    ck_assert_msg(same < 800, "keys 5 and 6 agree on %zu of %d", same, DIM);
    memcpy(g, x, sizeof(float) * N * DIM);
    nn_dropout_apply(g, N, DIM, 0.0, 11, keys);
    ck_assert_int_eq(memcmp(x, g, sizeof(float) * N * DIM), 0);
    free(x);
    free(g);
}
END_TEST

/* ---- attention ---------------------------------------------------------- */

typedef struct attention_case {
    const nn_attention_shape *shape;
    size_t n;
    double *qkv, *r, *out;
} attention_case;

static double attention_loss(void *ctx)
{
    const attention_case *c = ctx;
    nn_attention_forward_reference(c->out, c->qkv, c->n, c->shape);
    return dot(c->r, c->out, c->n * c->shape->channels * c->shape->pixels);
}

/* _i: one head or two (C = 4, P = 6). Forward (keeping the weights or
 * not) against the reference; backward against finite differences. */
START_TEST(attention_forward_and_gradients)
{
    enum { N = 2, C = 4, P = 6 };
    const nn_attention_shape shape = {C, P, (size_t)_i + 1};
    size_t in_size = N * 3 * C * P, out_size = N * C * P;
    float *qkv = random_floats(in_size, 110, -2.0f, 2.0f),
          *r = random_floats(out_size, 111, -1.0f, 1.0f);
    float *out = zero_floats(out_size), *again = zero_floats(out_size),
          *d_qkv = zero_floats(in_size);
    float *weights = zero_floats(nn_attention_weights_floats(&shape, N)),
          *scratch = zero_floats(P * P);
    attention_case c = {&shape, N, diffuse_test_doubles(qkv, in_size),
                        diffuse_test_doubles(r, out_size), zero_doubles(out_size)};
    nn_attention_forward(out, weights, qkv, N, &shape, true);
    attention_loss(&c);
    check_close(out, c.out, out_size, 1e-5, 1e-6, "attention output");
    nn_attention_forward(again, scratch, qkv, N, &shape, false);
    ck_assert_int_eq(memcmp(again, out, out_size * sizeof *out), 0);
    nn_attention_backward(d_qkv, scratch, r, qkv, weights, N, &shape);
    double *numeric = numeric_gradient(c.qkv, in_size, attention_loss, &c);
    check_gradient(d_qkv, numeric, in_size, "attention d_qkv");
    free(qkv);
    free(r);
    free(out);
    free(again);
    free(d_qkv);
    free(weights);
    free(scratch);
    free(numeric);
    free(c.qkv);
    free(c.r);
    free(c.out);
}
END_TEST

/* ---- the layer list ------------------------------------------------------ */

/* A small network as data: a time branch, an input layer with the time
 * features added, a residual block and an output layer. */
static void small_list(nn_layer_list *list)
{
    ck_assert_int_eq(nn_layers_create(NULL, list, 5), DIFFUSE_OK);
    nn_layers_add(list, NN_LAYER_LINEAR, "time.0", 4, 6, NN_FROM_TIME);
    nn_layers_add(list, NN_LAYER_DENSE, "time.1", 6, 6, 0);
    nn_layers_add(list, NN_LAYER_LINEAR, "in", 3, 6, NN_FROM_DATA)->add = 1;
    nn_layers_add(list, NN_LAYER_DENSE, "block", 6, 6, 2)->residual = true;
    nn_layers_add(list, NN_LAYER_DENSE, "out", 6, 3, 3);
}

START_TEST(layer_list_derives_layout_tensors_and_sizes)
{
    nn_layer_list list;
    small_list(&list);
    ck_assert_int_eq(nn_layers_finish(NULL, &list), DIFFUSE_OK);
    /* tensors packed in list order, weight [out, in] then bias [out] */
    ck_assert_uint_eq(list.tensor_count, 10);
    ck_assert_uint_eq(list.param_count, (24 + 6) + (36 + 6) + (18 + 6) + (36 + 6) + (18 + 3));
    model_tensor *tensors;
    ck_assert_int_eq(nn_layers_describe(NULL, &list, &tensors), DIFFUSE_OK);
    size_t offset = 0;
    for (size_t k = 0; k < list.tensor_count; k++) {
        const model_tensor *tensor = &tensors[k];
        const nn_layer *layer = &list.layers[k / 2];
        ck_assert_uint_eq(tensor->offset, offset);
        ck_assert_uint_eq(tensor->offset, k % 2 == 0 ? layer->weight : layer->bias);
        ck_assert_uint_eq(tensor->rank, k % 2 == 0 ? 2 : 1);
        ck_assert_uint_eq(tensor->shape[0], layer->out);
        ck_assert_uint_eq(tensor->shape[1], k % 2 == 0 ? layer->in : 1);
        offset += tensor->shape[0] * tensor->shape[1];
    }
    ck_assert_str_eq(tensors[6].name, "block.weight");
    ck_assert_str_eq(tensors[9].name, "out.bias");
    free(tensors);
    /* the time branch depends on t alone; the rest runs per row */
    ck_assert(list.layers[0].per_timestep && list.layers[1].per_timestep);
    ck_assert(!list.layers[2].per_timestep && !list.layers[4].per_timestep);
    /* training keeps the inputs of block and out (6 + 6 per row) */
    ck_assert_uint_eq(nn_layers_kept_floats(&list), 12);
    ck_assert_uint_eq(nn_layers_widest_input(&list), 6);
    /* every tensor of a layer within ±1/√in, and parameter i from Philox value i */
    float *params = zero_floats(list.param_count), *uniform = zero_floats(list.param_count);
    nn_layers_init_params(&list, params, 99);
    philox_uniform(99, 0, 0, uniform, list.param_count);
    for (size_t k = 0; k < list.count; k++) {
        const nn_layer *layer = &list.layers[k];
        double bound = 1.0 / sqrt((double)layer->in);
        size_t end = k + 1 < list.count ? list.layers[k + 1].weight : list.param_count;
        for (size_t i = layer->weight; i < end; i++)
            ck_assert_float_eq(params[i], (float)(bound * (2.0 * uniform[i] - 1.0)));
    }
    free(params);
    free(uniform);
    nn_layers_release(&list);
}
END_TEST

/* _i: which inconsistency the description has. */
START_TEST(layer_list_rejects_inconsistent_descriptions)
{
    static const char *const problems[] = {"does not come before", "another width",
                                           "not an earlier one", "skip connection",
                                           "no features"};
    nn_layer_list list;
    small_list(&list);
    nn_layer *block = &list.layers[3], *out = &list.layers[4];
    switch (_i) {
    case 0:
        block->input = 3; /* itself */
        break;
    case 1:
        out->in = 5;
        break;
    case 2:
        list.layers[2].add = 4; /* a later layer */
        break;
    case 3:
        out->residual = true; /* 6 → 3 */
        break;
    default:
        block->out = 0;
        break;
    }
    diffuse_error error = {0};
    ck_assert_int_eq(nn_layers_finish(&error, &list), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(error.message, problems[_i]) != NULL, "%s", error.message);
    nn_layers_release(&list);
}
END_TEST

/* ---- the whole MLP ------------------------------------------------------ */

/* A small MLP: d = 3, H = 12, L = 2, E = 8; variant bit 0 = GELU, bit 1 =
 * no residual. */
static diffuse_model *small_mlp(int variant)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 12), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 2), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 8), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_ACTIVATION, variant & 1),
                     0);
    ck_assert_int_eq(
        diffuse_model_config_set_int(config, DIFFUSE_MODEL_RESIDUAL, (variant & 2) ? 0 : 1), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_SEED, 7 + variant), 0);
    ck_assert_int_eq(diffuse_model_config_set_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD, 500.0),
                     0);
    /* variant 4: 3 classes (a label embedding of 4 rows with the null one) */
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_CLASSES, variant == 4 ? 3 : 0),
                     0);
    diffuse_model *m;
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

typedef struct mlp_case {
    nn_mlp_shape shape;
    size_t n;
    const int32_t *t, *labels;
    double *params, *x, *r, *out;
} mlp_case;

static double mlp_loss(void *ctx)
{
    const mlp_case *c = ctx;
    ck_assert_int_eq(nn_mlp_forward_reference(&c->shape, c->params, c->x, c->t, c->labels, c->n,
                                              c->out),
                     DIFFUSE_OK);
    return dot(c->r, c->out, c->n * c->shape.dim);
}

START_TEST(mlp_forward_and_gradients)
{
    enum { N = 7, D = 3 };
    static const int32_t t[N] = {0, 3, 999, 3, 42, 250, 3};
    /* every class and the null row 3 (a dropped label), one class twice */
    static const int32_t classes[N] = {2, 0, 3, 1, 2, 3, 0};
    diffuse_model *m = small_mlp(_i);
    const int32_t *labels = _i == 4 ? classes : NULL;
    mlp_case c = {.n = N, .t = t, .labels = labels};
    nn_mlp_shape_from_config(m->config, &c.shape);
    size_t count = m->param_count;
    float *x = random_floats(N * D, 30, -2.0f, 2.0f), *r = random_floats(N * D, 31, -1.0f, 1.0f);
    float *out = zero_floats(N * D), *predicted = zero_floats(N * D), *dx = zero_floats(N * D);
    c.params = diffuse_test_doubles(m->params, count);
    c.x = diffuse_test_doubles(x, N * D);
    c.r = diffuse_test_doubles(r, N * D);
    c.out = zero_doubles(N * D);

    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, labels, out)), DIFFUSE_OK);
    mlp_loss(&c);
    check_close(out, c.out, N * D, 1e-5, 1e-5, "mlp output");
    /* prediction computes the same function, bit for bit */
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, labels, predicted)),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, predicted, sizeof(float) * N * D), 0);

    /* the prediction reused the training activations' memory */
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, labels, out)), DIFFUSE_OK);
    model_zero_grads(m);
    ck_assert_int_eq(nn_mlp_backward(m, r, N, dx), DIFFUSE_OK);
    double *num_dx = numeric_gradient(c.x, N * D, mlp_loss, &c);
    check_gradient(dx, num_dx, N * D, "mlp dx");
    /* every parameter, tensor by tensor */
    for (size_t k = 0; k < m->tensor_count; k++) {
        const model_tensor *tensor = &m->tensors[k];
        size_t size = tensor->shape[0] * tensor->shape[1];
        double *numeric = numeric_gradient(c.params + tensor->offset, size, mlp_loss, &c);
        check_gradient(m->grads + tensor->offset, numeric, size, tensor->name);
        free(numeric);
    }
    free(num_dx);
    free(x);
    free(r);
    free(out);
    free(predicted);
    free(dx);
    free(c.params);
    free(c.x);
    free(c.r);
    free(c.out);
    diffuse_model_free(m);
}
END_TEST

START_TEST(mlp_backward_accumulates)
{
    enum { N = 33, D = 3 };
    diffuse_model *m = small_mlp(0);
    int32_t t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = (int32_t)(i * 37 % 100);
    float *x = random_floats(N * D, 40, -2.0f, 2.0f), *r = random_floats(N * D, 41, -1.0f, 1.0f);
    float *out = zero_floats(N * D), *once = zero_floats(m->param_count);

    model_zero_grads(m);
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->backward(m, r, N), DIFFUSE_OK);
    memcpy(once, m->grads, m->param_count * sizeof *once);
    size_t nonzero = 0;
    for (size_t i = 0; i < m->param_count; i++)
        nonzero += once[i] != 0.0f;
    ck_assert_uint_eq(nonzero, m->param_count);
    /* a second forward + backward over the same batch doubles every entry */
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->backward(m, r, N), DIFFUSE_OK);
    for (size_t i = 0; i < m->param_count; i++)
        ck_assert_close(m->grads[i], 2.0 * once[i], 1e-5, 1e-7);
    /* backward consumes what forward kept: a second one needs a new forward */
    ck_assert_int_eq(m->ops->backward(m, r, N), DIFFUSE_ERROR_STATE);
    /* zeroing restores a single forward + backward exactly */
    model_zero_grads(m);
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->backward(m, r, N), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(m->grads, once, m->param_count * sizeof *once), 0);
    /* backward must follow a forward over the same rows */
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->backward(m, r, N - 1), DIFFUSE_ERROR_STATE);
    /* a prediction in between overwrites the forward's activations */
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(m->ops->backward(m, r, N), DIFFUSE_ERROR_STATE);
    free(x);
    free(r);
    free(out);
    free(once);
    diffuse_model_free(m);
}
END_TEST

START_TEST(mlp_prediction_in_chunks_matches_reference)
{
    /* more rows than one prediction chunk, and one shared timestep */
    enum { N = NN_MLP_PREDICT_ROWS + 77, D = 3 };
    diffuse_model *m = small_mlp(1);
    int32_t *t = malloc(N * sizeof *t);
    for (size_t i = 0; i < N; i++)
        t[i] = (int32_t)(i % 5 == 0 ? 12 : 600);
    float *x = random_floats(N * D, 50, -3.0f, 3.0f), *out = zero_floats(N * D);
    float *again = zero_floats(N * D);
    mlp_case c = {.n = N, .t = t};
    nn_mlp_shape_from_config(m->config, &c.shape);
    c.params = diffuse_test_doubles(m->params, m->param_count);
    c.x = diffuse_test_doubles(x, N * D);
    c.out = zero_doubles(N * D);
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    ck_assert_int_eq(nn_mlp_forward_reference(&c.shape, c.params, c.x, t, NULL, N, c.out), DIFFUSE_OK);
    check_close(out, c.out, N * D, 1e-5, 1e-5, "predicted");
    /* deterministic */
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, NULL, again)), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, again, sizeof(float) * N * D), 0);
    free(t);
    free(x);
    free(out);
    free(again);
    free(c.params);
    free(c.x);
    free(c.out);
    diffuse_model_free(m);
}
END_TEST

/* Sizes that exercise the vectorised blocks and the tails of every kernel
 * (the gradient checks above use small layers). */
START_TEST(linear_backward_matches_reference_at_block_sizes)
{
    enum { N = 33, IN = 67, OUT = 130 };
    float *x = random_floats(N * IN, 15, -2.0f, 2.0f);
    float *w = random_floats(OUT * IN, 16, -1.0f, 1.0f);
    float *g = random_floats(N * OUT, 17, -1.0f, 1.0f), *dx = zero_floats(N * IN);
    float *dw = random_floats(OUT * IN, 18, -1.0f, 1.0f), *db = random_floats(OUT, 19, -1.0f, 1.0f);
    double *ref_dx = zero_doubles(N * IN), *ref_dw = diffuse_test_doubles(dw, OUT * IN);
    double *ref_db = diffuse_test_doubles(db, OUT), *xd = diffuse_test_doubles(x, N * IN),
           *wd = diffuse_test_doubles(w, OUT * IN);
    double *gd = diffuse_test_doubles(g, N * OUT);
    /* accumulating onto non-zero gradients */
    linear_backward(dx, dw, db, g, x, w, N, IN, OUT);
    nn_linear_backward_reference(ref_dx, ref_dw, ref_db, gd, xd, wd, N, IN, OUT);
    check_close(dx, ref_dx, N * IN, 1e-5, 1e-5, "dx");
    check_close(dw, ref_dw, OUT * IN, 1e-5, 1e-5, "dW");
    check_close(db, ref_db, OUT, 1e-5, 1e-5, "db");
    free(x);
    free(w);
    free(g);
    free(dx);
    free(dw);
    free(db);
    free(ref_dx);
    free(ref_dw);
    free(ref_db);
    free(xd);
    free(wd);
    free(gd);
}
END_TEST

/* ---- bit compatibility -------------------------------------------------- */

/* FNV-1a (64 bit) over the bytes of n floats, chained from `hash`. */
static uint64_t fnv1a_floats(uint64_t hash, const float *x, size_t n)
{
    const unsigned char *bytes = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++)
        hash = (hash ^ bytes[i]) * UINT64_C(0x100000001b3);
    return hash;
}

#define FNV1A_OFFSET UINT64_C(0xcbf29ce484222325)

/* Configurations of the compatibility digests: d, H, L, E, activation,
 * residual, seed (L = 0: no hidden block). */
static const int64_t digest_configs[][7] = {
    {2, 128, 3, 64, DIFFUSE_ACTIVATION_SILU, 1, 0},
    {3, 12, 2, 8, DIFFUSE_ACTIVATION_GELU, 1, 8},
    {5, 40, 0, 6, DIFFUSE_ACTIVATION_SILU, 0, 123456789},
    {4, 33, 4, 16, DIFFUSE_ACTIVATION_GELU, 0, 77},
};

/* Digests of the initial parameters, a prediction over 300 rows (two
 * chunks) and the parameters after 50 steps of plain gradient descent on
 * the loss ½|f − target|² through forward/backward, recorded on the code
 * before the network became a layer list (0.1): every bit of
 * initialisation, prediction and training must stay the same. The
 * initialisation does not depend on the machine; the other two depend on
 * OpenBLAS's sgemm kernels, which it picks per CPU, so they are compared
 * only under the kernel they were recorded with. */
#define DIGEST_OPENBLAS_CORE "SkylakeX"
static const uint64_t digest_expected[][3] = {
    {UINT64_C(0x8d1150bc481443d3), UINT64_C(0xc56334bd50dd35a1), UINT64_C(0x67ce59e9bc94c8a5)},
    {UINT64_C(0x9cc61e93780fb526), UINT64_C(0xd72618e7d15ce6fb), UINT64_C(0xe593d29efaa4f8ca)},
    {UINT64_C(0x9bbe680657de74a2), UINT64_C(0xc7314dbc1c408ebe), UINT64_C(0xb43b0a36024733aa)},
    {UINT64_C(0x42df88d992a79887), UINT64_C(0xce002d3f9ee96b82), UINT64_C(0x8483229a628d1148)},
};

static diffuse_model *digest_model(const int64_t *c)
{
    static const diffuse_model_option options[] = {
        DIFFUSE_MODEL_HIDDEN_WIDTH, DIFFUSE_MODEL_HIDDEN_LAYERS, DIFFUSE_MODEL_TIME_EMBED_DIM,
        DIFFUSE_MODEL_ACTIVATION, DIFFUSE_MODEL_RESIDUAL, DIFFUSE_MODEL_SEED};
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, (size_t)c[0]),
                     DIFFUSE_OK);
    for (size_t k = 0; k < 6; k++)
        ck_assert_int_eq(diffuse_model_config_set_int(config, options[k], c[k + 1]), DIFFUSE_OK);
    diffuse_model *m;
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

START_TEST(mlp_bits_match_0_1)
{
    enum { N = 300, BATCH = 48, STEPS = 50 };
    const int64_t *c = digest_configs[_i];
    size_t d = (size_t)c[0];
    diffuse_model *m = digest_model(c);
    uint64_t digest[3];
    digest[0] = fnv1a_floats(FNV1A_OFFSET, m->params, m->param_count);
    int32_t t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = (int32_t)(i * 7919 % 1000);
    float *x = random_floats(N * d, 60, -2.0f, 2.0f), *out = zero_floats(N * d);
    float *target = random_floats(N * d, 61, -1.0f, 1.0f);
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, NULL, out)), DIFFUSE_OK);
    digest[1] = fnv1a_floats(FNV1A_OFFSET, out, N * d);
    for (size_t step = 0; step < STEPS; step++) {
        size_t first = step * BATCH % (N - BATCH);
        model_zero_grads(m);
        const diffuse_model_call *call = &MODEL_CALL(BATCH, x + first * d, t + first, NULL, out);
        ck_assert_int_eq(m->ops->forward(m, call), DIFFUSE_OK);
        /* dL/df = f − target, for L = ½|f − target|² */
        for (size_t k = 0; k < BATCH * d; k++)
            out[k] -= target[first * d + k];
        ck_assert_int_eq(m->ops->backward(m, out, BATCH), DIFFUSE_OK);
        for (size_t p = 0; p < m->param_count; p++)
            m->params[p] -= 1e-3f * m->grads[p];
    }
    digest[2] = fnv1a_floats(FNV1A_OFFSET, m->params, m->param_count);
    size_t compared = strcmp(openblas_get_corename(), DIGEST_OPENBLAS_CORE) == 0 ? 3 : 1;
    ck_assert_msg(memcmp(digest, digest_expected[_i], compared * sizeof *digest) == 0,
                  "config %d digests (init, predict, trained): {0x%016llx, 0x%016llx, 0x%016llx}",
                  _i, (unsigned long long)digest[0], (unsigned long long)digest[1],
                  (unsigned long long)digest[2]);
    free(x);
    free(out);
    free(target);
    diffuse_model_free(m);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *suite = suite_create("layers");
    TCase *kernels = tcase_create("kernels");
    tcase_add_loop_test(kernels, activation_matches_reference, 0, 2);
    tcase_add_loop_test(kernels, activation_sweep_within_ulp_bounds, 0, 2);
    tcase_add_loop_test(kernels, activation_special_values, 0, 2);
    tcase_add_loop_test(kernels, activation_recompute_matches_forward, 0, 2);
    tcase_add_loop_test(kernels, activation_gradient_matches_finite_differences, 0, 2);
    tcase_add_test(kernels, linear_forward_matches_reference);
    tcase_add_test(kernels, linear_backward_matches_reference_and_finite_differences);
    tcase_add_test(kernels, linear_backward_matches_reference_at_block_sizes);
    tcase_add_loop_test(kernels, block_forward_and_gradients, 0, 4);
    tcase_add_test(kernels, time_embedding_matches_formula);
    tcase_add_loop_test(kernels, time_branch_forward_and_gradients, 0, 2);
    tcase_add_loop_test(kernels, conv2d_forward_and_gradients, 0, 5);
    tcase_add_loop_test(kernels, conv2d_backward_matches_reference_at_block_sizes, 0, 2);
    tcase_add_loop_test(kernels, group_norm_forward_and_gradients, 0, 3);
    tcase_add_test(kernels, upsample_forward_and_adjoint);
    tcase_add_test(kernels, dropout_masks_by_key);
    tcase_add_loop_test(kernels, attention_forward_and_gradients, 0, 2);
    suite_add_tcase(suite, kernels);
    TCase *network = tcase_create("network");
    tcase_add_test(network, layer_list_derives_layout_tensors_and_sizes);
    tcase_add_loop_test(network, layer_list_rejects_inconsistent_descriptions, 0, 5);
    tcase_add_loop_test(network, mlp_forward_and_gradients, 0, 5);
    tcase_add_test(network, mlp_backward_accumulates);
    tcase_add_test(network, mlp_prediction_in_chunks_matches_reference);
    tcase_add_loop_test(network, mlp_bits_match_0_1, 0, 4);
    suite_add_tcase(suite, network);
    return suite;
}

int main(void)
{
    return diffuse_test_run(layers_suite());
}
