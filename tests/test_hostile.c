/* Hostile input, one table: every public function fed what a careless or
 * malicious caller passes — NULL handles and out-pointers, zero, huge and
 * overflowing sizes, NaN and infinities, unknown enum values and option
 * keys, calls in the wrong state, callbacks that fail, overfill, return NaN
 * or cancel, files of another kind, paths that are directories or missing.
 *
 * Each case names the status the header documents and a piece of the message
 * that says what was wrong, and the suite checks for every case that
 *   - the status and the message (handle's last error and diffuse_last_error)
 *     are the documented ones,
 *   - nothing was written to the caller's outputs (every output buffer starts
 *     as a sentinel pattern and must still hold it; handle out-pointers must
 *     be NULL) — except by the cases named sampler_in_place_*: a sampler run
 *     denoises in the caller's buffer, whose contents are unspecified after a
 *     failure,
 *   - the model's parameters are unchanged (a failed call changes nothing),
 * and LeakSanitizer (the ASan build) that nothing leaked. Add a case with
 * every public function. */
#include <check.h>
#include <diffuse/diffuse.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "test_support.h"

enum { DIM = 2, T = 10, ROWS = 4, OUT_FLOATS = 64, OUT_DOUBLES = 16 };

/* Everything a case may use: valid handles, buffers and paths. */
typedef struct fixture {
    diffuse_schedule *schedule;
    diffuse_model_config *config;
    diffuse_model *model, *callback_model, *nan_model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    diffuse_sampler *sampler, *callback_sampler;
    diffuse_rng *rng;
    float x[ROWS * DIM], nan_x[ROWS * DIM], inf_x[ROWS * DIM];
    int32_t t[ROWS], negative_t[ROWS], late_t[ROWS];
    /* Outputs: start as sentinels, must end as sentinels. */
    float out[OUT_FLOATS];
    double dout[OUT_DOUBLES];
    int64_t iout;
    size_t zout;
    void *handle_out; /* a constructor's *out: must be NULL after a failure */
    diffuse_option_info info;
    diffuse_nll_terms nll; /* an output: must stay as the sentinel */
    diffuse_nll_request nll_request;
    const char *name;
    size_t shape[4];
    diffuse_model_option option;
    diffuse_toy2d toy;
    int flag;
    char dir[256], file[300], missing[300], under_file[320], corrupt[300], model_file[300];
} fixture;

static fixture the_fixture;

typedef struct hostile_case {
    const char *name;
    diffuse_status (*call)(fixture *f);
    diffuse_status status;
    const char *message; /* a substring of the message */
} hostile_case;

/* ---- Callbacks that misbehave ------------------------------------------- */

static int data_fails(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                      char *message, size_t message_size)
{
    (void)user, (void)x, (void)labels, (void)capacity, (void)dim;
    snprintf(message, message_size, "the disk went away");
    return -1;
}

static int data_overfills(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                          char *message, size_t message_size)
{
    (void)user, (void)labels, (void)message, (void)message_size;
    for (size_t i = 0; i < capacity * dim; i++)
        x[i] = 0.5f;
    return (int)capacity + 1;
}

static int data_nan(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                    char *message, size_t message_size)
{
    (void)user, (void)labels, (void)message, (void)message_size;
    for (size_t i = 0; i < capacity * dim; i++)
        x[i] = NAN;
    return (int)capacity;
}

static int data_always_empty(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                             char *message, size_t message_size)
{
    (void)user, (void)x, (void)labels, (void)capacity, (void)dim, (void)message,
        (void)message_size;
    return 0;
}

static int train_progress_cancels(void *user, uint64_t step, double loss, double steps_per_second)
{
    (void)user, (void)step, (void)loss, (void)steps_per_second;
    return 1;
}

static int sample_progress_cancels(void *user, uint64_t done, uint64_t total)
{
    (void)user, (void)done, (void)total;
    return 1;
}

static int predict_fails(void *user, const diffuse_model_call *call, size_t dim)
{
    (void)user, (void)call, (void)dim;
    return -1;
}

static int predict_nan(void *user, const diffuse_model_call *call, size_t dim)
{
    (void)user;
    for (size_t i = 0; i < call->n * dim; i++)
        call->out[i] = NAN;
    return 0;
}

/* ---- The cases ------------------------------------------------------------ */

