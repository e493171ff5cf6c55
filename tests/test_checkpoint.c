/* Checkpoints (include/diffuse/checkpoint.h): bit-exact round trips of
 * models and every kind of schedule, bit-exact resumption of training,
 * strict rejection of corrupt files (truncated, flipped bytes, edited
 * metadata and tensors), atomic saves, and argument checks.
 *
 * Corrupt files are made by editing a real checkpoint: the JSON header is
 * canonical and compact, so a metadata value or a tensor entry is a unique
 * substring that can be replaced (edit_header re-pads the header and keeps
 * the data section), and a weight is overwritten in place at its offset.
 * Both then give the file a valid checksum again (reseal), so that what
 * rejects the file is the check under test, not the checksum; the
 * integrity tests edit without resealing. */
#include <diffuse/diffuse.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"       /* internal: poke a non-finite weight */
#include "train/optim.h"       /* internal: compare the moments */
#include "io/atomic_file.h" /* internal: kill a saver at a point of its commit */
#include "io/safetensors.h" /* internal: find a tensor's bytes in a file */
#include "test_support.h"

#define REFERENCE_FILE DIFFUSE_TEST_DATA_DIR "/reference/safetensors_reference.safetensors"
/* A trainer checkpoint written by libdiffuse 0.1 (format_version 1, no
 * checksum): d = 2, H = 4, L = 1, E = 4, cosine T = 20, AdamW with EMA 0.9
 * and warm-up 2, 3 steps of batch 8, seed 5, 1 thread. */
#define VERSION_1_FILE DIFFUSE_TEST_DATA_DIR "/reference/checkpoint_v1_trainer.safetensors"

/* ---- Files ----------------------------------------------------------------- */

typedef struct blob {
    unsigned char *bytes;
    size_t size;
} blob;

static blob read_blob(const char *path)
{
    blob b;
    b.bytes = diffuse_test_read_file(path, &b.size);
    return b;
}

static bool same_blob(const blob *a, const blob *b)
{
    return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0;
}

/* A fresh directory and paths inside it. */
typedef struct scratch {
    char dir[256];
    char path[512]; /* <dir>/checkpoint.safetensors */
    char other[512]; /* <dir>/edited.safetensors */
} scratch;

static void scratch_init(scratch *s)
{
    ck_assert_int_eq(diffuse_test_temp_dir(s->dir, sizeof s->dir), 0);
    snprintf(s->path, sizeof s->path, "%s/checkpoint.safetensors", s->dir);
    snprintf(s->other, sizeof s->other, "%s/edited.safetensors", s->dir);
}

/* ---- Editing a checkpoint -------------------------------------------------- */

static uint64_t header_length(const blob *b)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b->bytes[i];
    return n;
}

/* Writes the checksum the file's bytes call for into its "checksum"
 * metadata; a file that no longer parses, or has no checksum, is left as
 * it is. */
static void reseal(blob *b)
{
    st_file *file = NULL;
    if (st_open_memory(&file, b->bytes, b->size, NULL) != DIFFUSE_OK)
        return;
    uint32_t crc;
    size_t at;
    if (st_checksum_compute(file, "checksum", &crc, &at, NULL) == DIFFUSE_OK) {
        char hex[9];
        snprintf(hex, sizeof hex, "%08" PRIx32, crc);
        memcpy(b->bytes + at, hex, 8);
    }
    st_close(file);
}

/* The file with the single occurrence of `from` in its JSON header replaced
 * by `to`; the header is re-padded to 8 bytes, the data section kept. The
 * checksum is left as it was (see edit_header). */
static blob edit_header_unsealed(const blob *b, const char *from, const char *to)
{
    size_t n = (size_t)header_length(b);
    char *header = malloc(n + 1);
    ck_assert_ptr_nonnull(header);
    memcpy(header, b->bytes + 8, n);
    header[n] = '\0';
    size_t length = n;
    while (length > 0 && header[length - 1] == ' ')
        length--;
    header[length] = '\0';
    char *at = strstr(header, from);
    ck_assert_msg(at != NULL, "\"%s\" is not in the header", from);
    ck_assert_msg(strstr(at + 1, from) == NULL, "\"%s\" is ambiguous", from);
    size_t prefix = (size_t)(at - header), from_length = strlen(from), to_length = strlen(to);
    size_t new_length = length - from_length + to_length;
    size_t padded = (new_length + 7) / 8 * 8;
    size_t data = b->size - 8 - n;
    blob out = {malloc(8 + padded + data + 1), 8 + padded + data};
    ck_assert_ptr_nonnull(out.bytes);
    for (int i = 0; i < 8; i++)
        out.bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    char *dst = (char *)out.bytes + 8;
    memcpy(dst, header, prefix);
    memcpy(dst + prefix, to, to_length);
    memcpy(dst + prefix + to_length, at + from_length, length - prefix - from_length);
    memset(dst + new_length, ' ', padded - new_length);
    memcpy(out.bytes + 8 + padded, b->bytes + 8 + n, data);
    free(header);
    return out;
}

/* edit_header_unsealed with a valid checksum for the new bytes. */
static blob edit_header(const blob *b, const char *from, const char *to)
{
    blob out = edit_header_unsealed(b, from, to);
    reseal(&out);
    return out;
}

/* Where element `index` of tensor `name` lies in the file. */
static size_t element_offset(const blob *b, const char *name, size_t index)
{
    st_file *file = NULL;
    ck_assert_int_eq(st_open_memory(&file, b->bytes, b->size, NULL), DIFFUSE_OK);
    const st_tensor *t = st_lookup(file, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    ck_assert_uint_lt(index, t->element_count);
    size_t at = 8 + (size_t)header_length(b) + t->offset + index * st_dtype_size(t->dtype);
    st_close(file);
    return at;
}

/* A copy with element `index` of tensor `name` replaced by the `size`
 * bytes at `value` (little-endian host, like every machine this runs on). */
static blob poke_element(const blob *b, const char *name, size_t index, const void *value,
                         size_t size)
{
    blob out = {malloc(b->size), b->size};
    ck_assert_ptr_nonnull(out.bytes);
    memcpy(out.bytes, b->bytes, b->size);
    memcpy(out.bytes + element_offset(b, name, index), value, size);
    reseal(&out);
    return out;
}

/* For an F32 tensor. */
static blob poke_float(const blob *b, const char *name, size_t index, float value)
{
    return poke_element(b, name, index, &value, sizeof value);
}

/* For an F64 tensor. */
static blob poke_double(const blob *b, const char *name, size_t index, double value)
{
    return poke_element(b, name, index, &value, sizeof value);
}

/* ---- Handles ------------------------------------------------------------- */

typedef struct model_spec {
    size_t dim;
    int64_t width, layers, embed, activation, residual, seed, prediction;
    double max_period;
} model_spec;

/* Small and quick; every option at a non-default value where possible. */
static const model_spec tiny_spec = {2, 4, 1, 4, DIFFUSE_ACTIVATION_SILU, 1, 3,
                                     DIFFUSE_PREDICT_EPSILON, 10000.0};
static const model_spec unusual_spec = {3, 16, 2, 8, DIFFUSE_ACTIVATION_GELU, 0, 7,
                                        DIFFUSE_PREDICT_V, 1234.5};

static diffuse_model *make_model(const model_spec *spec)
{
    diffuse_model_config *config = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, spec->dim),
                     DIFFUSE_OK);
    const struct {
        diffuse_model_option option;
        int64_t value;
    } ints[] = {
        {DIFFUSE_MODEL_HIDDEN_WIDTH, spec->width},  {DIFFUSE_MODEL_HIDDEN_LAYERS, spec->layers},
        {DIFFUSE_MODEL_TIME_EMBED_DIM, spec->embed}, {DIFFUSE_MODEL_ACTIVATION, spec->activation},
        {DIFFUSE_MODEL_RESIDUAL, spec->residual},    {DIFFUSE_MODEL_SEED, spec->seed},
        {DIFFUSE_MODEL_PREDICTION, spec->prediction},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        ck_assert_int_eq(diffuse_model_config_set_int(config, ints[i].option, ints[i].value),
                         DIFFUSE_OK);
    ck_assert_int_eq(
        diffuse_model_config_set_double(config, DIFFUSE_MODEL_TIME_MAX_PERIOD, spec->max_period),
        DIFFUSE_OK);
    diffuse_model *m = NULL;
    ck_assert_int_eq(diffuse_model_create(&m, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    return m;
}

static float *get_params(const diffuse_model *m, size_t *count, bool ema)
{
    ck_assert_int_eq(diffuse_model_param_count(m, count), DIFFUSE_OK);
    float *values = malloc(*count * sizeof *values);
    ck_assert_ptr_nonnull(values);
    if (ema)
        ck_assert_int_eq(diffuse_model_get_ema_params(m, values, *count), DIFFUSE_OK);
    else
        ck_assert_int_eq(diffuse_model_get_params(m, values, *count), DIFFUSE_OK);
    return values;
}

/* EMA weights that differ from the weights. */
static void give_ema(diffuse_model *m)
{
    size_t count;
    float *values = get_params(m, &count, false);
    for (size_t i = 0; i < count; i++)
        values[i] = 0.5f * values[i] + 0.25f;
    ck_assert_int_eq(diffuse_model_set_ema_params(m, values, count), DIFFUSE_OK);
    free(values);
}

enum { SCHEDULE_CASES = 10 };

static double custom_beta(size_t t, size_t steps)
{
    return 1e-4 + (0.05 - 1e-4) * sqrt((double)(t + 1) / (double)steps);
}

/* Every kind, non-default options, zero terminal SNR, T = 1. */
static diffuse_schedule *make_schedule(int which)
{
    diffuse_schedule *s = NULL;
    if (which == 4 || which == 7) {
        double betas[20];
        for (size_t t = 0; t < 20; t++)
            betas[t] = custom_beta(t, 20);
        ck_assert_int_eq(diffuse_schedule_create_custom(&s, betas, 20), DIFFUSE_OK);
    } else {
        static const diffuse_schedule_kind kinds[SCHEDULE_CASES] = {
            DIFFUSE_SCHEDULE_LINEAR, DIFFUSE_SCHEDULE_SCALED_LINEAR, DIFFUSE_SCHEDULE_COSINE,
            DIFFUSE_SCHEDULE_SIGMOID, DIFFUSE_SCHEDULE_CUSTOM, DIFFUSE_SCHEDULE_LINEAR,
            DIFFUSE_SCHEDULE_COSINE, DIFFUSE_SCHEDULE_CUSTOM, DIFFUSE_SCHEDULE_LINEAR,
            DIFFUSE_SCHEDULE_SIGMOID};
        static const size_t steps[SCHEDULE_CASES] = {50, 40, 30, 25, 20, 50, 30, 20, 1, 33};
        ck_assert_int_eq(diffuse_schedule_create(&s, kinds[which], steps[which]), DIFFUSE_OK);
    }
    switch (which) {
    case 0: /* 0.1 and 0.3 have no exact binary value: tests the 17-digit round trip */
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_END, 0.03),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_START, 0.1 / 3),
                         DIFFUSE_ERROR_OUT_OF_RANGE);
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_BETA_START, 1e-4 / 3),
                         DIFFUSE_OK);
        break;
    case 2:
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_COSINE_OFFSET, 0.01),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_MAX_BETA, 0.99),
                         DIFFUSE_OK);
        break;
    case 3:
        ck_assert_int_eq(diffuse_schedule_set_double(s, DIFFUSE_SCHEDULE_SIGMOID_RANGE, 4.0),
                         DIFFUSE_OK);
        break;
    case 5:
    case 6:
    case 7:
        ck_assert_int_eq(diffuse_schedule_set_int(s, DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR, 1),
                         DIFFUSE_OK);
        break;
    default:
        break;
    }
    return s;
}

