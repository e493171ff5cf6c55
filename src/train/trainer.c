/* Training: Algorithm 1 of Ho et al. 2020 on batches from the user's data
 * callback (see include/diffuse/train.h). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diffuse/train.h"
#include "core/forward.h"
#include "model/model.h"
#include "model/model_schedule.h"
#include "model/workers.h"
#include "train/optim.h"
#include "train/peers.h"
#include "util/busy.h"
#include "util/option_table.h"
#include "util/philox.h"
#include "core/prediction.h"
#include "core/schedule.h"
#include "train/hybrid_loss.h"
#include "train/loss_weight.h"
#include "train/trainer.h"

enum { TRAINER_OPTION_COUNT = 7, TRAINER_MAX_THREADS = 1024, TRAINER_MAX_BATCH = 1048576 };

static const option_spec trainer_specs[TRAINER_OPTION_COUNT] = {
    [DIFFUSE_TRAINER_BATCH_SIZE] = {"batch_size", false, 1, TRAINER_MAX_BATCH, 256},
    [DIFFUSE_TRAINER_SEED] = {"seed", false, 0, 9007199254740991.0 /* 2^53 − 1 */, 0},
    [DIFFUSE_TRAINER_THREADS] = {"threads", false, 0, TRAINER_MAX_THREADS, 1},
    [DIFFUSE_TRAINER_LABEL_DROPOUT] = {"label_dropout", true, 0, 1, 0},
    [DIFFUSE_TRAINER_MIN_SNR_GAMMA] = {"min_snr_gamma", true, 0, 1e6, 0},
    [DIFFUSE_TRAINER_VLB_WEIGHT] = {"vlb_weight", true, 0, 1e6, 0.001},
    [DIFFUSE_TRAINER_DECODER] = {"decoder", false, DIFFUSE_DECODER_DISCRETE,
                                 DIFFUSE_DECODER_CONTINUOUS, DIFFUSE_DECODER_DISCRETE},
};

const option_table trainer_option_table = {"trainer", trainer_specs, TRAINER_OPTION_COUNT};

/* The rows of one step: x_0 and labels (from the user), t, ε, x_t, the
 * target and the network's output (and variance output, for a model that
 * learns it, with x̂_0 for L_vlb), which backward turns into dL/doutput in
 * place. */
typedef struct batch_buffers {
    size_t capacity; /* rows */
    float *x0, *eps, *xt, *target, *output;
    float *uniform;  /* one draw per row, mapped to t */
    float *weight;   /* the loss weight of each row (train/loss_weight.h) */
    float *variance, *x0_hat; /* NULL unless the model learns its variance */
    int32_t *t, *labels;
    bool has_labels; /* the batch came with labels (the data callback's or the caller's) */
} batch_buffers;

/* What a worker (model/workers.h) keeps of its share of a step. */
typedef struct train_local {
    double squared_error; /* Σ w_i (output − target)² over its rows */
    double vlb;           /* Σ T·L_t (bits/dim) over its rows: learned variance only */
} train_local;

struct diffuse_trainer {
    diffuse_error error;
    busy_state busy;            /* see "Callbacks and re-entry" in diffuse/common.h */
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_schedule *schedule; /* own copy */
    double options[TRAINER_OPTION_COUNT];
    diffuse_data_fn data_fn;
    void *data_user;
    diffuse_train_progress_fn progress_fn;
    void *progress_user;
    uint64_t progress_interval;
    batch_buffers batch;
    worker_set workers;         /* with a gradient team for more than one */
    trainer_peers peers;        /* other processes sharing each step, if any */
    peer_share share;           /* the current step's rows among them */
    gradient_ready ready;       /* backward's finished gradient groups, for the peers */
    diffuse_status ready_status;/* the step's failed DIFFUSE_PEER_GRADIENTS_READY call */
};