/* X(name, status, message substring, expression of `f`) */
#define HOSTILE_CASES(X)                                                                           \
    /* schedule.h */                                                                               \
    X(schedule_create_null_out, INVALID_ARGUMENT, "out",                                           \
      diffuse_schedule_create(NULL, DIFFUSE_SCHEDULE_LINEAR, T))                                   \
    X(schedule_create_zero_steps, INVALID_ARGUMENT, "steps",                                       \
      diffuse_schedule_create((diffuse_schedule **)&f->handle_out, DIFFUSE_SCHEDULE_LINEAR, 0))    \
    X(schedule_create_huge_steps, INVALID_ARGUMENT, "steps",                                       \
      diffuse_schedule_create((diffuse_schedule **)&f->handle_out, DIFFUSE_SCHEDULE_LINEAR,        \
          SIZE_MAX))                                                                               \
    X(schedule_create_unknown_kind, INVALID_ARGUMENT, "kind",                                      \
      diffuse_schedule_create((diffuse_schedule **)&f->handle_out, (diffuse_schedule_kind)77, T))  \
    X(schedule_create_custom_kind, INVALID_ARGUMENT, "custom",                                     \
      diffuse_schedule_create((diffuse_schedule **)&f->handle_out, DIFFUSE_SCHEDULE_CUSTOM, T))    \
    X(schedule_custom_null_betas, INVALID_ARGUMENT, "betas",                                       \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, NULL, T))                \
    X(schedule_custom_nan_beta, NUMERIC, "betas[1] is not finite",                                 \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, (const double[]){0.1,    \
          NAN, 0.2}, 3))                                                                           \
    X(schedule_custom_inf_beta, NUMERIC, "betas[1] is not finite",                                 \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, (const double[]){0.1,    \
          INFINITY}, 2))                                                                           \
    X(schedule_custom_zero_beta, OUT_OF_RANGE, "betas[0] = 0 is outside",                          \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, (const double[]){0.0,    \
          0.1}, 2))                                                                                \
    X(schedule_custom_beta_above_one, OUT_OF_RANGE, "betas[1] = 1.5 is outside",                   \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, (const double[]){0.1,    \
          1.5}, 2))                                                                                \
    X(schedule_custom_negative_beta, OUT_OF_RANGE, "is outside (0, 1]",                            \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, (const double[]){-0.1,   \
          0.1}, 2))                                                                                \
    X(schedule_custom_zero_steps, INVALID_ARGUMENT, "steps",                                       \
      diffuse_schedule_create_custom((diffuse_schedule **)&f->handle_out, (const double[]){0.1},   \
          0))                                                                                      \
    X(schedule_clone_null_source, INVALID_ARGUMENT, "schedule",                                    \
      diffuse_schedule_clone((diffuse_schedule **)&f->handle_out, NULL))                           \
    X(schedule_set_nan, NUMERIC, "beta_end: value is not finite",                                  \
      diffuse_schedule_set_double(f->schedule, DIFFUSE_SCHEDULE_BETA_END, NAN))                    \
    X(schedule_set_inf, NUMERIC, "beta_end: value is not finite",                                  \
      diffuse_schedule_set_double(f->schedule, DIFFUSE_SCHEDULE_BETA_END, INFINITY))               \
    X(schedule_set_unknown_option, INVALID_ARGUMENT, "option",                                     \
      diffuse_schedule_set_double(f->schedule, (diffuse_schedule_option)99, 0.1))                  \
    X(schedule_set_option_of_other_kind, UNSUPPORTED,                                              \
      "schedule option cosine_offset does not apply to a linear sch",                              \
      diffuse_schedule_set_double(f->schedule, DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.01))              \
    X(schedule_set_wrong_type, INVALID_ARGUMENT,                                                   \
      "schedule option beta_end is double-valued; use the double se",                              \
      diffuse_schedule_set_int(f->schedule, DIFFUSE_SCHEDULE_BETA_END, 1))                         \
    X(schedule_set_null, INVALID_ARGUMENT, "schedule",                                             \
      diffuse_schedule_set_double(NULL, DIFFUSE_SCHEDULE_BETA_END, 0.02))                          \
    X(schedule_start_above_end, OUT_OF_RANGE,                                                      \
      "beta_start = 0.5 would exceed beta_end = 0.02 (to move the r",                              \
      diffuse_schedule_set_double(f->schedule, DIFFUSE_SCHEDULE_BETA_START, 0.5))                  \
    X(schedule_get_null_value, INVALID_ARGUMENT, "value",                                          \
      diffuse_schedule_get_double(f->schedule, DIFFUSE_SCHEDULE_BETA_END, NULL))                   \
    X(schedule_steps_null, INVALID_ARGUMENT, "schedule must not be NULL",                          \
      diffuse_schedule_steps(NULL, &f->zout))                                                      \
    X(schedule_value_t_past_end, OUT_OF_RANGE, "t",                                                \
      diffuse_schedule_value(f->schedule, DIFFUSE_TABLE_BETA, T, &f->dout[0]))                     \
    X(schedule_value_unknown_table, INVALID_ARGUMENT, "table",                                     \
      diffuse_schedule_value(f->schedule, (diffuse_schedule_table)55, 0, &f->dout[0]))             \
    X(schedule_table_wrong_count, MISMATCH, "count = 11 but the schedule has 10 steps",            \
      diffuse_schedule_get_table(f->schedule, DIFFUSE_TABLE_BETA, f->dout, T + 1))                 \
    X(schedule_table_null_out, INVALID_ARGUMENT, "out must not be NULL",                           \
      diffuse_schedule_get_table(f->schedule, DIFFUSE_TABLE_BETA, NULL, T))                        \
    X(schedule_option_info_past_end, OUT_OF_RANGE, "schedule option index 1000 is outside [0, 3)", \
      diffuse_schedule_option_info(DIFFUSE_SCHEDULE_LINEAR, 1000, &f->info))                       \
    X(schedule_bounds_unknown_option, INVALID_ARGUMENT, "option",                                  \
      diffuse_schedule_double_bounds((diffuse_schedule_option)99, &f->dout[0], &f->dout[1]))       \
    /* forward.h, posterior.h */                                                                   \
    X(q_sample_null_schedule, INVALID_ARGUMENT, "schedule",                                        \
      diffuse_q_sample(NULL, ROWS, DIM, f->t, f->x, f->x, f->out))                                 \
    X(q_sample_zero_rows, INVALID_ARGUMENT, "sizes must be positive (n = 0, d = 2)",               \
      diffuse_q_sample(f->schedule, 0, DIM, f->t, f->x, f->x, f->out))                             \
    X(q_sample_overflowing_size, INVALID_ARGUMENT, "is too large",                                 \
      diffuse_q_sample(f->schedule, SIZE_MAX / 2, 3, f->t, f->x, f->x, f->out))                    \
    X(q_sample_negative_t, OUT_OF_RANGE, "t",                                                      \
      diffuse_q_sample(f->schedule, ROWS, DIM, f->negative_t, f->x, f->x, f->out))                 \
    X(q_sample_t_past_end, OUT_OF_RANGE, "t",                                                      \
      diffuse_q_sample(f->schedule, ROWS, DIM, f->late_t, f->x, f->x, f->out))                     \
    X(q_sample_nan_x0, NUMERIC, "x0",                                                              \
      diffuse_q_sample(f->schedule, ROWS, DIM, f->t, f->nan_x, f->x, f->out))                      \
    X(q_sample_inf_eps, NUMERIC, "eps",                                                            \
      diffuse_q_sample(f->schedule, ROWS, DIM, f->t, f->x, f->inf_x, f->out))                      \
    X(q_sample_null_out, INVALID_ARGUMENT, "xt must not be NULL",                                  \
      diffuse_q_sample(f->schedule, ROWS, DIM, f->t, f->x, f->x, NULL))                            \
    X(q_sample_rng_null_rng, INVALID_ARGUMENT, "rng",                                              \
      diffuse_q_sample_rng(f->schedule, ROWS, DIM, f->t, f->x, NULL, NULL, f->out))                \
    X(q_marginal_t_past_end, OUT_OF_RANGE, "t",                                                    \
      diffuse_q_marginal(f->schedule, T, &f->dout[0], &f->dout[1]))                                \
    X(q_step_null_out, INVALID_ARGUMENT, "mean_coef must not be NULL",                             \
      diffuse_q_step(f->schedule, 0, NULL, &f->dout[1]))                                           \
    X(posterior_mean_nan_xt, NUMERIC, "xt[7] is not finite (nan)",                                 \
      diffuse_posterior_mean(f->schedule, ROWS, DIM, f->t, f->x, f->nan_x, f->out))                \
    X(posterior_mean_zero_dim, INVALID_ARGUMENT, "sizes must be positive (n = 4, d = 0)",          \
      diffuse_posterior_mean(f->schedule, ROWS, 0, f->t, f->x, f->x, f->out))                      \
    X(posterior_variance_t_past_end, OUT_OF_RANGE, "t",                                            \
      diffuse_posterior_variance(f->schedule, T, &f->dout[0], &f->dout[1]))                        \
    X(x0_from_eps_negative_t, OUT_OF_RANGE, "t",                                                   \
      diffuse_predict_x0_from_eps(f->schedule, ROWS, DIM, f->negative_t, f->x, f->x, f->out))      \
    X(eps_from_x0_inf, NUMERIC, "x0[1] is not finite (-inf)",                                      \
      diffuse_predict_eps_from_x0(f->schedule, ROWS, DIM, f->t, f->x, f->inf_x, f->out))           \
    X(velocity_null_eps, INVALID_ARGUMENT, "eps must not be NULL",                                 \
      diffuse_velocity(f->schedule, ROWS, DIM, f->t, f->x, NULL, f->out))                          \
    X(x0_from_v_late_t, OUT_OF_RANGE, "t",                                                         \
      diffuse_predict_x0_from_v(f->schedule, ROWS, DIM, f->late_t, f->x, f->x, f->out))            \
    X(eps_from_v_overflow, INVALID_ARGUMENT, "is too large",                                       \
      diffuse_predict_eps_from_v(f->schedule, SIZE_MAX, 2, f->t, f->x, f->x, f->out))              \
    X(model_mean_nan_eps, NUMERIC, "eps[7] is not finite (nan)",                                   \
      diffuse_posterior_model_mean(f->schedule, ROWS, DIM, f->t, f->x, f->nan_x, f->out))          \
    /* rng.h */                                                                                    \
    X(rng_create_null_out, INVALID_ARGUMENT, "out",                                                \
      diffuse_rng_create(NULL, 1, 2))                                                              \
    X(rng_uniform_null_out, INVALID_ARGUMENT, "out must not be NULL",                              \
      diffuse_rng_uniform(f->rng, NULL, 4))                                                        \
    X(rng_normal_null_rng, INVALID_ARGUMENT, "rng must not be NULL",                               \
      diffuse_rng_normal(NULL, f->out, 4))                                                         \
    X(rng_normal_past_stream_end, OUT_OF_RANGE, "runs past the end of the stream (2^64 - 1)",      \
      (diffuse_rng_set_position(f->rng, UINT64_MAX - 2), diffuse_rng_normal(f->rng, f->out, 8)))   \
    X(rng_state_null, INVALID_ARGUMENT, "rng must not be NULL",                                    \
      diffuse_rng_get_state(NULL, NULL, NULL, NULL))                                               \
    /* model.h: configurations */                                                                  \
    X(config_create_zero_dim, OUT_OF_RANGE, "model dimension 0 is outside",                        \
      diffuse_model_config_create((diffuse_model_config **)&f->handle_out, DIFFUSE_ARCH_MLP, 0))   \
    X(config_create_huge_dim, OUT_OF_RANGE, "is outside [1, 16777216]",                            \
      diffuse_model_config_create((diffuse_model_config **)&f->handle_out, DIFFUSE_ARCH_MLP,       \
          SIZE_MAX))                                                                               \
    X(config_create_unknown_arch, INVALID_ARGUMENT, "arch",                                        \
      diffuse_model_config_create((diffuse_model_config **)&f->handle_out,                         \
          (diffuse_architecture)42, DIM))                                                          \
    X(model_create_from_callback_config, INVALID_ARGUMENT,                                         \
      "callback models are created with their own constructor (diff",                              \
      model_from_callback_config(f))                                                               \
    X(config_copy_null, INVALID_ARGUMENT, "config must not be NULL",                               \
      diffuse_model_config_copy((diffuse_model_config **)&f->handle_out, NULL))                    \
    X(config_width_zero, OUT_OF_RANGE, "model option hidden_width = 0 is outside [1, 65536]",      \
      diffuse_model_config_set_int(f->config, DIFFUSE_MODEL_HIDDEN_WIDTH, 0))                      \
    X(config_width_huge, OUT_OF_RANGE, "model option hidden_width =",                              \
      diffuse_model_config_set_int(f->config, DIFFUSE_MODEL_HIDDEN_WIDTH, INT64_MAX))              \
    X(config_layers_negative, OUT_OF_RANGE, "model option hidden_layers = -1 is outside [0, 256]", \
      diffuse_model_config_set_int(f->config, DIFFUSE_MODEL_HIDDEN_LAYERS, -1))                    \
    X(config_unknown_activation, OUT_OF_RANGE, "model option activation = 9 is outside [0, 1]",    \
      diffuse_model_config_set_int(f->config, DIFFUSE_MODEL_ACTIVATION, 9))                        \
    X(config_unknown_prediction, OUT_OF_RANGE, "model option prediction = 3 is outside [0, 2]",    \
      diffuse_model_config_set_int(f->config, DIFFUSE_MODEL_PREDICTION, 3))                        \
    X(config_unknown_option, INVALID_ARGUMENT, "option",                                           \
      diffuse_model_config_set_int(f->config, (diffuse_model_option)1234, 1))                      \
    X(config_max_period_nan, NUMERIC, "time_max_period: value is not finite",                      \
      diffuse_model_config_set_double(f->config, DIFFUSE_MODEL_TIME_MAX_PERIOD, NAN))              \
    X(config_get_null_value, INVALID_ARGUMENT, "value must not be NULL",                           \
      diffuse_model_config_get_int(f->config, DIFFUSE_MODEL_HIDDEN_WIDTH, NULL))                   \
    X(config_find_unknown_name, INVALID_ARGUMENT,                                                  \
      "the mlp architecture has no option named \"no_such_option\"",                               \
      diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, "no_such_option", &f->option, &f->flag))  \
    X(config_find_null_name, INVALID_ARGUMENT, "name",                                             \
      diffuse_model_config_find_option(DIFFUSE_ARCH_MLP, NULL, &f->option, &f->flag))              \
    X(config_option_info_past_end, OUT_OF_RANGE, "model option index 500 is outside [0, 10)",       \
      diffuse_model_config_option_info(DIFFUSE_ARCH_MLP, 500, &f->info))                           \
    X(architecture_name_unknown, INVALID_ARGUMENT, "unknown model architecture 9",                 \
      diffuse_model_architecture_name((diffuse_architecture)9, &f->name))                          \
    /* model.h: models */                                                                          \
    X(model_create_null_config, INVALID_ARGUMENT, "config",                                        \
      diffuse_model_create((diffuse_model **)&f->handle_out, NULL))                                \
    X(model_create_null_out, INVALID_ARGUMENT, "out",                                              \
      diffuse_model_create(NULL, f->config))                                                       \
    X(callback_model_null_fn, INVALID_ARGUMENT, "fn must not be NULL",                             \
      diffuse_model_create_callback((diffuse_model **)&f->handle_out, DIM,                         \
          DIFFUSE_PREDICT_EPSILON, NULL, NULL))                                                    \
    X(callback_model_zero_dim, OUT_OF_RANGE, "model dimension 0",                                  \
      diffuse_model_create_callback((diffuse_model **)&f->handle_out, 0, DIFFUSE_PREDICT_EPSILON,  \
          diffuse_test_predict_zero, NULL))                                                        \
    X(callback_model_unknown_prediction, INVALID_ARGUMENT, "prediction",                           \
      diffuse_model_create_callback((diffuse_model **)&f->handle_out, DIM, (diffuse_prediction)8,  \
          diffuse_test_predict_zero, NULL))                                                        \
    X(model_dim_null, INVALID_ARGUMENT, "model must not be NULL",                                  \
      diffuse_model_dim(NULL, &f->zout))                                                           \
    X(model_get_params_wrong_count, MISMATCH,                                                      \
      "out holds 3 floats but the model has 850 parameters",                                       \
      diffuse_model_get_params(f->model, f->out, 3))                                               \
    X(model_set_params_nan, NUMERIC, "in[425] is not finite (nan)",                                \
      set_nan_params(f))                                                                           \
    X(model_set_params_null, INVALID_ARGUMENT, "in must not be NULL",                              \
      diffuse_model_set_params(f->model, NULL, 0))                                                 \
    X(model_get_ema_without_ema, STATE, "the model has no moving average yet",                     \
      get_ema(f))                                                                                  \
    X(model_tensor_info_past_end, OUT_OF_RANGE, "tensor index 1000 is outside [0, 14)",            \
      diffuse_model_tensor_info(f->model, 1000, &f->name, &f->zout, &f->zout, f->shape))           \
    X(predict_null_call, INVALID_ARGUMENT, "call must not be NULL",                                \
      diffuse_model_predict(f->model, NULL))                                                       \
    X(predict_small_call_size, INVALID_ARGUMENT, "size",                                           \
      predict_with_size(f, 8))                                                                     \
    X(predict_null_out, INVALID_ARGUMENT, "out",                                                   \
      predict(f, f->model, f->t, f->x, NULL))                                                      \
    X(predict_negative_t, INVALID_ARGUMENT, "t",                                                   \
      predict(f, f->model, f->negative_t, f->x, f->out))                                           \
    X(predict_nan_input, NUMERIC, "x_t",                                                           \
      predict(f, f->model, f->t, f->nan_x, f->out))                                                \
    X(predict_inf_input, NUMERIC, "x_t",                                                           \
      predict(f, f->model, f->t, f->inf_x, f->out))                                                \
    X(predict_out_overlaps_input, INVALID_ARGUMENT, "overlap",                                     \
      predict_in_place(f))                                                                         \
    X(predict_out_variance_unsupported, UNSUPPORTED, "out_variance",                               \
      predict_variance(f))                                                                         \
    X(predict_callback_fails, CALLBACK, "the prediction callback failed (returned -1)",            \
      predict(f, f->callback_model, f->t, f->x, f->out))                                           \
    X(predict_callback_returns_nan, NUMERIC, "output",                                             \
      predict_nan_model(f))                                                                        \
    /* optim.h */                                                                                  \
    X(optimizer_create_null_model, INVALID_ARGUMENT, "model",                                      \
      diffuse_optimizer_create((diffuse_optimizer **)&f->handle_out, DIFFUSE_OPTIMIZER_ADAM,       \
          NULL))                                                                                   \
    X(optimizer_create_unknown_kind, INVALID_ARGUMENT, "kind",                                     \
      diffuse_optimizer_create((diffuse_optimizer **)&f->handle_out, (diffuse_optimizer_kind)5,    \
          f->model))                                                                               \
    X(optimizer_create_callback_model, INVALID_ARGUMENT,                                           \
      "model has no parameters to optimize (a callback model?)",                                   \
      diffuse_optimizer_create((diffuse_optimizer **)&f->handle_out, DIFFUSE_OPTIMIZER_ADAM,       \
          f->callback_model))                                                                      \
    X(optimizer_lr_nan, NUMERIC, "learning_rate: value is not finite",                             \
      diffuse_optimizer_set_double(f->optimizer, DIFFUSE_OPTIMIZER_LEARNING_RATE, NAN))            \
    X(optimizer_lr_negative, OUT_OF_RANGE,                                                         \
      "optimizer option learning_rate = -0.001 is outside [0, 1]",                                 \
      diffuse_optimizer_set_double(f->optimizer, DIFFUSE_OPTIMIZER_LEARNING_RATE, -1e-3))          \
    X(optimizer_beta1_one, OUT_OF_RANGE, "optimizer option beta1 = 1 is outside [0, 0.",           \
      diffuse_optimizer_set_double(f->optimizer, DIFFUSE_OPTIMIZER_BETA1, 1.0))                    \
    X(optimizer_ema_inf, NUMERIC, "ema_decay: value is not finite",                                \
      diffuse_optimizer_set_double(f->optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, INFINITY))           \
    X(optimizer_unknown_decay, OUT_OF_RANGE, "optimizer option decay = 17 is outside [0, 2]",      \
      diffuse_optimizer_set_int(f->optimizer, DIFFUSE_OPTIMIZER_DECAY, 17))                        \
    X(optimizer_warmup_negative, OUT_OF_RANGE,                                                     \
      "optimizer option warmup_steps = -5 is outside [0,",                                         \
      diffuse_optimizer_set_int(f->optimizer, DIFFUSE_OPTIMIZER_WARMUP_STEPS, -5))                 \
    X(optimizer_unknown_option, INVALID_ARGUMENT, "option",                                        \
      diffuse_optimizer_set_double(f->optimizer, (diffuse_optimizer_option)77, 0.1))               \
    X(optimizer_wrong_type, INVALID_ARGUMENT,                                                      \
      "optimizer option learning_rate is double-valued; use the dou",                              \
      diffuse_optimizer_set_int(f->optimizer, DIFFUSE_OPTIMIZER_LEARNING_RATE, 1))                 \
    X(optimizer_step_count_null, INVALID_ARGUMENT, "optimizer must not be NULL",                   \
      diffuse_optimizer_step_count(NULL, NULL))                                                    \
    X(optimizer_option_info_unknown_kind, INVALID_ARGUMENT, "unknown optimizer kind 9",            \
      diffuse_optimizer_option_info((diffuse_optimizer_kind)9, 0, NULL))                           \
    /* train.h */                                                                                  \
    X(trainer_create_null_model, INVALID_ARGUMENT, "model",                                        \
      diffuse_trainer_create((diffuse_trainer **)&f->handle_out, NULL, f->schedule, f->optimizer)) \
    X(trainer_create_null_schedule, INVALID_ARGUMENT, "schedule",                                  \
      diffuse_trainer_create((diffuse_trainer **)&f->handle_out, f->model, NULL, f->optimizer))    \
    X(trainer_create_callback_model, UNSUPPORTED, "cannot be trained",                             \
      diffuse_trainer_create((diffuse_trainer **)&f->handle_out, f->callback_model, f->schedule,   \
          f->optimizer))                                                                           \
    X(trainer_create_foreign_optimizer, MISMATCH, "optimizer",                                     \
      trainer_with_other_optimizer(f))                                                             \
    X(trainer_batch_zero, OUT_OF_RANGE, "trainer option batch_size = 0 is outside [1,",            \
      diffuse_trainer_set_int(f->trainer, DIFFUSE_TRAINER_BATCH_SIZE, 0))                          \
    X(trainer_batch_huge, OUT_OF_RANGE, "trainer option batch_size =",                             \
      diffuse_trainer_set_int(f->trainer, DIFFUSE_TRAINER_BATCH_SIZE, INT64_MAX))                  \
    X(trainer_threads_negative, OUT_OF_RANGE, "trainer option threads = -1 is outside [0, 1024]",  \
      diffuse_trainer_set_int(f->trainer, DIFFUSE_TRAINER_THREADS, -1))                            \
    X(trainer_unknown_option, INVALID_ARGUMENT, "option",                                          \
      diffuse_trainer_set_int(f->trainer, (diffuse_trainer_option)40, 1))                          \
    X(trainer_step_without_data, STATE, "data",                                                    \
      diffuse_trainer_step(f->trainer, NULL))                                                      \
    X(trainer_train_without_data, STATE, "data",                                                   \
      diffuse_trainer_train(f->trainer, 3, NULL))                                                  \
    X(trainer_data_fails, CALLBACK, "the disk went away",                                          \
      step_with_data(f, data_fails))                                                               \
    X(trainer_data_overfills, CALLBACK,                                                            \
      "data callback returned 5 rows, more than the 4 asked for",                                  \
      step_with_data(f, data_overfills))                                                           \
    X(trainer_data_nan, NUMERIC, "batch x0[0] is not finite (nan)",                                \
      step_with_data(f, data_nan))                                                                 \
    X(trainer_data_never_fills, CALLBACK,                                                          \
      "data callback returned no rows at the start of an epoch",                                   \
      step_with_data(f, data_always_empty))                                                        \
    X(trainer_progress_cancels, CANCELLED,                                                         \
      "training stopped by the progress callback after 1 steps",                                   \
      train_cancelled(f))                                                                          \
    X(trainer_progress_zero_interval, OUT_OF_RANGE, "interval must be at least 1",                 \
      diffuse_trainer_set_progress(f->trainer, train_progress_cancels, NULL, 0))                   \
    X(trainer_step_batch_null, INVALID_ARGUMENT, "x0 must not be NULL",                            \
      diffuse_trainer_step_batch(f->trainer, ROWS, NULL, NULL))                                    \
    X(trainer_step_batch_zero_rows, INVALID_ARGUMENT, "sizes must be positive (n = 0, d = 2)",     \
      diffuse_trainer_step_batch(f->trainer, 0, f->x, NULL))                                       \
    X(trainer_step_batch_huge_rows, INVALID_ARGUMENT, "is too large",                              \
      diffuse_trainer_step_batch(f->trainer, SIZE_MAX / 4, f->x, NULL))                            \
    X(trainer_step_batch_nan, NUMERIC, "x0",                                                       \
      diffuse_trainer_step_batch(f->trainer, ROWS, f->nan_x, NULL))                                \
    X(trainer_step_batch_inf, NUMERIC, "x0",                                                       \
      diffuse_trainer_step_batch(f->trainer, ROWS, f->inf_x, NULL))                                \
    X(trainer_step_count_null, INVALID_ARGUMENT, "steps must not be NULL",                         \
      diffuse_trainer_step_count(f->trainer, NULL))                                                \
    /* sampler.h */                                                                                \
    X(sampler_create_null_model, INVALID_ARGUMENT, "model",                                        \
      diffuse_sampler_create((diffuse_sampler **)&f->handle_out, NULL, f->schedule))               \
    X(sampler_create_null_schedule, INVALID_ARGUMENT, "schedule",                                  \
      diffuse_sampler_create((diffuse_sampler **)&f->handle_out, f->model, NULL))                  \
    X(sampler_unknown_variance, OUT_OF_RANGE, "sampler option variance = 7 is outside [0, 2]",     \
      diffuse_sampler_set_int(f->sampler, DIFFUSE_SAMPLER_VARIANCE, 7))                            \
    X(sampler_clip_nan, NUMERIC, "clip_x0: value is not finite",                                   \
      diffuse_sampler_set_double(f->sampler, DIFFUSE_SAMPLER_CLIP_X0, NAN))                        \
    X(sampler_clip_negative, OUT_OF_RANGE, "sampler option clip_x0 = -1 is outside [0, 1e+30]",    \
      diffuse_sampler_set_double(f->sampler, DIFFUSE_SAMPLER_CLIP_X0, -1.0))                       \
    X(sampler_chunk_zero, OUT_OF_RANGE, "sampler option chunk_rows = 0 is outside [1,",            \
      diffuse_sampler_set_int(f->sampler, DIFFUSE_SAMPLER_CHUNK_ROWS, 0))                          \
    X(sampler_threads_huge, OUT_OF_RANGE, "sampler option threads =",                              \
      diffuse_sampler_set_int(f->sampler, DIFFUSE_SAMPLER_THREADS, 1 << 20))                       \
    X(sampler_unknown_option, INVALID_ARGUMENT, "option",                                          \
      diffuse_sampler_set_int(f->sampler, (diffuse_sampler_option)66, 1))                          \
    X(sampler_wrong_type, INVALID_ARGUMENT,                                                        \
      "sampler option seed is integer-valued; use the int setter/ge",                              \
      diffuse_sampler_set_double(f->sampler, DIFFUSE_SAMPLER_SEED, 1.0))                           \
    X(sampler_use_ema_without_ema, STATE, "EMA",                                                   \
      sample_with_ema(f))                                                                          \
    X(sampler_run_zero_rows, INVALID_ARGUMENT, "sizes must be positive (n = 0, d = 2)",            \
      diffuse_sampler_run(f->sampler, 0, f->out))                                                  \
    X(sampler_run_overflowing_rows, INVALID_ARGUMENT, "is too large",                              \
      diffuse_sampler_run(f->sampler, SIZE_MAX / 2, f->out))                                       \
    X(sampler_run_null_out, INVALID_ARGUMENT, "out",                                               \
      diffuse_sampler_run(f->sampler, ROWS, NULL))                                                 \
    X(sampler_in_place_progress_cancels, CANCELLED, "sampling cancelled by the progress callback", \
      sample_cancelled(f))                                                                         \
    X(sampler_in_place_callback_model_fails, CALLBACK,                                             \
      "the prediction callback failed (returned -1)",                                              \
      diffuse_sampler_run(f->callback_sampler, ROWS, f->out))                                      \
    X(sampler_eps_model_zero_terminal_snr, UNSUPPORTED, "v-prediction",                            \
      sample_zero_snr(f))                                                                          \
    X(sampler_standalone_null_out, INVALID_ARGUMENT, "out",                                        \
      diffuse_sampler_create_standalone(NULL, f->schedule, DIM, DIFFUSE_PREDICT_EPSILON))          \
    X(sampler_standalone_null_schedule, INVALID_ARGUMENT, "schedule",                              \
      diffuse_sampler_create_standalone((diffuse_sampler **)&f->handle_out, NULL, DIM, DIFFUSE_PREDICT_EPSILON))\
    X(sampler_standalone_zero_dim, OUT_OF_RANGE, "dim 0",                                          \
      diffuse_sampler_create_standalone((diffuse_sampler **)&f->handle_out, f->schedule, 0, DIFFUSE_PREDICT_EPSILON))\
    X(sampler_standalone_huge_dim, OUT_OF_RANGE, "is outside",                                     \
      diffuse_sampler_create_standalone((diffuse_sampler **)&f->handle_out, f->schedule, SIZE_MAX, DIFFUSE_PREDICT_EPSILON))\
    X(sampler_standalone_unknown_prediction, INVALID_ARGUMENT, "unknown prediction 3",             \
      diffuse_sampler_create_standalone((diffuse_sampler **)&f->handle_out, f->schedule, DIM, (diffuse_prediction)3))\
    X(sampler_unknown_method, OUT_OF_RANGE, "method",                                              \
      diffuse_sampler_set_int(f->sampler, DIFFUSE_SAMPLER_METHOD, 3))                              \
    X(sampler_unknown_spacing, OUT_OF_RANGE, "spacing",                                            \
      diffuse_sampler_set_int(f->sampler, DIFFUSE_SAMPLER_SPACING, -1))                            \
    X(sampler_steps_past_t, OUT_OF_RANGE, "steps",                                                 \
      diffuse_sampler_set_int(f->sampler, DIFFUSE_SAMPLER_STEPS, T + 1))                           \
    X(sampler_eta_nan, NUMERIC, "eta: value is not finite",                                                        \
      diffuse_sampler_set_double(f->sampler, DIFFUSE_SAMPLER_ETA, NAN))                            \
    X(sampler_threshold_max_below_one, OUT_OF_RANGE, "threshold_max",                              \
      diffuse_sampler_set_double(f->sampler, DIFFUSE_SAMPLER_THRESHOLD_MAX, 0.5))                  \
    X(sampler_clip_and_threshold, INVALID_ARGUMENT, "clip_x0 and threshold_percentile are both set",                                     \
      sample_clipped_and_thresholded(f))                                                           \
    X(sampler_list_increasing, INVALID_ARGUMENT, "timestep 1 is 5 after 2",                                        \
      diffuse_sampler_set_timesteps(f->sampler, (const int32_t[]){2, 5}, 2))                       \
    X(sampler_list_duplicate, INVALID_ARGUMENT, "timestep 1 repeats 5",                                         \
      diffuse_sampler_set_timesteps(f->sampler, (const int32_t[]){5, 5}, 2))                       \
    X(sampler_list_negative, INVALID_ARGUMENT, "timestep 1 is -1, outside [0, 10)",                                          \
      diffuse_sampler_set_timesteps(f->sampler, (const int32_t[]){5, -1}, 2))                      \
    X(sampler_list_past_t, INVALID_ARGUMENT, "timestep 0 is 10, outside [0, 10)",                                            \
      diffuse_sampler_set_timesteps(f->sampler, (const int32_t[]){T, 0}, 2))                       \
    X(sampler_list_null_with_count, INVALID_ARGUMENT, "list",                                      \
      diffuse_sampler_set_timesteps(f->sampler, NULL, 3))                                          \
    X(sampler_list_null_count, INVALID_ARGUMENT, "count must not be NULL",                                          \
      diffuse_sampler_timesteps(f->sampler, (int32_t *)f->out, 64, NULL))                          \
    X(sampler_list_small_capacity, INVALID_ARGUMENT, "capacity 1 is below the list's 10 entries",                                   \
      diffuse_sampler_timesteps(f->sampler, (int32_t *)f->out, 1, &f->zout))                       \
    X(sampler_noise_null_x, INVALID_ARGUMENT, "x",                                                 \
      diffuse_sampler_initial_noise(f->sampler, ROWS, NULL))                                       \
    X(sampler_noise_zero_rows, INVALID_ARGUMENT, "sizes must be positive (n = 0",                                              \
      diffuse_sampler_initial_noise(f->sampler, 0, f->out))                                        \
    X(sampler_step_t_not_in_list, INVALID_ARGUMENT, "not in",                                      \
      diffuse_sampler_step(f->sampler, ROWS, T, f->x, f->x, f->out, NULL))                         \
    X(sampler_step_null_output, INVALID_ARGUMENT, "model_output",                                  \
      diffuse_sampler_step(f->sampler, ROWS, T - 1, NULL, f->x, f->out, NULL))                     \
    X(sampler_step_null_x_t, INVALID_ARGUMENT, "x_t",                                              \
      diffuse_sampler_step(f->sampler, ROWS, T - 1, f->x, NULL, f->out, NULL))                     \
    X(sampler_step_zero_rows, INVALID_ARGUMENT, "sizes must be positive (n = 0",                                               \
      diffuse_sampler_step(f->sampler, 0, T - 1, f->x, f->x, f->out, NULL))                        \
    X(sampler_step_nan_output, NUMERIC, "model_output",                                            \
      diffuse_sampler_step(f->sampler, ROWS, T - 1, f->nan_x, f->x, f->out, NULL))                 \
    X(sampler_step_inf_x_t, NUMERIC, "x_t",                                                        \
      diffuse_sampler_step(f->sampler, ROWS, T - 1, f->x, f->inf_x, f->out, NULL))                 \
    X(sampler_step_x0_overlaps_x_prev, INVALID_ARGUMENT, "overlap",                                \
      diffuse_sampler_step(f->sampler, ROWS, T - 1, f->x, f->x, f->out, f->out + 1))               \
    X(images_load_null_out, INVALID_ARGUMENT, "out",                                               \
      diffuse_images_load_idx(NULL, f->file, NULL))                                                \
    X(images_load_null_path, INVALID_ARGUMENT, "images_path",                                      \
      diffuse_images_load_idx((diffuse_images **)&f->handle_out, NULL, NULL))                      \
    X(images_load_missing, IO, "No such file or directory",                                        \
      diffuse_images_load_idx((diffuse_images **)&f->handle_out, f->missing, NULL))                \
    X(images_load_directory, IO, "not a regular file",                                                      \
      diffuse_images_load_idx((diffuse_images **)&f->handle_out, f->dir, NULL))                    \
    X(images_load_not_idx, FORMAT, "IDX",                                                          \
      diffuse_images_load_idx((diffuse_images **)&f->handle_out, f->corrupt, NULL))                \
    X(images_shape_null, INVALID_ARGUMENT, "images",                                               \
      diffuse_images_shape(NULL, &f->zout, &f->zout, &f->zout, &f->zout, &f->flag))                \
    /* conditioning, objectives and likelihood */                                                  \
    X(conditional_label_too_large, OUT_OF_RANGE, "labels[1] = 3 is outside [0, 3)",                \
      sample_conditional(f, (const int32_t[]){0, 3, 1, 2}, 1.0, NULL))                             \
    X(conditional_label_negative, OUT_OF_RANGE, "labels[0] = -1 is outside [0, 3)",                \
      sample_conditional(f, (const int32_t[]){-1, 0, 1, 2}, 1.0, NULL))                            \
    X(conditional_labels_on_unconditional, UNSUPPORTED, "classes",                                 \
      diffuse_sampler_run_labels(f->sampler, ROWS, f->t, f->out))                                  \
    X(conditional_guidance_on_unconditional, UNSUPPORTED, "guidance",                              \
      guide_unconditional(f))                                                                      \
    X(conditional_classifier_fails, CALLBACK, "classifier failed",                                 \
      sample_conditional(f, NULL, 1.0, classifier_fails))                                          \
    X(conditional_classifier_nan, NUMERIC, "classifier gradient",                                  \
      sample_conditional(f, NULL, 1.0, classifier_nan))                                            \
    X(conditional_guidance_nan, NUMERIC, "not finite",                                             \
      diffuse_sampler_set_double(f->sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, NAN))                 \
    X(conditional_dropout_on_unconditional, UNSUPPORTED, "label_dropout needs a model with classes",\
      diffuse_trainer_set_double(f->trainer, DIFFUSE_TRAINER_LABEL_DROPOUT, 0.1))                  \
    X(conditional_dropout_above_one, OUT_OF_RANGE, "label_dropout",                                \
      diffuse_trainer_set_double(f->trainer, DIFFUSE_TRAINER_LABEL_DROPOUT, 1.5))                  \
    X(objectives_min_snr_negative, OUT_OF_RANGE, "min_snr_gamma",                                  \
      diffuse_trainer_set_double(f->trainer, DIFFUSE_TRAINER_MIN_SNR_GAMMA, -1.0))                 \
    X(objectives_decoder_unknown, OUT_OF_RANGE, "decoder",                                         \
      diffuse_trainer_set_int(f->trainer, DIFFUSE_TRAINER_DECODER, 2))                             \
    X(likelihood_null_request, INVALID_ARGUMENT, "request",                                        \
      diffuse_model_nll(f->model, f->schedule, NULL, &f->nll))                                     \
    X(likelihood_null_mean, INVALID_ARGUMENT, "mean",                                              \
      nll_of(f, f->x, ROWS, DIFFUSE_VARIANCE_BETA, NULL))                                          \
    X(likelihood_zero_rows, INVALID_ARGUMENT, "n = 0",                                             \
      nll_of(f, f->x, 0, DIFFUSE_VARIANCE_BETA, &f->nll))                                          \
    X(likelihood_nan_data, NUMERIC, "x0",                                                          \
      nll_of(f, f->nan_x, ROWS, DIFFUSE_VARIANCE_BETA, &f->nll))                                   \
    X(likelihood_learned_on_fixed, INVALID_ARGUMENT, "does not learn its variance",                \
      nll_of(f, f->x, ROWS, DIFFUSE_VARIANCE_LEARNED, &f->nll))                                    \
    X(likelihood_callback_fails, CALLBACK, "the prediction callback failed",                       \
      diffuse_model_nll(f->callback_model, f->schedule, &f->nll_request, &f->nll))                 \
    /* checkpoint.h */                                                                             \
    X(model_save_null_path, INVALID_ARGUMENT, "path",                                              \
      diffuse_model_save(f->model, f->schedule, NULL))                                             \
    X(model_save_to_directory, IO, "cannot rename",                                                \
      diffuse_model_save(f->model, f->schedule, f->dir))                                           \
    X(model_save_under_a_file, IO, "cannot create a temporary file",                               \
      diffuse_model_save(f->model, f->schedule, f->under_file))                                    \
    X(model_save_callback_model, UNSUPPORTED, "callback models cannot be saved",                   \
      diffuse_model_save(f->callback_model, f->schedule, f->file))                                 \
    X(model_load_missing, IO, "No such file or directory",                                         \
      load_model(f, f->missing))                                                                   \
    X(model_load_directory, IO, "is not a regular file",                                           \
      load_model(f, f->dir))                                                                       \
    X(model_load_corrupt, FORMAT, "header does not start with '{'",                                \
      load_model(f, f->corrupt))                                                                   \
    X(model_load_null_path, INVALID_ARGUMENT, "path",                                              \
      load_model(f, NULL))                                                                         \
    X(trainer_save_to_directory, IO, "cannot rename",                                              \
      diffuse_trainer_save(f->trainer, f->dir))                                                    \
    X(trainer_load_model_file, MISMATCH, "it is a model checkpoint",                               \
      load_trainer(f, f->model_file))                                                              \
    X(trainer_load_corrupt, FORMAT, "header does not start with '{'",                              \
      load_trainer(f, f->corrupt))                                                                 \
    X(trainer_load_missing, IO, "No such file or directory",                                       \
      load_trainer(f, f->missing))                                                                 \
    /* toy2d.h, metrics.h */                                                                       \
    X(toy2d_unknown_kind, INVALID_ARGUMENT, "unknown toy data set 12 (valid: 0..3)",               \
      diffuse_toy2d_sample((diffuse_toy2d)12, 1, 0, ROWS, f->out))                                 \
    X(toy2d_overflowing_rows, INVALID_ARGUMENT, "is too large",                                    \
      diffuse_toy2d_sample(DIFFUSE_TOY2D_TWO_MOONS, 1, 0, SIZE_MAX, f->out))                       \
    X(toy2d_from_unknown_name, INVALID_ARGUMENT, "spiral",                                         \
      diffuse_toy2d_from_name("spiral", &f->toy))                                                  \
    X(energy_distance_nan, NUMERIC, "a[7] is not finite (nan)",                                    \
      diffuse_energy_distance(f->nan_x, ROWS, f->x, ROWS, DIM, &f->dout[0]))                       \
    X(energy_distance_zero_rows, INVALID_ARGUMENT, "sizes must be positive (n = 0, d = 2)",        \
      diffuse_energy_distance(f->x, 0, f->x, ROWS, DIM, &f->dout[0]))                              \
    X(moments_overflowing_dim, INVALID_ARGUMENT, "is too large",                                   \
      diffuse_sample_moments(f->x, ROWS, SIZE_MAX / 2, f->dout, f->dout + 2))