/* ---- Comparisons --------------------------------------------------------- */

static void expect_same_config(const diffuse_model *a, const diffuse_model *b)
{
    const diffuse_model_config *ca, *cb;
    ck_assert_int_eq(diffuse_model_get_config(a, &ca), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_get_config(b, &cb), DIFFUSE_OK);
    diffuse_architecture arch_a, arch_b;
    ck_assert_int_eq(diffuse_model_config_architecture(ca, &arch_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_architecture(cb, &arch_b), DIFFUSE_OK);
    ck_assert_int_eq(arch_a, arch_b);
    size_t count = 0;
    ck_assert_int_eq(diffuse_model_config_option_count(arch_a, &count), DIFFUSE_OK);
    for (size_t i = 0; i < count; i++) {
        diffuse_model_option option;
        int is_double;
        const char *name;
        ck_assert_int_eq(diffuse_model_config_option_at(arch_a, i, &option, &is_double, &name),
                         DIFFUSE_OK);
        if (is_double) {
            double x, y;
            ck_assert_int_eq(diffuse_model_config_get_double(ca, option, &x), DIFFUSE_OK);
            ck_assert_int_eq(diffuse_model_config_get_double(cb, option, &y), DIFFUSE_OK);
            ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "option %s: %.17g != %.17g", name, x,
                          y);
        } else {
            int64_t x, y;
            ck_assert_int_eq(diffuse_model_config_get_int(ca, option, &x), DIFFUSE_OK);
            ck_assert_int_eq(diffuse_model_config_get_int(cb, option, &y), DIFFUSE_OK);
            ck_assert_msg(x == y, "option %s: %lld != %lld", name, (long long)x, (long long)y);
        }
    }
}

static void expect_same_floats(const float *a, const float *b, size_t count, const char *what)
{
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof a[i]) == 0, "%s[%zu]: %.9g != %.9g", what, i,
                      (double)a[i], (double)b[i]);
}

/* Same configuration, layout, weights, EMA weights and predictions, bit for bit. */
static void expect_same_model(diffuse_model *a, diffuse_model *b)
{
    expect_same_config(a, b);
    size_t dim_a, dim_b, tensors_a, tensors_b;
    ck_assert_int_eq(diffuse_model_dim(a, &dim_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_dim(b, &dim_b), DIFFUSE_OK);
    ck_assert_uint_eq(dim_a, dim_b);
    ck_assert_int_eq(diffuse_model_tensor_count(a, &tensors_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_tensor_count(b, &tensors_b), DIFFUSE_OK);
    ck_assert_uint_eq(tensors_a, tensors_b);
    size_t count_a, count_b;
    float *pa = get_params(a, &count_a, false), *pb = get_params(b, &count_b, false);
    ck_assert_uint_eq(count_a, count_b);
    expect_same_floats(pa, pb, count_a, "params");
    free(pa);
    free(pb);
    int ema_a, ema_b;
    ck_assert_int_eq(diffuse_model_has_ema(a, &ema_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_has_ema(b, &ema_b), DIFFUSE_OK);
    ck_assert_int_eq(ema_a, ema_b);
    if (ema_a) {
        pa = get_params(a, &count_a, true);
        pb = get_params(b, &count_b, true);
        expect_same_floats(pa, pb, count_a, "ema");
        free(pa);
        free(pb);
    }
    enum { ROWS = 8 };
    float x[ROWS * 3], out_a[ROWS * 3], out_b[ROWS * 3];
    int32_t t[ROWS];
    for (size_t i = 0; i < ROWS; i++) {
        t[i] = (int32_t)(i * 7);
        for (size_t j = 0; j < dim_a; j++)
            x[i * dim_a + j] = (float)sin(1.0 + (double)(i * dim_a + j));
    }
    ck_assert_int_eq(diffuse_test_predict(a, ROWS, t, x, out_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_test_predict(b, ROWS, t, x, out_b), DIFFUSE_OK);
    expect_same_floats(out_a, out_b, ROWS * dim_a, "prediction");
}

static void expect_same_schedule(const diffuse_schedule *a, const diffuse_schedule *b)
{
    diffuse_schedule_kind kind_a, kind_b;
    size_t steps_a, steps_b;
    ck_assert_int_eq(diffuse_schedule_get_kind(a, &kind_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_schedule_get_kind(b, &kind_b), DIFFUSE_OK);
    ck_assert_int_eq(kind_a, kind_b);
    ck_assert_int_eq(diffuse_schedule_steps(a, &steps_a), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_schedule_steps(b, &steps_b), DIFFUSE_OK);
    ck_assert_uint_eq(steps_a, steps_b);
    double *ta = malloc(steps_a * sizeof *ta), *tb = malloc(steps_a * sizeof *tb);
    ck_assert(ta != NULL && tb != NULL);
    for (int table = DIFFUSE_TABLE_BETA; table <= DIFFUSE_TABLE_SNR; table++) {
        ck_assert_int_eq(diffuse_schedule_get_table(a, table, ta, steps_a), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_schedule_get_table(b, table, tb, steps_a), DIFFUSE_OK);
        ck_assert_msg(memcmp(ta, tb, steps_a * sizeof *ta) == 0, "table %d differs", table);
    }
    free(ta);
    free(tb);
    for (int option = 0; option <= DIFFUSE_SCHEDULE_ZERO_TERMINAL_SNR; option++) {
        double x = 0, y = 0;
        int64_t i = 0, j = 0;
        ck_assert_int_eq(diffuse_schedule_get_double(a, option, &x),
                         diffuse_schedule_get_double(b, option, &y));
        ck_assert(memcmp(&x, &y, sizeof x) == 0);
        ck_assert_int_eq(diffuse_schedule_get_int(a, option, &i),
                         diffuse_schedule_get_int(b, option, &j));
        ck_assert_int_eq(i, j);
    }
}

/* ---- Training rig ---------------------------------------------------------- */

/* The data stream: value `cursor · dim` onwards of a fixed deterministic
 * sequence, so a resumed run restarts it at step · batch_size rows. */
typedef struct stream {
    uint64_t cursor; /* rows handed out so far */
} stream;

static int feed(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                char *message, size_t message_size)
{
    (void)labels;
    (void)message;
    (void)message_size;
    stream *s = user;
    for (size_t k = 0; k < capacity * dim; k++)
        x[k] = (float)(1.5 * sin(0.37 * (double)(s->cursor * dim + k)));
    s->cursor += capacity;
    return (int)capacity;
}

typedef struct rig {
    diffuse_schedule *schedule;
    diffuse_model *model;
    diffuse_optimizer *optimizer;
    diffuse_trainer *trainer;
    stream data;
} rig;

static void rig_attach_data(rig *r)
{
    uint64_t step = 0;
    int64_t batch = 0;
    ck_assert_int_eq(diffuse_trainer_step_count(r->trainer, &step), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_get_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, &batch),
                     DIFFUSE_OK);
    r->data.cursor = step * (uint64_t)batch;
    ck_assert_int_eq(diffuse_trainer_set_data(r->trainer, feed, &r->data), DIFFUSE_OK);
}

/* AdamW with warm-up and cosine decay, clipping, weight decay and EMA, so
 * that every piece of optimizer state changes the result. */
static void rig_init(rig *r, const model_spec *spec)
{
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(diffuse_schedule_create(&r->schedule, DIFFUSE_SCHEDULE_COSINE, 200),
                     DIFFUSE_OK);
    r->model = make_model(spec);
    ck_assert_int_eq(diffuse_optimizer_create(&r->optimizer, DIFFUSE_OPTIMIZER_ADAMW, r->model),
                     DIFFUSE_OK);
    const struct {
        diffuse_optimizer_option option;
        double value;
    } doubles[] = {
        {DIFFUSE_OPTIMIZER_LEARNING_RATE, 3e-3}, {DIFFUSE_OPTIMIZER_BETA2, 0.99},
        {DIFFUSE_OPTIMIZER_WEIGHT_DECAY, 0.02},  {DIFFUSE_OPTIMIZER_CLIP_NORM, 0.5},
        {DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9},      {DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE, 1e-4},
    };
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
        ck_assert_int_eq(
            diffuse_optimizer_set_double(r->optimizer, doubles[i].option, doubles[i].value),
            DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_int(r->optimizer, DIFFUSE_OPTIMIZER_WARMUP_STEPS, 4),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_int(r->optimizer, DIFFUSE_OPTIMIZER_DECAY,
                                               DIFFUSE_LR_DECAY_COSINE),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_int(r->optimizer, DIFFUSE_OPTIMIZER_DECAY_STEPS, 20),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&r->trainer, r->model, r->schedule, r->optimizer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_BATCH_SIZE, 48),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_SEED, 123), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(r->trainer, DIFFUSE_TRAINER_THREADS, 1), DIFFUSE_OK);
    rig_attach_data(r);
}

static void rig_load(rig *r, const char *path)
{
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(
        diffuse_trainer_load(path, &r->model, &r->schedule, &r->optimizer, &r->trainer),
        DIFFUSE_OK);
    rig_attach_data(r);
}

static void rig_free(rig *r)
{
    diffuse_trainer_free(r->trainer);
    diffuse_optimizer_free(r->optimizer);
    diffuse_model_free(r->model);
    diffuse_schedule_free(r->schedule);
}

static void rig_train(rig *r, uint64_t steps)
{
    ck_assert_msg(diffuse_trainer_train(r->trainer, steps, NULL) == DIFFUSE_OK, "%s",
                  diffuse_trainer_last_error(r->trainer));
}

/* Two trainers in the same state: weights, EMA, moments, step, options. */
static void expect_same_training_state(rig *a, rig *b)
{
    expect_same_model(a->model, b->model);
    expect_same_schedule(a->schedule, b->schedule);
    const diffuse_optimizer *oa = a->optimizer, *ob = b->optimizer;
    ck_assert_int_eq(oa->kind, ob->kind);
    ck_assert_uint_eq(oa->step, ob->step);
    ck_assert(memcmp(oa->options, ob->options, sizeof oa->options) == 0);
    ck_assert_uint_eq(oa->param_count, ob->param_count);
    expect_same_floats(oa->first_moment, ob->first_moment, oa->param_count, "first moment");
    expect_same_floats(oa->second_moment, ob->second_moment, oa->param_count, "second moment");
    for (int option = DIFFUSE_TRAINER_BATCH_SIZE; option <= DIFFUSE_TRAINER_THREADS; option++) {
        int64_t x, y;
        ck_assert_int_eq(diffuse_trainer_get_int(a->trainer, option, &x), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_trainer_get_int(b->trainer, option, &y), DIFFUSE_OK);
        ck_assert_int_eq(x, y);
    }
}

/* Saves a tiny trainer (steps of training so moments and EMA are set). */
static blob tiny_trainer_file(const char *path)
{
    rig r;
    rig_init(&r, &tiny_spec);
    ck_assert_int_eq(diffuse_trainer_set_int(r.trainer, DIFFUSE_TRAINER_BATCH_SIZE, 8),
                     DIFFUSE_OK);
    rig_train(&r, 3);
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, path), DIFFUSE_OK);
    rig_free(&r);
    return read_blob(path);
}

