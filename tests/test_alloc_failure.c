/* Allocation failure injection over checkpoint saves and loads
 * (include/diffuse/checkpoint.h), and over the whole life of the handles
 * (create, train with worker threads, save, load, sample, free): for every
 * N, the N-th allocation made during diffuse_model_save / _load and
 * diffuse_trainer_save / _load, or during the lifecycle, fails
 * (malloc, calloc, realloc and aligned_alloc are replaced in this program,
 * so the library's, Jansson's and libc's allocations are all counted). Each
 * call must then
 *  - return DIFFUSE_ERROR_NO_MEMORY (never FORMAT or another status), or OK
 *    with exactly the right result (libc absorbs some failures: qsort falls
 *    back to sorting in place), checked by saving what was loaded and
 *    comparing the bytes: files are canonical;
 *  - leak nothing: every block allocated during the call is freed once its
 *    handles are;
 *  - leave a failed save's target file as it was, with no temporary beside
 *    it, and the handles usable (the next N saves with them again).
 * The sweep stops at the first N beyond the call's allocations, where the
 * call must succeed. Before the JSON reader of src/io/json_reader.c, ~400
 * points of a trainer load reported FORMAT and some loaded β1 = 0.9 as
 * 0.90000000000000024.
 *
 * Allocations made by OpenBLAS itself are neither counted nor failed: its
 * SkylakeX small-matrix sgemm kernel (0.3.21, used for the U-Net's small
 * convolutions) mallocs a packing buffer without checking the result and
 * writes through NULL. Nothing the library does can recover from that, so
 * the sweep tests the library's allocations and leaves OpenBLAS's alone.
 *
 * The replacement forwards to glibc's allocator (__libc_malloc ...), so it
 * needs glibc and cannot run under AddressSanitizer, which replaces malloc
 * itself (tests/CMakeLists.txt leaves it out of sanitizer builds). */
#define _GNU_SOURCE /* dladdr, dl_iterate_phdr */
#include <cblas.h>
#include <diffuse/diffuse.h>
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_handles.h"
#include "test_support.h"

/* ---- The allocator -------------------------------------------------------- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);

/* Blocks allocated while tracking and not yet freed: an open-addressing set
 * (a call makes a few hundred allocations at most). */
enum { LIVE_SLOTS = 1 << 16 };
static void *live[LIVE_SLOTS];
static void *const tombstone = (void *)&live;
static size_t live_count;
static atomic_flag lock = ATOMIC_FLAG_INIT;

static bool tracking;
static long allocations; /* counted while tracking */
static long fail_at;     /* the allocation that fails, 1-based; 0: none */
static long failures;

static void take_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
        ;
}

static void drop_lock(void)
{
    atomic_flag_clear_explicit(&lock, memory_order_release);
}

static size_t slot_of(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 2654435761u) % LIVE_SLOTS;
}

static void remember(void *p)
{
    size_t i = slot_of(p);
    while (live[i] != NULL && live[i] != tombstone)
        i = (i + 1) % LIVE_SLOTS;
    live[i] = p;
    live_count++;
}

static void forget(const void *p)
{
    if (live_count == 0)
        return;
    for (size_t i = slot_of(p); live[i] != NULL; i = (i + 1) % LIVE_SLOTS) {
        if (live[i] == p) {
            live[i] = tombstone;
            live_count--;
            return;
        }
    }
}

/* The address range of OpenBLAS's loaded segments. */
static uintptr_t openblas_low, openblas_high;

static int find_openblas_segments(struct dl_phdr_info *info, size_t size, void *base)
{
    (void)size;
    if ((void *)info->dlpi_addr != base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD)
            continue;
        uintptr_t low = info->dlpi_addr + segment->p_vaddr, high = low + segment->p_memsz;
        openblas_low = openblas_low == 0 || low < openblas_low ? low : openblas_low;
        openblas_high = high > openblas_high ? high : openblas_high;
    }
    return 1;
}