static void batch_free(batch_buffers *b)
{
    free(b->x0);
    free(b->eps);
    free(b->xt);
    free(b->target);
    free(b->output);
    free(b->uniform);
    free(b->weight);
    free(b->variance);
    free(b->x0_hat);
    free(b->t);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

/* Makes room for `rows` rows of dimension d; keeps the buffers when they are
 * large enough, so steady-state training never allocates. */
static diffuse_status batch_reserve(diffuse_trainer *tr, size_t rows)
{
    batch_buffers *b = &tr->batch;
    if (rows <= b->capacity)
        return DIFFUSE_OK;
    batch_free(b);
    size_t values = rows * tr->model->dim;
    b->x0 = malloc(values * sizeof(float));
    b->eps = malloc(values * sizeof(float));
    b->xt = malloc(values * sizeof(float));
    b->target = malloc(values * sizeof(float));
    b->output = malloc(values * sizeof(float));
    b->uniform = malloc(rows * sizeof(float));
    b->weight = malloc(rows * sizeof(float));
    b->t = malloc(rows * sizeof(int32_t));
    b->labels = calloc(rows, sizeof(int32_t));
    if (tr->model->learns_variance) {
        b->variance = malloc(values * sizeof(float));
        b->x0_hat = malloc(values * sizeof(float));
    }
    bool hybrid_ok = !tr->model->learns_variance || (b->variance && b->x0_hat);
    if (!b->x0 || !b->eps || !b->xt || !b->target || !b->output || !b->uniform || !b->weight ||
        !b->t || !b->labels || !hybrid_ok) {
        batch_free(b);
        return diffuse_fail(&tr->error, DIFFUSE_ERROR_NO_MEMORY,
                            "cannot allocate a batch of %zu rows", rows);
    }
    b->capacity = rows;
    return DIFFUSE_OK;
}

/* The gradient_ready listener: one DIFFUSE_PEER_GRADIENTS_READY call; a
 * failure ends the step's reports and then the step (train_rows). */
static int report_ready(void *user, size_t offset, size_t count)
{
    diffuse_trainer *tr = user;
    tr->ready_status = peers_gradients_ready(&tr->peers, &tr->error, tr->model->grads,
                                             tr->model->param_count, offset, count);
    return tr->ready_status != DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_trainer_create(diffuse_trainer **out, diffuse_model *model,
                                                  const diffuse_schedule *schedule,
                                                  diffuse_optimizer *optimizer)
{
    if (out == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "out must not be NULL");
    *out = NULL;
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, model, "model")) ||
        (status = diffuse_check_pointer(NULL, schedule, "schedule")) ||
        (status = diffuse_check_pointer(NULL, optimizer, "optimizer")))
        return status;
    if (model->ops->forward == NULL || model->ops->backward == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_UNSUPPORTED,
                            "this model cannot be trained (callback models predict only)");
    if (optimizer->param_count != model->param_count)
        return diffuse_fail(NULL, DIFFUSE_ERROR_MISMATCH,
                            "optimizer was created for %zu parameters, model has %zu",
                            optimizer->param_count, model->param_count);
    diffuse_trainer *tr = calloc(1, sizeof *tr);
    if (tr == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "cannot allocate a trainer");
    status = diffuse_schedule_clone(&tr->schedule, schedule);
    if (status != DIFFUSE_OK) {
        free(tr);
        return status;
    }
    tr->model = model;
    tr->optimizer = optimizer;
    tr->progress_interval = 1;
    workers_init(&tr->workers, sizeof(train_local), NULL);
    gradient_ready_init(&tr->ready, report_ready, tr);
    option_defaults(&trainer_option_table, tr->options);
    *out = tr;
    return DIFFUSE_OK;
}

static void trainer_destroy(diffuse_trainer *trainer)
{
    batch_free(&trainer->batch);
    workers_release(&trainer->workers);
    gradient_ready_release(&trainer->ready);
    diffuse_schedule_free(trainer->schedule);
    free(trainer);
}

/* ---- The busy guard ("Callbacks and re-entry" in diffuse/common.h) ------ */

DIFFUSE_API void diffuse_trainer_free(diffuse_trainer *trainer)
{
    if (trainer != NULL && !busy_defer_free(&trainer->busy))
        trainer_destroy(trainer);
}

