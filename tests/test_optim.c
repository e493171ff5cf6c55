/* The optimizer: Adam/AdamW against a double-precision reference, clipping,
 * schedule, decay mask, EMA, failure atomicity and argument checks.
 *
 * The models here are filled by hand through the internal struct
 * (src/model/model.h): the optimizer only needs parameters, gradients, the EMA
 * buffer and the tensor table. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "train/optim.h"
#include "reference/optim_reference.h"
#include "test_support.h"

/* ---- Hand-made models --------------------------------------------------- */

typedef struct tensor_spec {
    const char *name;
    size_t offset, rank, shape[4];
} tensor_spec;

static diffuse_model *model_new(const tensor_spec *specs, size_t tensor_count,
                                size_t param_count)
{
    diffuse_model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->dim = 1;
    m->param_count = param_count;
    m->params = calloc(param_count, sizeof(float));
    m->grads = calloc(param_count, sizeof(float));
    m->tensor_count = tensor_count;
    m->tensors = calloc(tensor_count > 0 ? tensor_count : 1, sizeof(model_tensor));
    ck_assert(m->params != NULL && m->grads != NULL && m->tensors != NULL);
    for (size_t i = 0; i < tensor_count; i++) {
        model_tensor *t = &m->tensors[i];
        snprintf(t->name, sizeof t->name, "%s", specs[i].name);
        t->offset = specs[i].offset;
        t->rank = specs[i].rank;
        memcpy(t->shape, specs[i].shape, sizeof t->shape);
    }
    return m;
}

/* The model of the reference script, with its initial parameters. */
static diffuse_model *reference_model(void)
{
    tensor_spec specs[OPTIM_REF_TENSOR_COUNT];
    for (size_t i = 0; i < OPTIM_REF_TENSOR_COUNT; i++) {
        specs[i].name = optim_ref_tensors[i].name;
        specs[i].offset = optim_ref_tensors[i].offset;
        specs[i].rank = optim_ref_tensors[i].rank;
        memcpy(specs[i].shape, optim_ref_tensors[i].shape, sizeof specs[i].shape);
    }
    diffuse_model *m = model_new(specs, OPTIM_REF_TENSOR_COUNT, OPTIM_REF_PARAM_COUNT);
    memcpy(m->params, optim_ref_initial_params, sizeof optim_ref_initial_params);
    return m;
}

/* One weight matrix [rows, cols] and no bias. */
static diffuse_model *matrix_model(size_t rows, size_t cols)
{
    tensor_spec spec = {"weight", 0, 2, {rows, cols, 0, 0}};
    return model_new(&spec, 1, rows * cols);
}

static void model_delete(diffuse_model *m)
{
    if (m == NULL)
        return;
    free(m->params);
    free(m->grads);
    free(m->ema);
    free(m->tensors);
    free(m);
}

static diffuse_optimizer *optimizer_new(diffuse_optimizer_kind kind, const diffuse_model *m)
{
    diffuse_optimizer *opt = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&opt, kind, m), DIFFUSE_OK);
    ck_assert_ptr_nonnull(opt);
    return opt;
}

static void set_double(diffuse_optimizer *opt, diffuse_optimizer_option option, double value)
{
    ck_assert_msg(diffuse_optimizer_set_double(opt, option, value) == DIFFUSE_OK, "%s",
                  diffuse_optimizer_last_error(opt));
}

static void set_int(diffuse_optimizer *opt, diffuse_optimizer_option option, int64_t value)
{
    ck_assert_msg(diffuse_optimizer_set_int(opt, option, value) == DIFFUSE_OK, "%s",
                  diffuse_optimizer_last_error(opt));
}

static void step_ok(diffuse_optimizer *opt, diffuse_model *m)
{
    diffuse_status status = optim_step(opt, m);
    ck_assert_msg(status == DIFFUSE_OK, "optim_step: %s", diffuse_optimizer_last_error(opt));
}

/* |got − want| ≤ rtol·(|want| + max|want|): relative to each value, with
 * an absolute floor scaled to the array so values near 0 don't demand more
 * than float precision of the whole array. */
static void assert_close_array(const float *got, const double *want, size_t n, double rtol,
                               const char *what)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <= rtol * (fabs(want[i]) + scale),
                      "%s[%zu] = %.9g, reference %.17g", what, i, (double)got[i], want[i]);
}

/* ---- Against the reference ------------------------------------------------ */

static const size_t case_count = sizeof optim_ref_cases / sizeof optim_ref_cases[0];

static void configure_case(diffuse_optimizer *opt, const optim_ref_case *c)
{
    set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, c->lr);
    set_double(opt, DIFFUSE_OPTIMIZER_BETA1, c->beta1);
    set_double(opt, DIFFUSE_OPTIMIZER_BETA2, c->beta2);
    set_double(opt, DIFFUSE_OPTIMIZER_EPSILON, c->eps);
    set_double(opt, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, c->weight_decay);
    set_double(opt, DIFFUSE_OPTIMIZER_CLIP_NORM, c->clip_norm);
    set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, c->ema_decay);
    set_double(opt, DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, c->min_lr);
    set_int(opt, DIFFUSE_OPTIMIZER_WARMUP_STEPS, c->warmup);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY, c->decay);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS, c->decay_steps);
}

