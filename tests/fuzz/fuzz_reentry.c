/* libFuzzer harness for callbacks that re-enter or free their own handle
 * ("Callbacks and re-entry" in include/diffuse/common.h). Build and run: see
 * tests/fuzz/README.md; built with -DDIFFUSE_FUZZ_REPLAY it is a plain
 * program that replays files (the committed corpus runs from ctest).
 *
 * The input is a script. A fixed set of handles is made first: a small MLP
 * model with an optimizer, a trainer and a sampler on it, and a callback
 * model with a sampler of its own. Then each byte picks an operation
 * (training steps, a training run, sampling, predictions, option changes,
 * parameter writes), and every callback those operations run reads the next
 * byte to pick what it does meanwhile: nothing, fail or cancel, re-enter a
 * call that runs its own handle, change an option of it, read it, free it,
 * or use another handle (which may run that one's callbacks in turn, up to
 * a depth limit). Checked, besides what ASan/UBSan/LeakSanitizer catch:
 *  1. a call that changes or runs a busy handle from inside its callback
 *     returns DIFFUSE_ERROR_STATE, and a getter on it works;
 *  2. a call that changes the model a sampler is running returns STATE;
 *  3. every status is a known code; a handle freed by its own callback is
 *     freed when the call returns (LeakSanitizer sees a forgotten one), and
 *     the harness recreates it for the next operations. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <diffuse/diffuse.h>

#include "test_handles.h"

#define REQUIRE(condition)             \
    do {                               \
        if (!(condition))              \
            __builtin_trap();          \
    } while (0)

enum { DIM = 2, MAX_ROWS = 8, MAX_DEPTH = 4, MAX_OPERATIONS = 64 };

/* What a callback does, read from the script. */
enum {
    ACT_NOTHING,
    ACT_FAIL,      /* data: −1, progress: stop, prediction: non-zero */
    ACT_RUN_OWN,   /* re-enter a call that runs its own handle: STATE */
    ACT_SET_OWN,   /* change an option of its own handle: STATE */
    ACT_READ_OWN,  /* a getter on its own handle: OK */
    ACT_FREE_OWN,  /* free its own handle: deferred */
    ACT_OTHER,     /* an operation on the other handles (nested callbacks) */
    ACT_COUNT
};

typedef struct harness {
    const uint8_t *script;
    size_t size, at;
    int depth;
    diffuse_schedule *schedule;
    diffuse_model *model, *callback_model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    diffuse_sampler *sampler, *callback_sampler;
    bool sampler_running, callback_sampler_running; /* the model is busy meanwhile */
    bool callback_model_freed;                      /* by its own function */
    float batch[MAX_ROWS * DIM];
    /* Each nesting depth writes its own outputs: an operation run from a
     * sampler's progress callback must not write where that run's other
     * workers are still writing (ThreadSanitizer saw the shared buffer). */
    float out[MAX_DEPTH + 1][MAX_ROWS * DIM];
    int32_t t[MAX_ROWS];
} harness;

static unsigned next_byte(harness *h)
{
    return h->at < h->size ? h->script[h->at++] : 0;
}

static size_t rows_from(harness *h)
{
    return 1 + next_byte(h) % MAX_ROWS;
}

/* The output buffer of the current nesting depth. */
static float *out_of(harness *h)
{
    return h->out[h->depth];
}

static void require_status(diffuse_status status)
{
    REQUIRE(status >= DIFFUSE_OK && status <= DIFFUSE_ERROR_UNSUPPORTED);
}

static void run_operation(harness *h, unsigned op);

/* A callback's action: ACT_OTHER runs one more operation (its own callbacks
 * read the script in turn), within the depth limit. */
static int next_action(harness *h)
{
    int action = (int)(next_byte(h) % ACT_COUNT);
    if (action == ACT_OTHER) {
        if (h->depth >= MAX_DEPTH)
            return ACT_NOTHING;
        h->depth++;
        run_operation(h, next_byte(h));
        h->depth--;
    }
    return action;
}

/* ---- Trainer callbacks ------------------------------------------------------ */