/* The start of a call that changes the trainer (`enter` false: it must be
 * idle) or runs its callbacks (`enter`: it becomes busy). */
static diffuse_status trainer_guard(diffuse_trainer *tr, const char *call, bool enter)
{
    diffuse_status status = diffuse_check_pointer(NULL, tr, "trainer");
    if (status == DIFFUSE_OK)
        status = enter ? busy_enter(&tr->busy, &tr->error, "trainer", call)
                       : busy_check(&tr->busy, &tr->error, "trainer", call);
    return status;
}

/* The end of a call trainer_guard(…, true) began: frees the trainer if a
 * callback asked for it meanwhile; returns the call's status. */
static diffuse_status trainer_leave(diffuse_trainer *tr, diffuse_status status)
{
    if (busy_leave(&tr->busy))
        trainer_destroy(tr);
    return status;
}

DIFFUSE_API const char *diffuse_trainer_last_error(const diffuse_trainer *trainer)
{
    return diffuse_error_message(trainer != NULL ? &trainer->error : NULL);
}

DIFFUSE_API diffuse_status diffuse_trainer_set_int(diffuse_trainer *trainer,
                                                   diffuse_trainer_option option, int64_t value)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_set_int", false);
    if (status != DIFFUSE_OK)
        return status;
    return option_set_int(&trainer->error, &trainer_option_table, trainer->options, (int)option,
                          value);
}

/* Label dropout needs the null class: a model with classes. */
static diffuse_status check_dropout(diffuse_trainer *tr, diffuse_trainer_option option,
                                    double value)
{
    if (option != DIFFUSE_TRAINER_LABEL_DROPOUT || value == 0.0 || model_classes(tr->model) > 0)
        return DIFFUSE_OK;
    return diffuse_fail(&tr->error, DIFFUSE_ERROR_UNSUPPORTED,
                        "label_dropout needs a model with classes (DIFFUSE_MODEL_CLASSES > 0); "
                        "this one is unconditional");
}

DIFFUSE_API diffuse_status diffuse_trainer_set_double(diffuse_trainer *trainer,
                                                      diffuse_trainer_option option, double value)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_set_double", false);
    double values[TRAINER_OPTION_COUNT];
    if (status != DIFFUSE_OK)
        return status;
    memcpy(values, trainer->options, sizeof values);
    status = option_set(&trainer->error, &trainer_option_table, values, (int)option, value, true);
    if (status == DIFFUSE_OK && (status = check_dropout(trainer, option, value)) == DIFFUSE_OK)
        memcpy(trainer->options, values, sizeof values);
    return status;
}

/* The checks of a getter before the option's: the handle, then `value`. */
static diffuse_status check_getter(const diffuse_trainer *trainer, const void *value)
{
    diffuse_status status = diffuse_check_pointer(NULL, trainer, "trainer");
    return status ? status : diffuse_check_pointer(NULL, value, "value");
}

/* Getters record a bad option in the handle, which a const handle still
 * owns (one thread at a time). */
static diffuse_error *error_of(const diffuse_trainer *trainer)
{
    return (diffuse_error *)&trainer->error;
}

DIFFUSE_API diffuse_status diffuse_trainer_get_double(const diffuse_trainer *trainer,
                                                      diffuse_trainer_option option,
                                                      double *value)
{
    diffuse_status status = check_getter(trainer, value);
    return status ? status
                  : option_get_double(error_of(trainer), &trainer_option_table,
                                      trainer->options, (int)option, value);
}

DIFFUSE_API diffuse_status diffuse_trainer_double_bounds(diffuse_trainer_option option,
                                                         double *min, double *max)
{
    return option_bounds(NULL, &trainer_option_table, (int)option, true, min, max);
}

DIFFUSE_API diffuse_status diffuse_trainer_get_int(const diffuse_trainer *trainer,
                                                   diffuse_trainer_option option, int64_t *value)
{
    diffuse_status status = check_getter(trainer, value);
    return status ? status
                  : option_get_int(error_of(trainer), &trainer_option_table, trainer->options,
                                   (int)option, value);
}