/* ---- Case helpers (the few cases that need more than one call) ---------- */

static diffuse_status predict(fixture *fx, diffuse_model *model, const int32_t *t,
                              const float *x, float *out)
{
    (void)fx;
    return diffuse_test_predict(model, ROWS, t, x, out);
}

/* The callback writes its NaN into the caller's own buffer: not an output
 * the library wrote. */
static diffuse_status predict_nan_model(fixture *fx)
{
    float out[ROWS * DIM];
    return diffuse_test_predict(fx->nan_model, ROWS, fx->t, fx->x, out);
}

static diffuse_status model_from_callback_config(fixture *fx)
{
    diffuse_model_config *config = NULL;
    diffuse_status status = diffuse_model_config_create(&config, DIFFUSE_ARCH_CALLBACK, DIM);
    if (status == DIFFUSE_OK)
        status = diffuse_model_create((diffuse_model **)&fx->handle_out, config);
    diffuse_model_config_free(config);
    return status;
}

static diffuse_status predict_with_size(fixture *fx, size_t size)
{
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.size = size;
    call.n = ROWS;
    call.t = fx->t;
    call.x_t = fx->x;
    call.out = fx->out;
    return diffuse_model_predict(fx->model, &call);
}

static diffuse_status predict_in_place(fixture *fx)
{
    memcpy(fx->out, fx->x, sizeof fx->x);
    diffuse_status status = diffuse_test_predict(fx->model, ROWS, fx->t, fx->out, fx->out);
    for (size_t i = 0; i < OUT_FLOATS; i++) /* x_t was the output buffer: restore the sentinel */
        memset(&fx->out[i], 0x7f, sizeof fx->out[i]);
    return status;
}

