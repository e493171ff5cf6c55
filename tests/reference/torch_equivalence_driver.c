/* The C side of tests/reference/torch_equivalence.py (see its docstring for
 * how it is built and run).
 *
 *   torch_equivalence_driver IN OUT
 *
 * IN (little-endian, written by the script):
 *   int64  dim, width, layers, time_dim, activation, residual, n, param_count, classes
 *   double max_period
 *   float  params[param_count]   in the documented layout
 *   float  x[n·dim], int32 t[n], [int32 labels[n] when classes > 0], float target[n·dim]
 * OUT:
 *   float  out[n·dim]            training forward f(x, t)
 *   double loss                  mean over n·dim of (out − target)²
 *   float  grads[param_count]    dloss/dparams
 *   float  d_x[n·dim]            dloss/dx
 *   float  predicted[n·dim]      diffuse_model_predict(x, t)
 *
 *   torch_equivalence_driver --unet IN OUT NAMES
 *
 * IN:
 *   int64  K, then K × (int64 option, int64 is_double, double value)
 *   int64  dim, n, param_count, has_labels
 *   float  params[param_count], x[n·dim], int32 t[n], [int32 labels[n]],
 *   float  target[n·dim]
 * OUT: out, loss, grads, predicted as above (no d_x); NAMES: one line
 * "name d0 d1 …" (the shape) per tensor, in buffer order. With
 * param_count = 0 only NAMES is written, so the script learns the layout
 * before it draws the weights.
 * Exit status 0 on success; messages on stderr otherwise. */
#include <diffuse/diffuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static diffuse_status configure(diffuse_model_config **config, const int64_t header[9],
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
    if (status == DIFFUSE_OK)
        status = diffuse_model_config_set_int(*config, DIFFUSE_MODEL_CLASSES, header[8]);
    return status;
}

/* A U-Net configuration from K (option, is_double, value) triples. */
static diffuse_status configure_unet(FILE *in, diffuse_model_config **config, size_t dim)
{
    int64_t count;
    if (read_exact(in, &count, sizeof count, 1) != 0)
        return DIFFUSE_ERROR_FORMAT;
    diffuse_status status = diffuse_model_config_create(config, DIFFUSE_ARCH_UNET, dim);
    for (int64_t i = 0; i < count && status == DIFFUSE_OK; i++) {
        int64_t option_and_type[2];
        double value;
        if (read_exact(in, option_and_type, sizeof option_and_type[0], 2) != 0 ||
            read_exact(in, &value, sizeof value, 1) != 0)
            return DIFFUSE_ERROR_FORMAT;
        diffuse_model_option option = (diffuse_model_option)option_and_type[0];
        status = option_and_type[1] ? diffuse_model_config_set_double(*config, option, value)
                                    : diffuse_model_config_set_int(*config, option, (int64_t)value);
    }
    return status;
}

/* The training forward + backward of loss = mean (out − target)²
 * (dloss/dout = 2 (out − target)/(n·dim)) and a prediction: out, loss,
 * m->grads, predicted, and dloss/dx into d_x unless it is NULL (the MLP's
 * backward gives it). */
static int run_model(diffuse_model *m, const float *x, const int32_t *t, const int32_t *labels,
                     const float *target, size_t n, float *out, float *d_out, double *loss,
                     float *d_x, float *predicted)
{
    size_t dim = m->dim;
    model_zero_grads(m);
    if (m->ops->forward(m, &MODEL_CALL(n, x, t, labels, out)) != DIFFUSE_OK)
        return fail("forward", diffuse_model_last_error(m));
    *loss = 0.0;
    for (size_t i = 0; i < n * dim; i++) {
        double diff = (double)out[i] - (double)target[i];
        *loss += diff * diff;
        d_out[i] = (float)(2.0 * diff / (double)(n * dim));
    }
    *loss /= (double)(n * dim);
    diffuse_status status = d_x != NULL ? nn_mlp_backward(m, d_out, n, d_x)
                                        : m->ops->backward(m, d_out, n);
    if (status != DIFFUSE_OK)
        return fail("backward", diffuse_model_last_error(m));
    diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT;
    call.n = n;
    call.x_t = x;
    call.t = t;
    call.labels = labels;
    call.out = predicted;
    if (diffuse_model_predict(m, &call) != DIFFUSE_OK)
        return fail("predict", diffuse_model_last_error(m));
    return EXIT_SUCCESS;
}

/* NAMES: "name d0 d1 …" per tensor. */
static int write_names(const diffuse_model *m, const char *path)
{
    FILE *names = fopen(path, "w");
    if (names == NULL)
        return -1;
    for (size_t k = 0; k < m->tensor_count; k++) {
        fprintf(names, "%s", m->tensors[k].name);
        for (size_t a = 0; a < m->tensors[k].rank; a++)
            fprintf(names, " %zu", m->tensors[k].shape[a]);
        fprintf(names, "\n");
    }
    return fclose(names) == 0 ? 0 : -1;
}

