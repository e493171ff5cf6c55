/* The trainer's peer exchange (diffuse/train.h, "Peers") without MPI: two
 * trainers on two threads exchange through an in-process peer callback,
 * and must reproduce one trainer on their rows together. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <diffuse/diffuse.h>

#include "test_support.h"

enum { PEERS = 2, ROWS = 4, DIM = 2 };

/* What the two peers share; each step's exchanges meet at the barrier. */
typedef struct exchange_room {
    pthread_barrier_t barrier;
    diffuse_peer_exchange *seen[PEERS];
    float *sum; /* the summed gradient, written by peer 0 */
    int fail_exchange; /* the callback returns −1 */
} exchange_room;

typedef struct peer {
    exchange_room *room;
    int index;
    uint64_t step, fail_at; /* data: the pull of step fail_at fails */
    diffuse_test_handles h;
    diffuse_status status;
    uint64_t digest;
} peer;

/* Σ over peers in index order of what the exchange sums; the lowest failing
 * peer's message. */
static int room_exchange(void *user, diffuse_peer_exchange *x)
{
    peer *p = user;
    exchange_room *room = p->room;
    room->seen[p->index] = x;
    pthread_barrier_wait(&room->barrier);
    diffuse_peer_exchange *a = room->seen[0], *b = room->seen[1];
    int failed = a->failed ? 0 : b->failed ? 1 : -1;
    char message[256] = "";
    if (failed >= 0)
        snprintf(message, sizeof message, "peer %d: %s", failed, room->seen[failed]->message);
    uint64_t first = p->index == 0 ? 0 : a->rows, total = a->rows + b->rows;
    double squared_error = a->squared_error + b->squared_error;
    if (failed < 0 && x->phase == DIFFUSE_PEER_GRADIENTS && p->index == 0)
        for (size_t i = 0; i < x->grad_count; i++)
            room->sum[i] = a->grads[i] + b->grads[i];
    pthread_barrier_wait(&room->barrier);
    x->failed = failed >= 0;
    if (failed >= 0)
        snprintf(x->message, x->message_size, "%s", message);
    x->first_row = first;
    x->total_rows = total;
    x->squared_error = squared_error;
    if (failed < 0 && x->phase == DIFFUSE_PEER_GRADIENTS)
        memcpy(x->grads, room->sum, x->grad_count * sizeof *x->grads);
    pthread_barrier_wait(&room->barrier);
    if (room->fail_exchange)
        snprintf(x->message, x->message_size, "link down");
    return room->fail_exchange ? -1 : 0;
}

/* Global row j of step k: a point on a circle, so peer i's rows are the
 * one-trainer batch's rows [i·ROWS, (i+1)·ROWS). */
static void rows_of_step(uint64_t k, uint64_t first, size_t rows, float *x)
{
    for (size_t j = 0; j < rows; j++) {
        double angle = 0.37 * (double)k + 1.1 * (double)(first + j);
        x[j * DIM] = (float)cos(angle);
        x[j * DIM + 1] = (float)sin(angle);
    }
}

static int peer_data(void *user, float *x, int32_t *labels, size_t capacity, size_t dim,
                     char *message, size_t message_size)
{
    (void)labels;
    (void)dim;
    peer *p = user;
    if (++p->step == p->fail_at) {
        snprintf(message, message_size, "shard unreadable");
        return -1;
    }
    rows_of_step(p->step, (uint64_t)p->index * capacity, capacity, x);
    return (int)capacity;
}

static void make_handles(diffuse_test_handles *h, size_t rows)
{
    diffuse_model_config *config;
    ck_assert_int_eq(diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, DIM), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, 16),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_model_create(&h->model, config), DIFFUSE_OK);
    diffuse_model_config_free(config);
    h->schedule = diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 50, 0);
    ck_assert_int_eq(diffuse_optimizer_create(&h->optimizer, DIFFUSE_OPTIMIZER_ADAMW, h->model),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_create(&h->trainer, h->model, h->schedule, h->optimizer),
                     DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(h->trainer, DIFFUSE_TRAINER_BATCH_SIZE, (int64_t)rows),
                     DIFFUSE_OK);
}

