/* libFuzzer harness for every option setter (schedule, model configuration,
 * optimizer, trainer, sampler) and custom schedules, driven by fuzz bytes.
 * Build and run: see tests/fuzz/README.md; with replay.c it is a plain
 * program that replays the committed corpus (ctest).
 *
 * The input is a script of 12-byte records: a handle kind, an option number
 * (past the last known one on purpose: unknown options must be refused), a
 * setter type and 8 bytes of value (an int64, or a double's bits: NaN, ±Inf,
 * subnormals and huge values come naturally). The first record may instead
 * give a custom schedule's betas. After the script, what the options allow
 * is run: a model is built from the configuration, trained for a step and
 * sampled from. Checked, besides what ASan/UBSan/LeakSanitizer catch:
 *  1. every status is a known code, and a failing setter leaves the option
 *     as it was (read back through the getter);
 *  2. a setter that succeeded stored a value within the option's bounds;
 *  3. training and sampling either succeed with finite results or fail with
 *     a status and a message. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <diffuse/diffuse.h>

#define REQUIRE(condition)             \
    do {                               \
        if (!(condition))              \
            __builtin_trap();          \
    } while (0)

enum { DIM = 3, ROWS = 4, MAX_RECORDS = 32, RECORD = 12, MAX_PARAMS = 200000 };

enum { KIND_SCHEDULE, KIND_CONFIG, KIND_OPTIMIZER, KIND_TRAINER, KIND_SAMPLER, KIND_COUNT };

typedef struct handles {
    diffuse_schedule *schedule;
    diffuse_model_config *config;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    diffuse_sampler *sampler;
} handles;

/* The setter and getter of one handle kind, through one signature. */
static diffuse_status set_option(const handles *h, int kind, int option, bool is_double,
                                 int64_t i, double d)
{
    switch (kind) {
    case KIND_SCHEDULE:
        return is_double ? diffuse_schedule_set_double(h->schedule, option, d)
                         : diffuse_schedule_set_int(h->schedule, option, i);
    case KIND_CONFIG:
        return is_double ? diffuse_model_config_set_double(h->config, option, d)
                         : diffuse_model_config_set_int(h->config, option, i);
    case KIND_OPTIMIZER:
        return is_double ? diffuse_optimizer_set_double(h->optimizer, option, d)
                         : diffuse_optimizer_set_int(h->optimizer, option, i);
    case KIND_TRAINER:
        return is_double ? DIFFUSE_ERROR_INVALID_ARGUMENT
                         : diffuse_trainer_set_int(h->trainer, option, i);
    default:
        return is_double ? diffuse_sampler_set_double(h->sampler, option, d)
                         : diffuse_sampler_set_int(h->sampler, option, i);
    }
}

static diffuse_status get_option(const handles *h, int kind, int option, bool is_double,
                                 int64_t *i, double *d)
{
    switch (kind) {
    case KIND_SCHEDULE:
        return is_double ? diffuse_schedule_get_double(h->schedule, option, d)
                         : diffuse_schedule_get_int(h->schedule, option, i);
    case KIND_CONFIG:
        return is_double ? diffuse_model_config_get_double(h->config, option, d)
                         : diffuse_model_config_get_int(h->config, option, i);
    case KIND_OPTIMIZER:
        return is_double ? diffuse_optimizer_get_double(h->optimizer, option, d)
                         : diffuse_optimizer_get_int(h->optimizer, option, i);
    case KIND_TRAINER:
        return is_double ? DIFFUSE_ERROR_INVALID_ARGUMENT
                         : diffuse_trainer_get_int(h->trainer, option, i);
    default:
        return is_double ? diffuse_sampler_get_double(h->sampler, option, d)
                         : diffuse_sampler_get_int(h->sampler, option, i);
    }
}

static bool known_status(diffuse_status status)
{
    return status >= DIFFUSE_OK && status <= DIFFUSE_ERROR_UNSUPPORTED;
}

/* One record: set, then check rules 1 and 2 through the getter. */
static void apply(const handles *h, const uint8_t *record)
{
    int kind = record[0] % KIND_COUNT, option = record[1] % 16;
    bool is_double = record[2] & 1;
    int64_t i, before_i = 0, after_i = 0;
    double d, before_d = 0.0, after_d = 0.0;
    memcpy(&i, record + 4, sizeof i);
    memcpy(&d, record + 4, sizeof d);
    diffuse_status readable = get_option(h, kind, option, is_double, &before_i, &before_d);
    diffuse_status status = set_option(h, kind, option, is_double, i, d);
    REQUIRE(known_status(status));
    if (readable != DIFFUSE_OK)
        return; /* an option this handle does not have (in this type) */
    REQUIRE(get_option(h, kind, option, is_double, &after_i, &after_d) == DIFFUSE_OK);
    if (status != DIFFUSE_OK) {
        REQUIRE(before_i == after_i);
        REQUIRE(memcmp(&before_d, &after_d, sizeof before_d) == 0);
    } else if (is_double) {
        REQUIRE(isfinite(after_d));
    }
}

/* A custom schedule from the first record's bytes when its kind byte says
 * so (betas in (0, 1] or not: the constructor must judge), else cosine. */