static diffuse_status predict_variance(fixture *fx)
{
    float variance[ROWS * DIM];
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = ROWS;
    call.t = fx->t;
    call.x_t = fx->x;
    call.out = fx->out;
    call.out_variance = variance;
    return diffuse_model_predict(fx->model, &call);
}

static diffuse_status set_nan_params(fixture *fx)
{
    size_t count;
    ck_assert_int_eq(diffuse_model_param_count(fx->model, &count), DIFFUSE_OK);
    float *params = calloc(count, sizeof *params);
    ck_assert_ptr_nonnull(params);
    params[count / 2] = NAN;
    diffuse_status status = diffuse_model_set_params(fx->model, params, count);
    free(params);
    return status;
}

static diffuse_status get_ema(fixture *fx)
{
    size_t count;
    ck_assert_int_eq(diffuse_model_param_count(fx->model, &count), DIFFUSE_OK);
    float *params = malloc(count * sizeof *params);
    ck_assert_ptr_nonnull(params);
    diffuse_status status = diffuse_model_get_ema_params(fx->model, params, count);
    free(params);
    return status;
}

static diffuse_status trainer_with_other_optimizer(fixture *fx)
{
    diffuse_model *other = NULL;
    diffuse_optimizer *optimizer = NULL;
    diffuse_model_config *wider = NULL;
    ck_assert_int_eq(diffuse_model_config_copy(&wider, fx->config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(wider, DIFFUSE_MODEL_HIDDEN_WIDTH, 16),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&other, wider), DIFFUSE_OK);
    diffuse_model_config_free(wider);
    ck_assert_int_eq(diffuse_optimizer_create(&optimizer, DIFFUSE_OPTIMIZER_ADAM, other),
                     DIFFUSE_OK);
    diffuse_status status = diffuse_trainer_create((diffuse_trainer **)&fx->handle_out, fx->model,
                                                   fx->schedule, optimizer);
    diffuse_optimizer_free(optimizer);
    diffuse_model_free(other);
    return status;
}