START_TEST(matches_reference)
{
    ck_assert_uint_eq(case_count, 4);
    const optim_ref_case *c = &optim_ref_cases[_i];
    diffuse_model *m = reference_model();
    diffuse_optimizer *opt = optimizer_new((diffuse_optimizer_kind)c->kind, m);
    configure_case(opt, c);
    for (int s = 0; s < OPTIM_REF_STEPS; s++) {
        double lr = -1.0;
        ck_assert_int_eq(diffuse_optimizer_current_learning_rate(opt, &lr), DIFFUSE_OK);
        ck_assert_close(lr, c->rates[s], 1e-14, 0.0);
        memcpy(m->grads, optim_ref_grads[s], sizeof optim_ref_grads[s]);
        step_ok(opt, m);
    }
    uint64_t steps = 0;
    ck_assert_int_eq(diffuse_optimizer_step_count(opt, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, OPTIM_REF_STEPS);
    assert_close_array(m->params, c->params, OPTIM_REF_PARAM_COUNT, 1e-6, "params");
    assert_close_array(opt->first_moment, c->m, OPTIM_REF_PARAM_COUNT, 1e-6, "m");
    assert_close_array(opt->second_moment, c->v, OPTIM_REF_PARAM_COUNT, 1e-6, "v");
    if (c->ema_decay > 0.0) {
        ck_assert_ptr_nonnull(m->ema);
        assert_close_array(m->ema, c->ema, OPTIM_REF_PARAM_COUNT, 1e-6, "ema");
    } else {
        ck_assert_ptr_null(m->ema);
    }
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

START_TEST(schedule_matches_reference)
{
    diffuse_model *m = matrix_model(2, 2);
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    size_t count = sizeof optim_ref_rates / sizeof optim_ref_rates[0];
    ck_assert_uint_ge(count, 30);
    for (size_t i = 0; i < count; i++) {
        const optim_ref_rate *r = &optim_ref_rates[i];
        set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, r->lr);
        set_double(opt, DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, r->min_lr);
        set_int(opt, DIFFUSE_OPTIMIZER_WARMUP_STEPS, r->warmup);
        set_int(opt, DIFFUSE_OPTIMIZER_DECAY, r->decay);
        set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS, r->decay_steps);
        ck_assert_int_eq(optim_check_schedule(opt, NULL), DIFFUSE_OK);
        double lr = optim_learning_rate_at(opt, r->step);
        ck_assert_msg(fabs(lr - r->expected) <= 1e-14 * r->expected + 1e-300,
                      "schedule %zu, step %u: %.17g, reference %.17g", i, r->step, lr,
                      r->expected);
    }
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

START_TEST(schedule_key_points)
{
    diffuse_model *m = matrix_model(2, 2);
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, 0.1);
    set_double(opt, DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, 0.02);
    set_int(opt, DIFFUSE_OPTIMIZER_WARMUP_STEPS, 4);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_COSINE);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS, 10);
    ck_assert_close(optim_learning_rate_at(opt, 0), 0.1 / 4, 1e-15, 0);   /* warm-up start */
    ck_assert_close(optim_learning_rate_at(opt, 3), 0.1, 1e-15, 0);       /* warm-up end */
    ck_assert_close(optim_learning_rate_at(opt, 4), 0.1, 1e-15, 0);       /* decay start */
    ck_assert_close(optim_learning_rate_at(opt, 9), 0.06, 1e-15, 0);      /* halfway */
    ck_assert_close(optim_learning_rate_at(opt, 14), 0.02, 1e-15, 0);     /* floor */
    ck_assert_close(optim_learning_rate_at(opt, UINT64_MAX), 0.02, 1e-15, 0);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_LINEAR);
    ck_assert_close(optim_learning_rate_at(opt, 6), 0.1 - 0.08 * 0.2, 1e-15, 0);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_NONE);
    ck_assert_close(optim_learning_rate_at(opt, 1000), 0.1, 0, 0);
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* A decay without DECAY_STEPS, or with a floor above the rate, is refused
 * when used, and the refused step changes nothing. */