DIFFUSE_API diffuse_status diffuse_trainer_int_bounds(diffuse_trainer_option option,
                                                      int64_t *min, int64_t *max)
{
    return option_int_bounds(NULL, &trainer_option_table, (int)option, min, max);
}

DIFFUSE_API diffuse_status diffuse_trainer_option_count(size_t *count)
{
    return option_count(&trainer_option_table, OPTION_ALL, count);
}

DIFFUSE_API diffuse_status diffuse_trainer_option_info(size_t index, diffuse_option_info *info)
{
    return option_info(&trainer_option_table, OPTION_ALL, NULL, index, info);
}

DIFFUSE_API diffuse_status diffuse_trainer_set_data(diffuse_trainer *trainer, diffuse_data_fn fn,
                                                    void *user)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_set_data", false);
    if (status != DIFFUSE_OK)
        return status;
    trainer->data_fn = fn;
    trainer->data_user = user;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_trainer_set_progress(diffuse_trainer *trainer,
                                                        diffuse_train_progress_fn fn, void *user,
                                                        uint64_t interval)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_set_progress", false);
    if (status != DIFFUSE_OK)
        return status;
    if (fn != NULL && interval == 0)
        return diffuse_fail(&trainer->error, DIFFUSE_ERROR_OUT_OF_RANGE,
                            "progress interval must be at least 1");
    trainer->progress_fn = fn;
    trainer->progress_user = user;
    trainer->progress_interval = interval;
    return DIFFUSE_OK;
}

DIFFUSE_API diffuse_status diffuse_trainer_set_peers(diffuse_trainer *trainer, diffuse_peer_fn fn,
                                                     void *user)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_set_peers", false);
    if (status == DIFFUSE_OK) {
        trainer->peers.fn = fn;
        trainer->peers.user = user;
    }
    return status;
}

DIFFUSE_API diffuse_status diffuse_trainer_set_peer_ready(diffuse_trainer *trainer, int report)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_set_peer_ready", false);
    if (status == DIFFUSE_OK)
        trainer->peers.report_ready = report != 0;
    return status;
}

DIFFUSE_API diffuse_status diffuse_trainer_step_count(const diffuse_trainer *trainer,
                                                      uint64_t *steps)
{
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, trainer, "trainer")) ||
        (status = diffuse_check_pointer(NULL, steps, "steps")))
        return status;
    *steps = trainer->optimizer->step;
    return DIFFUSE_OK;
}

/* t ~ Uniform{0..T−1} and ε ~ N(0, I) for step k, from the streams
 * (seed, 2k) and (seed, 2k+1) at this process's rows of the step (from
 * share.first_row on): the draws depend only on seed, step and row. */
static void draw_noise(diffuse_trainer *tr, size_t rows)
{
    batch_buffers *b = &tr->batch;
    uint64_t seed = (uint64_t)tr->options[DIFFUSE_TRAINER_SEED];
    uint64_t step = tr->optimizer->step;
    size_t steps = schedule_steps(tr->schedule);
    uint64_t first = tr->share.first_row;
    philox_uniform(seed, 2 * step, first, b->uniform, rows);
    for (size_t i = 0; i < rows; i++) {
        size_t t = (size_t)((double)b->uniform[i] * (double)steps);
        b->t[i] = (int32_t)(t < steps ? t : steps - 1);
    }
    philox_normal(seed, 2 * step + 1, first * tr->model->dim, b->eps, rows * tr->model->dim);
}

/* Σ_i w_i Σ_j (output − target)² over `rows` rows of d values, in double;
 * output is overwritten by dL/doutput = scale · w_i (output − target),
 * where scale = 2/(n·d) for the whole batch's L = 1/(n·d) Σ_i w_i ‖…‖². */
static double squared_error_and_gradient(float *output, const float *target,
                                         const float *weight, size_t rows, size_t d,
                                         float scale)
{
    double sum = 0.0; /* one running sum: with every w_i = 1 the bits of 0.1 */
    for (size_t i = 0; i < rows; i++) {
        float row_scale = scale * weight[i];
        for (size_t j = i * d; j < (i + 1) * d; j++) {
            float diff = output[j] - target[j];
            sum += (double)weight[i] * ((double)diff * (double)diff);
            output[j] = row_scale * diff;
        }
    }
    return sum;
}

