/* The class-conditional report of the toy2d demo (see toy2d_classes.h). */
#include "toy2d_classes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "scatter_plot.h"

#define MODES 8
#define PI 3.14159265358979323846
/* 8 Gaussians (diffuse/toy2d.h): centre k = √2 (cos kπ/4, sin kπ/4), per
 * component σ = 0.15/√2. */
#define MODE_SIGMA (0.15 / 1.4142135623730951)

static const double scales[TOY2D_CLASS_SCALES] = {1.0, 2.0, 4.0, 8.0};

static double distance_to_mode(const float *point, int k)
{
    double cx = sqrt(2.0) * cos(k * PI / 4.0), cy = sqrt(2.0) * sin(k * PI / 4.0);
    return hypot(point[0] - cx, point[1] - cy);
}

static int nearest_mode(const float *point)
{
    int best = 0;
    for (int k = 1; k < MODES; k++)
        if (distance_to_mode(point, k) < distance_to_mode(point, best))
            best = k;
    return best;
}

/* The row of scale w from n samples and their classes. */
static toy2d_class_row score(double w, const float *samples, const int32_t *labels, size_t n)
{
    size_t within = 0, nearest = 0;
    for (size_t i = 0; i < n; i++) {
        within += distance_to_mode(samples + 2 * i, labels[i]) <= 3.0 * MODE_SIGMA;
        nearest += nearest_mode(samples + 2 * i) == labels[i];
    }
    return (toy2d_class_row){w, (double)within / (double)n, (double)nearest / (double)n};
}

int toy2d_class_report(toy2d_run *run, size_t per_class, toy2d_class_row *rows, float *samples,
                       int32_t *labels)
{
    size_t n = MODES * per_class;
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % MODES);
    for (size_t s = 0; s < TOY2D_CLASS_SCALES; s++) {
        float *out = samples + s * n * 2;
        if (toy2d_sample_classes(run, n, labels, scales[s], out) != 0)
            return -1;
        rows[s] = score(scales[s], out, labels, n);
    }
    return 0;
}

static const scatter_color class_colors[MODES] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207},
};

/* The points of each class in its colour. */
static void plot_classes(scatter_plot *plot, uint32_t panel, const float *points,
                         const int32_t *labels, size_t n)
{
    float *subset = malloc(n * 2 * sizeof *subset);
    for (int k = 0; subset != NULL && k < MODES; k++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == k) {
                subset[2 * count] = points[2 * i];
                subset[2 * count + 1] = points[2 * i + 1];
                count++;
            }
        scatter_plot_points(plot, panel, subset, count, class_colors[k]);
    }
    free(subset);
}

int toy2d_class_picture(const toy2d_run *run, const char *path, const toy2d_class_row *rows,
                        const float *samples, const int32_t *labels, size_t per_class)
{
    size_t n = MODES * per_class;
    float *data = malloc(n * 2 * sizeof *data);
    int32_t *data_labels = malloc(n * sizeof *data_labels);
    scatter_plot plot;
    png_writer_status status = PNG_WRITER_ERROR_MEMORY;
    if (data != NULL && data_labels != NULL &&
        diffuse_toy2d_sample_labeled(run->recipe.data, run->recipe.seed + 1000003u, 0, n, data,
                                     data_labels) == DIFFUSE_OK)
        status = scatter_plot_init(&plot, 1 + TOY2D_CLASS_SCALES, 300, 2.5,
                                   "libdiffuse: 8gaussians by class, guidance scale w");
    if (status == PNG_WRITER_OK) {
        plot_classes(&plot, 0, data, data_labels, n);
        scatter_plot_label(&plot, 0, "data");
        for (size_t s = 0; s < TOY2D_CLASS_SCALES; s++) {
            char label[32];
            snprintf(label, sizeof label, "w = %g", rows[s].w);
            plot_classes(&plot, (uint32_t)(1 + s), samples + s * n * 2, labels, n);
            scatter_plot_label(&plot, (uint32_t)(1 + s), label);
        }
        status = scatter_plot_save(&plot, path);
        scatter_plot_free(&plot);
    }
    free(data);
    free(data_labels);
    if (status != PNG_WRITER_OK) {
        fprintf(stderr, "toy2d: cannot write %s: %s\n", path, png_writer_status_string(status));
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}