static diffuse_schedule *make_schedule(const uint8_t *data, size_t size, size_t *used)
{
    diffuse_schedule *s = NULL;
    *used = 0;
    if (size >= 2 && data[0] == 0xff) {
        size_t steps = data[1] % 8 + 1;
        double betas[8];
        if (size >= 2 + steps * sizeof(double)) {
            memcpy(betas, data + 2, steps * sizeof(double));
            *used = 2 + steps * sizeof(double);
            diffuse_status status = diffuse_schedule_create_custom(&s, betas, steps);
            REQUIRE(known_status(status) && (status == DIFFUSE_OK) == (s != NULL));
        }
    }
    if (s == NULL)
        REQUIRE(diffuse_schedule_create(&s, DIFFUSE_SCHEDULE_COSINE, 12) == DIFFUSE_OK);
    return s;
}

/* A rough parameter count from the configuration, so that the harness does
 * not build the 4-billion-parameter networks the bounds allow. */
static bool model_is_small(const diffuse_model_config *config)
{
    int64_t width = 0, layers = 0, embed = 0;
    REQUIRE(diffuse_model_config_get_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, &width) == 0);
    REQUIRE(diffuse_model_config_get_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, &layers) == 0);
    REQUIRE(diffuse_model_config_get_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, &embed) == 0);
    double params = (double)width * (double)width * (double)(layers + 1) +
                    (double)width * (double)(embed + 2 * DIM + 4);
    return params <= MAX_PARAMS;
}

/* Rule 3 on a model built from the fuzzed configuration. */
static void train_and_sample(handles *h)
{
    int64_t train_threads = 0, sample_threads = 0;
    REQUIRE(diffuse_trainer_get_int(h->trainer, DIFFUSE_TRAINER_THREADS, &train_threads) == 0);
    REQUIRE(diffuse_sampler_get_int(h->sampler, DIFFUSE_SAMPLER_THREADS, &sample_threads) == 0);
    if (!model_is_small(h->config) || train_threads > 4 || sample_threads > 4)
        return;
    float x0[ROWS * DIM], out[ROWS * DIM];
    for (size_t k = 0; k < ROWS * DIM; k++)
        x0[k] = (float)k * 0.125f - 0.5f;
    double loss = 0.0;
    diffuse_status status = diffuse_trainer_step_batch(h->trainer, ROWS, x0, &loss);
    REQUIRE(known_status(status));
    REQUIRE(status != DIFFUSE_OK || isfinite(loss));
    REQUIRE(status == DIFFUSE_OK || diffuse_trainer_last_error(h->trainer)[0] != '\0');
    status = diffuse_sampler_run(h->sampler, ROWS, out);
    REQUIRE(known_status(status));
    REQUIRE(status == DIFFUSE_OK || diffuse_sampler_last_error(h->sampler)[0] != '\0');
    for (size_t k = 0; status == DIFFUSE_OK && k < ROWS * DIM; k++)
        REQUIRE(isfinite(out[k]));
}

/* The model, optimizer, trainer and sampler on the current configuration
 * and schedule (the trainer and sampler copy the schedule when created);
 * false when the configuration is too large to try or is refused. */
static bool build(handles *h)
{
    return model_is_small(h->config) && diffuse_model_create(&h->model, h->config) == 0 &&
           diffuse_optimizer_create(&h->optimizer, DIFFUSE_OPTIMIZER_ADAMW, h->model) == 0 &&
           diffuse_trainer_create(&h->trainer, h->model, h->schedule, h->optimizer) == 0 &&
           diffuse_sampler_create(&h->sampler, h->model, h->schedule) == DIFFUSE_OK;
}

static void free_built(handles *h)
{
    diffuse_sampler_free(h->sampler);
    diffuse_trainer_free(h->trainer);
    diffuse_optimizer_free(h->optimizer);
    diffuse_model_free(h->model);
    h->sampler = NULL;
    h->trainer = NULL;
    h->optimizer = NULL;
    h->model = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every record on a first set of handles; then the handles built again on
 * the fuzzed configuration and schedule, with the optimizer, trainer and
 * sampler records applied to them once more, and run. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    handles h = {0};
    size_t used;
    h.schedule = make_schedule(data, size, &used);
    size_t records = (size - used) / RECORD;
    records = records < MAX_RECORDS ? records : MAX_RECORDS;
    data += used;
    REQUIRE(diffuse_model_config_create(&h.config, DIFFUSE_ARCH_MLP, DIM) == DIFFUSE_OK);
    REQUIRE(diffuse_model_config_set_int(h.config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16) == 0);
    REQUIRE(build(&h));
    for (size_t r = 0; r < records; r++)
        apply(&h, data + r * RECORD);
    free_built(&h);
    if (build(&h)) {
        for (size_t r = 0; r < records; r++) {
            if (data[r * RECORD] % KIND_COUNT >= KIND_OPTIMIZER)
                apply(&h, data + r * RECORD);
        }
        train_and_sample(&h);
    }
    free_built(&h);
    diffuse_model_config_free(h.config);
    diffuse_schedule_free(h.schedule);
    return 0;
}
