/* OpenBLAS's thread count around the library's own GEMMs (internal).
 *
 * OpenBLAS may round a product differently with another thread count (and
 * picks that count from OPENBLAS_NUM_THREADS and the CPU affinity at start),
 * so the library's results could change with the environment it runs in.
 * The library therefore runs its GEMMs with OpenBLAS on one thread; its own
 * worker threads (a handle's THREADS option) are the parallelism, and the
 * bits depend only on those options. The setting is process-wide in the
 * OpenBLAS builds Debian ships: a call pins it for its duration and puts
 * the caller's value back before it returns. */
#ifndef DIFFUSE_SRC_BLAS_THREADS_H
#define DIFFUSE_SRC_BLAS_THREADS_H

/* Sets OpenBLAS to one thread; returns the count to restore. */
int blas_threads_pin(void);

/* Puts back the count blas_threads_pin returned. */
void blas_threads_restore(int previous);

#endif
