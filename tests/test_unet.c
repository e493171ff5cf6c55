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
#include "nn/executor.h"
#include "nn/lifetimes.h"
#include "nn/unet.h"
#include "nn_reference.h"
#include "test_support.h"

static void set_int(diffuse_model_config *config, diffuse_model_option option, int64_t value)
{
    ck_assert_msg(diffuse_model_config_set_int(config, option, value) == DIFFUSE_OK, "%s",
                  diffuse_model_config_last_error(config));
}

/* A small U-Net over 2×4×4 images: B = 4, two levels (1, 2), one ResBlock
 * per level, two groups. Variant 0: attention at level 1 (2×2, two heads)
 * and 3 classes; variant 1: no attention, unconditional, 2 ResBlocks.
 * `dropout`: the ResBlocks' rate. */
static diffuse_model *small_unet(int variant, double dropout)
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
    ck_assert_int_eq(diffuse_model_config_set_double(config, DIFFUSE_MODEL_DROPOUT, dropout),
                     DIFFUSE_OK);
    diffuse_model *m;
    ck_assert_msg(diffuse_model_create(&m, config) == DIFFUSE_OK, "%s", diffuse_last_error());
    diffuse_model_config_free(config);
    return m;
}

static float *random_floats(size_t n, uint64_t stream, float lo, float hi)
{
    return diffuse_test_uniform_floats(n, 77, stream, lo, hi);
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
    diffuse_model *m = small_unet(_i, 0.0);
    unet_case c = {.list = nn_unet_layers(m), .n = N, .dim = D, .labels = _i == 0 ? labels : NULL};
    float *x = random_floats(N * D, 1, -2.0f, 2.0f), *r = random_floats(N * D, 2, -1.0f, 1.0f);
    float *out = calloc(N * D, sizeof *out), *predicted = calloc(N * D, sizeof *predicted);
    c.params = diffuse_test_doubles(m->params, m->param_count);
    c.x = diffuse_test_doubles(x, N * D);
    c.r = diffuse_test_doubles(r, N * D);
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

/* The defaults build for 28×28×1 and, with C = 3, for 32×32×3; the
 * tensors carry improved-diffusion's names and PyTorch's shapes; options
 * that do not fit together fail at build with a message. */
START_TEST(unet_defaults_and_layout)
{
    diffuse_model_config *config;
    diffuse_model *m;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, 784), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    const char *name;
    size_t offset, rank, shape[4];
    ck_assert_int_eq(diffuse_model_tensor_info(m, 0, &name, &offset, &rank, shape), DIFFUSE_OK);
    ck_assert_str_eq(name, "time_embed.0.weight");
    ck_assert_uint_eq(shape[0], 128);
    ck_assert_uint_eq(shape[1], 32);
    ck_assert_int_eq(diffuse_model_tensor_info(m, 4, &name, &offset, &rank, shape), DIFFUSE_OK);
    ck_assert_str_eq(name, "input_blocks.0.0.weight");
    ck_assert_uint_eq(rank, 4);
    ck_assert(shape[0] == 32 && shape[1] == 1 && shape[2] == 3 && shape[3] == 3);
    ck_assert_int_eq(diffuse_model_tensor_info(m, m->tensor_count - 1, &name, &offset, &rank,
                                               shape),
                     DIFFUSE_OK);
    ck_assert_str_eq(name, "out.2.bias");
    diffuse_model_free(m);
    diffuse_model_config_free(config);

    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, 3072), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "needs dim = 784"));
    set_int(config, DIFFUSE_MODEL_IMAGE_CHANNELS, 3);
    set_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT, 32);
    set_int(config, DIFFUSE_MODEL_IMAGE_WIDTH, 32);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_free(m);
    set_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT, 2);
    set_int(config, DIFFUSE_MODEL_IMAGE_WIDTH, 512);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "not a multiple of 4"));
    set_int(config, DIFFUSE_MODEL_IMAGE_HEIGHT, 32);
    set_int(config, DIFFUSE_MODEL_IMAGE_WIDTH, 32);
    set_int(config, DIFFUSE_MODEL_GROUPS, 5);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "groups"));
    set_int(config, DIFFUSE_MODEL_GROUPS, 8);
    set_int(config, DIFFUSE_MODEL_ATTENTION_LEVELS, 8);
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "beyond"));
    diffuse_model_config_free(config);
}
END_TEST

/* Labels: checked against the range; a call without them gets the null
 * row (classifier-free guidance's unconditional branch), which differs
 * from every class's. */
