/* The U-Net ε-network: its configuration and layout, the whole network
 * against a double-precision walk of its layer list through the reference
 * kernels, and every parameter gradient against finite differences. */
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "nn/unet.h"
#include "util/philox.h"
#include "nn_reference.h"
#include "test_support.h"

static void set_int(diffuse_model_config *config, diffuse_model_option option, int64_t value)
{
    ck_assert_msg(diffuse_model_config_set_int(config, option, value) == DIFFUSE_OK, "%s",
                  diffuse_model_config_last_error(config));
}

/* A small U-Net over 2×4×4 images: B = 4, two levels (1, 2), one ResBlock
 * per level, two groups. Variant 0: attention at level 1 (2×2, two heads)
 * and 3 classes; variant 1: no attention, unconditional, 2 ResBlocks. */
static diffuse_model *small_unet(int variant)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, 32), DIFFUSE_OK);
    set_int(config, DIFFUSE_MODEL_IMAGE_CHANNELS, 2);
    set_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT, 4);
    set_int(config, DIFFUSE_MODEL_IMAGE_WIDTH, 4);
    set_int(config, DIFFUSE_MODEL_BASE_CHANNELS, 4);
    set_int(config, DIFFUSE_MODEL_LEVELS, 2);
    set_int(config, DIFFUSE_MODEL_LEVEL_MULT_0, 1);
    set_int(config, DIFFUSE_MODEL_LEVEL_MULT_1, 2);
    set_int(config, DIFFUSE_MODEL_RES_BLOCKS, variant == 0 ? 1 : 2);
    set_int(config, DIFFUSE_MODEL_ATTENTION_LEVELS, variant == 0 ? 2 : 0);
    set_int(config, DIFFUSE_MODEL_HEADS, 2);
    set_int(config, DIFFUSE_MODEL_GROUPS, 2);
    set_int(config, DIFFUSE_MODEL_CLASSES, variant == 0 ? 3 : 0);
    set_int(config, DIFFUSE_MODEL_SEED, 5 + variant);
    ck_assert_int_eq(diffuse_model_config_set_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD, 100.0),
                     DIFFUSE_OK);
    diffuse_model *m;
    ck_assert_msg(diffuse_model_create(&m, config) == DIFFUSE_OK, "%s", diffuse_last_error());
    diffuse_model_config_free(config);
    return m;
}

static double *to_double(const float *x, size_t n)
{
    double *y = malloc(n * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

static float *random_floats(size_t n, uint64_t stream, float lo, float hi)
{
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    philox_uniform(77, stream, 0, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * x[i];
    return x;
}

typedef struct unet_case {
    const nn_layer_list *list;
    size_t n, dim;
    const int32_t *labels;
    double *params, *x, *emb, *r, *out;
} unet_case;

static double unet_loss(unet_case *c)
{
    nn_layers_forward_reference(c->list, c->params, c->x, c->emb, c->labels, c->n, c->out);
    double sum = 0.0;
    for (size_t i = 0; i < c->n * c->dim; i++)
        sum += c->r[i] * c->out[i];
    return sum;
}

/* _i: the variant of small_unet. */
START_TEST(unet_forward_and_gradients)
{
    enum { N = 3, D = 32, E = 4 };
    static const int32_t t[N] = {0, 17, 999}, labels[N] = {2, 0, 2};
    diffuse_model *m = small_unet(_i);
    unet_case c = {.list = nn_unet_layers(m), .n = N, .dim = D, .labels = _i == 0 ? labels : NULL};
    float *x = random_floats(N * D, 1, -2.0f, 2.0f), *r = random_floats(N * D, 2, -1.0f, 1.0f);
    float *out = calloc(N * D, sizeof *out), *predicted = calloc(N * D, sizeof *predicted);
    c.params = to_double(m->params, m->param_count);
    c.x = to_double(x, N * D);
    c.r = to_double(r, N * D);
    c.out = calloc(N * D, sizeof *c.out);
    c.emb = calloc(N * E, sizeof *c.emb);
    for (size_t i = 0; i < N; i++)
        nn_time_embedding_reference(t[i], E, 100.0, c.emb + i * E);

    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, c.labels, out)), DIFFUSE_OK);
    unet_loss(&c);
    for (size_t i = 0; i < N * D; i++)
        ck_assert_msg(fabs(out[i] - c.out[i]) <= 1e-4 + 1e-4 * fabs(c.out[i]),
                      "out[%zu] = %.7g, reference %.7g", i, (double)out[i], c.out[i]);
    ck_assert_int_eq(m->ops->predict(m, m->params, &MODEL_CALL(N, x, t, c.labels, predicted)),
                     DIFFUSE_OK);
    ck_assert_int_eq(memcmp(out, predicted, sizeof(float) * N * D), 0);
    ck_assert_int_eq(m->ops->forward(m, &MODEL_CALL(N, x, t, c.labels, out)), DIFFUSE_OK);
    model_zero_grads(m);
    ck_assert_int_eq(m->ops->backward(m, r, N), DIFFUSE_OK);
    /* every parameter: g ≈ (L(p + h) − L(p − h))/2h, relative to the
     * tensor's largest entry */
    double worst = 0.0;
    for (size_t k = 0; k < m->tensor_count; k++) {
        const model_tensor *tensor = &m->tensors[k];
        size_t size = 1;
        for (size_t a = 0; a < tensor->rank; a++)
            size *= tensor->shape[a];
        double *numeric = calloc(size, sizeof *numeric), scale = 1e-6;
        for (size_t i = 0; i < size; i++) {
            double *p = &c.params[tensor->offset + i], saved = *p, h = 1e-6;
            *p = saved + h;
            double up = unet_loss(&c);
            *p = saved - h;
            numeric[i] = (up - unet_loss(&c)) / (2 * h);
            *p = saved;
            scale = fmax(scale, fabs(numeric[i]));
        }
        for (size_t i = 0; i < size; i++) {
            double error = fabs(m->grads[tensor->offset + i] - numeric[i]) / scale;
            worst = fmax(worst, error);
            ck_assert_msg(error <= 5e-4, "%s[%zu]: analytic %.7g, numeric %.7g (scale %.3g)",
                          tensor->name, i, (double)m->grads[tensor->offset + i], numeric[i],
                          scale);
        }
        free(numeric);
    }
    if (getenv("DIFFUSE_TEST_VERBOSE") != NULL)
        fprintf(stderr, "variant %d: %zu parameters, worst gradient error %.2g\n", _i,
                m->param_count, worst);
    free(x);
    free(r);
    free(out);
    free(predicted);
    free(c.params);
    free(c.x);
    free(c.r);
    free(c.out);
    free(c.emb);
    diffuse_model_free(m);
}
END_TEST

static Suite *unet_suite(void)
{
    Suite *suite = suite_create("unet");
    TCase *network = tcase_create("network");
    tcase_add_loop_test(network, unet_forward_and_gradients, 0, 2);
    suite_add_tcase(suite, network);
    return suite;
}

int main(void)
{
    return diffuse_test_run(unet_suite());
}
