/* The benchmarks' model and sampler set-up (see bench_model.h). */
#include "bench_model.h"

#include <string.h>

diffuse_status bench_mlp_create(long width, long layers, long embed, diffuse_model **out)
{
    diffuse_model_config *config = NULL;
    diffuse_status status = diffuse_model_config_create(&config, DIFFUSE_ARCH_MLP, BENCH_DIM);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_WIDTH, width);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_HIDDEN_LAYERS, layers);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_TIME_EMBED_DIM, embed);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_ACTIVATION,
                                              DIFFUSE_ACTIVATION_SILU);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(config, DIFFUSE_MODEL_RESIDUAL, 1);
    if (status == DIFFUSE_OK)
        status = diffuse_model_create(out, config);
    diffuse_model_config_free(config);
    return status;
}

static const char *const method_names[] = {[DIFFUSE_METHOD_DDPM] = "ddpm",
                                           [DIFFUSE_METHOD_DDIM] = "ddim",
                                           [DIFFUSE_METHOD_DPMPP_2M] = "dpmpp"};
static const long default_steps[] = {[DIFFUSE_METHOD_DDPM] = 0, [DIFFUSE_METHOD_DDIM] = 50,
                                     [DIFFUSE_METHOD_DPMPP_2M] = 20};

#define METHOD_COUNT ((long)(sizeof method_names / sizeof method_names[0]))

const char *bench_method_name(long method)
{
    return method >= 0 && method < METHOD_COUNT ? method_names[method] : "?";
}

int bench_parse_method(const char *name, long *method)
{
    for (long i = 0; i < METHOD_COUNT; i++)
        if (strcmp(name, method_names[i]) == 0) {
            *method = i;
            return 0;
        }
    return -1;
}

long bench_default_steps(long method)
{
    return method >= 0 && method < METHOD_COUNT ? default_steps[method] : 0;
}

diffuse_status bench_sampler_configure(diffuse_sampler *sampler, long method, long steps,
                                       long threads)
{
    diffuse_status status =
        diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_VARIANCE, DIFFUSE_VARIANCE_BETA);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_THREADS, threads);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_METHOD, method);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_SPACING,
                                         DIFFUSE_SPACING_TRAILING);
    if (status == DIFFUSE_OK)
        status = diffuse_sampler_set_int(sampler, DIFFUSE_SAMPLER_STEPS, steps);
    return status;
}