static diffuse_status step_with_data(fixture *fx, diffuse_data_fn fn)
{
    ck_assert_int_eq(diffuse_trainer_set_data(fx->trainer, fn, NULL), DIFFUSE_OK);
    return diffuse_trainer_step(fx->trainer, &fx->dout[0]);
}

static int fill_half(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                     char *message, size_t message_size)
{
    (void)user, (void)labels, (void)message, (void)message_size;
    for (size_t i = 0; i < capacity * dim; i++)
        x[i] = 0.5f;
    return (int)capacity;
}

/* The progress callback cancels at its first report, after the first step. */
static diffuse_status train_cancelled(fixture *fx)
{
    ck_assert_int_eq(diffuse_trainer_set_data(fx->trainer, fill_half, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_progress(fx->trainer, train_progress_cancels, NULL, 1),
                     DIFFUSE_OK);
    double loss = 0.0;
    return diffuse_trainer_train(fx->trainer, 5, &loss);
}

static diffuse_status sample_with_ema(fixture *fx)
{
    ck_assert_int_eq(diffuse_sampler_set_int(fx->sampler, DIFFUSE_SAMPLER_USE_EMA, 1), DIFFUSE_OK);
    return diffuse_sampler_run(fx->sampler, ROWS, fx->out);
}

static diffuse_status sample_cancelled(fixture *fx)
{
    ck_assert_int_eq(diffuse_sampler_set_progress(fx->sampler, sample_progress_cancels, NULL),
                     DIFFUSE_OK);
    return diffuse_sampler_run(fx->sampler, ROWS, fx->out);
}

static int classifier_fails(void *user, size_t n, size_t dim, const float *x_t, const int32_t *t,
                            const int32_t *labels, float *gradient, char *message,
                            size_t message_size)
{
    (void)user, (void)n, (void)dim, (void)x_t, (void)t, (void)labels, (void)gradient;
    snprintf(message, message_size, "no classifier today");
    return -1;
}

static int classifier_nan(void *user, size_t n, size_t dim, const float *x_t, const int32_t *t,
                          const int32_t *labels, float *gradient, char *message,
                          size_t message_size)
{
    (void)user, (void)x_t, (void)t, (void)labels, (void)message, (void)message_size;
    for (size_t i = 0; i < n * dim; i++)
        gradient[i] = NAN;
    return 0;
}

/* A run of a 3-class model's sampler with `labels` (NULL: class 1 for all),
 * guidance scale w and, when given, a classifier. */
static diffuse_status sample_conditional(fixture *fx, const int32_t *labels, double w,
                                         diffuse_classifier_fn classifier)
{
    diffuse_model_config *config = NULL;
    diffuse_model *model = NULL;
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 8),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_CLASSES, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&model, config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&sampler, model, fx->schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_double(sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, w),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_LABEL, 1), DIFFUSE_OK);
    if (classifier != NULL)
        ck_assert_int_eq(diffuse_sampler_set_classifier(sampler, classifier, NULL), DIFFUSE_OK);
    diffuse_status status = labels != NULL
                                ? diffuse_sampler_run_labels(sampler, ROWS, labels, fx->out)
                                : diffuse_sampler_run(sampler, ROWS, fx->out);
    diffuse_sampler_free(sampler);
    diffuse_model_free(model);
    diffuse_model_config_free(config);
    return status;
}