/* What the workers of one step share (read-only). */
typedef struct train_pass {
    diffuse_trainer *trainer;
    const float *target;
    float scale;      /* 2/(n·d) */
    double vlb_scale; /* λ/n: L_vlb's share of the batch mean */
} train_pass;

/* L_vlb of worker w's rows and its gradient in their variance outputs
 * (train/hybrid_loss.h); reads the output before it becomes a gradient. */
static double worker_vlb(const train_pass *pass, const worker *w)
{
    const diffuse_trainer *tr = pass->trainer;
    const batch_buffers *b = &tr->batch;
    size_t at = w->first * w->model->dim;
    hybrid_rows rows = {.schedule = tr->schedule,
                        .kind = (diffuse_prediction)w->model->prediction,
                        .decoder = (diffuse_decoder)tr->options[DIFFUSE_TRAINER_DECODER],
                        .n = w->rows, .d = w->model->dim, .t = b->t + w->first,
                        .x0 = b->x0 + at, .x_t = b->xt + at, .output = b->output + at,
                        .variance = b->variance + at, .x0_scratch = b->x0_hat + at};
    return hybrid_vlb_and_gradient(&rows, pass->vlb_scale);
}

/* Forward, loss terms and backward of worker `index`'s rows; worker 0
 * zeroes the gradients its team (if any) then adds to. */
static diffuse_status worker_step(const train_pass *pass, size_t index)
{
    batch_buffers *b = &pass->trainer->batch;
    worker *w = &pass->trainer->workers.workers[index];
    train_local *local = w->local;
    diffuse_model *m = w->model;
    size_t at = w->first * m->dim;
    const int32_t *labels = b->has_labels ? b->labels + w->first : NULL;
    float *variance = m->learns_variance ? b->variance + at : NULL;
    diffuse_model_call call =
        MODEL_CALL(w->rows, b->xt + at, b->t + w->first, labels, b->output + at);
    call.out_variance = variance;
    diffuse_status status = model_run(m, NULL, &call, true);
    if (status != DIFFUSE_OK)
        return status;
    local->vlb = variance != NULL ? worker_vlb(pass, w) : 0.0;
    local->squared_error = squared_error_and_gradient(
        b->output + at, pass->target + at, b->weight + w->first, w->rows, m->dim, pass->scale);
    if (!isfinite(local->squared_error) || !isfinite(local->vlb))
        return DIFFUSE_OK; /* the step fails on the loss: no gradient needed */
    if (index == 0)
        model_zero_grads(pass->trainer->model);
    return model_run_backward(m, b->output + at, variance, w->rows);
}

/* worker_step as a worker task; a failure keeps the model's message. */
static diffuse_status train_part(void *context, size_t index)
{
    const train_pass *pass = context;
    worker *w = &pass->trainer->workers.workers[index];
    diffuse_status status = worker_step(pass, index);
    if (status != DIFFUSE_OK)
        diffuse_fail(&w->error, status, "%s", diffuse_model_last_error(w->model));
    return status;
}

/* Σ_workers squared_error and Σ_workers vlb, each summed in worker order. */
static void batch_sums(const diffuse_trainer *tr, double *squared, double *vlb)
{
    *squared = *vlb = 0.0;
    for (size_t i = 0; i < tr->workers.active; i++) {
        const train_local *local = tr->workers.workers[i].local;
        *squared += local->squared_error;
        *vlb += local->vlb;
    }
}

/* The batch's labels for a model with K > 0 classes: each must be in
 * [0, K) (never an embedding row out of bounds); then each is replaced by
 * the null class K with probability p = LABEL_DROPOUT (classifier-free
 * guidance's training, Ho & Salimans 2022), u_i < p with u_i the Philox
 * uniform value TRAINER_MAX_BATCH + first + i of stream (seed, 2k), first
 * the process's first row of the step (share.first_row) — past every t
 * draw of the step, so the draws depend only on seed, step and row. */