START_TEST(inconsistent_schedule_is_refused)
{
    diffuse_model *m = matrix_model(2, 3);
    for (size_t i = 0; i < 6; i++)
        m->grads[i] = 1.0f;
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_COSINE);
    double lr = 0.0;
    ck_assert_int_eq(diffuse_optimizer_current_learning_rate(opt, &lr), DIFFUSE_ERROR_STATE);
    ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "DECAY_STEPS"));
    ck_assert_int_eq(optim_step(opt, m), DIFFUSE_ERROR_STATE);
    ck_assert_float_eq(m->params[0], 0.0f);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS, 10);
    set_double(opt, DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, 0.5);
    ck_assert_int_eq(optim_step(opt, m), DIFFUSE_ERROR_STATE);
    ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "MIN_LEARNING_RATE"));
    uint64_t steps = 9;
    ck_assert_int_eq(diffuse_optimizer_step_count(opt, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 0);
    ck_assert_float_eq(opt->first_moment[0], 0.0f);
    set_double(opt, DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, 1e-4);
    step_ok(opt, m);
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* ---- Failure atomicity ------------------------------------------------------ */

typedef struct snapshot {
    float params[OPTIM_REF_PARAM_COUNT], ema[OPTIM_REF_PARAM_COUNT];
    float m[OPTIM_REF_PARAM_COUNT], v[OPTIM_REF_PARAM_COUNT];
    uint64_t step;
} snapshot;

static void take_snapshot(snapshot *s, const diffuse_optimizer *opt, const diffuse_model *m)
{
    size_t bytes = OPTIM_REF_PARAM_COUNT * sizeof(float);
    memset(s, 0, sizeof *s);
    memcpy(s->params, m->params, bytes);
    if (m->ema != NULL)
        memcpy(s->ema, m->ema, bytes);
    memcpy(s->m, opt->first_moment, bytes);
    memcpy(s->v, opt->second_moment, bytes);
    s->step = opt->step;
}

/* Two good reference steps with the options of case 0 (clipping, EMA,
 * schedule all on; clipping off when !clip), then the third gradient. */
static void two_good_steps(diffuse_optimizer *opt, diffuse_model *m, bool clip)
{
    configure_case(opt, &optim_ref_cases[0]);
    if (!clip)
        set_double(opt, DIFFUSE_OPTIMIZER_CLIP_NORM, 0.0);
    for (int s = 0; s < 2; s++) {
        memcpy(m->grads, optim_ref_grads[s], sizeof optim_ref_grads[s]);
        step_ok(opt, m);
    }
    memcpy(m->grads, optim_ref_grads[2], sizeof optim_ref_grads[2]);
}

/* Gradient 13 (in layer0.bias) set to `bad` after two good steps: the step
 * fails with NUMERIC, its message names `fragment` and the tensor, and
 * weights, moments, EMA and step count stay bitwise unchanged; the next
 * good step proceeds normally. Frees both. */
static void expect_refused_step(diffuse_optimizer *opt, diffuse_model *m, float bad,
                                const char *fragment)
{
    m->grads[13] = bad;
    snapshot before, after;
    take_snapshot(&before, opt, m);
    ck_assert_int_eq(optim_step(opt, m), DIFFUSE_ERROR_NUMERIC);
    take_snapshot(&after, opt, m);
    ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
    const char *message = diffuse_optimizer_last_error(opt);
    ck_assert_msg(strstr(message, fragment) != NULL, "%s", message);
    ck_assert_msg(strstr(message, "layer0.bias") != NULL, "%s", message);
    m->grads[13] = 0.5f;
    step_ok(opt, m);
    ck_assert_uint_eq(opt->step, 3);
    diffuse_optimizer_free(opt);
    model_delete(m);
}

/* A NaN, +Inf or −Inf gradient leaves weights, moments, EMA and step count
 * bitwise unchanged, with clipping (the norm detects it) and without (the
 * update's dry run does): the loop index picks the value (i % 3)
 * and whether to clip (i / 3). */
START_TEST(non_finite_gradient_changes_nothing)
{
    const float bad[] = {NAN, INFINITY, -INFINITY};
    diffuse_model *m = reference_model();
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    two_good_steps(opt, m, _i < 3);
    expect_refused_step(opt, m, bad[_i % 3], "grads[13]");
}
END_TEST

/* A finite gradient whose square overflows float (|g| ≥ ~1.8e19) would
 * make v = +inf and freeze the weights forever: the step is refused like a
 * non-finite gradient, for Adam (_i = 0) and AdamW (_i = 1), with EMA on. */
START_TEST(overflowing_update_changes_nothing)
{
    diffuse_model *m = reference_model();
    diffuse_optimizer *opt =
        optimizer_new(_i ? DIFFUSE_OPTIMIZER_ADAMW : DIFFUSE_OPTIMIZER_ADAM, m);
    two_good_steps(opt, m, false); /* clipping would tame g */
    expect_refused_step(opt, m, -1e20f /* g² = 1e40 > FLT_MAX */,
                        "second moment of parameter 13");
}
END_TEST

/* A failed first step does not even create the EMA buffer. */
START_TEST(non_finite_first_step_creates_no_ema)
{
    diffuse_model *m = reference_model();
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAM, m);
    set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.99);
    m->grads[OPTIM_REF_PARAM_COUNT - 1] = _i ? 1e30f : NAN; /* overflowing or non-finite */
    ck_assert_int_eq(optim_step(opt, m), DIFFUSE_ERROR_NUMERIC);
    ck_assert_ptr_null(m->ema);
    ck_assert_uint_eq(opt->step, 0);
    ck_assert_int_eq(memcmp(m->params, optim_ref_initial_params, sizeof optim_ref_initial_params),
                     0);
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* ---- Behaviour ----------------------------------------------------------------- */

/* f(θ) = ½ Σ a_i (θ_i − c_i)², ∇f = a ⊙ (θ − c): Adam with a cosine decay
 * reaches the minimum c. */
START_TEST(adam_minimises_quadratic)
{
    enum { rows = 8, cols = 8, n = rows * cols, steps = 1500 };
    diffuse_model *m = matrix_model(rows, cols);
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAM, m);
    set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, 0.05);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_COSINE);
    set_int(opt, DIFFUSE_OPTIMIZER_DECAY_STEPS, steps);
    float a[n], c[n];
    for (int i = 0; i < n; i++) {
        a[i] = 0.1f + (float)(i % 7);          /* condition number 61 */
        c[i] = (float)(i % 5) - 2.0f + 0.1f * (float)i / n;
    }
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++)
            m->grads[i] = a[i] * (m->params[i] - c[i]);
        step_ok(opt, m);
    }
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabsf(m->params[i] - c[i]) < 1e-3f, "theta[%d] = %g, minimum %g", i,
                      (double)m->params[i], (double)c[i]);
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* With ‖g‖ > c the moments see g·c/‖g‖: after one step ‖m‖ = (1−β1)·c; a
 * gradient already inside the ball is not touched (bitwise). For Adam the
 * L2 term is added after clipping. */