static void trainer_reenters(harness *h, int action)
{
    int64_t value = 0;
    uint64_t steps = 0;
    if (action == ACT_RUN_OWN) {
        unsigned which = next_byte(h) % 3;
        diffuse_status status =
            which == 0   ? diffuse_trainer_step(h->trainer, NULL)
            : which == 1 ? diffuse_trainer_step_batch(h->trainer, MAX_ROWS, h->batch, NULL)
                         : diffuse_trainer_train(h->trainer, 1, NULL);
        REQUIRE(status == DIFFUSE_ERROR_STATE);
    } else if (action == ACT_SET_OWN) {
        REQUIRE(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_BATCH_SIZE,
                                        (int64_t)rows_from(h)) == DIFFUSE_ERROR_STATE);
        REQUIRE(diffuse_trainer_set_data(h->trainer, NULL, NULL) == DIFFUSE_ERROR_STATE);
    } else if (action == ACT_READ_OWN) {
        REQUIRE(diffuse_trainer_get_int(h->trainer, DIFFUSE_TRAINER_THREADS, &value) ==
                DIFFUSE_OK);
        REQUIRE(diffuse_trainer_step_count(h->trainer, &steps) == DIFFUSE_OK);
    } else if (action == ACT_FREE_OWN) {
        diffuse_trainer_free(h->trainer);
        h->trainer = NULL; /* freed when the outermost call returns */
    }
}

static int data_callback(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                         char *message, size_t message_size)
{
    (void)labels;
    harness *h = user;
    int action = next_action(h);
    if (h->trainer != NULL)
        trainer_reenters(h, action);
    if (action == ACT_FAIL) {
        snprintf(message, message_size, "scripted failure");
        return -1;
    }
    size_t rows = 1 + next_byte(h) % capacity;
    for (size_t i = 0; i < rows * dim; i++) /* the buffer lent to us: still ours */
        x[i] = (float)(i % 7) * 0.25f - 0.75f;
    return (int)rows;
}

static int train_progress(void *user, uint64_t step, double loss, double rate)
{
    (void)step, (void)loss, (void)rate;
    harness *h = user;
    int action = next_action(h);
    if (h->trainer != NULL)
        trainer_reenters(h, action);
    return action == ACT_FAIL;
}

/* ---- Sampler callbacks -------------------------------------------------------- */

/* Calls that would change the model a sampler is running. */
static void model_is_busy(harness *h, diffuse_model *model)
{
    size_t count = 0;
    REQUIRE(diffuse_model_param_count(model, &count) == DIFFUSE_OK);
    if (count > 0) {
        float *params = calloc(count, sizeof *params);
        REQUIRE(params != NULL);
        REQUIRE(diffuse_model_set_params(model, params, count) == DIFFUSE_ERROR_STATE);
        free(params);
    }
    if (model == h->model && h->trainer != NULL)
        REQUIRE(diffuse_trainer_step_batch(h->trainer, 1, h->batch, NULL) ==
                DIFFUSE_ERROR_STATE);
    REQUIRE(diffuse_test_predict(model, 1, h->t, h->batch, out_of(h)) == DIFFUSE_ERROR_STATE);
}

static void sampler_reenters(harness *h, diffuse_sampler **sampler, diffuse_model *model,
                             int action)
{
    int64_t value = 0;
    if (action == ACT_RUN_OWN) {
        REQUIRE(diffuse_sampler_run(*sampler, 1, out_of(h)) == DIFFUSE_ERROR_STATE);
        model_is_busy(h, model);
    } else if (action == ACT_SET_OWN) {
        REQUIRE(diffuse_sampler_set_int(*sampler, DIFFUSE_SAMPLER_THREADS,
                                        (int64_t)(next_byte(h) % 4)) == DIFFUSE_ERROR_STATE);
        REQUIRE(diffuse_sampler_set_progress(*sampler, NULL, NULL) == DIFFUSE_ERROR_STATE);
    } else if (action == ACT_READ_OWN) {
        REQUIRE(diffuse_sampler_get_int(*sampler, DIFFUSE_SAMPLER_SEED, &value) == DIFFUSE_OK);
    } else if (action == ACT_FREE_OWN) {
        diffuse_sampler_free(*sampler);
        *sampler = NULL;
    }
}

/* The progress of *sampler (running on `model` while *running). */
static int progress_of(harness *h, diffuse_sampler **sampler, diffuse_model *model,
                       bool running, uint64_t done, uint64_t total)
{
    REQUIRE(done <= total);
    int action = next_action(h);
    if (running && *sampler != NULL)
        sampler_reenters(h, sampler, model, action);
    return action == ACT_FAIL;
}