static diffuse_status prepare_labels(diffuse_trainer *tr, size_t rows)
{
    batch_buffers *b = &tr->batch;
    size_t classes = model_classes(tr->model);
    double p = tr->options[DIFFUSE_TRAINER_LABEL_DROPOUT];
    if (!b->has_labels || classes == 0)
        return DIFFUSE_OK;
    diffuse_status status = model_check_labels(&tr->error, classes, b->labels, rows, "labels");
    if (status != DIFFUSE_OK || p == 0.0)
        return status;
    uint64_t seed = (uint64_t)tr->options[DIFFUSE_TRAINER_SEED];
    philox_uniform(seed, 2 * tr->optimizer->step, TRAINER_MAX_BATCH + tr->share.first_row,
                   b->uniform, rows);
    for (size_t i = 0; i < rows; i++)
        if ((double)b->uniform[i] < p)
            b->labels[i] = (int32_t)classes;
    return DIFFUSE_OK;
}

/* The workers' forward and backward; peers that asked for them hear of the
 * finished gradient groups as backward goes (gradient_ready.h), so that
 * they can send them meanwhile. */
static void run_pass(diffuse_trainer *tr, train_pass *pass)
{
    bool report = tr->peers.fn != NULL && tr->peers.report_ready;
    if (report) {
        gradient_ready_start(&tr->ready, tr->workers.team, tr->workers.active);
        tr->model->ready = &tr->ready;
    }
    workers_run(&tr->workers, train_part, pass);
    tr->model->ready = NULL;
    if (report)
        gradient_ready_finish(&tr->ready);
}

/* Forward and backward of the `rows` rows already in batch.x0, gradients
 * scaled for the step's n = share.total_rows rows over all processes. */
static diffuse_status compute_gradients(diffuse_trainer *tr, size_t rows)
{
    batch_buffers *b = &tr->batch;
    diffuse_model *m = tr->model;
    diffuse_status status =
        diffuse_check_finite_floats(&tr->error, b->x0, rows * m->dim, "batch x0");
    if (status == DIFFUSE_OK)
        status = prepare_labels(tr, rows);
    if (status == DIFFUSE_OK) /* the model now belongs to this schedule */
        status = model_schedule_record(m, &tr->error, tr->schedule);
    if (status == DIFFUSE_OK)
        status = workers_prepare(&tr->workers, &tr->error, m,
                                 (size_t)tr->options[DIFFUSE_TRAINER_THREADS], true);
    if (status != DIFFUSE_OK)
        return status;

    draw_noise(tr, rows);
    forward_q_sample(tr->schedule, rows, m->dim, b->t, b->x0, b->eps, b->xt);
    const float *target = prediction_target(tr->schedule, (diffuse_prediction)m->prediction,
                                            rows, m->dim, b->t, b->x0, b->eps, b->target);
    loss_min_snr_weights(tr->schedule, (diffuse_prediction)m->prediction,
                         tr->options[DIFFUSE_TRAINER_MIN_SNR_GAMMA], rows, b->t, b->weight);

    double count = (double)tr->share.total_rows * (double)m->dim;
    train_pass pass = {tr, target, (float)(2.0 / count),
                       tr->options[DIFFUSE_TRAINER_VLB_WEIGHT] / (double)tr->share.total_rows};
    workers_split(&tr->workers, rows);
    run_pass(tr, &pass);
    return workers_first_failure(&tr->workers, &tr->error);
}

/* One optimisation step on the `rows` rows already in batch.x0 (this
 * process's part of the step: see peers_share_batch). */