START_TEST(clipping_bounds_the_gradient)
{
    enum { n = 12 };
    const double clip = 0.5, lambda = 0.1, beta1 = 0.9;
    diffuse_model *big = matrix_model(3, 4), *small = matrix_model(3, 4),
                  *unclipped = matrix_model(3, 4);
    double norm = 0.0;
    for (int i = 0; i < n; i++) {
        big->grads[i] = (float)(i - 5) * 3.0f;
        norm += (double)big->grads[i] * big->grads[i];
        big->params[i] = small->params[i] = unclipped->params[i] = 0.25f * (float)i;
        small->grads[i] = unclipped->grads[i] = 0.01f * (float)(i - 5);
    }
    norm = sqrt(norm);
    ck_assert_double_gt(norm, 10 * clip);
    diffuse_optimizer *opt_big = optimizer_new(DIFFUSE_OPTIMIZER_ADAM, big);
    diffuse_optimizer *opt_small = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, small);
    diffuse_optimizer *opt_off = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, unclipped);
    set_double(opt_big, DIFFUSE_OPTIMIZER_CLIP_NORM, clip);
    set_double(opt_big, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, lambda);
    set_double(opt_small, DIFFUSE_OPTIMIZER_CLIP_NORM, clip);
    float theta0[n];
    memcpy(theta0, big->params, sizeof theta0);
    step_ok(opt_big, big);
    step_ok(opt_small, small);
    step_ok(opt_off, unclipped);
    for (int i = 0; i < n; i++) {
        double g = big->grads[i] * clip / norm + lambda * theta0[i];
        ck_assert_close(opt_big->first_moment[i], (1.0 - beta1) * g, 1e-6, 1e-9);
    }
    ck_assert_int_eq(memcmp(small->params, unclipped->params, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(opt_small->first_moment, opt_off->first_moment, n * sizeof(float)),
                     0);
    ck_assert_int_eq(memcmp(opt_small->second_moment, opt_off->second_moment, n * sizeof(float)),
                     0);
    diffuse_optimizer_free(opt_big);
    diffuse_optimizer_free(opt_small);
    diffuse_optimizer_free(opt_off);
    model_delete(big);
    model_delete(small);
    model_delete(unclipped);
}
END_TEST

/* Zero gradients isolate the decay: weights of rank ≥ 2 shrink (AdamW:
 * exactly by 1 − lr·λ), biases and parameters of no tensor stay bitwise.
 * The tensors are listed out of offset order and leave a gap. */
START_TEST(only_weight_matrices_are_decayed)
{
    const tensor_spec specs[] = {
        {"b.bias", 14, 1, {2, 0, 0, 0}},
        {"a.weight", 0, 2, {2, 3, 0, 0}},
        {"a.bias", 6, 1, {2, 0, 0, 0}},
        /* 8..9: a gap (parameters of no tensor) */
        {"b.weight", 10, 3, {2, 2, 1, 0}},
    };
    const bool decayed[16] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0};
    const double lr = 0.1, lambda = 0.5;
    for (int kind = DIFFUSE_OPTIMIZER_ADAM; kind <= DIFFUSE_OPTIMIZER_ADAMW; kind++) {
        diffuse_model *m = model_new(specs, 4, 16);
        for (int i = 0; i < 16; i++)
            m->params[i] = 1.0f + 0.125f * (float)i;
        diffuse_optimizer *opt = optimizer_new((diffuse_optimizer_kind)kind, m);
        set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, lr);
        set_double(opt, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, lambda);
        step_ok(opt, m);
        for (int i = 0; i < 16; i++) {
            float before = 1.0f + 0.125f * (float)i;
            if (!decayed[i])
                ck_assert_msg(m->params[i] == before, "kind %d: parameter %d decayed", kind, i);
            else if (kind == DIFFUSE_OPTIMIZER_ADAMW)
                ck_assert_float_eq(m->params[i], before * (float)(1.0 - lr * lambda));
            else /* Adam's first step moves by lr·sign(λθ) */
                ck_assert_close(m->params[i], before - lr, 1e-6, 0);
        }
        diffuse_optimizer_free(opt);
        model_delete(m);
    }
}
END_TEST

/* ema ← d·ema + (1−d)·θ, starting from θ before the first EMA step; an
 * existing buffer is kept; with EMA off the buffer is not touched. */
START_TEST(ema_tracks_weights)
{
    enum { n = 6 };
    const float d = 0.75f;
    diffuse_model *m = matrix_model(2, 3);
    for (int i = 0; i < n; i++) {
        m->params[i] = (float)i;
        m->grads[i] = 1.0f - (float)i;
    }
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, 0.1);
    step_ok(opt, m); /* EMA off: no buffer */
    ck_assert_ptr_null(m->ema);
    set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, d);
    float expected[n];
    for (int s = 0; s < 3; s++) {
        float before[n];
        memcpy(before, m->params, sizeof before);
        if (s == 0)
            memcpy(expected, before, sizeof expected); /* starts as θ before the step */
        step_ok(opt, m);
        ck_assert_ptr_nonnull(m->ema);
        for (int i = 0; i < n; i++) {
            expected[i] = d * expected[i] + (1.0f - d) * m->params[i];
            ck_assert_close(m->ema[i], expected[i], 1e-6, 1e-7);
            ck_assert_float_ne(m->params[i], before[i]);
        }
    }
    float kept[n];
    memcpy(kept, m->ema, sizeof kept);
    set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.0);
    step_ok(opt, m);
    ck_assert_int_eq(memcmp(kept, m->ema, sizeof kept), 0);
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* reset() restarts from zero moments and step 0: the next steps repeat a
 * fresh optimizer's bit for bit (which also shows determinism). */
