/* The registry of architectures, indexed by diffuse_architecture. */
#include "model/architecture.h"

#include "model/callback.h"
#include "nn/mlp.h"
#include "nn/unet.h"

static const nn_architecture *const architectures[] = {
    [DIFFUSE_ARCH_MLP] = &nn_mlp_architecture,
    [DIFFUSE_ARCH_CALLBACK] = &nn_callback_architecture,
    [DIFFUSE_ARCH_UNET] = &nn_unet_architecture,
};

const nn_architecture *nn_architecture_find(int id)
{
    if (id < 0 || (size_t)id >= sizeof architectures / sizeof architectures[0])
        return NULL;
    return architectures[id];
}