static int sample_progress(void *user, uint64_t done, uint64_t total)
{
    harness *h = user;
    return progress_of(h, &h->sampler, h->model, h->sampler_running, done, total);
}

static int callback_sample_progress(void *user, uint64_t done, uint64_t total)
{
    harness *h = user;
    return progress_of(h, &h->callback_sampler, h->callback_model, h->callback_sampler_running,
                       done, total);
}

/* ---- The callback model ------------------------------------------------------- */

static int predict(void *user, const diffuse_model_call *call, size_t dim)
{
    harness *h = user;
    size_t n = call->n;
    int action = next_action(h);
    if (!h->callback_model_freed) {
        if (action == ACT_RUN_OWN || action == ACT_SET_OWN)
            model_is_busy(h, h->callback_model);
        else if (action == ACT_READ_OWN)
            REQUIRE(diffuse_model_dim(h->callback_model, &dim) == DIFFUSE_OK);
        else if (action == ACT_FREE_OWN) {
            diffuse_model_free(h->callback_model);
            h->callback_model_freed = true;
        }
    }
    for (size_t i = 0; i < n * dim; i++)
        call->out[i] = 0.5f * call->x_t[i];
    return action == ACT_FAIL;
}

/* ---- Handles ------------------------------------------------------------------- */

static void make_trainer(harness *h)
{
    REQUIRE(diffuse_trainer_create(&h->trainer, h->model, h->schedule, h->optimizer) ==
            DIFFUSE_OK);
    REQUIRE(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_BATCH_SIZE, MAX_ROWS) ==
            DIFFUSE_OK);
    REQUIRE(diffuse_trainer_set_data(h->trainer, data_callback, h) == DIFFUSE_OK);
}

static void make_sampler(harness *h)
{
    REQUIRE(diffuse_sampler_create(&h->sampler, h->model, h->schedule) == DIFFUSE_OK);
    REQUIRE(diffuse_sampler_set_progress(h->sampler, sample_progress, h) == DIFFUSE_OK);
}

/* The callback model and its sampler (made again together: a model freed by
 * its own function leaves its sampler only to be freed). */
static void make_callback_pair(harness *h)
{
    REQUIRE(diffuse_model_create_callback(&h->callback_model, DIM, DIFFUSE_PREDICT_V, predict,
                                          h) == DIFFUSE_OK);
    REQUIRE(diffuse_sampler_create(&h->callback_sampler, h->callback_model, h->schedule) ==
            DIFFUSE_OK);
    REQUIRE(diffuse_sampler_set_progress(h->callback_sampler, callback_sample_progress, h) ==
            DIFFUSE_OK);
    h->callback_model_freed = false;
}

/* After an operation: what a callback freed is made again. */
static void restore_handles(harness *h)
{
    if (h->depth > 0)
        return; /* the outermost call has not returned: frees are still pending */
    if (h->trainer == NULL)
        make_trainer(h);
    if (h->sampler == NULL)
        make_sampler(h);
    if (h->callback_model_freed) {
        diffuse_sampler_free(h->callback_sampler);
        make_callback_pair(h);
    } else if (h->callback_sampler == NULL) {
        REQUIRE(diffuse_sampler_create(&h->callback_sampler, h->callback_model, h->schedule) ==
                DIFFUSE_OK);
        REQUIRE(diffuse_sampler_set_progress(h->callback_sampler, callback_sample_progress, h) ==
                DIFFUSE_OK);
    }
}

/* ---- Operations ---------------------------------------------------------------- */

static void run_sampler(harness *h, diffuse_sampler **sampler, bool *running, size_t rows)
{
    if (*sampler == NULL || *running)
        return; /* freed and pending, or running: that re-entry is ACT_RUN_OWN's */
    *running = true;
    require_status(diffuse_sampler_run(*sampler, rows, out_of(h)));
    *running = false;
}