START_TEST(reset_restarts_bitwise)
{
    diffuse_model *a = reference_model(), *b = reference_model();
    diffuse_optimizer *used = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, a);
    diffuse_optimizer *fresh = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, b);
    configure_case(used, &optim_ref_cases[0]);
    configure_case(fresh, &optim_ref_cases[0]);
    for (int s = 0; s < 3; s++) {
        memcpy(a->grads, optim_ref_grads[s], sizeof optim_ref_grads[s]);
        step_ok(used, a);
    }
    ck_assert_int_eq(diffuse_optimizer_reset(used), DIFFUSE_OK);
    uint64_t steps = 7;
    ck_assert_int_eq(diffuse_optimizer_step_count(used, &steps), DIFFUSE_OK);
    ck_assert_uint_eq(steps, 0);
    for (size_t i = 0; i < OPTIM_REF_PARAM_COUNT; i++)
        ck_assert(used->first_moment[i] == 0.0f && used->second_moment[i] == 0.0f);
    memcpy(b->params, a->params, OPTIM_REF_PARAM_COUNT * sizeof(float));
    free(a->ema); /* both start their EMA from the same weights */
    a->ema = NULL;
    for (int s = 0; s < OPTIM_REF_STEPS; s++) {
        memcpy(a->grads, optim_ref_grads[s], sizeof optim_ref_grads[s]);
        memcpy(b->grads, optim_ref_grads[s], sizeof optim_ref_grads[s]);
        step_ok(used, a);
        step_ok(fresh, b);
    }
    size_t bytes = OPTIM_REF_PARAM_COUNT * sizeof(float);
    ck_assert_int_eq(memcmp(a->params, b->params, bytes), 0);
    ck_assert_int_eq(memcmp(a->ema, b->ema, bytes), 0);
    ck_assert_int_eq(memcmp(used->first_moment, fresh->first_moment, bytes), 0);
    ck_assert_int_eq(memcmp(used->second_moment, fresh->second_moment, bytes), 0);
    diffuse_optimizer_free(used);
    diffuse_optimizer_free(fresh);
    model_delete(a);
    model_delete(b);
}
END_TEST

/* ---- Options ------------------------------------------------------------------- */

static const diffuse_optimizer_option double_options[] = {
    DIFFUSE_OPTIMIZER_LEARNING_RATE, DIFFUSE_OPTIMIZER_BETA1,     DIFFUSE_OPTIMIZER_BETA2,
    DIFFUSE_OPTIMIZER_EPSILON,       DIFFUSE_OPTIMIZER_WEIGHT_DECAY, DIFFUSE_OPTIMIZER_CLIP_NORM,
    DIFFUSE_OPTIMIZER_EMA_DECAY,     DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE,
};
static const diffuse_optimizer_option int_options[] = {
    DIFFUSE_OPTIMIZER_WARMUP_STEPS, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_OPTIMIZER_DECAY_STEPS};

START_TEST(defaults_per_kind)
{
    diffuse_model *m = matrix_model(2, 2);
    for (int kind = DIFFUSE_OPTIMIZER_ADAM; kind <= DIFFUSE_OPTIMIZER_ADAMW; kind++) {
        diffuse_optimizer *opt = optimizer_new((diffuse_optimizer_kind)kind, m);
        diffuse_optimizer_kind got = (diffuse_optimizer_kind)-1;
        ck_assert_int_eq(diffuse_optimizer_get_kind(opt, &got), DIFFUSE_OK);
        ck_assert_int_eq(got, kind);
        const double want[] = {1e-3, 0.9, 0.999, 1e-8, kind == DIFFUSE_OPTIMIZER_ADAMW ? 0.01 : 0.0,
                               0.0,  0.0, 0.0};
        for (size_t i = 0; i < sizeof double_options / sizeof double_options[0]; i++) {
            double v = -1.0;
            ck_assert_int_eq(diffuse_optimizer_get_double(opt, double_options[i], &v), DIFFUSE_OK);
            ck_assert_double_eq(v, want[i]);
        }
        for (size_t i = 0; i < sizeof int_options / sizeof int_options[0]; i++) {
            int64_t v = -1;
            ck_assert_int_eq(diffuse_optimizer_get_int(opt, int_options[i], &v), DIFFUSE_OK);
            ck_assert_int_eq(v, 0);
        }
        uint64_t steps = 5;
        double lr = 0.0;
        ck_assert_int_eq(diffuse_optimizer_step_count(opt, &steps), DIFFUSE_OK);
        ck_assert_uint_eq(steps, 0);
        ck_assert_int_eq(diffuse_optimizer_current_learning_rate(opt, &lr), DIFFUSE_OK);
        ck_assert_double_eq(lr, 1e-3);
        ck_assert_str_eq(diffuse_optimizer_last_error(opt), "");
        diffuse_optimizer_free(opt);
    }
    model_delete(m);
}
END_TEST

/* Every option: the bounds are accepted and read back, one step outside
 * each bound is refused with OUT_OF_RANGE (value kept), NaN/Inf with
 * NUMERIC, the other type with INVALID_ARGUMENT. */