static diffuse_status guide_unconditional(fixture *fx)
{
    ck_assert_int_eq(
        diffuse_sampler_set_double(fx->sampler, DIFFUSE_SAMPLER_GUIDANCE_SCALE, 3.0),
        DIFFUSE_OK);
    return diffuse_sampler_run(fx->sampler, ROWS, fx->out);
}

static diffuse_status nll_of(fixture *fx, const float *x0, size_t n, diffuse_variance variance,
                             diffuse_nll_terms *mean)
{
    diffuse_nll_request request = DIFFUSE_NLL_REQUEST_INIT;
    request.n = n;
    request.x0 = x0;
    request.variance = variance;
    request.decoder = DIFFUSE_DECODER_CONTINUOUS;
    return diffuse_model_nll(fx->model, fx->schedule, &request, mean);
}

static diffuse_status sample_clipped_and_thresholded(fixture *fx)
{
    ck_assert_int_eq(diffuse_sampler_set_double(fx->sampler, DIFFUSE_SAMPLER_CLIP_X0, 1.0),
                     DIFFUSE_OK);
    ck_assert_int_eq(
        diffuse_sampler_set_double(fx->sampler, DIFFUSE_SAMPLER_THRESHOLD_PERCENTILE, 0.9),
        DIFFUSE_OK);
    return diffuse_sampler_run(fx->sampler, ROWS, fx->out);
}