static void run_operation(harness *h, unsigned op)
{
    switch (op % 8) {
    case 0:
        if (h->trainer != NULL)
            require_status(diffuse_trainer_step(h->trainer, NULL));
        break;
    case 1:
        if (h->trainer != NULL) {
            require_status(diffuse_trainer_set_progress(h->trainer, train_progress, h, 1));
            if (h->trainer != NULL)
                require_status(diffuse_trainer_train(h->trainer, 1 + next_byte(h) % 3, NULL));
        }
        break;
    case 2:
        if (h->trainer != NULL)
            require_status(diffuse_trainer_step_batch(h->trainer, rows_from(h), h->batch, NULL));
        break;
    case 3:
        run_sampler(h, &h->sampler, &h->sampler_running, rows_from(h));
        break;
    case 4:
        if (!h->callback_model_freed)
            run_sampler(h, &h->callback_sampler, &h->callback_sampler_running, rows_from(h));
        break;
    case 5: /* option changes that reallocate: threads of both, batch size */
        if (h->sampler != NULL)
            require_status(diffuse_sampler_set_int(h->sampler, DIFFUSE_SAMPLER_THREADS,
                                                   (int64_t)(next_byte(h) % 4)));
        if (h->trainer != NULL)
            require_status(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_THREADS,
                                                   (int64_t)(next_byte(h) % 3)));
        if (h->trainer != NULL)
            require_status(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_BATCH_SIZE,
                                                   (int64_t)rows_from(h)));
        break;
    case 6:
        require_status(diffuse_test_predict(h->model, rows_from(h), h->t, h->batch, out_of(h)));
        if (!h->callback_model_freed)
            require_status(
                diffuse_test_predict(h->callback_model, rows_from(h), h->t, h->batch, out_of(h)));
        break;
    default: {
        size_t count = 0;
        REQUIRE(diffuse_model_param_count(h->model, &count) == DIFFUSE_OK);
        float *params = malloc(count * sizeof *params);
        REQUIRE(params != NULL);
        REQUIRE(diffuse_model_get_params(h->model, params, count) == DIFFUSE_OK);
        require_status(diffuse_model_set_params(h->model, params, count));
        free(params);
        break;
    }
    }
    restore_handles(h);
}

static void harness_init(harness *h, const uint8_t *data, size_t size)
{
    memset(h, 0, sizeof *h);
    h->script = data;
    h->size = size;
    REQUIRE(diffuse_schedule_create(&h->schedule, DIFFUSE_SCHEDULE_LINEAR,
                                    2 + next_byte(h) % 6) == DIFFUSE_OK);
    diffuse_model_config *config = NULL;
    REQUIRE(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM) == DIFFUSE_OK);
    REQUIRE(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 8) == DIFFUSE_OK);
    REQUIRE(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, 1) == DIFFUSE_OK);
    REQUIRE(diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, 4) == DIFFUSE_OK);
    REQUIRE(diffuse_model_create(&h->model, config) == DIFFUSE_OK);
    diffuse_model_config_free(config);
    REQUIRE(diffuse_optimizer_create(&h->optimizer, DIFFUSE_OPTIMIZER_ADAMW, h->model) ==
            DIFFUSE_OK);
    for (size_t i = 0; i < MAX_ROWS * DIM; i++)
        h->batch[i] = (float)i * 0.125f - 1.0f;
    make_trainer(h);
    make_sampler(h);
    make_callback_pair(h);
}

static void harness_free(harness *h)
{
    diffuse_sampler_free(h->callback_sampler);
    diffuse_model_free(h->callback_model);
    diffuse_sampler_free(h->sampler);
    diffuse_trainer_free(h->trainer);
    diffuse_optimizer_free(h->optimizer);
    diffuse_model_free(h->model);
    diffuse_schedule_free(h->schedule);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness h;
    harness_init(&h, data, size);
    for (int i = 0; i < MAX_OPERATIONS && h.at < h.size; i++)
        run_operation(&h, next_byte(&h));
    harness_free(&h);
    return 0;
}

#ifdef DIFFUSE_FUZZ_REPLAY
/* Replays each file named on the command line (a corpus, without libFuzzer). */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *file = fopen(argv[i], "rb");
        if (file == NULL) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        static uint8_t input[1 << 16];
        size_t size = fread(input, 1, sizeof input, file);
        fclose(file);
        LLVMFuzzerTestOneInput(input, size);
    }
    printf("replayed %d inputs\n", argc - 1);
    return 0;
}
#endif