START_TEST(option_bounds_enforced)
{
    diffuse_model *m = matrix_model(2, 2);
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    for (size_t i = 0; i < sizeof double_options / sizeof double_options[0]; i++) {
        diffuse_optimizer_option o = double_options[i];
        double lo = NAN, hi = NAN, v = NAN, kept = NAN;
        ck_assert_int_eq(diffuse_optimizer_double_bounds(o, &lo, &hi), DIFFUSE_OK);
        ck_assert(lo <= hi && isfinite(lo) && isfinite(hi));
        ck_assert_int_eq(diffuse_optimizer_get_double(opt, o, &kept), DIFFUSE_OK);
        ck_assert(kept >= lo && kept <= hi); /* the default is in bounds */
        set_double(opt, o, hi);
        ck_assert_int_eq(diffuse_optimizer_get_double(opt, o, &v), DIFFUSE_OK);
        ck_assert_double_eq(v, hi);
        set_double(opt, o, lo);
        ck_assert_int_eq(diffuse_optimizer_set_double(opt, o, nextafter(lo, -INFINITY)),
                         DIFFUSE_ERROR_OUT_OF_RANGE);
        if (hi < 1e300)
            ck_assert_int_eq(diffuse_optimizer_set_double(opt, o, nextafter(hi, INFINITY)),
                             DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_optimizer_set_double(opt, o, NAN), DIFFUSE_ERROR_NUMERIC);
        ck_assert_int_eq(diffuse_optimizer_set_double(opt, o, INFINITY), DIFFUSE_ERROR_NUMERIC);
        ck_assert_int_eq(diffuse_optimizer_get_double(opt, o, &v), DIFFUSE_OK);
        ck_assert_double_eq(v, lo); /* never clamped, never changed by a refused value */
        ck_assert_int_eq(diffuse_optimizer_set_int(opt, o, 0), DIFFUSE_ERROR_INVALID_ARGUMENT);
        int64_t iv;
        ck_assert_int_eq(diffuse_optimizer_get_int(opt, o, &iv), DIFFUSE_ERROR_INVALID_ARGUMENT);
        int64_t ilo, ihi;
        ck_assert_int_eq(diffuse_optimizer_int_bounds(o, &ilo, &ihi),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
    }
    for (size_t i = 0; i < sizeof int_options / sizeof int_options[0]; i++) {
        diffuse_optimizer_option o = int_options[i];
        int64_t lo = -7, hi = -7, v = -7;
        ck_assert_int_eq(diffuse_optimizer_int_bounds(o, &lo, &hi), DIFFUSE_OK);
        ck_assert_int_eq(lo, 0);
        ck_assert_int_ge(hi, 2);
        set_int(opt, o, hi);
        ck_assert_int_eq(diffuse_optimizer_get_int(opt, o, &v), DIFFUSE_OK);
        ck_assert_int_eq(v, hi);
        ck_assert_int_eq(diffuse_optimizer_set_int(opt, o, hi + 1), DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_optimizer_set_int(opt, o, -1), DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_optimizer_set_int(opt, o, INT64_MAX), DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "outside"));
        ck_assert_int_eq(diffuse_optimizer_get_int(opt, o, &v), DIFFUSE_OK);
        ck_assert_int_eq(v, hi);
        ck_assert_int_eq(diffuse_optimizer_set_double(opt, o, 1.0),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
        double dv, dlo, dhi;
        ck_assert_int_eq(diffuse_optimizer_get_double(opt, o, &dv), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_optimizer_double_bounds(o, &dlo, &dhi),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
    }
    int64_t dlo, dhi;
    ck_assert_int_eq(diffuse_optimizer_int_bounds(DIFFUSE_OPTIMIZER_DECAY, &dlo, &dhi),
                     DIFFUSE_OK);
    ck_assert_int_eq(dlo, DIFFUSE_LR_DECAY_NONE);
    ck_assert_int_eq(dhi, DIFFUSE_LR_DECAY_LINEAR);
    /* [0, 1) options reach just below 1 but not 1. */
    ck_assert_int_eq(diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_BETA2, 1.0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_int_eq(diffuse_optimizer_set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, 1.0),
                     DIFFUSE_ERROR_OUT_OF_RANGE);
    set_double(opt, DIFFUSE_OPTIMIZER_BETA2, 0.9999);
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* ---- Argument checks ---------------------------------------------------------- */

START_TEST(bad_input_create)
{
    diffuse_model *m = matrix_model(2, 2);
    diffuse_optimizer *opt = (diffuse_optimizer *)m; /* must be reset to NULL */
    ck_assert_int_eq(diffuse_optimizer_create(NULL, DIFFUSE_OPTIMIZER_ADAM, m),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAM, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(opt);
    ck_assert_int_eq(diffuse_optimizer_create(&opt, (diffuse_optimizer_kind)2, m),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_create(&opt, (diffuse_optimizer_kind)-1, m),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "kind"));
    ck_assert_ptr_null(opt);
    model_delete(m);

    m = model_new(NULL, 0, 1);
    m->param_count = 0;
    ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAM, m),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    m->param_count = 3; /* no tensors at all: nothing is decayed, but it works */
    ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAMW, m), DIFFUSE_OK);
    diffuse_optimizer_free(opt);
    opt = NULL;
    model_delete(m);

    /* Tensor tables that do not fit the parameter buffer. */
    const tensor_spec outside = {"w", 2, 2, {2, 2, 0, 0}};  /* 2 + 4 > 5 */
    const tensor_spec rank = {"w", 0, 5, {1, 1, 1, 1}};     /* rank > MODEL_MAX_RANK */
    const tensor_spec overlap[] = {{"w", 0, 2, {2, 2, 0, 0}}, {"b", 3, 1, {2, 0, 0, 0}}};
    const tensor_spec huge = {"w", 0, 4, {SIZE_MAX / 2, 4, 1, 1}}; /* count overflows */
    struct {
        const tensor_spec *specs;
        size_t count;
    } broken[] = {{&outside, 1}, {&rank, 1}, {overlap, 2}, {&huge, 1}};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        m = model_new(broken[i].specs, broken[i].count, 5);
        opt = (diffuse_optimizer *)m;
        ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAM, m),
                         DIFFUSE_ERROR_MISMATCH);
        ck_assert_ptr_null(opt);
        model_delete(m);
    }
    m = model_new(&outside, 1, 5);
    free(m->tensors);
    m->tensors = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAM, m),
                     DIFFUSE_ERROR_MISMATCH);
    model_delete(m);
    diffuse_optimizer_free(NULL);
    ck_assert_ptr_nonnull(diffuse_optimizer_last_error(NULL));
}
END_TEST