static diffuse_status sample_zero_snr(fixture *fx)
{
    diffuse_schedule *schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 1);
    diffuse_sampler *sampler = NULL;
    ck_assert_int_eq(diffuse_sampler_create(&sampler, fx->model, schedule), DIFFUSE_OK);
    diffuse_status status = diffuse_sampler_run(sampler, ROWS, fx->out);
    diffuse_sampler_free(sampler);
    diffuse_schedule_free(schedule);
    return status;
}

static diffuse_status load_model(fixture *fx, const char *path)
{
    return diffuse_model_load(path, (diffuse_model **)&fx->handle_out, NULL);
}

static diffuse_status load_trainer(fixture *fx, const char *path)
{
    diffuse_test_handles h = {NULL, NULL, NULL, NULL};
    diffuse_status status = diffuse_trainer_load(path, &h.model, &h.schedule, &h.optimizer,
                                                 &h.trainer);
    ck_assert_msg(h.model == NULL && h.schedule == NULL && h.optimizer == NULL &&
                      h.trainer == NULL,
                  "a failed load handed out handles");
    (void)fx;
    return status;
}

#define DEFINE_CASE(name, st, msg, expr) \
    static diffuse_status case_##name(fixture *f)                                                  \
    {                                                                                              \
        (void)f;                                                                                   \
        return (diffuse_status)(expr);                                                             \
    }
