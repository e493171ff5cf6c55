/* The peer exchange of a data-parallel step (see "Peers" in
 * include/diffuse/train.h) and the state digest that peers compare. */
#include <stdio.h>

#include "diffuse/train.h"
#include "model/model.h"
#include "train/optim.h"
#include "train/peers.h"
#include "train/trainer.h"

/* Runs one exchange; maps its outcome to the step's status: the local
 * failure kept as it is, a peer's reported as DIFFUSE_ERROR_CALLBACK. */
static diffuse_status exchange(const trainer_peers *peers, diffuse_error *error,
                               diffuse_status local, diffuse_peer_exchange *x)
{
    char message[DIFFUSE_ERROR_MESSAGE_SIZE / 2];
    snprintf(message, sizeof message, "%s", local ? diffuse_error_message(error) : "");
    x->size = sizeof *x;
    x->failed = local != DIFFUSE_OK;
    x->message = message;
    x->message_size = sizeof message;
    int rc = peers->fn(peers->user, x);
    message[sizeof message - 1] = '\0';
    if (local != DIFFUSE_OK)
        return local;
    if (rc < 0)
        return diffuse_fail(error, DIFFUSE_ERROR_CALLBACK, "peer exchange failed: %s",
                            message[0] ? message : "no message");
    if (x->failed)
        return diffuse_fail(error, DIFFUSE_ERROR_CALLBACK, "a peer failed: %s",
                            message[0] ? message : "no message");
    return DIFFUSE_OK;
}

diffuse_status peers_share_batch(const trainer_peers *peers, diffuse_error *error,
                                 diffuse_status local, size_t rows, peer_share *share)
{
    share->first_row = 0;
    share->total_rows = rows;
    if (peers->fn == NULL)
        return local;
    diffuse_peer_exchange x = {.phase = DIFFUSE_PEER_BATCH, .rows = local ? 0 : rows};
    diffuse_status status = exchange(peers, error, local, &x);
    if (status == DIFFUSE_OK && (x.total_rows < rows || x.first_row > x.total_rows - rows))
        return diffuse_fail(error, DIFFUSE_ERROR_CALLBACK,
                            "peer callback placed %zu rows at %llu of %llu", rows,
                            (unsigned long long)x.first_row, (unsigned long long)x.total_rows);
    if (status == DIFFUSE_OK)
        *share = (peer_share){x.first_row, x.total_rows};
    return status;
}

diffuse_status peers_reduce(const trainer_peers *peers, diffuse_error *error,
                            diffuse_status local, float *grads, size_t count,
                            double *squared_error)
{
    if (peers->fn == NULL)
        return local;
    diffuse_peer_exchange x = {.phase = DIFFUSE_PEER_GRADIENTS, .grads = grads,
                               .grad_count = count, .squared_error = *squared_error};
    diffuse_status status = exchange(peers, error, local, &x);
    *squared_error = x.squared_error;
    return status;
}

diffuse_status peers_gradients_ready(const trainer_peers *peers, diffuse_error *error,
                                     float *grads, size_t total, size_t offset, size_t count)
{
    diffuse_peer_exchange x = {.phase = DIFFUSE_PEER_GRADIENTS_READY, .grads = grads,
                               .grad_count = total, .ready_offset = offset,
                               .ready_count = count};
    return exchange(peers, error, DIFFUSE_OK, &x);
}

/* FNV-1a over bytes: h ← (h ⊕ byte) · 1099511628211. */
static uint64_t digest_bytes(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

DIFFUSE_API diffuse_status diffuse_trainer_state_digest(const diffuse_trainer *trainer,
                                                        uint64_t *digest)
{
    diffuse_status status;
    if ((status = diffuse_check_pointer(NULL, trainer, "trainer")) ||
        (status = diffuse_check_pointer(NULL, digest, "digest")))
        return status;
    const diffuse_model *m = trainer_model(trainer);
    const diffuse_optimizer *opt = trainer_optimizer(trainer);
    size_t bytes = m->param_count * sizeof(float);
    uint64_t seed = (uint64_t)trainer_option_values(trainer)[DIFFUSE_TRAINER_SEED];
    uint64_t h = 14695981039346656037u; /* the FNV offset basis */
    h = digest_bytes(h, m->params, bytes);
    if (m->ema != NULL)
        h = digest_bytes(h, m->ema, bytes);
    h = digest_bytes(h, opt->first_moment, bytes);
    h = digest_bytes(h, opt->second_moment, bytes);
    h = digest_bytes(h, &opt->step, sizeof opt->step);
    *digest = digest_bytes(h, &seed, sizeof seed);
    return DIFFUSE_OK;
}