static void locate_openblas(void)
{
    /* ISO C has no cast from a function pointer to void *: copy the bits */
    void (*sgemm)(void) = (void (*)(void))cblas_sgemm;
    void *address;
    memcpy(&address, &sgemm, sizeof address);
    Dl_info info;
    if (dladdr(address, &info) != 0)
        dl_iterate_phdr(find_openblas_segments, info.dli_fbase);
}

static bool called_by_openblas(const void *caller)
{
    return (uintptr_t)caller >= openblas_low && (uintptr_t)caller < openblas_high;
}

/* True when this allocation, made from `caller`, is to fail. */
static bool injected(const void *caller)
{
    if (!tracking || called_by_openblas(caller))
        return false;
    take_lock();
    bool fail = ++allocations == fail_at;
    failures += fail;
    drop_lock();
    if (fail)
        errno = ENOMEM;
    return fail;
}

static void *tracked(void *p)
{
    if (p != NULL && tracking) {
        take_lock();
        remember(p);
        drop_lock();
    }
    return p;
}

void *malloc(size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : tracked(__libc_malloc(size));
}

void *calloc(size_t count, size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : tracked(__libc_calloc(count, size));
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : tracked(__libc_memalign(alignment, size));
}

void *realloc(void *p, size_t size)
{
    if (injected(__builtin_return_address(0)))
        return NULL;
    void *moved = __libc_realloc(p, size);
    if (moved != NULL && p != NULL) {
        take_lock();
        forget(p);
        drop_lock();
    }
    return tracked(moved);
}

void free(void *p)
{
    if (p != NULL) {
        take_lock();
        forget(p);
        drop_lock();
    }
    __libc_free(p);
}

static void start_tracking(long fail)
{
    memset(live, 0, sizeof live);
    live_count = 0;
    allocations = 0;
    failures = 0;
    fail_at = fail;
    tracking = true;
}

/* ---- The handles ----------------------------------------------------------- */

static int feed(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                char *message, size_t message_size)
{
    (void)user, (void)labels, (void)message, (void)message_size;
    for (size_t k = 0; k < capacity * dim; k++)
        x[k] = (float)sin(0.37 * (double)k);
    return (int)capacity;
}

/* A small trained trainer (EMA, warm-up and decay, so every section of
 * the file is present), and a custom schedule for the model file. */
static void make_handles(diffuse_test_handles *h, diffuse_schedule **custom)
{
    diffuse_model_config *config = NULL;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, 3), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 8),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&h->model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    ck_assert_int_eq(diffuse_schedule_create(&h->schedule, DIFFUSE_SCHEDULE_COSINE, 50),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_create(&h->optimizer, DIFFUSE_OPTIMIZER_ADAMW, h->model),
                     DIFFUSE_OK);
    diffuse_optimizer *o = h->optimizer;
    ck_assert_int_eq(diffuse_optimizer_set_double(o, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_double(o, DIFFUSE_OPTIMIZER_BETA1, 0.9), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_int(o, DIFFUSE_OPTIMIZER_WARMUP_STEPS, 2), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_int(o, DIFFUSE_OPTIMIZER_DECAY, DIFFUSE_LR_DECAY_COSINE),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_optimizer_set_int(o, DIFFUSE_OPTIMIZER_DECAY_STEPS, 10), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&h->trainer, h->model, h->schedule, o), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_BATCH_SIZE, 8),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_THREADS, 1), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_data(h->trainer, feed, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(h->trainer, 3, NULL), DIFFUSE_OK);
    double betas[16];
    for (size_t t = 0; t < 16; t++)
        betas[t] = 1e-3 + 0.01 * (double)t;
    ck_assert_int_eq(diffuse_schedule_create_custom(custom, betas, 16), DIFFUSE_OK);
    /* Model files are written with the custom schedule: declared the model's. */
    ck_assert_int_eq(diffuse_model_set_schedule(h->model, *custom), DIFFUSE_OK);
}

/* ---- The sweep ---------------------------------------------------------- */