static diffuse_status train_rows(diffuse_trainer *tr, size_t rows, double *loss_out)
{
    diffuse_model *m = tr->model;
    tr->ready_status = DIFFUSE_OK;
    diffuse_status status = compute_gradients(tr, rows);
    if (status == DIFFUSE_OK) /* a failed report (its message in tr->error) */
        status = tr->ready_status;
    double squared_error = 0.0, vlb = 0.0;
    if (status == DIFFUSE_OK)
        batch_sums(tr, &squared_error, &vlb);
    status = peers_reduce(&tr->peers, &tr->error, status, m->grads, m->param_count,
                          &squared_error);
    if (status != DIFFUSE_OK)
        return status;
    /* L = Σ (output − target)² / (n·d) over the step's rows on every process
     * [+ λ Σ L_vlb / n for a model that learns its variance: this process's
     * rows' share, since the peers exchange the squared error alone] */
    double n = (double)tr->share.total_rows;
    double loss = squared_error / (n * (double)m->dim);
    if (m->learns_variance)
        loss += tr->options[DIFFUSE_TRAINER_VLB_WEIGHT] * vlb / n;
    if (!isfinite(loss))
        return diffuse_fail(&tr->error, DIFFUSE_ERROR_NUMERIC,
                            "loss is not finite at step %llu; weights unchanged",
                            (unsigned long long)tr->optimizer->step);
    status = optim_step(tr->optimizer, m);
    if (status != DIFFUSE_OK)
        return diffuse_fail(&tr->error, status, "%s",
                            diffuse_optimizer_last_error(tr->optimizer));
    if (loss_out != NULL)
        *loss_out = loss;
    return DIFFUSE_OK;
}

/* train_rows with the model marked busy: no user code runs meanwhile, but a
 * callback of another call that runs the model (a sampler's progress, a
 * prediction function) must not train it under that call's feet. */
static diffuse_status train_rows_exclusive(diffuse_trainer *tr, size_t rows, double *loss_out)
{
    diffuse_status status = model_enter(tr->model, &tr->error, "the training step");
    if (status != DIFFUSE_OK) /* the peers still expect this process's gradients */
        return peers_reduce(&tr->peers, &tr->error, status, NULL, 0, &(double){0.0});
    status = train_rows(tr, rows, loss_out);
    model_leave(tr->model);
    return status;
}

/* Asks the data callback for a batch; a 0 (end of epoch) is followed by one
 * more request for the first batch of the next epoch. */
static diffuse_status pull_batch(diffuse_trainer *tr, size_t capacity, size_t *rows)
{
    batch_buffers *b = &tr->batch;
    for (int request = 0; request < 2; request++) {
        char message[DIFFUSE_ERROR_MESSAGE_SIZE / 2] = "";
        memset(b->labels, 0, capacity * sizeof *b->labels); /* unwritten labels are 0 */
        int got = tr->data_fn(tr->data_user, b->x0, b->labels, capacity, tr->model->dim,
                              message, sizeof message);
        message[sizeof message - 1] = '\0';
        diffuse_status alive = busy_check_alive(&tr->busy, &tr->error, "trainer");
        if (alive != DIFFUSE_OK)
            return alive;
        if (got < 0)
            return diffuse_fail(&tr->error, DIFFUSE_ERROR_CALLBACK,
                                "data callback failed (returned %d): %s", got,
                                message[0] ? message : "no message");
        if ((size_t)got > capacity)
            return diffuse_fail(&tr->error, DIFFUSE_ERROR_CALLBACK,
                                "data callback returned %d rows, more than the %zu asked for",
                                got, capacity);
        if (got > 0) {
            *rows = (size_t)got;
            return DIFFUSE_OK;
        }
    }
    return diffuse_fail(&tr->error, DIFFUSE_ERROR_CALLBACK,
                        "data callback returned no rows at the start of an epoch");
}

static diffuse_status step_pulled(diffuse_trainer *trainer, double *loss)
{
    size_t capacity = (size_t)trainer->options[DIFFUSE_TRAINER_BATCH_SIZE];
    size_t rows = 0;
    diffuse_status status =
        trainer->data_fn == NULL ? diffuse_fail(&trainer->error, DIFFUSE_ERROR_STATE,
                                                "no data callback set (diffuse_trainer_set_data)")
                                 : batch_reserve(trainer, capacity);
    if (status == DIFFUSE_OK)
        status = pull_batch(trainer, capacity, &rows);
    if ((status = peers_share_batch(&trainer->peers, &trainer->error, status, rows,
                                    &trainer->share)))
        return status;
    trainer->batch.has_labels = true;
    return train_rows_exclusive(trainer, rows, loss);
}

