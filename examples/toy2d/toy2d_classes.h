/* The toy2d demo's class-conditional report (--classes): samples per class
 * at several classifier-free guidance scales, how many land in their own
 * mode, and a picture coloured by class. */
#ifndef EXAMPLES_TOY2D_CLASSES_H
#define EXAMPLES_TOY2D_CLASSES_H

#include "toy2d_recipe.h"

/* The guidance scales of the table, in the sampler's convention (w = 1:
 * plain conditional; the paper's extra guidance w − 1 = 0, 1, 3, 7). */
#define TOY2D_CLASS_SCALES 4

typedef struct toy2d_class_row {
    double w;
    double within_3_sigma; /* fraction within 3σ of its class's mode centre */
    double nearest;        /* fraction whose nearest mode is its class's */
} toy2d_class_row;

/* For a trained 8-Gaussians run with classes: per_class samples of each
 * class at each scale into rows[TOY2D_CLASS_SCALES]; the samples of scale s
 * go to samples + s·(8·per_class·2), labels[8·per_class] their classes.
 * Returns 0, or −1 after printing the failure. */
int toy2d_class_report(toy2d_run *run, size_t per_class, toy2d_class_row *rows, float *samples,
                       int32_t *labels);

/* Writes `path`: fresh data coloured by class, then one panel per scale. */
int toy2d_class_picture(const toy2d_run *run, const char *path, const toy2d_class_row *rows,
                        const float *samples, const int32_t *labels, size_t per_class);

#endif
