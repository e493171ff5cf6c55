/* The U-Net ε-network (internal; the equations are in include/diffuse/model.h):
 * a second builder of a layer list (layers.h), run by the generic
 * executor (executor.h). */
#ifndef DIFFUSE_SRC_NN_UNET_H
#define DIFFUSE_SRC_NN_UNET_H

#include <stddef.h>

#include "model/architecture.h"
#include "nn/layers.h"

/* Most levels (LEVEL_MULT_0 … LEVEL_MULT_4). */
#define NN_UNET_MAX_LEVELS 5

typedef struct nn_unet_shape {
    size_t channels, height, width;   /* C, H, W */
    size_t out_channels;              /* C, or 2C when the variance is learned */
    size_t base;                      /* B */
    size_t levels;                    /* L */
    size_t mult[NN_UNET_MAX_LEVELS];  /* m_l */
    size_t res_blocks;                /* R */
    unsigned attention_levels;        /* bit l: attention at level l */
    size_t heads, groups, classes;    /* M, G, K */
    double dropout;                   /* q */
    double max_period;                /* P of the time embedding */
} nn_unet_shape;

extern const nn_architecture nn_unet_architecture;

/* The layer list of a U-Net model (for the tests' reference walk). */
const nn_layer_list *nn_unet_layers(const diffuse_model *m);

void nn_unet_shape_from_config(const diffuse_model_config *config, nn_unet_shape *shape);

#endif