typedef struct sweep {
    char dir[256];
    char target[512];    /* what the swept save writes, what the load reads */
    char check[512];     /* where a loaded state is saved again for comparison */
    unsigned char *want; /* the bytes of a correct file */
    size_t want_size;
    diffuse_test_handles source; /* the saved handles */
    diffuse_schedule *custom;
} sweep;

static const char old_contents[] = "the previous file";

static bool file_is(const char *path, const unsigned char *bytes, size_t size)
{
    size_t got_size = 0;
    unsigned char *got = diffuse_test_read_file(path, &got_size);
    bool same = got_size == size && memcmp(got, bytes, size) == 0;
    free(got);
    return same;
}

/* The state a load created, saved again: canonical files make equal
 * bytes equal state. */
static bool loaded_state_is_right(sweep *s, diffuse_test_handles *h, bool trainer)
{
    diffuse_status status = trainer ? diffuse_trainer_save(h->trainer, s->check)
                                    : diffuse_model_save(h->model, h->schedule, s->check);
    return status == DIFFUSE_OK && file_is(s->check, s->want, s->want_size);
}

typedef enum operation { MODEL_SAVE, MODEL_LOAD, TRAINER_SAVE, TRAINER_LOAD } operation;

static const char *const operation_names[] = {"diffuse_model_save", "diffuse_model_load",
                                              "diffuse_trainer_save", "diffuse_trainer_load"};

static diffuse_status run(sweep *s, operation op, diffuse_test_handles *out)
{
    switch (op) {
    case MODEL_SAVE:
        return diffuse_model_save(s->source.model, s->custom, s->target);
    case MODEL_LOAD:
        return diffuse_model_load(s->target, &out->model, &out->schedule);
    case TRAINER_SAVE:
        return diffuse_trainer_save(s->source.trainer, s->target);
    default:
        return diffuse_trainer_load(s->target, &out->model, &out->schedule, &out->optimizer,
                                    &out->trainer);
    }
}

/* One call with allocation `n` failing; true once n is beyond the call's
 * allocations. *absorbed counts calls that succeeded despite a failure. */
static bool run_failing_at(sweep *s, operation op, long n, long *absorbed)
{
    bool is_save = op == MODEL_SAVE || op == TRAINER_SAVE;
    if (is_save)
        diffuse_test_write_file(s->target, old_contents, sizeof old_contents);
    diffuse_test_handles out = {NULL, NULL, NULL, NULL};
    start_tracking(n);
    diffuse_status status = run(s, op, &out);
    fail_at = 0;
    bool right = status != DIFFUSE_OK ||
                 (is_save ? file_is(s->target, s->want, s->want_size)
                          : loaded_state_is_right(s, &out, op == TRAINER_LOAD));
    bool all_null = out.model == NULL && out.schedule == NULL && out.optimizer == NULL &&
                    out.trainer == NULL;
    diffuse_test_handles_free(&out);
    tracking = false;
    const char *name = operation_names[op];
    ck_assert_msg(live_count == 0, "%s, allocation %ld failing: %zu blocks leaked", name, n,
                  live_count);
    ck_assert_msg(right, "%s, allocation %ld failing: OK with a wrong result", name, n);
    if (failures == 0) {
        ck_assert_msg(status == DIFFUSE_OK, "%s: %s (%s)", name, diffuse_status_name(status),
                      diffuse_last_error());
        return true;
    }
    ck_assert_msg(status == DIFFUSE_ERROR_NO_MEMORY || status == DIFFUSE_OK,
                  "%s, allocation %ld failing: %s (%s)", name, n, diffuse_status_name(status),
                  diffuse_last_error());
    *absorbed += status == DIFFUSE_OK;
    if (status != DIFFUSE_OK) {
        ck_assert_msg(all_null, "%s, allocation %ld failing: an out-pointer is not NULL", name,
                      n);
        ck_assert_msg(strlen(diffuse_last_error()) > 0, "%s: no message", name);
    }
    if (is_save && status != DIFFUSE_OK)
        ck_assert_msg(file_is(s->target, (const unsigned char *)old_contents,
                              sizeof old_contents),
                      "%s, allocation %ld failing: the old file changed", name, n);
    ck_assert_msg(diffuse_test_count_entries(s->dir) == 2, "%s, allocation %ld failing: "
                  "a temporary file was left behind", name, n);
    return false;
}