static blob tiny_model_file(const char *path, int schedule_case)
{
    diffuse_model *m = make_model(&tiny_spec);
    give_ema(m);
    diffuse_schedule *s = make_schedule(schedule_case);
    ck_assert_int_eq(diffuse_model_save(m, s, path), DIFFUSE_OK);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
    return read_blob(path);
}

/* ---- Loading expectations -------------------------------------------------- */

enum { LOAD_MODEL = 1, LOAD_TRAINER = 2, LOAD_BOTH = 3 };

/* A non-NULL address that a failing load must overwrite with NULL. */
static char sentinel;

/* Loads `path` with the loaders in `loaders`; each must return `want`
 * with a message containing `hint` (NULL: any), every out-pointer NULL. */
static void expect_load_status(const char *path, int loaders, diffuse_status want,
                               const char *hint)
{
    if (loaders & LOAD_MODEL) {
        diffuse_model *m = (diffuse_model *)&sentinel;
        diffuse_schedule *s = (diffuse_schedule *)&sentinel;
        diffuse_status status = diffuse_model_load(path, &m, &s);
        ck_assert_msg(status == want, "model_load: %s (%s), expected %s",
                      diffuse_status_name(status), diffuse_last_error(),
                      diffuse_status_name(want));
        if (status == DIFFUSE_OK) {
            diffuse_model_free(m);
            diffuse_schedule_free(s);
        } else {
            ck_assert_ptr_null(m);
            ck_assert_ptr_null(s);
            ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "cannot load checkpoint"));
            ck_assert_msg(hint == NULL || strstr(diffuse_last_error(), hint) != NULL,
                          "model_load message \"%s\" lacks \"%s\"", diffuse_last_error(), hint);
        }
    }
    if (loaders & LOAD_TRAINER) {
        rig r;
        r.model = (diffuse_model *)&sentinel;
        r.schedule = (diffuse_schedule *)&sentinel;
        r.optimizer = (diffuse_optimizer *)&sentinel;
        r.trainer = (diffuse_trainer *)&sentinel;
        diffuse_status status =
            diffuse_trainer_load(path, &r.model, &r.schedule, &r.optimizer, &r.trainer);
        ck_assert_msg(status == want, "trainer_load: %s (%s), expected %s",
                      diffuse_status_name(status), diffuse_last_error(),
                      diffuse_status_name(want));
        if (status == DIFFUSE_OK) {
            rig_free(&r);
        } else {
            ck_assert(r.model == NULL && r.schedule == NULL && r.optimizer == NULL &&
                      r.trainer == NULL);
            ck_assert_msg(hint == NULL || strstr(diffuse_last_error(), hint) != NULL,
                          "trainer_load message \"%s\" lacks \"%s\"", diffuse_last_error(),
                          hint);
        }
    }
}

/* Writes `original` with header edit from -> to and expects the loaders
 * to fail with `want` and `hint`. */
static void expect_edit_rejected(const scratch *sc, const blob *original, const char *from,
                                 const char *to, int loaders, diffuse_status want,
                                 const char *hint)
{
    blob edited = edit_header(original, from, to);
    diffuse_test_write_file(sc->other, edited.bytes, edited.size);
    free(edited.bytes);
    expect_load_status(sc->other, loaders, want, hint);
}

static void expect_blob_rejected(const scratch *sc, blob edited, int loaders, const char *hint)
{
    diffuse_test_write_file(sc->other, edited.bytes, edited.size);
    free(edited.bytes);
    expect_load_status(sc->other, loaders, DIFFUSE_ERROR_FORMAT, hint);
}

/* ---- (1) Round trips ------------------------------------------------------- */

START_TEST(model_round_trip_every_schedule_bitwise)
{
    scratch sc;
    scratch_init(&sc);
    for (int which = 0; which < SCHEDULE_CASES; which++) {
        model_spec spec = unusual_spec;
        spec.prediction = which % 3; /* ε, v and x_0 models */
        diffuse_model *m = make_model(&spec);
        if (which % 2 == 0)
            give_ema(m);
        diffuse_schedule *s = make_schedule(which);
        ck_assert_msg(diffuse_model_save(m, s, sc.path) == DIFFUSE_OK, "%s",
                      diffuse_model_last_error(m));
        diffuse_model *loaded = NULL;
        diffuse_schedule *loaded_schedule = NULL;
        ck_assert_msg(diffuse_model_load(sc.path, &loaded, &loaded_schedule) == DIFFUSE_OK,
                      "schedule case %d: %s", which, diffuse_last_error());
        expect_same_model(m, loaded);
        expect_same_schedule(s, loaded_schedule);

        /* Files are canonical: the loaded pair saves to the same bytes. */
        blob first = read_blob(sc.path);
        ck_assert_int_eq(diffuse_model_save(loaded, loaded_schedule, sc.other), DIFFUSE_OK);
        blob second = read_blob(sc.other);
        ck_assert_msg(same_blob(&first, &second), "schedule case %d: bytes differ", which);

        /* The schedule is optional for the caller. */
        diffuse_model *alone = NULL;
        ck_assert_int_eq(diffuse_model_load(sc.path, &alone, NULL), DIFFUSE_OK);
        expect_same_model(m, alone);

        free(first.bytes);
        free(second.bytes);
        diffuse_model_free(alone);
        diffuse_model_free(loaded);
        diffuse_schedule_free(loaded_schedule);
        diffuse_model_free(m);
        diffuse_schedule_free(s);
    }
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 2);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

