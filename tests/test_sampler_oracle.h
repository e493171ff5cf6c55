/* The exact ε-oracle of the sampler suites (test_sampler.c,
 * test_sampler_exact.c), header-only.
 *
 * For data x_0 ~ N(μ, s² I) the optimal predictions are known in closed form:
 * x_t ~ N(√ᾱ_t μ, (ᾱ_t s² + 1 − ᾱ_t) I) and
 *     E[ε | x_t] = √(1−ᾱ_t) (x_t − √ᾱ_t μ) / (ᾱ_t s² + 1 − ᾱ_t),
 *     E[x_0 | x_t] = (x_t − √(1−ᾱ_t) E[ε | x_t]) / √ᾱ_t  (for ᾱ_t > 0),
 *     E[v | x_t] = √ᾱ_t E[ε | x_t] − √(1−ᾱ_t) E[x_0 | x_t].
 * A sampler driven by this oracle must reproduce N(μ, s² I): that tests the
 * reverse-step math independently of any training. */
#ifndef DIFFUSE_TEST_SAMPLER_ORACLE_H
#define DIFFUSE_TEST_SAMPLER_ORACLE_H

#include <diffuse/diffuse.h>
#include <math.h>
#include <pthread.h>

#include "test_support.h"

#define ORACLE_MEAN 1.5
#define ORACLE_STD 0.5
#define DIM 2

typedef struct oracle {
    diffuse_schedule *schedule;
    diffuse_prediction kind;
    int fail;      /* make the callback fail */
    int foreign_thread; /* set when called from a thread other than `caller` */
    pthread_t caller;
} oracle;

static inline int oracle_predict(void *user, const diffuse_model_call *call, size_t dim)
{
    oracle *o = user;
    const float *x_t = call->x_t;
    const int32_t *t = call->t;
    size_t n = call->n;
    float *out = call->out;
    if (!pthread_equal(pthread_self(), o->caller))
        o->foreign_thread = 1;
    if (o->fail)
        return 1;
    for (size_t i = 0; i < n; i++) {
        double a;
        diffuse_schedule_value(o->schedule, DIFFUSE_TABLE_ALPHA_BAR, (size_t)t[i], &a);
        double var = a * ORACLE_STD * ORACLE_STD + 1.0 - a;
        for (size_t j = 0; j < dim; j++) {
            double x = x_t[i * dim + j];
            double eps = sqrt(1.0 - a) * (x - sqrt(a) * ORACLE_MEAN) / var;
            /* E[x_0|x_t] by Tweedie, written so it stays finite at ᾱ = 0. */
            double x0 = ORACLE_MEAN + sqrt(a) * ORACLE_STD * ORACLE_STD * (x - sqrt(a) * ORACLE_MEAN) / var;
            double v = sqrt(a) * eps - sqrt(1.0 - a) * x0;
            out[i * dim + j] = (float)(o->kind == DIFFUSE_PREDICT_V    ? v
                                       : o->kind == DIFFUSE_PREDICT_X0 ? x0
                                                                       : eps);
        }
    }
    return 0;
}

static inline diffuse_model *oracle_model(oracle *o, diffuse_prediction prediction)
{
    diffuse_model *model = NULL;
    o->kind = prediction;
    o->caller = pthread_self();
    ck_assert_int_eq(diffuse_model_create_callback(&model, DIM, prediction, oracle_predict, o),
                     DIFFUSE_OK);
    return model;
}

static inline diffuse_schedule *linear_schedule(size_t steps)
{
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_schedule_create(&s, DIFFUSE_SCHEDULE_LINEAR, steps), DIFFUSE_OK);
    return s;
}

#endif