/* Every allocation point of `op`; returns how many there are. */
static long sweep_operation(sweep *s, operation op, long *absorbed)
{
    /* A first call outside the sweep, so that libc's one-time allocations
     * (stdio, directory streams) are not mistaken for leaks. */
    diffuse_test_handles out = {NULL, NULL, NULL, NULL};
    ck_assert_int_eq(run(s, op, &out), DIFFUSE_OK);
    diffuse_test_handles_free(&out);
    long n = 1;
    while (!run_failing_at(s, op, n, absorbed))
        n++;
    return n - 1;
}

static void sweep_init(sweep *s, bool trainer)
{
    /* tmpfs when there is one: a save syncs twice, a few hundred saves here. */
    const char *shm = "/dev/shm";
    if (getenv("TMPDIR") == NULL && access(shm, W_OK) == 0)
        setenv("TMPDIR", shm, 1);
    ck_assert_int_eq(diffuse_test_temp_dir(s->dir, sizeof s->dir), 0);
    snprintf(s->target, sizeof s->target, "%s/target.safetensors", s->dir);
    snprintf(s->check, sizeof s->check, "%s/check.safetensors", s->dir);
    make_handles(&s->source, &s->custom);
    diffuse_status status = trainer ? diffuse_trainer_save(s->source.trainer, s->check)
                                    : diffuse_model_save(s->source.model, s->custom, s->check);
    ck_assert_int_eq(status, DIFFUSE_OK);
    s->want = diffuse_test_read_file(s->check, &s->want_size);
}

static void sweep_free(sweep *s)
{
    free(s->want);
    diffuse_test_handles_free(&s->source);
    diffuse_schedule_free(s->custom);
    diffuse_test_remove_dir(s->dir);
}

static void sweep_save_and_load(bool trainer)
{
    sweep s;
    sweep_init(&s, trainer);
    for (operation op = trainer ? TRAINER_SAVE : MODEL_SAVE;; op = trainer ? TRAINER_LOAD : MODEL_LOAD) {
        long absorbed = 0;
        long points = sweep_operation(&s, op, &absorbed);
        printf("%s: %ld allocation points, each failure NO_MEMORY (%ld absorbed by libc "
               "with the right result)\n",
               operation_names[op], points, absorbed);
        ck_assert_int_gt(points, 10);
        if (op == TRAINER_LOAD || op == MODEL_LOAD)
            break;
    }
    sweep_free(&s);
}

START_TEST(model_save_and_load_survive_every_allocation_failure)
{
    sweep_save_and_load(false);
}
END_TEST

START_TEST(trainer_save_and_load_survive_every_allocation_failure)
{
    sweep_save_and_load(true);
}
END_TEST

/* ---- The whole life of the handles ------------------------------------------ */

/* What went wrong in a lifecycle (Check itself allocates, so nothing may
 * be asserted while the allocations are tracked). */
static char life_error[512];

/* One call of the lifecycle. A NO_MEMORY failure must leave the handle as
 * it was: the same call, retried once the injected failure has happened
 * (only allocation N fails), must then succeed. Anything else ends the
 * lifecycle with life_error set. Counts the failures seen in *no_memory. */