START_TEST(checkpoint_holds_the_documented_names)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    st_file *f = NULL;
    ck_assert_int_eq(st_open_memory(&f, b.bytes, b.size, NULL), DIFFUSE_OK);
    ck_assert_str_eq(st_metadata(f, "format"), "libdiffuse-checkpoint");
    ck_assert_str_eq(st_metadata(f, "format_version"), "2");
    ck_assert_int_eq(st_verify_checksum(f, "checksum", NULL), DIFFUSE_OK);
    ck_assert_int_eq(strncmp(st_metadata(f, "checksum"), "crc32c:", 7), 0);
    ck_assert_str_eq(st_metadata(f, "kind"), "trainer");
    ck_assert_str_eq(st_metadata(f, "library_version"), diffuse_version_string());
    ck_assert_str_eq(st_metadata(f, "model.architecture"), "mlp");
    ck_assert_str_eq(st_metadata(f, "model.dim"), "2");
    ck_assert_str_eq(st_metadata(f, "model.hidden_width"), "4");
    ck_assert_str_eq(st_metadata(f, "model.time_max_period"), "10000.0");
    ck_assert_str_eq(st_metadata(f, "schedule.kind"), "cosine");
    ck_assert_str_eq(st_metadata(f, "schedule.steps"), "200");
    ck_assert_str_eq(st_metadata(f, "optimizer.kind"), "adamw");
    ck_assert_str_eq(st_metadata(f, "optimizer.step"), "3");
    ck_assert_str_eq(st_metadata(f, "optimizer.decay"), "cosine");
    ck_assert_str_eq(st_metadata(f, "model.activation"), "silu");
    ck_assert_str_eq(st_metadata(f, "model.prediction"), "epsilon");
    ck_assert_str_eq(st_metadata(f, "schedule.zero_terminal_snr"), "0");
    ck_assert_str_eq(st_metadata(f, "schedule.cosine_offset"), "0.008");
    ck_assert_str_eq(st_metadata(f, "optimizer.learning_rate"), "0.003");
    ck_assert_str_eq(st_metadata(f, "trainer.batch_size"), "8");
    ck_assert_str_eq(st_metadata(f, "trainer.seed"), "123");
    const size_t weight_shape[2] = {4, 2}, moment_shape[1] = {82};
    const void *data;
    ck_assert_int_eq(st_find(f, "input.weight", ST_F32, 2, weight_shape, &data, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(st_find(f, "ema.input.weight", ST_F32, 2, weight_shape, &data, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(st_find(f, "optimizer.first_moment", ST_F32, 1, moment_shape, &data, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(st_find(f, "optimizer.second_moment", ST_F32, 1, moment_shape, &data, NULL),
                     DIFFUSE_OK);
    /* 2 × 10 model tensors (weights and EMA) + 2 moments. */
    ck_assert_uint_eq(st_tensor_count(f), 22);
    st_close(f);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

START_TEST(trainer_file_loads_as_a_model)
{
    scratch sc;
    scratch_init(&sc);
    rig r;
    rig_init(&r, &tiny_spec);
    rig_train(&r, 2);
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, sc.path), DIFFUSE_OK);
    diffuse_model *m = NULL;
    diffuse_schedule *s = NULL;
    ck_assert_int_eq(diffuse_model_load(sc.path, &m, &s), DIFFUSE_OK);
    expect_same_model(r.model, m);
    expect_same_schedule(r.schedule, s);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
    rig_free(&r);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* ---- (2) Resuming training ----------------------------------------------- */

START_TEST(resumed_training_is_bit_identical)
{
    enum { BEFORE = 6, AFTER = 9 }; /* crosses the end of the warm-up into the decay */
    const model_spec spec = {2, 32, 2, 16, DIFFUSE_ACTIVATION_SILU, 1, 9, DIFFUSE_PREDICT_V,
                             10000.0};
    scratch sc;
    scratch_init(&sc);

    rig straight;
    rig_init(&straight, &spec);
    rig_train(&straight, BEFORE + AFTER);

    rig first;
    rig_init(&first, &spec);
    rig_train(&first, BEFORE);
    ck_assert_int_eq(diffuse_trainer_save(first.trainer, sc.path), DIFFUSE_OK);
    rig restored;
    rig_load(&restored, sc.path);
    expect_same_training_state(&first, &restored);
    rig_free(&first);
    ck_assert_uint_eq(restored.data.cursor, BEFORE * 48);
    rig_train(&restored, AFTER);
    expect_same_training_state(&straight, &restored);

    /* The whole state, as the files show it, is identical too. */
    ck_assert_int_eq(diffuse_trainer_save(straight.trainer, sc.path), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_save(restored.trainer, sc.other), DIFFUSE_OK);
    blob a = read_blob(sc.path), b = read_blob(sc.other);
    ck_assert(same_blob(&a, &b));
    free(a.bytes);
    free(b.bytes);

    /* Control: without the optimizer's state the same continuation differs,
     * so the comparison above can fail. */
    rig_free(&restored);
    rig_init(&first, &spec);
    rig_train(&first, BEFORE);
    ck_assert_int_eq(diffuse_optimizer_reset(first.optimizer), DIFFUSE_OK);
    first.data.cursor = BEFORE * 48;
    rig_train(&first, AFTER);
    size_t count;
    float *want = get_params(straight.model, &count, false);
    float *got = get_params(first.model, &count, false);
    ck_assert(memcmp(want, got, count * sizeof *want) != 0);
    free(want);
    free(got);
    rig_free(&first);
    rig_free(&straight);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* ---- (3) Corrupt files ----------------------------------------------------- */

START_TEST(truncated_files_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob files[2] = {tiny_model_file(sc.path, 4), tiny_trainer_file(sc.path)};
    for (int k = 0; k < 2; k++) {
        const blob *b = &files[k];
        for (size_t cut = 0; cut < b->size; cut++) {
            diffuse_test_write_file(sc.other, b->bytes, cut);
            expect_load_status(sc.other, k == 0 ? LOAD_MODEL : LOAD_MODEL | LOAD_TRAINER,
                               DIFFUSE_ERROR_FORMAT, NULL);
        }
        /* One byte too many is as bad as one too few. */
        unsigned char *longer = malloc(b->size + 1);
        memcpy(longer, b->bytes, b->size);
        longer[b->size] = 0;
        diffuse_test_write_file(sc.other, longer, b->size + 1);
        expect_load_status(sc.other, LOAD_MODEL, DIFFUSE_ERROR_FORMAT, NULL);
        free(longer);
        free(files[k].bytes);
    }
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* Every flipped byte is reported as FORMAT (the checksum covers header and
 * data; before it, a flipped weight or seed loaded as valid) — never
 * another status, a crash or a leak. Every header byte and a sample of data
 * bytes, three patterns. */
START_TEST(flipped_bytes_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    size_t data_start = 8 + (size_t)header_length(&b);
    static const unsigned char patterns[3] = {0x01, 0x20, 0x80};
    unsigned char *copy = malloc(b.size);
    int rejected = 0, accepted = 0;
    for (size_t at = 0; at < b.size; at += at < data_start ? 1 : 29) {
        memcpy(copy, b.bytes, b.size);
        copy[at] ^= patterns[at % 3];
        diffuse_test_write_file(sc.other, copy, b.size);
        rig r;
        diffuse_status status =
            diffuse_trainer_load(sc.other, &r.model, &r.schedule, &r.optimizer, &r.trainer);
        ck_assert_msg(status == DIFFUSE_OK || status == DIFFUSE_ERROR_FORMAT,
                      "byte %zu: %s (%s)", at, diffuse_status_name(status),
                      diffuse_last_error());
        if (status == DIFFUSE_OK) {
            rig_free(&r);
            accepted++;
        } else {
            ck_assert(r.model == NULL && r.trainer == NULL);
            rejected++;
        }
    }
    ck_assert_int_gt(rejected, 1000);
    ck_assert_int_eq(accepted, 0);
    free(copy);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

START_TEST(other_formats_and_versions_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    const int both = LOAD_BOTH;
    const diffuse_status F = DIFFUSE_ERROR_FORMAT;
    expect_edit_rejected(&sc, &b, "\"format\":\"libdiffuse-checkpoint\"", "\"format\":\"pt\"",
                         both, F, "not a libdiffuse checkpoint (format is \"pt\"");
    expect_edit_rejected(&sc, &b, "\"format\":\"libdiffuse-checkpoint\",", "", both, F,
                         "no \"format\" metadata");
    expect_edit_rejected(&sc, &b, "\"format_version\":\"2\"", "\"format_version\":\"3\"", both,
                         F, "format_version 3 is not supported");
    expect_edit_rejected(&sc, &b, "\"format_version\":\"2\"", "\"format_version\":\"0\"", both,
                         F, "format_version 0 is not supported");
    expect_edit_rejected(&sc, &b, "\"format_version\":\"2\"", "\"format_version\":\"2.0\"", both,
                         F, "\"format_version\" = \"2.0\" is not an integer");
    expect_edit_rejected(&sc, &b, "\"format_version\":\"2\",", "", both, F,
                         "\"format_version\" is missing");
    expect_edit_rejected(&sc, &b, "\"kind\":\"trainer\"", "\"kind\":\"optimizer\"", both, F,
                         "\"kind\" = \"optimizer\"");
    expect_edit_rejected(&sc, &b, "\"kind\":\"trainer\",", "", both, F,
                         "\"kind\" is missing");
    /* A safetensors file from elsewhere, a missing file, a directory. */
    expect_load_status(REFERENCE_FILE, both, F, "not a libdiffuse checkpoint");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", sc.dir);
    expect_load_status(missing, both, DIFFUSE_ERROR_IO, strerror(ENOENT));
    expect_load_status(sc.dir, both, DIFFUSE_ERROR_IO, NULL);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

START_TEST(model_file_given_to_trainer_load_is_a_mismatch)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_model_file(sc.path, 0);
    expect_load_status(sc.path, LOAD_TRAINER, DIFFUSE_ERROR_MISMATCH,
                       "it holds no optimizer state");
    expect_load_status(sc.path, LOAD_TRAINER, DIFFUSE_ERROR_MISMATCH, "diffuse_model_load");
    expect_load_status(sc.path, LOAD_MODEL, DIFFUSE_OK, NULL);
    /* A trainer file whose optimizer part is gone is corrupt, not a model file. */
    blob t = tiny_trainer_file(sc.path);
    expect_edit_rejected(&sc, &t, "\"optimizer.kind\":\"adamw\",", "", LOAD_TRAINER,
                         DIFFUSE_ERROR_FORMAT, "\"optimizer.kind\" is missing");
    free(t.bytes);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* Strictly parsed numbers, validated again by the handles' setters; the
 * message names the key. */
START_TEST(bad_metadata_values_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    static const struct {
        const char *from, *to;
        int loaders;
        const char *hint;
    } cases[] = {
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"abc\"", LOAD_BOTH,
         "\"model.hidden_width\" = \"abc\" is not an integer"},
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"04\"", LOAD_BOTH, "model.hidden_width"},
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"4.0\"", LOAD_BOTH, "model.hidden_width"},
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\" 4\"", LOAD_BOTH, "model.hidden_width"},
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"0\"", LOAD_BOTH,
         "metadata \"model.hidden_width\" is not accepted: model option hidden_width = 0"},
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"65537\"", LOAD_BOTH,
         "\"model.hidden_width\" is not accepted"},
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"99999999999999999999\"", LOAD_BOTH,
         "model.hidden_width"},
        /* A valid value that does not fit the tensors: shapes disagree. */
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"5\"", LOAD_BOTH,
         "tensor \"time_mlp.0.weight\" is F32[4, 4] in the file, expected F32[5, 4]"},
        /* Huge but in bounds: refused before any parameter is allocated. */
        {"\"model.hidden_width\":\"4\"", "\"model.hidden_width\":\"65536\"", LOAD_BOTH,
         "expected F32[65536, 4]"},
        {"\"model.hidden_layers\":\"1\"", "\"model.hidden_layers\":\"0\"", LOAD_MODEL,
         "the file holds 22 tensors; its configuration calls for 18"},
        /* The trainer loader meets the optimizer's moments first. */
        {"\"model.hidden_layers\":\"1\"", "\"model.hidden_layers\":\"0\"", LOAD_TRAINER,
         "\"optimizer.first_moment\" is F32[82] in the file, expected F32[62]"},
        {"\"model.time_embed_dim\":\"4\"", "\"model.time_embed_dim\":\"3\"", LOAD_BOTH,
         "must be a multiple of 2"},
        {"\"model.time_max_period\":\"10000.0\"", "\"model.time_max_period\":\"nan\"", LOAD_BOTH,
         "\"model.time_max_period\" = \"nan\" is not a finite number"},
        {"\"model.time_max_period\":\"10000.0\"", "\"model.time_max_period\":\"1e999\"", LOAD_BOTH,
         "model.time_max_period"},
        {"\"model.time_max_period\":\"10000.0\"", "\"model.time_max_period\":\"0.5\"", LOAD_BOTH,
         "\"model.time_max_period\" is not accepted"},
        {"\"model.activation\":\"silu\"", "\"model.activation\":\"2\"", LOAD_BOTH,
         "model.activation"},
        {"\"model.activation\":\"silu\"", "\"model.activation\":\"relu\"", LOAD_BOTH,
         "\"model.activation\" = \"relu\" is not one of its names"},
        {"\"model.prediction\":\"epsilon\"", "\"model.prediction\":\"-1\"", LOAD_BOTH,
         "model.prediction"},
        {"\"model.seed\":\"3\",", "", LOAD_BOTH, "\"model.seed\" is missing"},
        {"\"model.dim\":\"2\"", "\"model.dim\":\"0\"", LOAD_BOTH, "\"model.dim\" = \"0\" is outside"},
        {"\"model.dim\":\"2\"", "\"model.dim\":\"3\"", LOAD_BOTH, "expected F32[4, 3]"},
        {"\"model.architecture\":\"mlp\"", "\"model.architecture\":\"callback\"", LOAD_BOTH,
         "\"model.architecture\" = \"callback\" is not an architecture this library can load"},
        {"\"model.architecture\":\"mlp\"", "\"model.architecture\":\"gpt\"", LOAD_BOTH, "\"gpt\""},
        {"\"schedule.kind\":\"cosine\"", "\"schedule.kind\":\"quadratic\"", LOAD_BOTH,
         "\"schedule.kind\" = \"quadratic\" is not a schedule kind"},
        {"\"schedule.steps\":\"200\"", "\"schedule.steps\":\"0\"", LOAD_BOTH, "schedule.steps"},
        {"\"schedule.steps\":\"200\"", "\"schedule.steps\":\"1000001\"", LOAD_BOTH, "schedule.steps"},
        {"\"schedule.max_beta\":\"0.999\"", "\"schedule.max_beta\":\"1.5\"", LOAD_BOTH,
         "the schedule configuration is not accepted"},
        {"\"schedule.zero_terminal_snr\":\"0\"", "\"schedule.zero_terminal_snr\":\"0.5\"", LOAD_BOTH,
         "not a whole number"},
        {"\"schedule.cosine_offset\":\"0.008\",", "", LOAD_BOTH,
         "\"schedule.cosine_offset\" is missing"},
        {"\"optimizer.kind\":\"adamw\"", "\"optimizer.kind\":\"sgd\"", LOAD_TRAINER,
         "\"optimizer.kind\" = \"sgd\" is not an optimizer"},
        {"\"optimizer.learning_rate\":\"0.003\"",
         "\"optimizer.learning_rate\":\"2\"", LOAD_TRAINER,
         "metadata \"optimizer.learning_rate\" is not accepted: optimizer option learning_rate"},
        {"\"optimizer.beta1\":\"0.9\"", "\"optimizer.beta1\":\"1\"", LOAD_TRAINER,
         "optimizer.beta1"},
        {"\"optimizer.decay\":\"cosine\"", "\"optimizer.decay\":\"1.0\"", LOAD_TRAINER,
         "\"optimizer.decay\" = \"1.0\" is not one of its names"},
        {"\"optimizer.warmup_steps\":\"4\"", "\"optimizer.warmup_steps\":\"-4\"", LOAD_TRAINER,
         "optimizer.warmup_steps"},
        {"\"optimizer.step\":\"3\"", "\"optimizer.step\":\"-3\"", LOAD_TRAINER,
         "\"optimizer.step\" = \"-3\" is not an unsigned integer"},
        {"\"optimizer.step\":\"3\",", "", LOAD_TRAINER, "\"optimizer.step\" is missing"},
        {"\"trainer.batch_size\":\"8\"", "\"trainer.batch_size\":\"0\"", LOAD_TRAINER,
         "metadata \"trainer.batch_size\" is not accepted: trainer option batch_size"},
        {"\"trainer.seed\":\"123\"", "\"trainer.seed\":\"9007199254740992\"", LOAD_TRAINER,
         "trainer.seed"},
        {"\"trainer.threads\":\"1\"", "\"trainer.threads\":\"x\"", LOAD_TRAINER,
         "trainer.threads"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_edit_rejected(&sc, &b, cases[i].from, cases[i].to, cases[i].loaders,
                             DIFFUSE_ERROR_FORMAT, cases[i].hint);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

START_TEST(bad_tensors_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    const int both = LOAD_BOTH;
    const diffuse_status F = DIFFUSE_ERROR_FORMAT;
    /* Missing (renamed) weights and EMA weights; a rename keeps the size. */
    expect_edit_rejected(&sc, &b, "\"input.bias\"", "\"input.bia_\"", both, F,
                         "tensor \"input.bias\" is not in the file");
    expect_edit_rejected(&sc, &b, "\"ema.output.bias\"", "\"ema.output.bia_\"", both, F,
                         "tensor \"ema.output.bias\" is not in the file");
    expect_edit_rejected(&sc, &b, "\"optimizer.second_moment\"", "\"optimizer.second_momen_\"",
                         LOAD_TRAINER, F, "\"optimizer.second_moment\" is not in the file");
    /* Wrong shape or dtype with the same byte size. */
    expect_edit_rejected(&sc, &b, "\"input.weight\":{\"dtype\":\"F32\",\"shape\":[4,2]",
                         "\"input.weight\":{\"dtype\":\"F32\",\"shape\":[2,4]", both, F,
                         "\"input.weight\" is F32[2, 4] in the file, expected F32[4, 2]");
    expect_edit_rejected(&sc, &b, "\"input.weight\":{\"dtype\":\"F32\",\"shape\":[4,2]",
                         "\"input.weight\":{\"dtype\":\"F32\",\"shape\":[8]", both, F,
                         "expected F32[4, 2]");
    expect_edit_rejected(&sc, &b, "\"input.weight\":{\"dtype\":\"F32\"",
                         "\"input.weight\":{\"dtype\":\"I32\"", both, F, "I32[4, 2]");
    expect_edit_rejected(&sc, &b, "\"optimizer.first_moment\":{\"dtype\":\"F32\"",
                         "\"optimizer.first_moment\":{\"dtype\":\"U32\"", LOAD_TRAINER, F,
                         "U32[82]");
    /* Non-finite weights, EMA weights, moments; a negative second moment. */
    expect_blob_rejected(&sc, poke_float(&b, "output.weight", 5, NAN), both,
                         "tensor \"output.weight\" element 5 is not finite");
    expect_blob_rejected(&sc, poke_float(&b, "ema.time_mlp.2.bias", 0, INFINITY), both,
                         "tensor \"ema.time_mlp.2.bias\" element 0 is not finite");
    expect_blob_rejected(&sc, poke_float(&b, "optimizer.first_moment", 81, -INFINITY),
                         LOAD_TRAINER, "\"optimizer.first_moment\" element 81 is not finite");
    expect_blob_rejected(&sc, poke_float(&b, "optimizer.second_moment", 7, NAN), LOAD_TRAINER,
                         "\"optimizer.second_moment\" element 7 is not finite");
    expect_blob_rejected(&sc, poke_float(&b, "optimizer.second_moment", 7, -1e-3f),
                         LOAD_TRAINER, "\"optimizer.second_moment\" element 7 is negative");
    free(b.bytes);

    /* Custom β: missing, wrong length, out of range, not finite; and a
     * stray β tensor in a file whose schedule is no longer custom. */
    blob c = tiny_model_file(sc.path, 4);
    expect_edit_rejected(&sc, &c, "\"schedule.betas\"", "\"schedule.beta_\"", LOAD_MODEL, F,
                         "tensor \"schedule.betas\" is not in the file");
    expect_edit_rejected(&sc, &c, "\"schedule.steps\":\"20\"", "\"schedule.steps\":\"19\"",
                         LOAD_MODEL, F, "\"schedule.betas\" is F64[20] in the file, expected F64[19]");
    blob poked = poke_double(&c, "schedule.betas", 3, 1.5);
    expect_blob_rejected(&sc, poked, LOAD_MODEL, "the schedule configuration is not accepted");
    poked = poke_double(&c, "schedule.betas", 19, NAN);
    expect_blob_rejected(&sc, poked, LOAD_MODEL, "the schedule configuration is not accepted");
    expect_edit_rejected(&sc, &c, "\"schedule.kind\":\"custom\"",
                         "\"schedule.beta_end\":\"0.02\",\"schedule.beta_start\":\"0.0001\","
                         "\"schedule.kind\":\"linear\"",
                         LOAD_MODEL, F, "the file holds 21 tensors; its configuration calls for 20");
    free(c.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* Edits that keep the file well-formed, a changed learning rate or T, a
 * flipped weight bit: before the checksum all of these loaded as valid. */
START_TEST(edits_without_a_matching_checksum_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    const diffuse_status F = DIFFUSE_ERROR_FORMAT;
    const char *mismatch = "checksum mismatch: metadata \"checksum\" says crc32c:";
    static const char *const edits[][2] = {
        {"\"optimizer.learning_rate\":\"0.003\"",
         "\"optimizer.learning_rate\":\"0.1030000000000000001\""},
        {"\"schedule.steps\":\"200\"", "\"schedule.steps\":\"201\""},
        {"\"trainer.seed\":\"123\"", "\"trainer.seed\":\"124\""},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        blob edited = edit_header_unsealed(&b, edits[i][0], edits[i][1]);
        expect_blob_rejected(&sc, edited, LOAD_BOTH, mismatch);
    }
    blob flipped = {malloc(b.size), b.size};
    memcpy(flipped.bytes, b.bytes, b.size);
    flipped.bytes[element_offset(&b, "output.weight", 3)] ^= 0x01;
    expect_blob_rejected(&sc, flipped, LOAD_BOTH, mismatch);
    /* Without its checksum a version 2 file is corrupt; so is a checksum
     * that is not 8 lowercase hex digits. */
    st_file *f = NULL;
    ck_assert_int_eq(st_open_memory(&f, b.bytes, b.size, NULL), DIFFUSE_OK);
    char entry[64];
    snprintf(entry, sizeof entry, "\"checksum\":\"%s\",", st_metadata(f, "checksum"));
    st_close(f);
    expect_edit_rejected(&sc, &b, entry, "", LOAD_BOTH, F, "\"checksum\" is missing");
    expect_edit_rejected(&sc, &b, entry, "\"checksum\":\"crc32c:ABCDEF01\",", LOAD_BOTH, F,
                         "is not \"crc32c:\" and 8 lowercase hex digits");
    expect_edit_rejected(&sc, &b, entry, "\"checksum\":\"crc32c:\\u0030bcdef01\",", LOAD_BOTH,
                         F, "is not \"crc32c:\" and 8 lowercase hex digits");
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* libdiffuse 0.1's files have no checksum: they load as before (without
 * an integrity check) and resume where they stopped. */
START_TEST(version_1_files_still_load)
{
    scratch sc;
    scratch_init(&sc);
    rig r;
    rig_load(&r, VERSION_1_FILE);
    uint64_t step = 0;
    int64_t batch = 0, seed = 0;
    double ema = 0;
    ck_assert_int_eq(diffuse_trainer_step_count(r.trainer, &step), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_get_int(r.trainer, DIFFUSE_TRAINER_BATCH_SIZE, &batch),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_get_int(r.trainer, DIFFUSE_TRAINER_SEED, &seed), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_get_double(r.optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, &ema),
                     DIFFUSE_OK);
    ck_assert(step == 3 && batch == 8 && seed == 5 && ema == 0.9);
    rig_train(&r, 2);
    /* Saved again, it becomes a version 2 file with a checksum. */
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, sc.path), DIFFUSE_OK);
    rig_free(&r);
    st_file *f = NULL;
    ck_assert_int_eq(st_open(&f, sc.path, NULL, NULL), DIFFUSE_OK);
    ck_assert_str_eq(st_metadata(f, "format_version"), "2");
    ck_assert_int_eq(st_verify_checksum(f, "checksum", NULL), DIFFUSE_OK);
    /* Its numbers ("0", "0.0", "0.90000000000000002") now in today's forms. */
    ck_assert_str_eq(st_metadata(f, "model.activation"), "silu");
    ck_assert_str_eq(st_metadata(f, "model.prediction"), "epsilon");
    ck_assert_str_eq(st_metadata(f, "optimizer.decay"), "none");
    ck_assert_str_eq(st_metadata(f, "schedule.zero_terminal_snr"), "0");
    ck_assert_str_eq(st_metadata(f, "optimizer.ema_decay"), "0.9");
    st_close(f);
    expect_load_status(VERSION_1_FILE, LOAD_MODEL, DIFFUSE_OK, NULL);
    /* A version 1 file that does carry a checksum has it verified. */
    blob v1 = read_blob(VERSION_1_FILE);
    expect_blob_rejected(&sc,
                         edit_header_unsealed(&v1, "\"format\":",
                                              "\"checksum\":\"crc32c:00000000\",\"format\":"),
                         LOAD_BOTH, "checksum mismatch");
    free(v1.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* Enum options are stored by name; the numbers libdiffuse 0.1 wrote still
 * load, as the same value. */
START_TEST(enum_options_are_names_and_numbers_still_load)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    const char *silu = "\"model.activation\":\"silu\"";
    blob numbered = edit_header(&b, silu, "\"model.activation\":\"1\"");
    blob renamed = edit_header(&b, silu, "\"model.activation\":\"gelu\"");
    const blob *files[] = {&numbered, &renamed};
    for (size_t i = 0; i < 2; i++) {
        diffuse_test_write_file(sc.other, files[i]->bytes, files[i]->size);
        rig r;
        rig_load(&r, sc.other);
        const diffuse_model_config *config = NULL;
        int64_t activation = -1, decay = -1;
        ck_assert_int_eq(diffuse_model_get_config(r.model, &config), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_model_config_get_int(config, DIFFUSE_MODEL_ACTIVATION,
                                                      &activation),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_optimizer_get_int(r.optimizer, DIFFUSE_OPTIMIZER_DECAY, &decay),
                         DIFFUSE_OK);
        ck_assert_int_eq(activation, DIFFUSE_ACTIVATION_GELU);
        ck_assert_int_eq(decay, DIFFUSE_LR_DECAY_COSINE);
        rig_free(&r);
        free(files[i]->bytes);
    }
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* Options valid one by one but not together used to load and then fail the
 * first step (a cosine decay over 0 steps). */
START_TEST(option_combinations_are_checked_at_load)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    expect_edit_rejected(&sc, &b, "\"optimizer.decay_steps\":\"20\"",
                         "\"optimizer.decay_steps\":\"0\"", LOAD_TRAINER, DIFFUSE_ERROR_FORMAT,
                         "the combination of optimizer options is not accepted: a learning-rate "
                         "decay is selected but DECAY_STEPS is 0");
    expect_edit_rejected(&sc, &b, "\"optimizer.min_learning_rate\":\"0.0001\"",
                         "\"optimizer.min_learning_rate\":\"0.5\"", LOAD_TRAINER,
                         DIFFUSE_ERROR_FORMAT, "MIN_LEARNING_RATE (0.5) is above LEARNING_RATE");
    /* Without a decay the same values are fine. */
    blob no_decay = edit_header(&b, "\"optimizer.decay\":\"cosine\"", "\"optimizer.decay\":\"none\"");
    expect_edit_rejected(&sc, &no_decay, "\"optimizer.decay_steps\":\"20\"",
                         "\"optimizer.decay_steps\":\"0\"", LOAD_TRAINER, DIFFUSE_OK, NULL);
    free(no_decay.bytes);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* Step k draws noise from the streams 2k and 2k + 1: a step of 2^63 or
 * more would wrap around to step 0's noise (2^64 − 1: the next step wrapped
 * the counter itself and restarted the warm-up). */
START_TEST(counters_that_cannot_advance_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    static const char *const too_far[] = {"18446744073709551615", "9223372036854775808"};
    for (size_t i = 0; i < 2; i++) {
        char to[64];
        snprintf(to, sizeof to, "\"optimizer.step\":\"%s\"", too_far[i]);
        expect_edit_rejected(&sc, &b, "\"optimizer.step\":\"3\"", to, LOAD_TRAINER,
                             DIFFUSE_ERROR_FORMAT, "\"optimizer.step\" = ");
        ck_assert_ptr_nonnull(strstr(diffuse_last_error(), "exceeds 9223372036854775807"));
    }
    expect_edit_rejected(&sc, &b, "\"optimizer.step\":\"3\"",
                         "\"optimizer.step\":\"9223372036854775807\"", LOAD_TRAINER, DIFFUSE_OK,
                         NULL);
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static long max_rss_kib(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

/* A valid checkpoint followed by 1 GiB (a sparse file: no disk used) was
 * read whole before it was rejected (1.1 s, 1.05 GB of RSS); now the size
 * is compared with the header first. */
START_TEST(oversized_files_are_rejected_before_reading)
{
    scratch sc;
    scratch_init(&sc);
    blob b = tiny_trainer_file(sc.path);
    free(b.bytes);
    FILE *file = fopen(sc.path, "r+b");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(ftruncate(fileno(file), (off_t)b.size + ((off_t)1 << 30)), 0);
    fclose(file);
    long rss_before = max_rss_kib();
    double start = seconds_now();
    expect_load_status(sc.path, LOAD_BOTH, DIFFUSE_ERROR_FORMAT,
                       "at the end of the file belong to no tensor");
    double elapsed = seconds_now() - start;
    long grown = max_rss_kib() - rss_before;
    ck_assert_msg(elapsed < 0.25 && grown < 16 * 1024, "%.3f s, RSS grew by %ld KiB", elapsed,
                  grown);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* A writer's file with `tensors` empty tensors and `keys` extra metadata
 * entries, at sc->other. */
static void write_padded_file(const scratch *sc, size_t tensors, size_t keys)
{
    st_writer *w = NULL;
    ck_assert_int_eq(st_writer_create(&w, NULL), DIFFUSE_OK);
    char name[32];
    const size_t empty[1] = {0};
    for (size_t i = 0; i < tensors; i++) {
        snprintf(name, sizeof name, "t%zu", i);
        ck_assert_int_eq(st_writer_add_tensor(w, name, ST_F32, 1, empty, NULL, 0, NULL),
                         DIFFUSE_OK);
    }
    for (size_t i = 0; i < keys; i++) {
        snprintf(name, sizeof name, "k%zu", i);
        ck_assert_int_eq(st_writer_add_metadata(w, name, "", NULL), DIFFUSE_OK);
    }
    ck_assert_int_eq(st_write_file(w, sc->other, NULL), DIFFUSE_OK);
    st_writer_free(w);
}

/* Millions of metadata keys or empty tensors cost hundreds of MB; a
 * checkpoint needs ~40 keys and ~1000 tensors at most. */
START_TEST(headers_beyond_a_checkpoints_needs_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    write_padded_file(&sc, 16385, 0);
    expect_load_status(sc.other, LOAD_BOTH, DIFFUSE_ERROR_FORMAT,
                       "the header holds more than 16384 tensors");
    write_padded_file(&sc, 0, 1025);
    expect_load_status(sc.other, LOAD_BOTH, DIFFUSE_ERROR_FORMAT,
                       "the header holds more than 1024 metadata entries");
    /* A header of 5 MiB of padding. */
    blob b = tiny_model_file(sc.path, 0);
    size_t n = (size_t)header_length(&b), big = (size_t)5 << 20;
    blob padded = {calloc(1, 8 + big + (b.size - 8 - n)), 8 + big + (b.size - 8 - n)};
    for (int i = 0; i < 8; i++)
        padded.bytes[i] = (unsigned char)((uint64_t)big >> (8 * i));
    memcpy(padded.bytes + 8, b.bytes + 8, n);
    memset(padded.bytes + 8 + n, ' ', big - n);
    memcpy(padded.bytes + 8 + big, b.bytes + 8 + n, b.size - 8 - n);
    expect_blob_rejected(&sc, padded, LOAD_BOTH, "exceeds the limit of 4194304 bytes");
    free(b.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* ---- (4) Atomic saves ---------------------------------------------------- */

START_TEST(save_into_a_missing_directory_fails_and_leaves_nothing)
{
    scratch sc;
    scratch_init(&sc);
    char path[600];
    snprintf(path, sizeof path, "%s/missing/model.safetensors", sc.dir);
    diffuse_model *m = make_model(&tiny_spec);
    diffuse_schedule *s = make_schedule(0);
    ck_assert_int_eq(diffuse_model_save(m, s, path), DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "cannot save checkpoint"));
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), path));
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), strerror(ENOENT)));
    ck_assert_str_eq(diffuse_last_error(), diffuse_model_last_error(m));
    rig r;
    rig_init(&r, &tiny_spec);
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, path), DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(r.trainer), strerror(ENOENT)));
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 0);
    rig_free(&r);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

