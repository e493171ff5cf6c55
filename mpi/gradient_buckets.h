/* The gradient sum of a data-parallel step over MPI, bucket by bucket, so
 * that it overlaps the backward pass (internal to libdiffuse_mpi; see
 * docs/design.md, "Training on many processes").
 *
 * The gradient buffer (P floats) is cut into buckets of B floats, bucket k
 * = [kB, min((k+1)B, P)) (B = 0: one bucket). Each bucket is summed in a
 * fixed order, as the whole buffer was: cut into `size` chunks, an
 * all-to-all gives rank c chunk c of every rank's bucket, which it sums
 * ranks 0, 1, …, size−1 in turn, and an all-gather copies the sums to every
 * rank. Every element is thus summed in rank order by one rank, whatever B:
 * the bits depend on the rank count only, and are the same on every rank.
 *
 * Non-blocking collectives must be started in the same order on every rank
 * of a communicator, but when a bucket becomes final depends on each rank's
 * backward (and, within a rank, on thread timing). So the order is fixed
 * instead: bucket k's all-to-all starts once it is final and bucket k + 1's
 * has started (from the last bucket down, the order in which backward
 * finishes them), on a communicator of its own; its all-gather starts once
 * its all-to-all is done and bucket k + 1's all-gather has started, on a
 * second one. A rank that learns of no final range (its step failed before
 * backward) starts every bucket at the end, in the same order: the ranges
 * it is told of change when a bucket starts, never which or in what order. */
#ifndef DIFFUSE_MPI_GRADIENT_BUCKETS_H
#define DIFFUSE_MPI_GRADIENT_BUCKETS_H

#include <stddef.h>

#include <mpi.h>

#include "diffuse/common.h"

typedef struct gradient_buckets gradient_buckets;

/* Buckets of `bucket_floats` (0: one bucket) over `param_count` floats for
 * the ranks of `comm` (two duplicates are made). NO_MEMORY, UNSUPPORTED
 * (more floats than MPI's int counts), CALLBACK (MPI), with the message in
 * `error`. */
diffuse_status gradient_buckets_create(gradient_buckets **out, MPI_Comm comm,
                                       size_t param_count, size_t bucket_floats, char *error,
                                       size_t error_size);

/* NULL is a no-op. Collective (it frees the communicators). */
void gradient_buckets_free(gradient_buckets *buckets);

/* How many buckets there are. */
size_t gradient_buckets_count(const gradient_buckets *buckets);

/* A new step: no float final, no bucket started. */
void gradient_buckets_begin_step(gradient_buckets *buckets);

/* grads[offset … offset + count) is final (`grads`: the whole buffer):
 * starts the buckets that may start, progresses those in flight. Returns
 * MPI_SUCCESS or an MPI error code, *call naming the call that failed. */
int gradient_buckets_ready(gradient_buckets *buckets, float *grads, size_t offset, size_t count,
                           const char **call);

/* Every bucket of `grads` summed over the ranks, in place (grads NULL: this
 * rank has no gradient; it takes part with a scratch bucket, and its sums
 * are dropped). Returns as gradient_buckets_ready. */
int gradient_buckets_finish(gradient_buckets *buckets, float *grads, const char **call);

#endif