#define LIFE_STEP(call)                                                                         \
    do {                                                                                        \
        diffuse_status life_status_ = (call);                                                   \
        if (life_status_ == DIFFUSE_ERROR_NO_MEMORY && diffuse_last_error()[0] != '\0') {       \
            (*no_memory)++;                                                                     \
            life_status_ = (call);                                                              \
        }                                                                                       \
        if (life_status_ != DIFFUSE_OK) {                                                       \
            snprintf(life_error, sizeof life_error, "%s: %s (%s)", #call,                       \
                     diffuse_status_name(life_status_), diffuse_last_error());                  \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)

/* The configurations the lifecycle runs: each architecture the library
 * builds, the U-Net small but with every kind of layer (ResBlocks, a
 * down- and an up-sampling, the middle block's attention). The U-Net's
 * lifecycle samples from the trained handles instead of a saved and loaded
 * copy: the checkpoint code does not depend on the architecture (the MLP's
 * lifecycle and the save/load sweeps above run it), and its ~100 tensors
 * would add ~5,400 allocation points, each a whole lifecycle, to the suite's
 * time (minutes at -O0 in the coverage build) for no path not already
 * swept. */
typedef struct life_architecture {
    const char *name;
    diffuse_architecture architecture;
    size_t dim;
    bool checkpoints; /* save and load a trainer between training and sampling */
    size_t option_count;
    int32_t options[8][2]; /* (option, value) pairs */
} life_architecture;

static const life_architecture life_mlp = {
    "mlp", DIFFUSE_ARCH_MLP, 3, true, 1, {{DIFFUSE_MODEL_HIDDEN_WIDTH, 8}}};

static const life_architecture life_unet = {
    "unet",
    DIFFUSE_ARCH_UNET,
    16,
    false,
    8,
    {{DIFFUSE_MODEL_IMAGE_HEIGHT, 4},
     {DIFFUSE_MODEL_IMAGE_WIDTH, 4},
     {DIFFUSE_MODEL_BASE_CHANNELS, 4},
     {DIFFUSE_MODEL_GROUPS, 2},
     {DIFFUSE_MODEL_LEVELS, 2},
     {DIFFUSE_MODEL_RES_BLOCKS, 1},
     {DIFFUSE_MODEL_ATTENTION_LEVELS, 0},
     {DIFFUSE_MODEL_HEADS, 2}}};

enum { LIFE_SAMPLES = 4, LIFE_MAX_DIM = 16 };

/* create → train steps (two worker threads) → save → load → sample (two
 * worker threads) → free, every handle kind, for architecture `a` (without
 * the save and load unless a->checkpoints). */
static void lifecycle(const life_architecture *a, const char *path, long *no_memory)
{
    diffuse_model_config *config = NULL;
    diffuse_test_handles h = {NULL, NULL, NULL, NULL}, loaded = {NULL, NULL, NULL, NULL};
    diffuse_sampler *sampler = NULL;
    float samples[LIFE_SAMPLES * LIFE_MAX_DIM];
    LIFE_STEP(diffuse_schedule_create(&h.schedule, DIFFUSE_SCHEDULE_LINEAR, 20));
    LIFE_STEP(diffuse_model_config_create(&config, a->architecture, a->dim));
    for (size_t k = 0; k < a->option_count; k++)
        LIFE_STEP(diffuse_model_config_set_int(config, a->options[k][0], a->options[k][1]));
    LIFE_STEP(diffuse_model_create(&h.model, config));
    LIFE_STEP(diffuse_optimizer_create(&h.optimizer, DIFFUSE_OPTIMIZER_ADAMW, h.model));
    LIFE_STEP(diffuse_optimizer_set_double(h.optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.9));
    LIFE_STEP(diffuse_trainer_create(&h.trainer, h.model, h.schedule, h.optimizer));
    LIFE_STEP(diffuse_trainer_set_int(h.trainer, DIFFUSE_TRAINER_BATCH_SIZE, 8));
    LIFE_STEP(diffuse_trainer_set_int(h.trainer, DIFFUSE_TRAINER_THREADS, 2));
    LIFE_STEP(diffuse_trainer_set_data(h.trainer, feed, NULL));
    LIFE_STEP(diffuse_trainer_train(h.trainer, 2, NULL));
    LIFE_STEP(diffuse_trainer_step(h.trainer, NULL));
    diffuse_test_handles *sampled = &h;
    if (a->checkpoints) {
        LIFE_STEP(diffuse_trainer_save(h.trainer, path));
        LIFE_STEP(diffuse_trainer_load(path, &loaded.model, &loaded.schedule,
                                       &loaded.optimizer, &loaded.trainer));
        sampled = &loaded;
    }
    LIFE_STEP(diffuse_sampler_create(&sampler, sampled->model, sampled->schedule));
    LIFE_STEP(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, 2));
    LIFE_STEP(diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_USE_EMA, 1));
    LIFE_STEP(diffuse_sampler_run(sampler, LIFE_SAMPLES, samples));