static void *peer_train(void *arg)
{
    peer *p = arg;
    p->status = diffuse_trainer_train(p->h.trainer, 10, NULL);
    diffuse_trainer_state_digest(p->h.trainer, &p->digest);
    return NULL;
}

/* Runs both peers for 10 steps on their own threads. */
static void run_peers(exchange_room *room, peer peers[PEERS])
{
    size_t count;
    pthread_t threads[PEERS];
    pthread_barrier_init(&room->barrier, NULL, PEERS);
    for (int i = 0; i < PEERS; i++) {
        peers[i].room = room;
        peers[i].index = i;
        make_handles(&peers[i].h, ROWS);
        ck_assert_int_eq(diffuse_trainer_set_data(peers[i].h.trainer, peer_data, &peers[i]),
                         DIFFUSE_OK);
        ck_assert_int_eq(diffuse_trainer_set_peers(peers[i].h.trainer, room_exchange, &peers[i]),
                         DIFFUSE_OK);
    }
    ck_assert_int_eq(diffuse_model_param_count(peers[0].h.model, &count), DIFFUSE_OK);
    room->sum = malloc(count * sizeof *room->sum);
    for (int i = 0; i < PEERS; i++)
        pthread_create(&threads[i], NULL, peer_train, &peers[i]);
    for (int i = 0; i < PEERS; i++)
        pthread_join(threads[i], NULL);
    free(room->sum);
    pthread_barrier_destroy(&room->barrier);
}

static void free_peers(peer peers[PEERS])
{
    for (int i = 0; i < PEERS; i++)
        diffuse_test_handles_free(&peers[i].h);
}

START_TEST(two_peers_reproduce_one_trainer)
{
    exchange_room room = {0};
    peer peers[PEERS] = {{0}, {0}};
    run_peers(&room, peers);
    ck_assert_int_eq(peers[0].status, DIFFUSE_OK);
    ck_assert_int_eq(peers[1].status, DIFFUSE_OK);
    ck_assert_uint_eq(peers[0].digest, peers[1].digest);

    peer one = {.index = 0};
    make_handles(&one.h, PEERS * ROWS);
    ck_assert_int_eq(diffuse_trainer_set_data(one.h.trainer, peer_data, &one), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_train(one.h.trainer, 10, NULL), DIFFUSE_OK);
    size_t n;
    ck_assert_int_eq(diffuse_model_param_count(one.h.model, &n), DIFFUSE_OK);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    diffuse_model_get_params(peers[0].h.model, a, n);
    diffuse_model_get_params(one.h.model, b, n);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        norm += (double)b[i] * b[i];
    }
    ck_assert_msg(sqrt(diff / norm) < 1e-6, "%g relative", sqrt(diff / norm));
    uint64_t digest;
    ck_assert_int_eq(diffuse_trainer_state_digest(one.h.trainer, &digest), DIFFUSE_OK);
    ck_assert_uint_ne(digest, peers[0].digest); /* other rounding, other bits */
    free(a);
    free(b);
    diffuse_test_handles_free(&one.h);
    free_peers(peers);
}
END_TEST

START_TEST(a_failing_peer_fails_both)
{
    exchange_room room = {0};
    peer peers[PEERS] = {{0}, {.fail_at = 3}};
    run_peers(&room, peers);
    for (int i = 0; i < PEERS; i++) {
        uint64_t steps;
        ck_assert_int_eq(peers[i].status, DIFFUSE_ERROR_CALLBACK);
        ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(peers[i].h.trainer),
                                     "shard unreadable"));
        ck_assert_int_eq(diffuse_trainer_step_count(peers[i].h.trainer, &steps), DIFFUSE_OK);
        ck_assert_uint_eq(steps, 2);
    }
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(peers[0].h.trainer),
                                 "a peer failed: peer 1"));
    ck_assert_uint_eq(peers[0].digest, peers[1].digest);
    free_peers(peers);
}
END_TEST