START_TEST(save_replaces_an_existing_checkpoint)
{
    scratch sc;
    scratch_init(&sc);
    diffuse_model *a = make_model(&tiny_spec), *b = make_model(&unusual_spec);
    diffuse_schedule *s = make_schedule(1);
    ck_assert_int_eq(diffuse_model_save(a, s, sc.path), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_save(b, s, sc.path), DIFFUSE_OK);
    diffuse_model *loaded = NULL;
    ck_assert_int_eq(diffuse_model_load(sc.path, &loaded, NULL), DIFFUSE_OK);
    expect_same_model(b, loaded);
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 1);
    diffuse_model_free(loaded);
    diffuse_model_free(a);
    diffuse_model_free(b);
    diffuse_schedule_free(s);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

static atomic_file_stage kill_at;

static void kill_self_at(atomic_file_stage stage)
{
    if (stage == kill_at)
        raise(SIGKILL);
}

/* Forks a process that saves a trainer to sc->path and is killed (SIGKILL)
 * at `stage` of the commit. */
static void save_killed_at(const scratch *sc, atomic_file_stage stage)
{
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        rig r;
        rig_init(&r, &unusual_spec);
        kill_at = stage;
        atomic_file_test_hook = kill_self_at;
        diffuse_trainer_save(r.trainer, sc->path);
        _exit(0); /* not reached */
    }
    int wstatus = 0;
    ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
    ck_assert(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
}