START_TEST(unet_checks_labels)
{
    enum { N = 2, D = 32 };
    static const int32_t t[N] = {1, 2}, bad[N] = {0, 3}, good[N] = {2, 2};
    diffuse_model *m = small_unet(0, 0.0);
    float x[N * D] = {0}, out[N * D], conditional[N * D];
    diffuse_model_call call = {sizeof call, N, x, t, NULL, out, NULL};
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    call.labels = good;
    call.out = conditional;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    ck_assert_int_ne(memcmp(out, conditional, sizeof out), 0);
    call.labels = bad;
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "labels[1] = 3"));
    diffuse_model_free(m);
}
END_TEST

/* Trainer with two threads, AdamW and EMA, dropout on: a resumed run
 * gives the same bits as one that never stopped; the sampler runs the EMA
 * weights; a saved model predicts the same bits after loading. */
START_TEST(unet_trains_resumes_and_samples)
{
    enum { BATCH = 6, D = 32, STEPS = 3 };
    char dir[512], path[600];
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/unet.safetensors", dir);
    float *x0 = random_floats(BATCH * D, 9, -1.0f, 1.0f);
    diffuse_model *m = small_unet(1, 0.2);
    diffuse_schedule *schedule;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    ck_assert_int_eq(diffuse_schedule_create(&schedule, DIFFUSE_SCHEDULE_COSINE, 50), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAMW, m), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_double(optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&trainer, m, schedule, optimizer), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(trainer, DIFFUSE_TRAINER_THREADS, 2), DIFFUSE_OK);
    double loss;
    for (int step = 0; step < STEPS; step++)
        ck_assert_msg(diffuse_trainer_step_batch(trainer, BATCH, x0, &loss) == DIFFUSE_OK, "%s",
                      diffuse_trainer_last_error(trainer));
    ck_assert(isfinite(loss) && loss > 0.0);
    ck_assert_int_eq(diffuse_trainer_save(trainer, path), DIFFUSE_OK);
    for (int step = 0; step < STEPS; step++)
        ck_assert_int_eq(diffuse_trainer_step_batch(trainer, BATCH, x0, &loss), DIFFUSE_OK);

    diffuse_model *m2;
    diffuse_schedule *schedule2;
    diffuse_optimizer *optimizer2;
    diffuse_trainer *trainer2;
    ck_assert_int_eq(diffuse_trainer_load(path, &m2, &schedule2, &optimizer2, &trainer2),
                     DIFFUSE_OK);
    double loss2;
    for (int step = 0; step < STEPS; step++)
        ck_assert_int_eq(diffuse_trainer_step_batch(trainer2, BATCH, x0, &loss2), DIFFUSE_OK);
    ck_assert_double_eq(loss, loss2);
    ck_assert_int_eq(memcmp(m->params, m2->params, m->param_count * sizeof *m->params), 0);
    ck_assert_int_eq(memcmp(m->ema, m2->ema, m->param_count * sizeof *m->ema), 0);

    /* sampling with the EMA weights on two threads */
    diffuse_sampler *sampler;
    float samples[4 * D];
    ck_assert_int_eq(diffuse_sampler_create(&sampler, m, schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_USE_EMA, 1), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, 2), DIFFUSE_OK);
    ck_assert_msg(diffuse_sampler_run(sampler, 4, samples) == DIFFUSE_OK, "%s",
                  diffuse_sampler_last_error(sampler));
    for (size_t i = 0; i < 4 * D; i++)
        ck_assert(isfinite(samples[i]));
    diffuse_sampler_free(sampler);

    /* a model checkpoint predicts the same bits */
    diffuse_model *loaded;
    static const int32_t t[BATCH] = {0, 5, 10, 20, 30, 49};
    float before[BATCH * D], after[BATCH * D];
    ck_assert_int_eq(diffuse_model_save(m, schedule, path), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_load(path, &loaded, NULL), DIFFUSE_OK);
    diffuse_model_call call = {sizeof call, BATCH, x0, t, NULL, before, NULL};
    ck_assert_int_eq(diffuse_model_predict(m, &call), DIFFUSE_OK);
    call.out = after;
    ck_assert_int_eq(diffuse_model_predict(loaded, &call), DIFFUSE_OK);
    ck_assert_int_eq(memcmp(before, after, sizeof before), 0);

    diffuse_model_free(loaded);
    diffuse_trainer_free(trainer2);
    diffuse_optimizer_free(optimizer2);
    diffuse_schedule_free(schedule2);
    diffuse_model_free(m2);
    diffuse_trainer_free(trainer);
    diffuse_optimizer_free(optimizer);
    diffuse_schedule_free(schedule);
    diffuse_model_free(m);
    free(x0);
    diffuse_test_remove_dir(dir);
}
END_TEST

