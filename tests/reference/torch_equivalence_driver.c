/* The C side of tests/reference/torch_equivalence.py (see its docstring for
 * how it is built and run).
 *
 *   torch_equivalence_driver IN OUT
 *
 * IN (little-endian, written by the script):
 *   int64  dim, width, layers, time_dim, activation, residual, n, param_count
 *   double max_period
 *   float  params[param_count]   in the documented layout
 *   float  x[n·dim], int32 t[n], float target[n·dim]
 * OUT:
 *   float  out[n·dim]            training forward f(x, t)
 *   double loss                  mean over n·dim of (out − target)²
 *   float  grads[param_count]    dloss/dparams
 *   float  d_x[n·dim]            dloss/dx
 *   float  predicted[n·dim]      diffuse_model_predict(x, t)
 * Exit status 0 on success; messages on stderr otherwise. */
#include <diffuse/diffuse.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"
#include "nn/mlp.h"

static int fail(const char *what, const char *message)
{
    fprintf(stderr, "torch_equivalence_driver: %s: %s\n", what, message);
    return EXIT_FAILURE;
}

static int read_exact(FILE *file, void *buffer, size_t size, size_t count)
{
    return fread(buffer, size, count, file) == count ? 0 : -1;
}

static int write_exact(FILE *file, const void *buffer, size_t size, size_t count)
{
    return fwrite(buffer, size, count, file) == count ? 0 : -1;
}

static diffuse_status configure(diffuse_model_config **config, const int64_t header[8],
                                double max_period)
{
    static const diffuse_model_option options[] = {
        DIFFUSE_MODEL_HIDDEN_WIDTH, DIFFUSE_MODEL_HIDDEN_LAYERS, DIFFUSE_MODEL_TIME_EMBED_DIM,
        DIFFUSE_MODEL_ACTIVATION, DIFFUSE_MODEL_RESIDUAL};
    diffuse_status status = diffuse_model_config_create(config, DIFFUSE_ARCH_MLP,
                                                        (size_t)header[0]);
    for (size_t i = 0; i < 5 && status == DIFFUSE_OK; i++)
        status = diffuse_model_config_set_int(*config, options[i], header[1 + i]);
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_double(*config, DIFFUSE_MODEL_TIME_MAX_PERIOD,
                                                 max_period);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fail("usage", "torch_equivalence_driver IN OUT");
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL)
        return fail(argv[1], "cannot open");
    int64_t header[8];
    double max_period;
    if (read_exact(in, header, sizeof header[0], 8) != 0 ||
        read_exact(in, &max_period, sizeof max_period, 1) != 0)
        return fail(argv[1], "truncated header");
    size_t dim = (size_t)header[0], n = (size_t)header[6], count = (size_t)header[7];

    diffuse_model_config *config = NULL;
    diffuse_model *m = NULL;
    if (configure(&config, header, max_period) != DIFFUSE_OK ||
        diffuse_model_create(&m, config) != DIFFUSE_OK)
        return fail("model", diffuse_last_error());
    if (m->param_count != count)
        return fail("model", "parameter count differs from the script's");

    float *params = malloc(count * sizeof *params), *grads_out = NULL;
    float *x = malloc(n * dim * sizeof *x), *target = malloc(n * dim * sizeof *target);
    float *out = malloc(n * dim * sizeof *out), *d_out = malloc(n * dim * sizeof *d_out);
    float *d_x = malloc(n * dim * sizeof *d_x), *predicted = malloc(n * dim * sizeof *predicted);
    int32_t *t = malloc(n * sizeof *t);
    if (params == NULL || x == NULL || target == NULL || out == NULL || d_out == NULL ||
        d_x == NULL || predicted == NULL || t == NULL)
        return fail("memory", "out of memory");
    if (read_exact(in, params, sizeof *params, count) != 0 ||
        read_exact(in, x, sizeof *x, n * dim) != 0 || read_exact(in, t, sizeof *t, n) != 0 ||
        read_exact(in, target, sizeof *target, n * dim) != 0)
        return fail(argv[1], "truncated data");
    fclose(in);
    if (diffuse_model_set_params(m, params, count) != DIFFUSE_OK)
        return fail("set_params", diffuse_model_last_error(m));

    /* loss = mean (out − target)², dloss/dout = 2 (out − target) / (n·dim) */
    model_zero_grads(m);
    if (m->ops->forward(m, &MODEL_CALL(n, x, t, NULL, out)) != DIFFUSE_OK)
        return fail("forward", diffuse_model_last_error(m));
    double loss = 0.0;
    for (size_t i = 0; i < n * dim; i++) {
        double diff = (double)out[i] - (double)target[i];
        loss += diff * diff;
        d_out[i] = (float)(2.0 * diff / (double)(n * dim));
    }
    loss /= (double)(n * dim);
    if (nn_mlp_backward(m, d_out, n, d_x) != DIFFUSE_OK)
        return fail("backward", diffuse_model_last_error(m));
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = n;
    call.x_t = x;
    call.t = t;
    call.out = predicted;
    if (diffuse_model_predict(m, &call) != DIFFUSE_OK)
        return fail("predict", diffuse_model_last_error(m));
    grads_out = m->grads;

    FILE *file = fopen(argv[2], "wb");
    if (file == NULL)
        return fail(argv[2], "cannot create");
    if (write_exact(file, out, sizeof *out, n * dim) != 0 ||
        write_exact(file, &loss, sizeof loss, 1) != 0 ||
        write_exact(file, grads_out, sizeof *grads_out, count) != 0 ||
        write_exact(file, d_x, sizeof *d_x, n * dim) != 0 ||
        write_exact(file, predicted, sizeof *predicted, n * dim) != 0 || fclose(file) != 0)
        return fail(argv[2], "write failed");

    free(params);
    free(x);
    free(target);
    free(out);
    free(d_out);
    free(d_x);
    free(predicted);
    free(t);
    diffuse_model_free(m);
    diffuse_model_config_free(config);
    return EXIT_SUCCESS;
}