/* A saver killed while it writes leaves no file (O_TMPFILE: the temporary
 * has no name yet); one killed in the instant between naming and renaming
 * leaves a hidden file, which the next save to the path removes. Before,
 * 12 of 30 kills left temporaries (29.9 MB) that nothing removed. */
START_TEST(killed_savers_leave_no_temporary_files)
{
    scratch sc;
    scratch_init(&sc);
    blob old = tiny_trainer_file(sc.path);
    atomic_file probe;
    ck_assert_int_eq(atomic_file_begin(&probe, sc.other, NULL), DIFFUSE_OK);
    int anonymous = probe.anonymous;
    atomic_file_abort(&probe);

    save_killed_at(&sc, ATOMIC_FILE_WRITTEN);
    blob now = read_blob(sc.path);
    ck_assert(same_blob(&old, &now));
    free(now.bytes);
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), anonymous ? 1 : 2);
    save_killed_at(&sc, ATOMIC_FILE_NAMED);
    ck_assert_int_ge(diffuse_test_count_entries(sc.dir), 2);

    /* A live writer's temporary is kept: a child that waits. */
    pid_t waiting = fork();
    ck_assert_int_ge(waiting, 0);
    if (waiting == 0) {
        pause();
        _exit(0);
    }
    char host[65] = {0}, live[700];
    gethostname(host, sizeof host - 1);
    snprintf(live, sizeof live, "%s/.checkpoint.safetensors.tmp-%s-%ld-7", sc.dir, host,
             (long)waiting);
    diffuse_test_write_file(live, "x", 1);

    rig r;
    rig_init(&r, &tiny_spec);
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, sc.path), DIFFUSE_OK);
    rig_free(&r);
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 2); /* the checkpoint and `live` */
    ck_assert_int_eq(access(live, F_OK), 0);
    kill(waiting, SIGKILL);
    waitpid(waiting, NULL, 0);
    expect_load_status(sc.path, LOAD_TRAINER, DIFFUSE_OK, NULL);
    free(old.bytes);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* A real I/O failure mid-file (see diffuse_test_limit_file_size). */
