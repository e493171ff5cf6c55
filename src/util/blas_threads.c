/* OpenBLAS's thread count (see blas_threads.h). The setter is skipped when
 * the count is already 1, the common case once a program runs only the
 * library. */
#include "util/blas_threads.h"

#include <cblas.h>

int blas_threads_pin(void)
{
    int previous = openblas_get_num_threads();
    if (previous != 1)
        openblas_set_num_threads(1);
    return previous;
}

void blas_threads_restore(int previous)
{
    if (previous != 1)
        openblas_set_num_threads(previous);
}
