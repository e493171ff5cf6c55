/* What an architecture provides to the generic model code (internal).
 *
 * model.c builds every model the same way: copy the configuration, let the
 * architecture describe itself (build), allocate the parameter and gradient
 * buffers it asked for, and let it write its default initial values
 * (init_params). Adding an architecture means writing these two functions
 * and adding one row to the registry in architecture.c. */
#ifndef DIFFUSE_SRC_NN_ARCHITECTURE_H
#define DIFFUSE_SRC_NN_ARCHITECTURE_H

#include "model/model.h"

typedef struct nn_architecture {
    diffuse_architecture id;
    const char *name; /* "mlp": for messages and checkpoints */
    /* From m->config and m->dim: sets m->ops, m->arch, m->tensors (malloc'd;
     * diffuse_model_free releases it), m->tensor_count and m->param_count,
     * or fails with a message in m->error (e.g. an inconsistent
     * configuration) and leaves nothing allocated. NULL for architectures
     * that are not built from a configuration alone (callback models). */
    diffuse_status (*build)(diffuse_model *m);
    /* Writes the seeded default initial values into m->params. */
    void (*init_params)(diffuse_model *m);
} nn_architecture;

/* The architecture with identifier `id`, or NULL when there is none. */
const nn_architecture *nn_architecture_find(int id);

#endif
