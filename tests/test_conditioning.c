/* Conditional generation: class labels through the trainer and the sampler,
 * classifier-free guidance (with rescale) and classifier guidance, and
 * every way to get them wrong.
 *
 * The guidance formulas are checked against tests/reference/
 * guidance_reference.py (double precision, standard library). A guided run
 * is checked against a callback model that wraps the same network and
 * applies the guidance itself (two plain predictions, combined here in
 * double): the two must sample the same points for every method and
 * prediction type, which shows the guidance happens once, before the
 * method, with no per-method code. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prediction.h"
#include "model/model.h"
#include "reference/guidance_reference.h"
#include "test_support.h"

enum { CLASSES = 3, DIM = 2, T = 100 };

static diffuse_model *mlp(size_t classes, diffuse_prediction prediction)
{
    diffuse_model_config *config = NULL;
    diffuse_model *m = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 1), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 8), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_CLASSES, (int64_t)classes),
                     0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_PREDICTION, prediction), 0);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

static diffuse_schedule *schedule(void)
{
    return diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0);
}

/* ---- The formulas ---------------------------------------------------------- */

START_TEST(guidance_matches_the_reference)
{
    enum { VALUES = GUIDE_REF_N * GUIDE_REF_D };
    for (size_t k = 0; k < GUIDE_REF_CASES; k++) {
        float out[VALUES];
        prediction_guide(GUIDE_REF_N, GUIDE_REF_D, guide_ref_w[k], guide_ref_phi[k],
                         guide_ref_both, out);
        for (size_t i = 0; i < VALUES; i++)
            ck_assert_close(out[i], guide_ref_out[k * VALUES + i], 1e-6, 1e-6);
    }
    /* w = 1 without rescale is the conditional output itself, bit for bit */
    float out[VALUES];
    prediction_guide(GUIDE_REF_N, GUIDE_REF_D, 1.0, 0.0, guide_ref_both, out);
    ck_assert_int_eq(memcmp(out, guide_ref_both, sizeof out), 0);
}
END_TEST

/* Each kind's output moves so that its ε̂ moves by −√(1−ᾱ) s ∇: the
 * reference's values, and ε̂ read back through the kind's own conversion. */
START_TEST(classifier_shift_moves_eps_for_every_kind)
{
    enum { VALUES = GUIDE_REF_N * GUIDE_REF_D };
    const double beta[2] = {1.0 - SHIFT_REF_ALPHA_BAR, 0.5};
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create_custom(&s, beta, 2), DIFFUSE_OK);
    const int32_t t[GUIDE_REF_N] = {0, 0, 0};
    const float *f = guide_ref_both, *x_t = guide_ref_both + VALUES;
    const double *expected[] = {[DIFFUSE_PREDICT_EPSILON] = shift_ref_eps,
                                [DIFFUSE_PREDICT_V] = shift_ref_v,
                                [DIFFUSE_PREDICT_X0] = shift_ref_x0};
    double delta = -sqrt(1.0 - SHIFT_REF_ALPHA_BAR) * SHIFT_REF_SCALE;
    for (int kind = 0; kind <= DIFFUSE_PREDICT_X0; kind++) {
        float shifted[VALUES], x0[VALUES], eps[VALUES], x0s[VALUES], epss[VALUES];
        memcpy(shifted, f, sizeof shifted);
        prediction_shift_eps(s, (diffuse_prediction)kind, GUIDE_REF_N, GUIDE_REF_D, t,
                             SHIFT_REF_SCALE, shift_ref_grad, shifted);
        prediction_estimate before, after;
        prediction_estimate_init(&before, s, (diffuse_prediction)kind, GUIDE_REF_N, GUIDE_REF_D,
                                 t, x_t, f, x0, eps);
        prediction_estimate_init(&after, s, (diffuse_prediction)kind, GUIDE_REF_N, GUIDE_REF_D,
                                 t, x_t, shifted, x0s, epss);
        const float *e0 = prediction_eps(&before), *e1 = prediction_eps(&after);
        for (size_t i = 0; i < VALUES; i++) {
            ck_assert_close(shifted[i], expected[kind][i], 1e-6, 1e-6);
            ck_assert_close(e1[i], e0[i] + delta * shift_ref_grad[i], 1e-5, 1e-5);
        }
    }
    diffuse_schedule_free(s);
}
END_TEST