/* Random lifetimes: buffers alive at a common step never share memory,
 * the arena is at least the bound, and the same input packs the same way. */
START_TEST(lifetimes_pack_separates_live_buffers)
{
    enum { COUNT = 300, STEPS = 60 };
    nn_lifetime buffers[COUNT], again[COUNT];
    float *draws = random_floats(3 * COUNT, 90, 0.0f, 1.0f);
    for (size_t i = 0; i < COUNT; i++) {
        size_t first = (size_t)(draws[3 * i] * STEPS), length = (size_t)(draws[3 * i + 1] * 20);
        size_t last = first + length < STEPS ? first + length : STEPS - 1;
        buffers[i] = (nn_lifetime){(size_t)(draws[3 * i + 2] * 1000) / 16 * 16, first, last, 0};
    }
    memcpy(again, buffers, sizeof buffers);
    diffuse_error error;
    size_t total, total_again;
    ck_assert_int_eq(nn_lifetimes_pack(&error, buffers, COUNT, &total), DIFFUSE_OK);
    ck_assert_int_eq(nn_lifetimes_pack(&error, again, COUNT, &total_again), DIFFUSE_OK);
    ck_assert_uint_eq(total, total_again);
    ck_assert_mem_eq(buffers, again, sizeof buffers);
    ck_assert_uint_ge(total, nn_lifetimes_bound(buffers, COUNT));
    for (size_t i = 0; i < COUNT; i++) {
        const nn_lifetime *a = &buffers[i];
        ck_assert_uint_le(a->offset + a->size, total);
        for (size_t j = i + 1; j < COUNT; j++) {
            const nn_lifetime *b = &buffers[j];
            bool together = a->first <= b->last && b->first <= a->last;
            bool shared = a->offset < b->offset + b->size && b->offset < a->offset + a->size;
            ck_assert_msg(!(together && shared && a->size > 0 && b->size > 0),
                          "buffers %zu and %zu share memory while both alive", i, j);
        }
    }
    free(draws);
}
END_TEST

/* The benchmark's U-Net (docs/design.md, "The U-Net's activation memory"):
 * training keeps far less than every output, the packing is within 5 % of
 * the lower bound of its lifetimes, and a training step needs less than a
 * quarter of what keeping every output and a gradient for each did. */
START_TEST(unet_memory_plan_is_tight)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_UNET, 784), DIFFUSE_OK);
    set_int(config, DIFFUSE_MODEL_ATTENTION_LEVELS, 4);
    set_int(config, DIFFUSE_MODEL_LEVELS, 3);
    set_int(config, DIFFUSE_MODEL_RES_BLOCKS, 2);
    set_int(config, DIFFUSE_MODEL_BASE_CHANNELS, 32);
    diffuse_model *m;
    ck_assert_msg(diffuse_model_create(&m, config) == DIFFUSE_OK, "%s", diffuse_last_error());
    diffuse_model_config_free(config);
    const nn_layer_list *list = nn_unet_layers(m);
    nn_executor ex;
    diffuse_error error;
    ck_assert_int_eq(nn_executor_init(&error, &ex, list, 784, 32, 10000.0, 0, 0), DIFFUSE_OK);
    size_t outputs = 0;
    for (size_t k = 0; k < list->count; k++)
        outputs += list->layers[k].out;
    ck_assert_uint_lt(ex.train_plan.kept_floats, outputs * 2 / 5);
    ck_assert_uint_le(ex.train_plan.row_floats, ex.train_plan.bound + ex.train_plan.bound / 20);
    ck_assert_uint_lt(nn_executor_train_floats(&ex), 2 * outputs / 4);
    ck_assert_uint_lt(ex.predict_plan.row_floats, outputs / 4);
    nn_executor_release(&ex);
    diffuse_model_free(m);
}
END_TEST

static Suite *unet_suite(void)
{
    Suite *suite = suite_create("unet");
    TCase *network = tcase_create("network");
    tcase_add_loop_test(network, unet_forward_and_gradients, 0, 2);
    tcase_add_test(network, unet_defaults_and_layout);
    tcase_add_test(network, unet_checks_labels);
    tcase_add_test(network, unet_trains_resumes_and_samples);
    tcase_add_test(network, lifetimes_pack_separates_live_buffers);
    tcase_add_test(network, unet_memory_plan_is_tight);
    suite_add_tcase(suite, network);
    return suite;
}

int main(void)
{
    return diffuse_test_run(unet_suite());
}
