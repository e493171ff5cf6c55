/* OpenBLAS sgemm throughput on this machine: the "peak" that the
 * benchmark's GFLOP/s are compared with (see docs/performance.md).
 *
 * Measures cblas_sgemm (row-major, as the library and PyTorch call it) with
 * the given OpenBLAS thread count on a large square product and on the
 * H × H layer shapes of the benchmarked MLP:
 *
 *   square     C[1024,1024] = A[1024,1024] · B[1024,1024]
 *   fwd_train  Y[B,H]  = X[B,H] · Wᵀ          (forward, training batch)
 *   bwd_dx     dX[B,H] = dY[B,H] · W          (backward, input gradient)
 *   bwd_dw     dW[H,H] += dYᵀ[H,B] · X[B,H]   (backward, weight gradient)
 *   fwd_sample Y[N,H]  = X[N,H] · Wᵀ          (sampling, N rows at once)
 *
 * GFLOP/s = 2·m·n·k / time. Each repeat calls sgemm until --seconds have
 * passed; the JSON output lists every repeat (the driver quotes medians).
 */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"

#define SGEMM_MAX_REPEATS 32

typedef struct sgemm_shape {
    const char *name;
    enum CBLAS_TRANSPOSE trans_a, trans_b;
    int m, n, k;
    float beta;
} sgemm_shape;

static int parse_int(const char *text, int min, int max, int *out)
{
    long value = 0;
    if (bench_parse_long(text, min, max, &value) != 0)
        return -1;
    *out = (int)value;
    return 0;
}

static float *filled_matrix(size_t count, unsigned seed)
{
    float *a = malloc(sizeof(float) * count);
    if (a == NULL)
        return NULL;
    unsigned state = seed;
    for (size_t i = 0; i < count; i++) {
        state = state * 1664525u + 1013904223u; /* values in [-0.5, 0.5) */
        a[i] = (float)(state >> 8) * (1.0f / 16777216.0f) - 0.5f;
    }
    return a;
}

/* Runs one shape `repeats` times and prints it as a JSON object. */
static int measure_shape(const sgemm_shape *s, double seconds, int repeats, int first)
{
    size_t m = (size_t)s->m, n = (size_t)s->n, k = (size_t)s->k;
    float *a = filled_matrix(m * k, 1u), *b = filled_matrix(k * n, 2u);
    float *c = calloc(m * n, sizeof(float));
    if (a == NULL || b == NULL || c == NULL) {
        free(a), free(b), free(c);
        fprintf(stderr, "bench_sgemm: out of memory\n");
        return -1;
    }
    int lda = s->trans_a == CblasNoTrans ? s->k : s->m;
    int ldb = s->trans_b == CblasNoTrans ? s->n : s->k;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    printf("%s{\"name\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"gflops\": [", first ? "" : ", ",
           s->name, s->m, s->n, s->k);
    for (int rep = -1; rep < repeats; rep++) { /* repeat -1 warms up, untimed */
        long calls = 0;
        double start = bench_now_seconds(), elapsed = 0.0;
        do {
            cblas_sgemm(CblasRowMajor, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, a, lda, b,
                        ldb, s->beta, c, s->n);
            calls++;
            elapsed = bench_now_seconds() - start;
        } while (elapsed < (rep < 0 ? 0.1 : seconds));
        if (rep >= 0)
            printf("%s%.2f", rep > 0 ? ", " : "", flops * (double)calls / elapsed * 1e-9);
    }
    printf("]}");
    free(a), free(b), free(c);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, width = 128, batch = 256, samples = 2000, repeats = 5;
    double seconds = 0.3;
    for (int i = 1; i < argc; i += 2) {
        int ok = i + 1 < argc;
        if (ok && strcmp(argv[i], "--threads") == 0)
            ok = parse_int(argv[i + 1], 1, 1024, &threads) == 0;
        else if (ok && strcmp(argv[i], "--width") == 0)
            ok = parse_int(argv[i + 1], 1, 65536, &width) == 0;
        else if (ok && strcmp(argv[i], "--batch") == 0)
            ok = parse_int(argv[i + 1], 1, 1 << 20, &batch) == 0;
        else if (ok && strcmp(argv[i], "--samples") == 0)
            ok = parse_int(argv[i + 1], 1, 1 << 20, &samples) == 0;
        else if (ok && strcmp(argv[i], "--repeats") == 0)
            ok = parse_int(argv[i + 1], 1, SGEMM_MAX_REPEATS, &repeats) == 0;
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "usage: bench_sgemm [--threads K] [--width H] [--batch B] "
                            "[--samples N] [--repeats R]\n");
            return 2;
        }
    }
    openblas_set_num_threads(threads);
    const sgemm_shape shapes[] = {
        {"square", CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 0.0f},
        {"fwd_train", CblasNoTrans, CblasTrans, batch, width, width, 0.0f},
        {"bwd_dx", CblasNoTrans, CblasNoTrans, batch, width, width, 0.0f},
        {"bwd_dw", CblasTrans, CblasNoTrans, width, width, batch, 1.0f},
        {"fwd_sample", CblasNoTrans, CblasTrans, samples, width, width, 0.0f},
    };
    printf("{\"side\": \"openblas\", \"corename\": \"%s\", \"config\": \"%s\", \"threads\": %d, "
           "\"width\": %d, \"shapes\": [",
           openblas_get_corename(), openblas_get_config(), openblas_get_num_threads(), width);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (measure_shape(&shapes[i], seconds, repeats, i == 0) != 0)
            return 1;
    printf("]}\n");
    return 0;
}