START_TEST(a_failing_exchange_fails_the_step)
{
    exchange_room room = {.fail_exchange = 1};
    peer peers[PEERS] = {{0}, {0}};
    run_peers(&room, peers);
    ck_assert_int_eq(peers[0].status, DIFFUSE_ERROR_CALLBACK);
    ck_assert_str_eq(diffuse_trainer_last_error(peers[0].h.trainer),
                     "peer exchange failed: link down");
    free_peers(peers);
}
END_TEST

/* A callback that places the rows outside the step's batch. */
static int misplace(void *user, diffuse_peer_exchange *x)
{
    (void)user;
    x->first_row = 3;
    x->total_rows = x->rows;
    return 0;
}

START_TEST(rows_outside_the_batch_are_rejected)
{
    diffuse_test_handles h;
    make_handles(&h, ROWS);
    ck_assert_int_eq(diffuse_trainer_set_peers(h.trainer, misplace, NULL), DIFFUSE_OK);
    float x[ROWS * DIM];
    rows_of_step(1, 0, ROWS, x);
    ck_assert_int_eq(diffuse_trainer_step_batch(h.trainer, ROWS, x, NULL), DIFFUSE_ERROR_CALLBACK);
    ck_assert_ptr_nonnull(strstr(diffuse_trainer_last_error(h.trainer), "placed 4 rows at 3 of 4"));
    ck_assert_int_eq(diffuse_trainer_step_batch(h.trainer, ROWS, NULL, NULL),
                     DIFFUSE_ERROR_INVALID_ARGUMENT); /* the local failure, not the peers' */
    ck_assert_int_eq(diffuse_trainer_set_peers(h.trainer, NULL, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_step_batch(h.trainer, ROWS, x, NULL), DIFFUSE_OK);
    diffuse_test_handles_free(&h);
}
END_TEST

START_TEST(digest_follows_the_state)
{
    diffuse_test_handles h;
    make_handles(&h, ROWS);
    uint64_t before, after, again;
    ck_assert_int_eq(diffuse_trainer_state_digest(NULL, &before), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_state_digest(h.trainer, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_set_peers(NULL, NULL, NULL), DIFFUSE_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(diffuse_trainer_state_digest(h.trainer, &before), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_set_int(h.trainer, DIFFUSE_TRAINER_SEED, 1), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_state_digest(h.trainer, &after), DIFFUSE_OK);
    ck_assert_uint_ne(before, after);
    ck_assert_int_eq(diffuse_optimizer_set_double(h.optimizer, DIFFUSE_OPTIMIZER_EMA_DECAY, 0.5),
                     DIFFUSE_OK);
    float x[ROWS * DIM];
    rows_of_step(1, 0, ROWS, x);
    ck_assert_int_eq(diffuse_trainer_step_batch(h.trainer, ROWS, x, NULL), DIFFUSE_OK);
    ck_assert_int_eq(diffuse_trainer_state_digest(h.trainer, &again), DIFFUSE_OK);
    ck_assert_uint_ne(after, again);
    diffuse_test_handles_free(&h);
}
END_TEST

/* ---- DIFFUSE_PEER_GRADIENTS_READY ------------------------------------------ */

enum { READY_ROWS = 6 };

/* A peer callback alone (one process): it records each READY range and
 * the bits it held then, so that the GRADIENTS call can check that
 * backward never touched them again and that the ranges tile the buffer. */
typedef struct listener {
    float *snapshot;   /* the gradient as each READY call saw its range */
    unsigned *covered; /* how many READY ranges covered each float */
    size_t count, ready_calls, steps_checked;
    int ready;         /* READY calls asked for */
    int fail_ready;    /* the first READY call returns −1 */
    int saw_failed_gradients;
} listener;

static int listen(void *user, diffuse_peer_exchange *x)
{
    listener *l = user;
    ck_assert_uint_ge(x->size, sizeof *x);
    if (x->phase == DIFFUSE_PEER_BATCH) {
        x->first_row = 0;
        x->total_rows = x->rows;
        memset(l->covered, 0, l->count * sizeof *l->covered);
        return 0;
    }
    if (x->phase == DIFFUSE_PEER_GRADIENTS_READY) {
        ck_assert_uint_eq(x->grad_count, l->count);
        ck_assert_uint_le(x->ready_offset + x->ready_count, l->count);
        ck_assert_uint_gt(x->ready_count, 0);
        l->ready_calls++;
        if (l->fail_ready) {
            snprintf(x->message, x->message_size, "send failed");
            return -1;
        }
        for (size_t i = x->ready_offset; i < x->ready_offset + x->ready_count; i++) {
            l->covered[i]++;
            l->snapshot[i] = x->grads[i];
        }
        return 0;
    }
    l->saw_failed_gradients |= x->failed;
    if (!x->failed && l->ready) {
        for (size_t i = 0; i < l->count; i++)
            ck_assert_msg(l->covered[i] == 1, "gradient %zu reported %u times", i, l->covered[i]);
        ck_assert_msg(memcmp(l->snapshot, x->grads, l->count * sizeof *x->grads) == 0,
                      "a gradient changed after it was reported final");
        l->steps_checked++;
    }
    return 0;
}

/* An MLP with classes (its label table, last in the buffer, is finished
 * late: the ranges are not in buffer order) or a small U-Net. */
static diffuse_model *ready_model(diffuse_architecture arch)
{
    diffuse_model_config *c;
    int unet = arch == DIFFUSE_ARCH_UNET;
    ck_assert_int_eq(diffuse_model_config_create(&c, arch, unet ? 32 : DIM), DIFFUSE_OK);
    const struct {
        diffuse_model_option option;
        int64_t value;
    } mlp[] = {{DIFFUSE_MODEL_HIDDEN_WIDTH, 16}, {DIFFUSE_MODEL_CLASSES, 3}},
      image[] = {{DIFFUSE_MODEL_IMAGE_CHANNELS, 2}, {DIFFUSE_MODEL_IMAGE_HEIGHT, 4},
                 {DIFFUSE_MODEL_IMAGE_WIDTH, 4},    {DIFFUSE_MODEL_BASE_CHANNELS, 4},
                 {DIFFUSE_MODEL_LEVELS, 2},         {DIFFUSE_MODEL_ATTENTION_LEVELS, 1},
                 {DIFFUSE_MODEL_GROUPS, 2}};
    for (size_t i = 0; i < (unet ? 7u : 2u); i++)
        ck_assert_int_eq(diffuse_model_config_set_int(c, unet ? image[i].option : mlp[i].option,
                                                      unet ? image[i].value : mlp[i].value),
                         DIFFUSE_OK);
    diffuse_model *m;
    ck_assert_int_eq(diffuse_model_create(&m, c), DIFFUSE_OK);
    diffuse_model_config_free(c);
    return m;
}

/* Three steps of `arch` on `threads` workers with `l` as peer (NULL: none);
 * returns the state digest. */
static uint64_t train_listened(diffuse_architecture arch, int threads, listener *l,
                               diffuse_status *status)
{
    listener unused = {0};
    diffuse_test_handles h =
        diffuse_test_training(ready_model(arch), diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 50, 0), 1e-3);
    size_t dim = arch == DIFFUSE_ARCH_UNET ? 32 : DIM;
    ck_assert_int_eq(diffuse_trainer_set_int(h.trainer, DIFFUSE_TRAINER_THREADS, threads),
                     DIFFUSE_OK);
    if (l != NULL) {
        ck_assert_int_eq(diffuse_trainer_set_peers(h.trainer, listen, l), DIFFUSE_OK);
        ck_assert_int_eq(diffuse_trainer_set_peer_ready(h.trainer, l->ready), DIFFUSE_OK);
    } else {
        l = &unused;
    }
    ck_assert_int_eq(diffuse_model_param_count(h.model, &l->count), DIFFUSE_OK);
    l->snapshot = calloc(l->count, sizeof *l->snapshot);
    l->covered = calloc(l->count, sizeof *l->covered);
    ck_assert_ptr_nonnull(l->snapshot);
    ck_assert_ptr_nonnull(l->covered);
    float *x = diffuse_test_uniform_floats(READY_ROWS * dim, 5, 0, -1.0f, 1.0f);
    const int32_t labels[READY_ROWS] = {0, 1, 2, 0, 1, 2};
    *status = DIFFUSE_OK;
    for (int step = 0; step < 3 && *status == DIFFUSE_OK; step++)
        *status = diffuse_trainer_step_batch_labels(h.trainer, READY_ROWS, x,
                                                    arch == DIFFUSE_ARCH_MLP ? labels : NULL, NULL);
    uint64_t digest;
    ck_assert_int_eq(diffuse_trainer_state_digest(h.trainer, &digest), DIFFUSE_OK);
    free(x);
    free(l->snapshot);
    free(l->covered);
    diffuse_test_handles_free(&h);
    return digest;
}

/* Every float reported once, each range final when reported, on one worker
 * and in a team of three; the bits are those of a trainer without peers. */
START_TEST(ready_ranges_tile_the_buffer_and_are_final)
{
    const diffuse_architecture archs[] = {DIFFUSE_ARCH_MLP, DIFFUSE_ARCH_UNET};
    for (int a = 0; a < 2; a++)
        for (int threads = 1; threads <= 3; threads += 2) {
            listener l = {.ready = 1};
            diffuse_status status, status_alone;
            uint64_t digest = train_listened(archs[a], threads, &l, &status);
            ck_assert_int_eq(status, DIFFUSE_OK);
            ck_assert_uint_eq(l.steps_checked, 3);
            ck_assert_uint_gt(l.ready_calls, 3 * 3); /* several groups a step */
            ck_assert_uint_eq(train_listened(archs[a], threads, NULL, &status_alone), digest);
            ck_assert_int_eq(status_alone, DIFFUSE_OK);
        }
}
END_TEST

START_TEST(ready_calls_only_when_asked)
{
    listener l = {0};
    diffuse_status status;
    train_listened(DIFFUSE_ARCH_MLP, 1, &l, &status);
    ck_assert_int_eq(status, DIFFUSE_OK);
    ck_assert_uint_eq(l.ready_calls, 0);
    ck_assert_int_eq(diffuse_trainer_set_peer_ready(NULL, 1), DIFFUSE_ERROR_INVALID_ARGUMENT);
}
END_TEST

/* A failed READY call fails the step at the GRADIENTS exchange (which
 * still takes place, flagged), with no more READY calls and no update. */
START_TEST(a_failing_ready_call_fails_the_step)
{
    listener l = {.ready = 1, .fail_ready = 1};
    diffuse_status status, status_none;
    diffuse_test_handles h =
        diffuse_test_training(ready_model(DIFFUSE_ARCH_MLP), diffuse_test_schedule(DIFFUSE_SCHEDULE_LINEAR, 50, 0), 1e-3);
    uint64_t untrained;
    ck_assert_int_eq(diffuse_trainer_state_digest(h.trainer, &untrained), DIFFUSE_OK);
    diffuse_test_handles_free(&h);
    uint64_t digest = train_listened(DIFFUSE_ARCH_MLP, 1, &l, &status);
    ck_assert_int_eq(status, DIFFUSE_ERROR_CALLBACK);
    ck_assert_uint_eq(l.ready_calls, 1); /* and no more in that step */
    ck_assert_int_eq(l.saw_failed_gradients, 1);
    ck_assert_uint_eq(digest, untrained);
    ck_assert_uint_ne(train_listened(DIFFUSE_ARCH_MLP, 1, NULL, &status_none), untrained);
    ck_assert_int_eq(status_none, DIFFUSE_OK);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("peers");
    TCase *tc = tcase_create("peers");
    tcase_add_test(tc, two_peers_reproduce_one_trainer);
    tcase_add_test(tc, a_failing_peer_fails_both);
    tcase_add_test(tc, a_failing_exchange_fails_the_step);
    tcase_add_test(tc, rows_outside_the_batch_are_rejected);
    tcase_add_test(tc, digest_follows_the_state);
    tcase_add_test(tc, ready_ranges_tile_the_buffer_and_are_final);
    tcase_add_test(tc, ready_calls_only_when_asked);
    tcase_add_test(tc, a_failing_ready_call_fails_the_step);
    suite_add_tcase(suite, tc);
    return diffuse_test_run(suite);
}