/* ---- Guided runs against a model that guides itself ------------------------ */

typedef struct wrapped {
    diffuse_model *inner;
    const diffuse_schedule *schedule;
    double scale, rescale, classifier_scale; /* classifier_scale 0: none */
    int32_t t_max;                           /* guided only at t < t_max; 0: always */
} wrapped;

/* The test's own Gaussian classifier: log p(y | x) = −|x − μ_y|²/2 + c,
 * ∇ = μ_y − x with μ_y = (y − 1, 1 − y). */
static int gaussian_classifier(void *user, size_t n, size_t dim, const float *x_t,
                               const int32_t *t, const int32_t *labels, float *gradient,
                               char *message, size_t message_size)
{
    (void)user, (void)t, (void)message, (void)message_size;
    for (size_t i = 0; i < n; i++) {
        double mu[2] = {labels[i] - 1.0, 1.0 - labels[i]};
        for (size_t j = 0; j < dim; j++)
            gradient[i * dim + j] = (float)(mu[j] - x_t[i * dim + j]);
    }
    return 0;
}

static double std_of(const double *row, size_t d)
{
    double mean = 0.0, sq = 0.0;
    for (size_t j = 0; j < d; j++)
        mean += row[j] / (double)d;
    for (size_t j = 0; j < d; j++)
        sq += (row[j] - mean) * (row[j] - mean) / (double)d;
    return sqrt(sq);
}

/* f = f_∅ + w (f_c − f_∅), rescaled (f = f_c at t ≥ t_max), then the
 * classifier's ε shift (for an ε-network), from two plain predictions of
 * the inner model. */
static int guided_by_hand(void *user, const diffuse_model_call *call, size_t dim)
{
    const wrapped *w = user;
    size_t n = call->n;
    float *cond = malloc(n * dim * sizeof *cond), *null = malloc(n * dim * sizeof *null);
    float *grad = malloc(n * dim * sizeof *grad);
    diffuse_model_call c = DIFFUSE_MODEL_CALL_INIT;
    c.n = n, c.x_t = call->x_t, c.t = call->t, c.labels = call->labels, c.out = cond;
    int failed = diffuse_model_predict(w->inner, &c) != DIFFUSE_OK;
    c.labels = NULL, c.out = null;
    failed |= diffuse_model_predict(w->inner, &c) != DIFFUSE_OK;
    gaussian_classifier(NULL, n, dim, call->x_t, call->t, call->labels, grad, NULL, 0);
    for (size_t i = 0; i < n && !failed; i++) {
        double g[DIM], fc[DIM], a;
        diffuse_schedule_value(w->schedule, DIFFUSE_TABLE_ALPHA_BAR, (size_t)call->t[i], &a);
        double scale = w->t_max == 0 || call->t[i] < w->t_max ? w->scale : 1.0;
        for (size_t j = 0; j < dim; j++) {
            fc[j] = cond[i * dim + j];
            g[j] = null[i * dim + j] + scale * (fc[j] - null[i * dim + j]);
        }
        double factor = w->rescale * std_of(fc, dim) / std_of(g, dim) + 1.0 - w->rescale;
        for (size_t j = 0; j < dim; j++)
            call->out[i * dim + j] = (float)(factor * g[j] - sqrt(1.0 - a) *
                                                                 w->classifier_scale *
                                                                 grad[i * dim + j]);
    }
    free(cond);
    free(null);
    free(grad);
    return failed;
}

static void sample(diffuse_model *m, const diffuse_schedule *s, diffuse_sample_method method,
                   const wrapped *guidance, int classifier, const int32_t *labels, size_t n,
                   float *out)
{
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, m, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_METHOD, method), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, 10), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SEED, 5), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, 7), 0);
    ck_assert_int_eq(
        diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, guidance->scale), 0);
    ck_assert_int_eq(
        diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_RESCALE, guidance->rescale),
        0);
    ck_assert_int_eq(
        diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_GUIDANCE_T_MAX, guidance->t_max), 0);
    if (classifier)
        ck_assert_int_eq(diffuse_sampler_set_classifier(sampler, gaussian_classifier, NULL), 0);
    ck_assert_int_eq(diffuse_sampler_run_labels(sampler, n, labels, out), DIFFUSE_OK);
    diffuse_sampler_free(sampler);
}