static diffuse_status step_given(diffuse_trainer *trainer, size_t n, const float *x0,
                                 const int32_t *labels, double *loss)
{
    diffuse_status status;
    size_t count;
    if ((status = diffuse_check_pointer(&trainer->error, x0, "x0")) == DIFFUSE_OK &&
        (status = diffuse_check_matrix_size(&trainer->error, n, trainer->model->dim, &count)) ==
            DIFFUSE_OK)
        status = batch_reserve(trainer, n);
    if ((status = peers_share_batch(&trainer->peers, &trainer->error, status, n,
                                    &trainer->share)))
        return status;
    memcpy(trainer->batch.x0, x0, count * sizeof(float));
    if (labels != NULL)
        memcpy(trainer->batch.labels, labels, n * sizeof *labels);
    trainer->batch.has_labels = labels != NULL;
    return train_rows_exclusive(trainer, n, loss);
}

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* Calls the progress callback when due; true when it asks to stop, or has
 * freed the trainer. */
static bool report_progress(const diffuse_trainer *tr, uint64_t done, uint64_t total, double loss,
                            double started)
{
    if (tr->progress_fn == NULL || (done % tr->progress_interval != 0 && done != total))
        return false;
    double elapsed = seconds_now() - started;
    double rate = elapsed > 0.0 ? (double)done / elapsed : 0.0;
    return tr->progress_fn(tr->progress_user, tr->optimizer->step, loss, rate) != 0 ||
           busy_freed(&tr->busy);
}

static diffuse_status train_steps(diffuse_trainer *trainer, uint64_t steps, double *last_loss)
{
    diffuse_status status;
    double started = seconds_now();
    for (uint64_t done = 1; done <= steps; done++) {
        double loss;
        status = step_pulled(trainer, &loss);
        if (status != DIFFUSE_OK)
            return status;
        if (last_loss != NULL)
            *last_loss = loss;
        if (report_progress(trainer, done, steps, loss, started))
            return diffuse_fail(&trainer->error, DIFFUSE_ERROR_CANCELLED,
                                "training stopped by the progress callback after %llu steps",
                                (unsigned long long)done);
    }
    return DIFFUSE_OK;
}

/* The public calls that run the callbacks: their bodies inside the busy guard. */

DIFFUSE_API diffuse_status diffuse_trainer_step(diffuse_trainer *trainer, double *loss)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_step", true);
    return status ? status : trainer_leave(trainer, step_pulled(trainer, loss));
}

DIFFUSE_API diffuse_status diffuse_trainer_step_batch(diffuse_trainer *trainer, size_t n,
                                                      const float *x0, double *loss)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_step_batch", true);
    return status ? status : trainer_leave(trainer, step_given(trainer, n, x0, NULL, loss));
}

DIFFUSE_API diffuse_status diffuse_trainer_step_batch_labels(diffuse_trainer *trainer, size_t n,
                                                             const float *x0,
                                                             const int32_t *labels,
                                                             double *loss)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_step_batch_labels", true);
    return status ? status : trainer_leave(trainer, step_given(trainer, n, x0, labels, loss));
}

DIFFUSE_API diffuse_status diffuse_trainer_train(diffuse_trainer *trainer, uint64_t steps,
                                                 double *last_loss)
{
    diffuse_status status = trainer_guard(trainer, "diffuse_trainer_train", true);
    return status ? status : trainer_leave(trainer, train_steps(trainer, steps, last_loss));
}

const diffuse_schedule *trainer_schedule(const diffuse_trainer *trainer)
{
    return trainer->schedule;
}

diffuse_model *trainer_model(const diffuse_trainer *trainer)
{
    return trainer->model;
}

diffuse_optimizer *trainer_optimizer(const diffuse_trainer *trainer)
{
    return trainer->optimizer;
}

const double *trainer_option_values(const diffuse_trainer *trainer)
{
    return trainer->options;
}

diffuse_error *trainer_error(diffuse_trainer *trainer)
{
    return &trainer->error;
}