START_TEST(failed_save_leaves_the_old_checkpoint_byte_identical)
{
    scratch sc;
    scratch_init(&sc);
    blob old = tiny_model_file(sc.path, 0);
    model_spec big = unusual_spec;
    big.width = 64;
    rig r;
    rig_init(&r, &big);
    rig_train(&r, 1);

    diffuse_test_file_limit limit;
    diffuse_test_limit_file_size(&limit, 16 * 1024);
    diffuse_status trainer_status = diffuse_trainer_save(r.trainer, sc.path);
    diffuse_status model_status = diffuse_model_save(r.model, r.schedule, sc.path);
    diffuse_test_unlimit_file_size(&limit);

    ck_assert_int_eq(trainer_status, DIFFUSE_ERROR_IO);
    ck_assert_int_eq(model_status, DIFFUSE_ERROR_IO);
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(r.trainer), strerror(EFBIG)));
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(r.model), strerror(EFBIG)));
    blob now = read_blob(sc.path);
    ck_assert(same_blob(&old, &now));
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 1);

    /* Without the limit the same save replaces it. */
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, sc.path), DIFFUSE_OK);
    expect_load_status(sc.path, LOAD_TRAINER, DIFFUSE_OK, NULL);
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 1);
    free(now.bytes);
    free(old.bytes);
    rig_free(&r);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