/* _i: method × (ε, v) × (classifier-free, + rescale, classifier, guided only
 * below T/2). */
START_TEST(guided_runs_match_a_model_that_guides_itself)
{
    enum { N = 20 };
    diffuse_sample_method method = (diffuse_sample_method)(_i % 3);
    diffuse_prediction prediction = (_i / 3) % 2 ? DIFFUSE_PREDICT_V : DIFFUSE_PREDICT_EPSILON;
    int variant = _i / 6; /* 0: w = 3; 1: w = 3, φ = 0.6; 2: classifier s = 1 (ε only);
                           * 3: w = 3 at t < T/2 */
    if (variant == 2 && prediction == DIFFUSE_PREDICT_V)
        return;
    diffuse_schedule *s = schedule();
    diffuse_model *m = mlp(CLASSES, prediction);
    wrapped w = {m, s, 3.0, variant == 1 ? 0.6 : 0.0, variant == 2 ? 1.0 : 0.0,
                 variant == 3 ? T / 2 : 0};
    if (variant == 2)
        w.scale = 1.0;
    diffuse_model *by_hand = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&by_hand, DIM, prediction, guided_by_hand, &w),
                     DIFFUSE_OK);
    int32_t labels[N];
    for (size_t i = 0; i < N; i++)
        labels[i] = (int32_t)(i % CLASSES);
    float guided[N * DIM], expected[N * DIM];
    const wrapped plain = {NULL, s, 1.0, 0.0, 0.0, 0};
    sample(m, s, method, &w, variant == 2, labels, N, guided);
    sample(by_hand, s, method, &plain, 0, labels, N, expected);
    for (size_t i = 0; i < N * DIM; i++)
        ck_assert_close(guided[i], expected[i], 1e-4, 1e-4);
    diffuse_model_free(by_hand);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
}
END_TEST

/* w = 1 is plain conditional sampling and w = 0 unconditional (the null
 * class); a single LABEL equals the same label per sample, bit for bit. */
START_TEST(guidance_scale_convention)
{
    enum { N = 12 };
    diffuse_schedule *s = schedule();
    diffuse_model *m = mlp(CLASSES, DIFFUSE_PREDICT_EPSILON);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, m, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, 10), 0);
    int32_t twos[N];
    for (size_t i = 0; i < N; i++)
        twos[i] = 2;
    float each[N * DIM], all[N * DIM], unconditional[N * DIM], w0[N * DIM], w1[N * DIM];
    ck_assert_int_eq(diffuse_sampler_run_labels(sampler, N, twos, each), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, unconditional), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_LABEL, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, all), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(each, all, sizeof all), 0);
    ck_assert_int_ne(memcmp(each, unconditional, sizeof all), 0);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 0.0), 0);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, w0), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 1.0), 0);
    ck_assert_int_eq(diffuse_sampler_run(sampler, N, w1), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(w1, all, sizeof all), 0);
    for (size_t i = 0; i < N * DIM; i++)
        ck_assert_close(w0[i], unconditional[i], 1e-5, 1e-5);
    diffuse_sampler_free(sampler);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
}
END_TEST

/* ---- Bad input ------------------------------------------------------------- */

static int failing_classifier(void *user, size_t n, size_t dim, const float *x_t,
                              const int32_t *t, const int32_t *labels, float *gradient,
                              char *message, size_t message_size)
{
    (void)user, (void)n, (void)dim, (void)x_t, (void)t, (void)labels, (void)gradient;
    snprintf(message, message_size, "classifier out of coffee");
    return 3;
}

static int nan_classifier(void *user, size_t n, size_t dim, const float *x_t, const int32_t *t,
                          const int32_t *labels, float *gradient, char *message,
                          size_t message_size)
{
    gaussian_classifier(user, n, dim, x_t, t, labels, gradient, message, message_size);
    gradient[n * dim - 1] = NAN;
    return 0;
}

