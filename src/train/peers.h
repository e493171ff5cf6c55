/* The trainer's side of the peer exchange (internal; see "Peers" in
 * include/diffuse/train.h): the two collective calls of a step, the
 * reports of finished gradients between them, and the
 * state digest peers compare. */
#ifndef DIFFUSE_SRC_PEERS_H
#define DIFFUSE_SRC_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffuse/train.h"
#include "util/error.h"

typedef struct trainer_peers {
    diffuse_peer_fn fn; /* NULL: one process */
    void *user;
    bool report_ready;  /* DIFFUSE_PEER_GRADIENTS_READY calls wanted */
} trainer_peers;

/* Where this process's rows sit in the step's batch over all processes. */
typedef struct peer_share {
    uint64_t first_row, total_rows;
} peer_share;

/* DIFFUSE_PEER_BATCH: `local` is the step's status so far on this process
 * (its message in `error`), `rows` what it pulled. Without peers: first 0,
 * total `rows`. Returns `local` where it failed, else the peers' failure. */
diffuse_status peers_share_batch(const trainer_peers *peers, diffuse_error *error,
                                 diffuse_status local, size_t rows, peer_share *share);

/* DIFFUSE_PEER_GRADIENTS: sums `grads` and *squared_error over the peers in
 * place (nothing to do without peers); failures as for peers_share_batch. */
diffuse_status peers_reduce(const trainer_peers *peers, diffuse_error *error,
                            diffuse_status local, float *grads, size_t count,
                            double *squared_error);

/* DIFFUSE_PEER_GRADIENTS_READY: grads[offset … offset + count) of the
 * `total` gradients are final. A failure (the callback's) is recorded in
 * `error`. */
diffuse_status peers_gradients_ready(const trainer_peers *peers, diffuse_error *error,
                                     float *grads, size_t total, size_t offset, size_t count);

#endif