static int unet_main(const char *in_path, const char *out_path, const char *names_path)
{
    FILE *in = fopen(in_path, "rb");
    if (in == NULL)
        return fail(in_path, "cannot open");
    int64_t header[4];
    diffuse_model_config *config = NULL;
    diffuse_model *m = NULL;
    if (read_exact(in, header, sizeof header[0], 1) != 0 ||
        configure_unet(in, &config, (size_t)header[0]) != DIFFUSE_OK ||
        diffuse_model_create(&m, config) != DIFFUSE_OK)
        return fail("model", diffuse_last_error());
    if (read_exact(in, header + 1, sizeof header[0], 3) != 0)
        return fail(in_path, "truncated header");
    size_t dim = (size_t)header[0], n = (size_t)header[1], count = (size_t)header[2];
    if (write_names(m, names_path) != 0)
        return fail(names_path, "cannot write");
    if (count == 0)
        return EXIT_SUCCESS;
    if (m->param_count != count)
        return fail("model", "parameter count differs from the script's");
    float *params = malloc(count * sizeof *params), *x = malloc(n * dim * sizeof *x);
    float *target = malloc(n * dim * sizeof *target), *out = malloc(n * dim * sizeof *out);
    float *d_out = malloc(n * dim * sizeof *d_out), *predicted = malloc(n * dim * sizeof *out);
    int32_t *t = malloc(n * sizeof *t), *labels = header[3] ? malloc(n * sizeof *t) : NULL;
    if (params == NULL || x == NULL || target == NULL || out == NULL || d_out == NULL ||
        predicted == NULL || t == NULL || (header[3] && labels == NULL))
        return fail("memory", "out of memory");
    if (read_exact(in, params, sizeof *params, count) != 0 ||
        read_exact(in, x, sizeof *x, n * dim) != 0 || read_exact(in, t, sizeof *t, n) != 0 ||
        (labels != NULL && read_exact(in, labels, sizeof *labels, n) != 0) ||
        read_exact(in, target, sizeof *target, n * dim) != 0)
        return fail(in_path, "truncated data");
    fclose(in);
    if (diffuse_model_set_params(m, params, count) != DIFFUSE_OK)
        return fail("set_params", diffuse_model_last_error(m));
    double loss;
    if (run_model(m, x, t, labels, target, n, out, d_out, &loss, NULL, predicted) !=
        EXIT_SUCCESS)
        return EXIT_FAILURE;
    FILE *file = fopen(out_path, "wb");
    if (file == NULL)
        return fail(out_path, "cannot create");
    if (write_exact(file, out, sizeof *out, n * dim) != 0 ||
        write_exact(file, &loss, sizeof loss, 1) != 0 ||
        write_exact(file, m->grads, sizeof *m->grads, count) != 0 ||
        write_exact(file, predicted, sizeof *predicted, n * dim) != 0 || fclose(file) != 0)
        return fail(out_path, "write failed");
    free(params);
    free(x);
    free(target);
    free(out);
    free(d_out);
    free(predicted);
    free(t);
    free(labels);
    diffuse_model_free(m);
    diffuse_model_config_free(config);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--unet") == 0)
        return unet_main(argv[2], argv[3], argv[4]);
    if (argc != 3)
        return fail("usage", "torch_equivalence_driver IN OUT | --unet IN OUT NAMES");
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL)
        return fail(argv[1], "cannot open");
    int64_t header[9];
    double max_period;
    if (read_exact(in, header, sizeof header[0], 9) != 0 ||
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
    int32_t *t = malloc(n * sizeof *t), *labels = header[8] ? malloc(n * sizeof *t) : NULL;
    if (params == NULL || x == NULL || target == NULL || out == NULL || d_out == NULL ||
        d_x == NULL || predicted == NULL || t == NULL || (header[8] && labels == NULL))
        return fail("memory", "out of memory");
    if (read_exact(in, params, sizeof *params, count) != 0 ||
        read_exact(in, x, sizeof *x, n * dim) != 0 || read_exact(in, t, sizeof *t, n) != 0 ||
        (labels != NULL && read_exact(in, labels, sizeof *labels, n) != 0) ||
        read_exact(in, target, sizeof *target, n * dim) != 0)
        return fail(argv[1], "truncated data");
    fclose(in);
    if (diffuse_model_set_params(m, params, count) != DIFFUSE_OK)
        return fail("set_params", diffuse_model_last_error(m));

    double loss;
    if (run_model(m, x, t, labels, target, n, out, d_out, &loss, d_x, predicted) !=
        EXIT_SUCCESS)
        return EXIT_FAILURE;
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
    free(labels);
    diffuse_model_free(m);
    diffuse_model_config_free(config);
    return EXIT_SUCCESS;
}