done:
    diffuse_sampler_free(sampler);
    diffuse_test_handles_free(&loaded);
    diffuse_test_handles_free(&h);
    diffuse_model_config_free(config);
}

/* Fails allocation 1, 2, … of a lifecycle of `a` until one runs without a
 * failure; every failure must be reported as NO_MEMORY and recovered from. */
static void sweep_lifecycle(const life_architecture *a)
{
    char dir[256], path[320];
    const char *shm = "/dev/shm";
    if (getenv("TMPDIR") == NULL && access(shm, W_OK) == 0)
        setenv("TMPDIR", shm, 1);
    ck_assert_int_eq(diffuse_test_temp_dir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/life.safetensors", dir);
    long no_memory = 0;
    lifecycle(a, path, &no_memory); /* libc's one-time allocations, outside the sweep */
    ck_assert_msg(life_error[0] == '\0', "%s", life_error);
    long n = 1;
    for (;; n++) {
        long before = no_memory;
        life_error[0] = '\0';
        start_tracking(n);
        lifecycle(a, path, &no_memory);
        tracking = false;
        ck_assert_msg(life_error[0] == '\0', "%s, allocation %ld failing: %s", a->name, n,
                      life_error);
        ck_assert_msg(live_count == 0, "%s, allocation %ld failing: %zu blocks leaked", a->name,
                      n, live_count);
        if (failures == 0)
            break;
        /* Either a call reported it, or libc absorbed it with the right result. */
        ck_assert_int_le(no_memory - before, 1);
    }
    printf("%s lifecycle: %ld allocation points, %ld reported as NO_MEMORY and recovered from\n",
           a->name, n - 1, no_memory);
    ck_assert_int_gt(no_memory, (n - 1) / 2);
    diffuse_test_remove_dir(dir);
}

START_TEST(every_allocation_failure_in_an_mlp_lifecycle_is_no_memory_and_recoverable)
{
    sweep_lifecycle(&life_mlp);
}
END_TEST

START_TEST(every_allocation_failure_in_a_unet_lifecycle_is_no_memory_and_recoverable)
{
    sweep_lifecycle(&life_unet);
}
END_TEST

/* The replacement must be the allocator in use, or the sweep tests nothing. */
START_TEST(the_injection_works)
{
    start_tracking(2);
    void *a = malloc(16), *b = malloc(16), *c = malloc(16);
    tracking = false;
    ck_assert_msg(a != NULL && b == NULL && c != NULL && failures == 1 && live_count == 2,
                  "%p %p %p, %ld failures, %zu live", a, b, c, failures, live_count);
    free(a);
    free(c);
    ck_assert_uint_eq(live_count, 0);
    ck_assert_msg(openblas_high > openblas_low, "OpenBLAS's segments not found");
}
END_TEST

static Suite *alloc_failure_suite(void)
{
    Suite *suite = suite_create("alloc_failure");
    TCase *sweeps = tcase_create("sweeps");
    tcase_add_test(sweeps, the_injection_works);
    tcase_add_test(sweeps, model_save_and_load_survive_every_allocation_failure);
    tcase_add_test(sweeps, trainer_save_and_load_survive_every_allocation_failure);
    tcase_add_test(sweeps, every_allocation_failure_in_an_mlp_lifecycle_is_no_memory_and_recoverable);
    tcase_add_test(sweeps, every_allocation_failure_in_a_unet_lifecycle_is_no_memory_and_recoverable);
    suite_add_tcase(suite, sweeps);
    return suite;
}

int main(void)
{
    locate_openblas();
    return diffuse_test_run(alloc_failure_suite());
}
