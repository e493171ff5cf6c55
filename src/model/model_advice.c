/* Advice on a model's configuration: settings that are valid but known not
 * to work (diffuse_model_warning, diffuse/model.h). The library never
 * prints: a caller asks, and diffuse_model_create passes the same advice to
 * the log function (diffuse_set_log). */
#include <stdio.h>

#include "diffuse/model.h"
#include "model/model.h"
#include "model/model_config.h"

DIFFUSE_API size_t diffuse_model_warning(const diffuse_model *model, char *buffer, size_t size)
{
    if (model == NULL || model->config == NULL ||
        model->config->architecture != DIFFUSE_ARCH_MLP)
        return 0;
    int64_t width = model_config_int(model->config, DIFFUSE_MODEL_HIDDEN_WIDTH);
    if ((size_t)width >= model->dim)
        return 0;
    /* The network must map x_t ∈ R^d to ε ∈ R^d through H hidden units: with
     * H < d its output lies in an H-dimensional subspace and cannot be ε
     * (a 784-dimensional MLP with H = 512 samples noise). */
    int length = snprintf(buffer, buffer != NULL ? size : 0,
                          "hidden_width %lld is below the data dimension %zu: the network's "
                          "output is confined to %lld dimensions and cannot predict the noise; "
                          "use hidden_width >= %zu",
                          (long long)width, model->dim, (long long)width, model->dim);
    return length > 0 ? (size_t)length + 1 : 0;
}
