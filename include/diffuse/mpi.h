/*
 * libdiffuse_mpi — data-parallel training over MPI (a companion library,
 * built with -DDIFFUSE_MPI=ON: link -ldiffuse_mpi -ldiffuse, pkg-config
 * diffuse-mpi, CMake target diffuse::diffuse_mpi; see docs/design.md).
 *
 * One process per rank of a communicator, each with its own model,
 * optimizer and trainer built the same way (same configuration, options and
 * seed, or the same checkpoint). diffuse_mpi_attach broadcasts rank 0's
 * weights and installs the trainer's peer callback (diffuse/train.h,
 * "Peers"); from then on every step call is collective:
 *   - each rank pulls its own shard through its data callback: its rows
 *     become rows first_row … of the step's global batch, in rank order
 *     (rank r's data callback learns r and the size through
 *     diffuse_mpi_shard, e.g. from a diffuse_mpi pointer kept in its `user`
 *     data); a rank may return fewer rows than another;
 *   - the gradients are summed in a fixed order (reduce-scatter: rank r
 *     sums chunk r of every rank's gradient, ranks 0, 1, … in turn; then an
 *     all-gather of the sums), so every rank gets the same bits, run after
 *     run, and applies the same optimizer and EMA update. The sum runs in
 *     buckets (diffuse_mpi_set_bucket_size): a bucket's exchange starts as
 *     soon as backward has finished its layers, while backward goes on with
 *     the others; the bits do not depend on the bucket size;
 *   - a rank that fails (its data callback, a non-finite batch) makes the
 *     step fail on every rank, with that rank's message ("rank r: …"), and
 *     no rank changes its weights.
 * N ranks of batch b reproduce one process of batch N·b (same seed) to
 * rounding: t and ε of a row depend on its place in the global batch.
 * Checkpoints: diffuse_mpi_save (rank 0 writes); resume by loading the same
 * file on every rank (diffuse_trainer_load) and attaching again: the run
 * continues bit-exactly on the same number of ranks.
 *
 * Threads: the calls on one diffuse_mpi come from the thread that steps its
 * trainer. MPI must be initialised (MPI_Init) before attach and finalised
 * after diffuse_mpi_free.
 */
#ifndef DIFFUSE_MPI_H
#define DIFFUSE_MPI_H

#include <mpi.h>

#include "diffuse/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_mpi diffuse_mpi;

/* The bucket size attach starts with: 1 MiB, 262,144 gradients. */
#define DIFFUSE_MPI_DEFAULT_BUCKET_BYTES ((size_t)1 << 20)

/* Collective over `comm` (duplicated: the library's messages never meet the
 * caller's). Checks that every rank's model has as many parameters,
 * broadcasts rank 0's weights (and EMA weights, if rank 0 has them) into
 * `model`, which must be `trainer`'s, and sets the trainer's peer callback.
 * Optimizer moments are not sent: freshly created or loaded from one
 * checkpoint, they are equal already (diffuse_mpi_check_state verifies).
 * Errors: INVALID_ARGUMENT (NULL), MISMATCH (parameter counts differ),
 * STATE (the trainer is busy), CALLBACK (an MPI call failed), NO_MEMORY;
 * the same status on every rank. *out = NULL on failure. */
DIFFUSE_API diffuse_status diffuse_mpi_attach(diffuse_mpi **out, diffuse_trainer *trainer,
                                              diffuse_model *model, MPI_Comm comm);
/* Collective: the gradient sum goes in buckets of `bytes` bytes (rounded
 * down to whole floats; the last bucket holds the rest), each exchanged as
 * soon as backward has finished it; 0: one bucket, exchanged after
 * backward (no overlap). Results are the same bits whatever the size (and
 * on every rank); smaller buckets start sending earlier but pay MPI's
 * per-message latency more often: each costs two collectives a step, so
 * keep to tens of buckets (docs/performance.md models the trade-off). Costs
 * two communicators and about one
 * bucket of memory besides the reduction buffers (one gradient's size).
 * Every rank must pass the same size. Errors: INVALID_ARGUMENT (mpi NULL,
 * 1 to 3 bytes), MISMATCH (another rank's size differs), STATE (from inside
 * a step), NO_MEMORY, CALLBACK (MPI); the same status on every rank. On
 * failure the previous buckets stay. */
DIFFUSE_API diffuse_status diffuse_mpi_set_bucket_size(diffuse_mpi *mpi, size_t bytes);
/* Clears the trainer's peer callback and frees the handle (collective: it
 * frees the duplicated communicator). Call it before freeing the trainer.
 * NULL is a no-op. */
DIFFUSE_API void diffuse_mpi_free(diffuse_mpi *mpi);
/* Message of the handle's last failure; valid until its next failing call. */
DIFFUSE_API const char *diffuse_mpi_last_error(const diffuse_mpi *mpi);
/* This process's rank and the communicator's size, for the data callback's
 * shard. Errors: INVALID_ARGUMENT (NULL). */
DIFFUSE_API diffuse_status diffuse_mpi_shard(const diffuse_mpi *mpi, int *rank, int *size);
/* Collective: compares diffuse_trainer_state_digest (weights, EMA, optimizer
 * moments, step, seed) across ranks. MISMATCH, naming the first rank that
 * differs from rank 0, on every rank when they are not all equal;
 * CALLBACK when MPI fails. */
DIFFUSE_API diffuse_status diffuse_mpi_check_state(diffuse_mpi *mpi);
/* Collective: rank 0 writes diffuse_trainer_save(trainer, path); every rank
 * returns its status (and message). Errors: INVALID_ARGUMENT (path NULL),
 * those of diffuse_trainer_save, CALLBACK (MPI). */
DIFFUSE_API diffuse_status diffuse_mpi_save(diffuse_mpi *mpi, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_MPI_H */