START_TEST(bad_input_accessors)
{
    diffuse_model *m = matrix_model(2, 2);
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAM, m);
    diffuse_optimizer_kind kind;
    double d, lo, hi;
    int64_t i64, ilo, ihi;
    uint64_t steps;
    const int bad_ids[] = {-1, OPTIM_OPTION_COUNT, 1000};

    ck_assert_int_eq(diffuse_optimizer_get_kind(NULL, &kind), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_get_kind(opt, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "kind"));

    ck_assert_int_eq(diffuse_optimizer_set_double(NULL, DIFFUSE_OPTIMIZER_BETA1, 0.5),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_get_double(NULL, DIFFUSE_OPTIMIZER_BETA1, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_get_double(opt, DIFFUSE_OPTIMIZER_BETA1, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_set_int(NULL, DIFFUSE_OPTIMIZER_DECAY, 1),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_get_int(NULL, DIFFUSE_OPTIMIZER_DECAY, &i64),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_get_int(opt, DIFFUSE_OPTIMIZER_DECAY, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        diffuse_optimizer_option o = (diffuse_optimizer_option)bad_ids[i];
        ck_assert_int_eq(diffuse_optimizer_set_double(opt, o, 0.5), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "unknown"));
        ck_assert_int_eq(diffuse_optimizer_get_double(opt, o, &d), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_optimizer_set_int(opt, o, 1), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_optimizer_get_int(opt, o, &i64), DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_optimizer_double_bounds(o, &lo, &hi),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
        ck_assert_int_eq(diffuse_optimizer_int_bounds(o, &ilo, &ihi),
                         DIFFUSE_ERROR_INVALID_ARGUMENT);
    }
    ck_assert_int_eq(diffuse_optimizer_double_bounds(DIFFUSE_OPTIMIZER_BETA1, NULL, &hi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_double_bounds(DIFFUSE_OPTIMIZER_BETA1, &lo, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_int_bounds(DIFFUSE_OPTIMIZER_DECAY, NULL, &ihi),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_int_bounds(DIFFUSE_OPTIMIZER_DECAY, &ilo, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);

    ck_assert_int_eq(diffuse_optimizer_step_count(NULL, &steps), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_step_count(opt, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_current_learning_rate(NULL, &d),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_current_learning_rate(opt, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_optimizer_reset(NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);

    ck_assert_int_eq(optim_step(NULL, m), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(optim_step(opt, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    float *grads = m->grads;
    m->grads = NULL;
    ck_assert_int_eq(optim_step(opt, m), DIFFUSE_ERROR_INVALID_ARGUMENT);
    m->grads = grads;
    diffuse_optimizer_free(opt);
    model_delete(m);
}
END_TEST

/* An optimizer refuses a model of another layout, changing nothing. */
START_TEST(mismatched_model)
{
    diffuse_model *a = reference_model();
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, a);
    memcpy(a->grads, optim_ref_grads[0], sizeof optim_ref_grads[0]);
    step_ok(opt, a);

    diffuse_model *bigger = matrix_model(5, 6); /* 30 parameters */
    ck_assert_int_eq(optim_step(opt, bigger), DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "30"));
    model_delete(bigger);

    diffuse_model *b = reference_model(); /* same count: change one tensor at a time */
    memcpy(b->grads, optim_ref_grads[1], sizeof optim_ref_grads[1]);
    snapshot before, after;
    take_snapshot(&before, opt, b);
    b->tensors[1].rank = 2; /* a bias turned into a decayed [3, 1] matrix */
    b->tensors[1].shape[1] = 1;
    ck_assert_int_eq(optim_step(opt, b), DIFFUSE_ERROR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(diffuse_optimizer_last_error(opt), "layer0.bias"));
    b->tensors[1].rank = 1;
    b->tensors[3].offset = 20; /* conv.bias moved */
    ck_assert_int_eq(optim_step(opt, b), DIFFUSE_ERROR_MISMATCH);
    b->tensors[3].offset = 19;
    b->tensor_count = 5;
    ck_assert_int_eq(optim_step(opt, b), DIFFUSE_ERROR_MISMATCH);
    b->tensor_count = OPTIM_REF_TENSOR_COUNT;
    take_snapshot(&after, opt, b);
    ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
    ck_assert_int_eq(optim_check_model(opt, b), DIFFUSE_OK); /* restored: same layout again */
    step_ok(opt, b);
    diffuse_optimizer_free(opt);
    model_delete(a);
    model_delete(b);
}
END_TEST

/* ---- With a real model --------------------------------------------------------- */

static diffuse_model *mlp_model(void)
{
    diffuse_model_config *config = NULL;
    diffuse_model *m = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 8),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 1),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 4),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

/* An MLP from the model unit: its weight matrices are decayed and its biases
 * not (zero gradients isolate AdamW's decay), and its EMA buffer is created
 * by the first EMA step from the weights before that step. */
START_TEST(mlp_model_decay_and_ema)
{
    diffuse_model *m = mlp_model();
    size_t count = 0, tensors = 0;
    ck_assert_int_eq(diffuse_model_param_count(m, &count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_count(m, &tensors), DIFFUSE_OK);
    float *before = malloc(count * sizeof(float)), *after = malloc(count * sizeof(float));
    float *ema = malloc(count * sizeof(float));
    ck_assert(before != NULL && after != NULL && ema != NULL);
    ck_assert_int_eq(diffuse_model_get_params(m, before, count), DIFFUSE_OK);
    diffuse_optimizer *opt = optimizer_new(DIFFUSE_OPTIMIZER_ADAMW, m);
    set_double(opt, DIFFUSE_OPTIMIZER_LEARNING_RATE, 0.1);
    set_double(opt, DIFFUSE_OPTIMIZER_WEIGHT_DECAY, 0.5);
    set_double(opt, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.75);
    int has_ema = 1;
    ck_assert_int_eq(diffuse_model_has_ema(m, &has_ema), DIFFUSE_OK);
    ck_assert_int_eq(has_ema, 0);
    model_zero_grads(m);
    step_ok(opt, m);
    ck_assert_int_eq(diffuse_model_has_ema(m, &has_ema), DIFFUSE_OK);
    ck_assert_int_eq(has_ema, 1);
    ck_assert_int_eq(diffuse_model_get_params(m, after, count), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_get_ema_params(m, ema, count), DIFFUSE_OK);
    size_t weights = 0, biases = 0;
    for (size_t t = 0; t < tensors; t++) {
        const char *name = NULL;
        size_t offset = 0, rank = 0, shape[4], n = 1;
        ck_assert_int_eq(diffuse_model_tensor_info(m, t, &name, &offset, &rank, shape),
                         DIFFUSE_OK);
        for (size_t r = 0; r < rank; r++)
            n *= shape[r];
        for (size_t i = offset; i < offset + n; i++) {
            float want = rank >= 2 ? before[i] * (float)(1.0 - 0.1 * 0.5) : before[i];
            ck_assert_msg(after[i] == want, "%s: %g, expected %g", name, (double)after[i],
                          (double)want);
            ck_assert_close(ema[i], 0.75f * before[i] + 0.25f * after[i], 1e-6, 1e-7);
        }
        if (rank >= 2)
            weights++;
        else
            biases++;
    }
    ck_assert_uint_gt(weights, 0);
    ck_assert_uint_gt(biases, 0);
    diffuse_optimizer_free(opt);
    diffuse_model_free(m);
    free(before);
    free(after);
    free(ema);
}
END_TEST


START_TEST(callback_model_is_refused)
{
    diffuse_model *m = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&m, 2, DIFFUSE_PREDICT_EPSILON,
                                                   diffuse_test_predict_zero, NULL),
                     DIFFUSE_OK);
    diffuse_optimizer *opt = NULL;
    ck_assert_int_eq(diffuse_optimizer_create(&opt, DIFFUSE_OPTIMIZER_ADAM, m),
                     DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(opt);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "no parameters"));
    diffuse_model_free(m);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *suite = suite_create("optim");
    TCase *reference = tcase_create("reference");
    tcase_add_loop_test(reference, matches_reference, 0, (int)case_count);
    tcase_add_test(reference, schedule_matches_reference);
    tcase_add_test(reference, schedule_key_points);
    tcase_add_test(reference, inconsistent_schedule_is_refused);
    suite_add_tcase(suite, reference);

    TCase *behaviour = tcase_create("behaviour");
    tcase_add_loop_test(behaviour, non_finite_gradient_changes_nothing, 0, 6);
    tcase_add_loop_test(behaviour, overflowing_update_changes_nothing, 0, 2);
    tcase_add_loop_test(behaviour, non_finite_first_step_creates_no_ema, 0, 2);
    tcase_add_test(behaviour, adam_minimises_quadratic);
    tcase_add_test(behaviour, clipping_bounds_the_gradient);
    tcase_add_test(behaviour, only_weight_matrices_are_decayed);
    tcase_add_test(behaviour, ema_tracks_weights);
    tcase_add_test(behaviour, reset_restarts_bitwise);
    suite_add_tcase(suite, behaviour);

    TCase *api = tcase_create("api");
    tcase_add_test(api, defaults_per_kind);
    tcase_add_test(api, option_bounds_enforced);
    tcase_add_test(api, bad_input_create);
    tcase_add_test(api, bad_input_accessors);
    tcase_add_test(api, mismatched_model);
    suite_add_tcase(suite, api);

    TCase *model = tcase_create("model");
    tcase_add_test(model, mlp_model_decay_and_ema);
    tcase_add_test(model, callback_model_is_refused);
    suite_add_tcase(suite, model);
    return suite;
}

int main(void)
{
    return diffuse_test_run(optim_suite());
}