HOSTILE_CASES(DEFINE_CASE)

#define TABLE_ROW(name, st, msg, expr) {#name, case_##name, DIFFUSE_ERROR_##st, msg},
static const hostile_case cases[] = {HOSTILE_CASES(TABLE_ROW)};
#define CASE_COUNT (sizeof cases / sizeof cases[0])

/* ---- The fixture ------------------------------------------------------------ */

static void make_paths(void)
{
    fixture *const fx = &the_fixture;
    ck_assert_int_eq(diffuse_test_temp_dir(fx->dir, sizeof fx->dir), 0);
    snprintf(fx->file, sizeof fx->file, "%s/plain", fx->dir);
    snprintf(fx->missing, sizeof fx->missing, "%s/no/such/dir/file", fx->dir);
    snprintf(fx->under_file, sizeof fx->under_file, "%s/plain/child", fx->dir);
    snprintf(fx->corrupt, sizeof fx->corrupt, "%s/corrupt.safetensors", fx->dir);
    snprintf(fx->model_file, sizeof fx->model_file, "%s/model.safetensors", fx->dir);
    diffuse_test_write_file(fx->file, "not a checkpoint", 16);
    unsigned char garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (unsigned char)(i * 89 + 7);
    garbage[0] = 40; /* a header length that points inside the file */
    memset(garbage + 1, 0, 7);
    diffuse_test_write_file(fx->corrupt, garbage, sizeof garbage);
    ck_assert_int_eq(diffuse_model_save(fx->model, fx->schedule, fx->model_file), DIFFUSE_OK);
}

static void setup(void)
{
    fixture *const fx = &the_fixture;
    *fx = (fixture){0};
    fx->schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, T, 0);
    ck_assert_int_eq(diffuse_model_config_create(&fx->config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(fx->config, DIFFUSE_MODEL_HIDDEN_WIDTH, 8),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&fx->model, fx->config), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create_callback(&fx->callback_model, DIM,
                                                   DIFFUSE_PREDICT_EPSILON,
                                                   predict_fails, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create_callback(&fx->nan_model, DIM, DIFFUSE_PREDICT_EPSILON,
                                                   predict_nan, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&fx->optimizer, DIFFUSE_OPTIMIZER_ADAMW, fx->model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&fx->trainer, fx->model, fx->schedule, fx->optimizer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(fx->trainer, DIFFUSE_TRAINER_BATCH_SIZE, ROWS),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&fx->sampler, fx->model, fx->schedule), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_sampler_create(&fx->callback_sampler, fx->callback_model,
                                            fx->schedule),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_rng_create(&fx->rng, 1, 2), DIFFUSE_OK);
    for (size_t i = 0; i < ROWS * DIM; i++) {
        fx->x[i] = (float)i * 0.1f - 0.3f;
        fx->nan_x[i] = fx->x[i];
        fx->inf_x[i] = fx->x[i];
    }
    fx->nan_x[ROWS * DIM - 1] = NAN;
    fx->nll_request = (diffuse_nll_request)DIFFUSE_NLL_REQUEST_INIT;
    fx->nll_request.n = ROWS;
    fx->nll_request.x0 = fx->x;
    fx->inf_x[1] = -INFINITY;
    for (size_t i = 0; i < ROWS; i++) {
        fx->t[i] = (int32_t)(i * 3 % T);
        fx->negative_t[i] = fx->t[i];
        fx->late_t[i] = fx->t[i];
    }
    fx->negative_t[2] = -1;
    fx->late_t[3] = T;
    fx->info.size = sizeof fx->info;
    make_paths();
}

static void teardown(void)
{
    fixture *const fx = &the_fixture;
    diffuse_rng_free(fx->rng);
    diffuse_sampler_free(fx->callback_sampler);
    diffuse_sampler_free(fx->sampler);
    diffuse_trainer_free(fx->trainer);
    diffuse_optimizer_free(fx->optimizer);
    diffuse_model_free(fx->nan_model);
    diffuse_model_free(fx->callback_model);
    diffuse_model_free(fx->model);
    diffuse_model_config_free(fx->config);
    diffuse_schedule_free(fx->schedule);
    diffuse_test_remove_dir(fx->dir);
}

static uint64_t params_digest(void)
{
    fixture *const fx = &the_fixture;
    size_t count;
    ck_assert_int_eq(diffuse_model_param_count(fx->model, &count), DIFFUSE_OK);
    float *params = malloc(count * sizeof *params);
    ck_assert_ptr_nonnull(params);
    ck_assert_int_eq(diffuse_model_get_params(fx->model, params, count), DIFFUSE_OK);
    uint64_t digest = fnv1a(FNV_OFFSET, params, count * sizeof *params);
    free(params);
    return digest;
}

static void fill_sentinels(void)
{
    fixture *const fx = &the_fixture;
    memset(fx->out, 0x7f, sizeof fx->out);
    memset(fx->dout, 0x7f, sizeof fx->dout);
    memset(&fx->iout, 0x7f, sizeof fx->iout);
    memset(&fx->zout, 0x7f, sizeof fx->zout);
    memset(&fx->nll, 0x7f, sizeof fx->nll);
    fx->handle_out = (void *)fx; /* any non-NULL value */
}

static int sentinels_intact(void)
{
    fixture *const fx = &the_fixture;
    unsigned char expected[sizeof fx->out]; /* the largest output */
    memset(expected, 0x7f, sizeof expected);
    return memcmp(fx->out, expected, sizeof fx->out) == 0 &&
           memcmp(fx->dout, expected, sizeof fx->dout) == 0 &&
           memcmp(&fx->iout, expected, sizeof fx->iout) == 0 &&
           memcmp(&fx->zout, expected, sizeof fx->zout) == 0 &&
           memcmp(&fx->nll, expected, sizeof fx->nll) == 0;
}

START_TEST(hostile_input_is_refused_cleanly)
{
    fixture *const fx = &the_fixture;
    const hostile_case *c = &cases[_i];
    uint64_t before = params_digest();
    fill_sentinels();
    diffuse_status status = c->call(fx);
    const char *message = diffuse_last_error();
    ck_assert_msg(status == c->status, "%s: status %s, expected %s (message: %s)", c->name,
                  diffuse_status_name(status), diffuse_status_name(c->status), message);
    if (c->status != DIFFUSE_OK) {
        ck_assert_msg(message[0] != '\0', "%s: no message", c->name);
        ck_assert_msg(strstr(message, c->message) != NULL, "%s: message \"%s\" lacks \"%s\"",
                      c->name, message, c->message);
        ck_assert_msg(fx->handle_out == NULL || fx->handle_out == (void *)fx,
                      "%s: a handle was handed out", c->name);
    }
    /* The sampler denoises in place in `out` (diffuse_sampler_run says so). */
    if (strncmp(c->name, "sampler_in_place_", 17) != 0)
        ck_assert_msg(sentinels_intact(), "%s: an output was written", c->name);
    /* A cancelled training run keeps the steps it completed. */
    if (c->status != DIFFUSE_ERROR_CANCELLED)
        ck_assert_msg(params_digest() == before, "%s: the model's parameters changed", c->name);
}
END_TEST

START_TEST(table_is_large_enough)
{
    ck_assert_uint_ge(CASE_COUNT, 100);
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *suite = suite_create("hostile");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, table_is_large_enough);
    tcase_add_loop_test(tc, hostile_input_is_refused_cleanly, 0, (int)CASE_COUNT);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return diffuse_test_run(hostile_suite());
}
