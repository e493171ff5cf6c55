/* Sample-quality metrics: energy distance and sample moments (see
 * include/diffuse/metrics.h). */
#include "diffuse/metrics.h"

#include <math.h>

#include "util/error.h"

/* Checks one n × d float array: pointer, sizes, finite values. */
static diffuse_status check_samples(const float *x, size_t n, size_t d, const char *what)
{
    size_t count;
    diffuse_status status = diffuse_check_pointer(NULL, x, what);
    if (status == DIFFUSE_OK)
        status = diffuse_check_matrix_size(NULL, n, d, &count);
    if (status == DIFFUSE_OK)
        status = diffuse_check_finite_floats(NULL, x, count, what);
    return status;
}

/* Σ_j ‖row − y_j‖ over the ny rows y_j of y (ny × d), in double. */
static double distance_sum(const float *row, const float *y, size_t ny, size_t d)
{
    double sum = 0.0;
    for (size_t j = 0; j < ny; j++) {
        const float *yj = y + j * d;
        double squared = 0.0;
        for (size_t k = 0; k < d; k++) {
            double diff = (double)row[k] - (double)yj[k];
            squared += diff * diff;
        }
        sum += sqrt(squared);
    }
    return sum;
}

/* Mean of ‖a_i − b_j‖ over all na · nb pairs. */
static double mean_cross_distance(const float *a, size_t na, const float *b, size_t nb,
                                  size_t d)
{
    double sum = 0.0;
    for (size_t i = 0; i < na; i++)
        sum += distance_sum(a + i * d, b, nb, d);
    return sum / ((double)na * (double)nb);
}

/* U-statistic mean of ‖x_i − x_j‖ over the n (n − 1) / 2 pairs i < j. */
static double mean_within_distance(const float *x, size_t n, size_t d)
{
    double sum = 0.0;
    for (size_t i = 0; i + 1 < n; i++)
        sum += distance_sum(x + i * d, x + (i + 1) * d, n - i - 1, d);
    return 2.0 * sum / ((double)n * (double)(n - 1));
}

DIFFUSE_API diffuse_status diffuse_energy_distance(const float *a, size_t na, const float *b,
                                                   size_t nb, size_t d, double *out)
{
    diffuse_status status = check_samples(a, na, d, "a");
    if (status == DIFFUSE_OK)
        status = check_samples(b, nb, d, "b");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    if (na < 2 || nb < 2)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "energy distance needs at least 2 points per sample (na = %zu, "
                            "nb = %zu)",
                            na, nb);
    /* E = 2 E‖A − B‖ − E‖A − A'‖ − E‖B − B'‖ */
    *out = 2.0 * mean_cross_distance(a, na, b, nb, d) - mean_within_distance(a, na, d) -
           mean_within_distance(b, nb, d);
    return DIFFUSE_OK;
}

/* mean[k] = (1/n) Σ_i x_ik */
static void column_means(const float *x, size_t n, size_t d, double *mean)
{
    for (size_t k = 0; k < d; k++)
        mean[k] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++)
            mean[k] += x[i * d + k];
    for (size_t k = 0; k < d; k++)
        mean[k] /= (double)n;
}

/* cov[k·d + l] = 1/(n − 1) Σ_i (x_ik − mean_k)(x_il − mean_l): the upper
 * triangle is accumulated, then mirrored. */
static void covariance(const float *x, size_t n, size_t d, const double *mean, double *cov)
{
    for (size_t k = 0; k < d * d; k++)
        cov[k] = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * d;
        for (size_t k = 0; k < d; k++) {
            double ck = row[k] - mean[k];
            for (size_t l = k; l < d; l++)
                cov[k * d + l] += ck * (row[l] - mean[l]);
        }
    }
    for (size_t k = 0; k < d; k++) {
        for (size_t l = k; l < d; l++) {
            cov[k * d + l] /= (double)(n - 1);
            cov[l * d + k] = cov[k * d + l];
        }
    }
}

DIFFUSE_API diffuse_status diffuse_sample_moments(const float *x, size_t n, size_t d,
                                                  double *mean, double *cov)
{
    size_t cov_count;
    diffuse_status status = check_samples(x, n, d, "x");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(NULL, mean, "mean");
    if (status == DIFFUSE_OK && cov != NULL)
        status = diffuse_check_matrix_size(NULL, d, d, &cov_count);
    if (status != DIFFUSE_OK)
        return status;
    if (cov != NULL && n < 2)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "a covariance needs at least 2 points (n = %zu)", n);
    column_means(x, n, d, mean);
    if (cov != NULL)
        covariance(x, n, d, mean, cov);
    return DIFFUSE_OK;
}