/* A run that must fail with `status` and a message containing `text`,
 * leaving `out` as it was. */
static void expect_run_fails(diffuse_sampler *sampler, const int32_t *labels, diffuse_status status,
                             const char *text)
{
    enum { N = 4 };
    float out[N * DIM], before[N * DIM];
    for (size_t i = 0; i < N * DIM; i++)
        out[i] = before[i] = 42.0f + (float)i;
    diffuse_status got = labels != NULL ? diffuse_sampler_run_labels(sampler, N, labels, out)
                                        : diffuse_sampler_run(sampler, N, out);
    ck_assert_int_eq(got, status);
    ck_assert_msg(strstr(diffuse_sampler_last_error(sampler), text) != NULL, "\"%s\" lacks \"%s\"",
                  diffuse_sampler_last_error(sampler), text);
    ck_assert_int_eq(memcmp(out, before, sizeof out), 0);
}

START_TEST(bad_sampler_input_is_refused_and_writes_nothing)
{
    diffuse_schedule *s = schedule();
    diffuse_model *conditional = mlp(CLASSES, DIFFUSE_PREDICT_EPSILON);
    diffuse_model *unconditional = mlp(0, DIFFUSE_PREDICT_EPSILON);
    diffuse_sampler *c = NULL, *u = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&c, conditional, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&u, unconditional, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(c, DIFFUSE_SAMPLER_STEPS, 5), 0);
    ck_assert_int_eq(diffuse_sampler_set_int(u, DIFFUSE_SAMPLER_STEPS, 5), 0);
    const int32_t negative[4] = {0, 1, -1, 2}, too_large[4] = {0, 3, 1, 2}, good[4] = {0, 1, 2, 0};
    float out[8];
    /* labels NULL, a negative or too large class */
    ck_assert_int_eq(diffuse_sampler_run_labels(c, 4, NULL, out), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_sampler_last_error(c), "labels"));
    expect_run_fails(c, negative, DIFFUSE_ERROR_OUT_OF_RANGE, "labels[2] = -1 is outside [0, 3)");
    expect_run_fails(c, too_large, DIFFUSE_ERROR_OUT_OF_RANGE, "labels[1] = 3 is outside [0, 3)");
    ck_assert_int_eq(diffuse_sampler_set_int(c, DIFFUSE_SAMPLER_LABEL, 3), DIFFUSE_OK);
    expect_run_fails(c, NULL, DIFFUSE_ERROR_OUT_OF_RANGE, "label[0] = 3 is outside [0, 3)");
    ck_assert_int_eq(diffuse_sampler_set_int(c, DIFFUSE_SAMPLER_LABEL, -2),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_sampler_set_int(c, DIFFUSE_SAMPLER_LABEL, -1), DIFFUSE_OK);
    /* guidance without labels; on an unconditional model; labels nothing reads */
    ck_assert_int_eq(diffuse_sampler_set_double(c, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 4.0), 0);
    expect_run_fails(c, NULL, DIFFUSE_ERROR_STATE, "needs labels");
    ck_assert_int_eq(diffuse_sampler_set_double(u, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 4.0), 0);
    expect_run_fails(u, good, DIFFUSE_ERROR_UNSUPPORTED, "this model is unconditional");
    ck_assert_int_eq(diffuse_sampler_set_double(u, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 1.0), 0);
    expect_run_fails(u, good, DIFFUSE_ERROR_UNSUPPORTED, "no classifier is set");
    ck_assert_int_eq(diffuse_sampler_set_double(u, DIFFUSE_SAMPLER_GUIDANCE_SCALE, -1.0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    /* a classifier without labels, failing, returning NaN */
    ck_assert_int_eq(diffuse_sampler_set_classifier(u, failing_classifier, NULL), DIFFUSE_OK);
    expect_run_fails(u, NULL, DIFFUSE_ERROR_STATE, "classifier guidance needs labels");
    expect_run_fails(u, too_large, DIFFUSE_ERROR_CALLBACK, "classifier out of coffee");
    expect_run_fails(u, negative, DIFFUSE_ERROR_OUT_OF_RANGE, "labels[2] = -1 is negative");
    ck_assert_int_eq(diffuse_sampler_set_classifier(u, nan_classifier, NULL), DIFFUSE_OK);
    expect_run_fails(u, good, DIFFUSE_ERROR_NUMERIC, "classifier gradient");
    /* with a working one the unconditional model samples fine */
    ck_assert_int_eq(diffuse_sampler_set_classifier(u, gaussian_classifier, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_run_labels(u, 4, good, out), DIFFUSE_OK);
    diffuse_sampler_free(c);
    diffuse_sampler_free(u);
    diffuse_model_free(conditional);
    diffuse_model_free(unconditional);
    diffuse_schedule_free(s);
}
END_TEST

/* The classifier runs while its sampler is busy: changing the sampler from
 * inside it fails with STATE; freeing it cancels the run. */
typedef struct reentry {
    diffuse_sampler *sampler;
    diffuse_status set_status;
    int free_it;
} reentry;

static int reentering_classifier(void *user, size_t n, size_t dim, const float *x_t,
                                 const int32_t *t, const int32_t *labels, float *gradient,
                                 char *message, size_t message_size)
{
    reentry *r = user;
    r->set_status = diffuse_sampler_set_double(r->sampler, DIFFUSE_SAMPLER_CLASSIFIER_SCALE, 2.0);
    if (r->free_it)
        diffuse_sampler_free(r->sampler);
    return gaussian_classifier(NULL, n, dim, x_t, t, labels, gradient, message, message_size);
}

START_TEST(classifier_cannot_reenter_its_sampler)
{
    diffuse_schedule *s = schedule();
    diffuse_model *m = mlp(0, DIFFUSE_PREDICT_EPSILON);
    reentry r = {0};
    const int32_t labels[4] = {0, 1, 2, 0};
    float out[8];
    for (r.free_it = 0; r.free_it < 2; r.free_it++) {
        ck_assert_int_eq(diffuse_sampler_create(&r.sampler, m, s), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_sampler_set_int(r.sampler, DIFFUSE_SAMPLER_STEPS, 3), 0);
        ck_assert_int_eq(diffuse_sampler_set_classifier(r.sampler, reentering_classifier, &r), 0);
        diffuse_status status = diffuse_sampler_run_labels(r.sampler, 4, labels, out);
        ck_assert_int_eq(r.set_status, DIFFUSE_ERROR_STATE);
        if (r.free_it) {
            ck_assert_int_eq(status, DIFFUSE_ERROR_CANCELLED); /* and the sampler is freed */
        } else {
            ck_assert_int_eq(status, DIFFUSE_OK);
            diffuse_sampler_free(r.sampler);
        }
    }
    diffuse_model_free(m);
    diffuse_schedule_free(s);
}
END_TEST

START_TEST(model_call_labels_are_checked)
{
    diffuse_model *m = mlp(CLASSES, DIFFUSE_PREDICT_EPSILON);
    const float x[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    const int32_t t[2] = {3, 4}, bad[2] = {1, 3}, good[2] = {1, 2};
    float out[4] = {7, 7, 7, 7}, null[4], conditional[4];
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = 2, call.x_t = x, call.t = t, call.labels = bad, call.out = out;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "labels[1] = 3 is outside [0, 3)"));
    ck_assert_float_eq(out[0], 7.0f);
    call.labels = good, call.out = conditional;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    call.labels = NULL, call.out = null;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    ck_assert_int_ne(memcmp(null, conditional, sizeof null), 0);
    diffuse_model_free(m);
}
END_TEST

/* A checkpoint keeps the class count: the loaded model has its label
 * embedding and predicts the same bits for a class and for the null class. */
START_TEST(checkpoint_keeps_the_classes)
{
    char dir[512], path[600];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/conditional.safetensors", dir);
    diffuse_schedule *s = schedule(), *loaded_schedule = NULL;
    diffuse_model *m = mlp(CLASSES, DIFFUSE_PREDICT_EPSILON), *loaded = NULL;
    ck_assert_int_eq(diffuse_model_save(m, s, path), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_load(path, &loaded, &loaded_schedule), DIFFUSE_OK);
    const diffuse_model_config *config = NULL;
    int64_t classes = 0;
    ck_assert_int_eq(diffuse_model_get_config(loaded, &config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_CLASSES, &classes), 0);
    ck_assert_int_eq(classes, CLASSES);
    const float x[4] = {0.1f, -0.2f, 0.3f, 0.4f};
    const int32_t t[2] = {3, 40}, labels[2] = {2, 0};
    float a[4], b[4];
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = 2, call.x_t = x, call.t = t;
    for (int with_labels = 0; with_labels < 2; with_labels++) {
        call.labels = with_labels ? labels : NULL;
        call.out = a;
        ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
        call.out = b;
        ck_assert_int_eq(diffuse_model_predict(loaded, &call), DIFFUSE_OK);
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    }
    diffuse_model_free(loaded);
    diffuse_schedule_free(loaded_schedule);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
    diffuse_test_remove_dir(dir);
}
END_TEST


/* ---- Training with labels ------------------------------------------------- */

#define NO_BAD_LABEL INT32_MIN

typedef struct labeled_data {
    int32_t bad_label; /* written into row 5 unless NO_BAD_LABEL */
} labeled_data;

static int labeled_batch(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                         char *message, size_t message_size)
{
    (void)dim, (void)message, (void)message_size;
    const labeled_data *d = user;
    if (diffuse_toy2d_sample_labeled(DIFFUSE_TOY2D_EIGHT_GAUSSIANS, 1, 0, capacity, x, labels))
        return -1;
    for (size_t i = 0; i < capacity; i++)
        labels[i] %= CLASSES;
    if (d->bad_label != NO_BAD_LABEL)
        labels[5] = d->bad_label;
    return (int)capacity;
}

typedef struct train_setup {
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    labeled_data data;
} train_setup;

static void setup_training(train_setup *t, size_t classes, double dropout)
{
    t->schedule = schedule();
    t->model = mlp(classes, DIFFUSE_PREDICT_EPSILON);
    t->data.bad_label = NO_BAD_LABEL;
    ck_assert_int_eq(diffuse_optimizer_create(&t->optimizer, DIFFUSE_OPTIMIZER_ADAM, t->model), 0);
    ck_assert_int_eq(diffuse_trainer_create(&t->trainer, t->model, t->schedule, t->optimizer), 0);
    ck_assert_int_eq(diffuse_trainer_set_int(t->trainer, DIFFUSE_TRAINER_BATCH_SIZE, 16), 0);
    ck_assert_int_eq(diffuse_trainer_set_data(t->trainer, labeled_batch, &t->data), 0);
    if (dropout > 0.0)
        ck_assert_int_eq(
            diffuse_trainer_set_double(t->trainer, DIFFUSE_TRAINER_LABEL_DROPOUT, dropout), 0);
}

static void free_training(train_setup *t)
{
    diffuse_trainer_free(t->trainer);
    diffuse_optimizer_free(t->optimizer);
    diffuse_model_free(t->model);
    diffuse_schedule_free(t->schedule);
}

/* A trainer checkpoint keeps the label dropout. */
START_TEST(trainer_checkpoint_keeps_the_dropout)
{
    char dir[512], path[600];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/trainer.safetensors", dir);
    train_setup t;
    setup_training(&t, CLASSES, 0.25);
    ck_assert_int_eq(diffuse_trainer_step(t.trainer, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_save(t.trainer, path), DIFFUSE_OK);
    train_setup r;
    ck_assert_int_eq(
        diffuse_trainer_load(path, &r.model, &r.schedule, &r.optimizer, &r.trainer), DIFFUSE_OK);
    double dropout = 0.0;
    ck_assert_int_eq(diffuse_trainer_get_double(r.trainer, DIFFUSE_TRAINER_LABEL_DROPOUT,
                                                &dropout),
                     DIFFUSE_OK);
    ck_assert_double_eq(dropout, 0.25);
    free_training(&r);
    free_training(&t);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* The label embedding's rows [CLASSES + 1, H] in the gradient buffer. */
static const float *label_grads(const diffuse_model *m)
{
    const model_tensor *last = &m->tensors[m->tensor_count - 1];
    ck_assert_str_eq(last->name, "label_emb.weight");
    ck_assert_uint_eq(last->shape[0], CLASSES + 1);
    return m->grads + last->offset;
}

static double row_norm(const float *row, size_t n)
{
    double sum = 0.0;
    for (size_t j = 0; j < n; j++)
        sum += fabs(row[j]);
    return sum;
}

START_TEST(label_dropout_trains_the_null_class)
{
    enum { H = 16 };
    train_setup t;
    /* no dropout: the classes' rows get gradient, the null row none */
    setup_training(&t, CLASSES, 0.0);
    ck_assert_int_eq(diffuse_trainer_step(t.trainer, NULL), DIFFUSE_OK);
    const float *g = label_grads(t.model);
    for (size_t k = 0; k < CLASSES; k++)
        ck_assert(row_norm(g + k * H, H) > 0.0);
    ck_assert(row_norm(g + CLASSES * H, H) == 0.0);
    free_training(&t);
    /* dropout 1: only the null row */
    setup_training(&t, CLASSES, 1.0);
    ck_assert_int_eq(diffuse_trainer_step(t.trainer, NULL), DIFFUSE_OK);
    g = label_grads(t.model);
    for (size_t k = 0; k < CLASSES; k++)
        ck_assert(row_norm(g + k * H, H) == 0.0);
    ck_assert(row_norm(g + CLASSES * H, H) > 0.0);
    free_training(&t);
    /* dropout 0.5, twice with the same seed: the same weights */
    float *first = NULL;
    for (int run = 0; run < 2; run++) {
        setup_training(&t, CLASSES, 0.5);
        ck_assert_int_eq(diffuse_trainer_train(t.trainer, 3, NULL), DIFFUSE_OK);
        g = label_grads(t.model);
        ck_assert(row_norm(g + CLASSES * H, H) > 0.0 && row_norm(g, H) > 0.0);
        if (run == 0) {
            first = malloc(t.model->param_count * sizeof *first);
            memcpy(first, t.model->params, t.model->param_count * sizeof *first);
        } else {
            ck_assert_int_eq(memcmp(first, t.model->params, t.model->param_count * sizeof *first),
                             0);
        }
        free_training(&t);
    }
    free(first);
}
END_TEST

START_TEST(bad_training_labels_are_refused)
{
    train_setup t;
    setup_training(&t, CLASSES, 0.0);
    size_t count = t.model->param_count;
    float *before = malloc(count * sizeof *before);
    memcpy(before, t.model->params, count * sizeof *before);
    t.data.bad_label = CLASSES;
    ck_assert_int_eq(diffuse_trainer_step(t.trainer, NULL), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(t.trainer), "labels[5] = 3"));
    t.data.bad_label = -7;
    ck_assert_int_eq(diffuse_trainer_step(t.trainer, NULL), DIFFUSE_ERROR_OUT_OF_RANGE);
    const float x0[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    const int32_t bad[2] = {0, 9}, good[2] = {2, 1};
    ck_assert_int_eq(diffuse_trainer_step_batch_labels(t.trainer, 2, x0, bad, NULL),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(memcmp(before, t.model->params, count * sizeof *before), 0);
    ck_assert_int_eq(diffuse_trainer_step_batch_labels(t.trainer, 2, x0, good, NULL), DIFFUSE_OK);
    /* dropout: bounds, and only with classes */
    ck_assert_int_eq(diffuse_trainer_set_double(t.trainer, DIFFUSE_TRAINER_LABEL_DROPOUT, 1.5),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_trainer_set_double(t.trainer, DIFFUSE_TRAINER_LABEL_DROPOUT, NAN),
                     DIFFUSE_ERROR_NUMERIC);
    free(before);
    free_training(&t);
    setup_training(&t, 0, 0.0);
    ck_assert_int_eq(diffuse_trainer_set_double(t.trainer, DIFFUSE_TRAINER_LABEL_DROPOUT, 0.1),
                     DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(t.trainer), "unconditional"));
    t.data.bad_label = 99; /* an unconditional model ignores labels */
    ck_assert_int_eq(diffuse_trainer_step(t.trainer, NULL), DIFFUSE_OK);
    free_training(&t);
}
END_TEST

/* ---- End to end: samples land in the requested mode ---------------------- */

/* 8 Gaussians with the mode as the class, a short training with label
 * dropout; samples asked for mode k must sit near centre k. */
START_TEST(conditional_samples_land_in_their_mode)
{
    enum { K = 8, PER_CLASS = 50, STEPS = 1500 };
    diffuse_model_config *config = NULL;
    diffuse_model *m = NULL;
    diffuse_schedule *s = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 1000, 0);
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 64), 0);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_CLASSES, K), 0);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    diffuse_optimizer *opt = NULL;
    diffuse_trainer *tr = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAMW, m), 0);
    ck_assert_int_eq(diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, 3e-3), 0);
    ck_assert_int_eq(diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, 0.0), 0);
    ck_assert_int_eq(diffuse_trainer_create(&tr, m, s, opt), 0);
    ck_assert_int_eq(diffuse_trainer_set_int(tr, DIFFUSE_TRAINER_BATCH_SIZE, 128), 0);
    ck_assert_int_eq(diffuse_trainer_set_double(tr, DIFFUSE_TRAINER_LABEL_DROPOUT, 0.1), 0);
    float x0[128 * 2];
    int32_t labels[128];
    for (uint64_t step = 0; step < STEPS; step++) {
        ck_assert_int_eq(diffuse_toy2d_sample_labeled(DIFFUSE_TOY2D_EIGHT_GAUSSIANS, 3,
                                                      step * 128, 128, x0, labels),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_trainer_step_batch_labels(tr, 128, x0, labels, NULL), 0);
    }
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, m, s), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_METHOD, DIFFUSE_METHOD_DDIM),
                     0);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, 50), 0);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 2.0), 0);
    int32_t want[K * PER_CLASS];
    float out[K * PER_CLASS * 2];
    for (size_t i = 0; i < K * PER_CLASS; i++)
        want[i] = (int32_t)(i % K);
    ck_assert_int_eq(diffuse_sampler_run_labels(sampler, K * PER_CLASS, want, out), DIFFUSE_OK);
    size_t nearest_right = 0;
    for (size_t i = 0; i < K * PER_CLASS; i++) {
        double angle = atan2(out[2 * i + 1], out[2 * i]);
        long mode = lround(angle / (3.14159265358979323846 / 4.0));
        nearest_right += (mode % K + K) % K == want[i];
    }
    ck_assert_msg(nearest_right >= K * PER_CLASS * 95 / 100, "%zu of %d in their mode",
                  nearest_right, K * PER_CLASS);
    diffuse_sampler_free(sampler);
    diffuse_trainer_free(tr);
    diffuse_optimizer_free(opt);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("conditioning");
    TCase *formulas = tcase_create("formulas");
    tcase_add_test(formulas, guidance_matches_the_reference);
    tcase_add_test(formulas, classifier_shift_moves_eps_for_every_kind);
    suite_add_tcase(suite, formulas);
    TCase *sampling = tcase_create("sampling");
    tcase_add_loop_test(sampling, guided_runs_match_a_model_that_guides_itself, 0, 24);
    tcase_add_test(sampling, guidance_scale_convention);
    tcase_add_test(sampling, bad_sampler_input_is_refused_and_writes_nothing);
    tcase_add_test(sampling, model_call_labels_are_checked);
    tcase_add_test(sampling, classifier_cannot_reenter_its_sampler);
    suite_add_tcase(suite, sampling);
    TCase *training = tcase_create("training");
    tcase_add_test(training, checkpoint_keeps_the_classes);
    tcase_add_test(training, trainer_checkpoint_keeps_the_dropout);
    tcase_add_test(training, label_dropout_trains_the_null_class);
    tcase_add_test(training, bad_training_labels_are_refused);
    tcase_add_test(training, conditional_samples_land_in_their_mode);
    suite_add_tcase(suite, training);
    return diffuse_test_run(suite);
}