static int never_called(void *user, const diffuse_model_call *call, size_t dim)
{
    (void)user, (void)call, (void)dim;
    return -1;
}

START_TEST(unsaveable_models_write_nothing)
{
    scratch sc;
    scratch_init(&sc);
    diffuse_schedule *s = make_schedule(0);
    diffuse_model *callback = NULL;
    ck_assert_int_eq(diffuse_model_create_callback(&callback, 2, DIFFUSE_PREDICT_EPSILON,
                                                   never_called, NULL),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_save(callback, s, sc.path), DIFFUSE_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(callback), "callback models cannot"));
    /* Non-finite weights (impossible through the API) are not written
     * either: the file could not be loaded again. */
    diffuse_model *m = make_model(&tiny_spec);
    m->params[5] = NAN;
    ck_assert_int_eq(diffuse_model_save(m, s, sc.path), DIFFUSE_ERROR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(diffuse_model_last_error(m), "time_mlp.0.weight[5]"));
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 0);
    diffuse_model_free(m);
    diffuse_model_free(callback);
    diffuse_schedule_free(s);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

/* ---- (5) Arguments ----------------------------------------------------------- */

START_TEST(bad_arguments_are_rejected)
{
    scratch sc;
    scratch_init(&sc);
    const diffuse_status BAD = DIFFUSE_ERROR_INVALID_ARGUMENT;
    diffuse_model *m = make_model(&tiny_spec);
    diffuse_schedule *s = make_schedule(0);
    ck_assert_int_eq(diffuse_model_save(NULL, s, sc.path), BAD);
    ck_assert_str_eq(diffuse_last_error(), "model must not be NULL");
    ck_assert_int_eq(diffuse_model_save(m, NULL, sc.path), BAD);
    ck_assert_str_eq(diffuse_model_last_error(m), "schedule must not be NULL");
    ck_assert_int_eq(diffuse_model_save(m, s, NULL), BAD);
    ck_assert_str_eq(diffuse_model_last_error(m), "path must not be NULL");
    ck_assert_int_eq(diffuse_model_save(m, s, ""), BAD);
    ck_assert_int_eq(diffuse_test_count_entries(sc.dir), 0);

    ck_assert_int_eq(diffuse_model_save(m, s, sc.path), DIFFUSE_OK);
    diffuse_model *lm = (diffuse_model *)&sentinel;
    diffuse_schedule *ls = (diffuse_schedule *)&sentinel;
    ck_assert_int_eq(diffuse_model_load(NULL, &lm, &ls), BAD);
    ck_assert(lm == NULL && ls == NULL);
    ck_assert_str_eq(diffuse_last_error(), "path must not be NULL");
    ls = (diffuse_schedule *)&sentinel;
    ck_assert_int_eq(diffuse_model_load(sc.path, NULL, &ls), BAD);
    ck_assert_ptr_null(ls);
    ck_assert_str_eq(diffuse_last_error(), "model must not be NULL");
    lm = (diffuse_model *)&sentinel;
    ck_assert_int_eq(diffuse_model_load("", &lm, NULL), DIFFUSE_ERROR_IO);
    ck_assert_ptr_null(lm);

    rig r;
    rig_init(&r, &tiny_spec);
    ck_assert_int_eq(diffuse_trainer_save(NULL, sc.path), BAD);
    ck_assert_str_eq(diffuse_last_error(), "trainer must not be NULL");
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, NULL), BAD);
    ck_assert_str_eq(diffuse_trainer_last_error(r.trainer), "path must not be NULL");
    ck_assert_int_eq(diffuse_trainer_save(r.trainer, sc.path), DIFFUSE_OK);
    const char *names[5] = {"path", "model", "schedule", "optimizer", "trainer"};
    for (int missing = 0; missing < 5; missing++) {
        rig out;
        out.model = (diffuse_model *)&sentinel;
        out.schedule = (diffuse_schedule *)&sentinel;
        out.optimizer = (diffuse_optimizer *)&sentinel;
        out.trainer = (diffuse_trainer *)&sentinel;
        ck_assert_int_eq(diffuse_trainer_load(missing == 0 ? NULL : sc.path,
                                              missing == 1 ? NULL : &out.model,
                                              missing == 2 ? NULL : &out.schedule,
                                              missing == 3 ? NULL : &out.optimizer,
                                              missing == 4 ? NULL : &out.trainer),
                         BAD);
        ck_assert(missing == 1 || out.model == NULL);
        ck_assert(missing == 2 || out.schedule == NULL);
        ck_assert(missing == 3 || out.optimizer == NULL);
        ck_assert(missing == 4 || out.trainer == NULL);
        ck_assert_ptr_nonnull(strstr(diffuse_last_error(), names[missing]));
    }
    rig_free(&r);
    diffuse_model_free(m);
    diffuse_schedule_free(s);
    diffuse_test_remove_dir(sc.dir);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *suite = suite_create("checkpoint");
    TCase *round_trip = tcase_create("round_trip");
    tcase_add_test(round_trip, model_round_trip_every_schedule_bitwise);
    tcase_add_test(round_trip, checkpoint_holds_the_documented_names);
    tcase_add_test(round_trip, trainer_file_loads_as_a_model);
    tcase_add_test(round_trip, resumed_training_is_bit_identical);
    suite_add_tcase(suite, round_trip);
    TCase *corrupt = tcase_create("corrupt");
    tcase_add_test(corrupt, truncated_files_are_rejected);
    tcase_add_test(corrupt, flipped_bytes_are_rejected);
    tcase_add_test(corrupt, other_formats_and_versions_are_rejected);
    tcase_add_test(corrupt, model_file_given_to_trainer_load_is_a_mismatch);
    tcase_add_test(corrupt, bad_metadata_values_are_rejected);
    tcase_add_test(corrupt, bad_tensors_are_rejected);
    tcase_add_test(corrupt, edits_without_a_matching_checksum_are_rejected);
    tcase_add_test(corrupt, version_1_files_still_load);
    tcase_add_test(corrupt, enum_options_are_names_and_numbers_still_load);
    tcase_add_test(corrupt, option_combinations_are_checked_at_load);
    tcase_add_test(corrupt, counters_that_cannot_advance_are_rejected);
    tcase_add_test(corrupt, oversized_files_are_rejected_before_reading);
    tcase_add_test(corrupt, headers_beyond_a_checkpoints_needs_are_rejected);
    suite_add_tcase(suite, corrupt);
    TCase *atomic = tcase_create("atomic");
    tcase_add_test(atomic, save_into_a_missing_directory_fails_and_leaves_nothing);
    tcase_add_test(atomic, save_replaces_an_existing_checkpoint);
    tcase_add_test(atomic, failed_save_leaves_the_old_checkpoint_byte_identical);
    tcase_add_test(atomic, unsaveable_models_write_nothing);
    tcase_add_test(atomic, killed_savers_leave_no_temporary_files);
    suite_add_tcase(suite, atomic);
    TCase *arguments = tcase_create("arguments");
    tcase_add_test(arguments, bad_arguments_are_rejected);
    suite_add_tcase(suite, arguments);
    return suite;
}

int main(void)
{
    return diffuse_test_run(checkpoint_suite());
}
