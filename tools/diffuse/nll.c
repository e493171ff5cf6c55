/* `diffuse nll`: a saved model's negative log-likelihood bound in bits/dim
 * on data rows, with its terms L_T, Σ L_{t−1} and L_0
 * (diffuse_model_nll, diffuse/likelihood.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "flags.h"
#include "names.h"
#include "npy.h"

enum {
    F_LOAD,
    F_CSV,
    F_NPY,
    F_IDX,
    F_LABELS,
    F_N,
    F_VARIANCE,
    F_DECODER,
    F_SEED,
    F_USE_EMA,
    F_JSON,
    F_COUNT
};

static const flag nll_flags[F_COUNT] = {
    [F_LOAD] = {"load", "FILE", "the model: a checkpoint of diffuse train (required)"},
    [F_CSV] = {"csv", "FILE", "the data rows, a CSV file (rules: diffuse(1))"},
    [F_NPY] = {"npy", "FILE", "the data rows, an NPY array (n, dim) or (n, C, H, W)"},
    [F_IDX] = {"idx", "FILE", "the data, an IDX image file (scaled to [-1, 1])"},
    [F_LABELS] = {"labels", "FILE", "the IDX label file of --idx (a model with classes)"},
    [F_N] = {"n", "N", "evaluate the first N rows (default: all)"},
    [F_VARIANCE] = {"variance", "beta|posterior|learned", "reverse variance (default beta)"},
    [F_DECODER] = {"decoder", "discrete|continuous",
                   "L_0: 256-level grid of [-1, 1] (default) or a density"},
    [F_SEED] = {"seed", "N", "seed of the noise (default 0)"},
    [F_USE_EMA] = {"use-ema", NULL, "evaluate the EMA weights"},
    [F_JSON] = {"json", NULL, "print one JSON object instead of text"},
};

static const command_flags nll_spec = {
    "nll",
    "diffuse nll --load FILE (--csv FILE | --npy FILE | --idx FILE [--labels FILE]) [options]",
    "The model's variational bound on -log2 p(x0)/dim, averaged over the rows, and its\n"
    "terms: L_T (the prior), the sum of L_t-1 (the diffusion) and L_0 (the decoder). T\n"
    "model calls per row. --decoder discrete is for 8-bit data scaled to [-1, 1] (images);\n"
    "use continuous for other data (the bound is then a differential entropy, maybe < 0).",
    nll_flags,
    F_COUNT,
    NULL,
    0,
    NULL,
};

typedef struct nll_run {
    parsed_flags flags;
    diffuse_model *model;
    diffuse_schedule *schedule;
    table rows;
    int32_t *labels;
    diffuse_nll_request request;
} nll_run;

/* --idx [--labels] as a table of rows (and labels) in [−1, 1]. */
static int read_idx(nll_run *r, char *error, size_t size)
{
    const char **given = r->flags.given;
    diffuse_images *images = NULL;
    size_t count, channels, height, width;
    int has_labels = 0, status = -1;
    if (diffuse_images_load_idx(&images, given[F_IDX], given[F_LABELS]) != DIFFUSE_OK ||
        diffuse_images_shape(images, &count, &channels, &height, &width, &has_labels) !=
            DIFFUSE_OK) {
        snprintf(error, size, "%s", diffuse_last_error());
        diffuse_images_free(images);
        return -1;
    }
    size_t cols = channels * height * width;
    r->rows = (table){
        .rows = count, .cols = cols, .rank = 4, .shape = {count, channels, height, width}};
    r->rows.values = malloc(count * cols * sizeof(float));
    r->labels = has_labels ? malloc(count * sizeof(int32_t)) : NULL;
    if (r->rows.values == NULL || (has_labels && r->labels == NULL))
        snprintf(error, size, "out of memory for %zu images", count);
    else if (diffuse_images_get(images, 0, count, r->rows.values, r->labels) != DIFFUSE_OK)
        snprintf(error, size, "%s", diffuse_images_last_error(images));
    else
        status = 0;
    diffuse_images_free(images);
    return status;
}

static int read_data(nll_run *r)
{
    const char **given = r->flags.given;
    char error[512] = "";
    if (!!given[F_CSV] + !!given[F_NPY] + !!given[F_IDX] != 1)
        return flags_error(&nll_spec, "give the data as one of --csv, --npy or --idx");
    if (given[F_LABELS] && !given[F_IDX])
        return flags_error(&nll_spec, "--labels goes with --idx");
    int status = given[F_IDX]   ? read_idx(r, error, sizeof error)
                 : given[F_CSV] ? csv_read(given[F_CSV], &r->rows, error, sizeof error)
                                : npy_read(given[F_NPY], &r->rows, error, sizeof error);
    return status == 0 ? 0 : flags_error(&nll_spec, "%s", error);
}

/* The value of an enum flag by name, or `fallback` when absent. */
static int enum_flag(const nll_run *r, size_t index, const char *option, int fallback, int *value)
{
    const char *text = r->flags.given[index];
    *value = text == NULL ? fallback : name_index(option_value_names(option), text);
    if (*value < 0)
        return flags_error(&nll_spec, "--%s: \"%s\" is not %s", nll_flags[index].name, text,
                           nll_flags[index].metavar);
    return 0;
}

static int make_request(nll_run *r)
{
    const char *path = r->flags.given[F_LOAD];
    if (path == NULL)
        return flags_error(&nll_spec, "--load FILE is required (see diffuse nll --help)");
    if (diffuse_model_load(path, &r->model, &r->schedule) != DIFFUSE_OK)
        return flags_error(&nll_spec, "%s", diffuse_last_error());
    if (read_data(r) != 0)
        return -1;
    uint64_t n = r->rows.rows, seed = 0;
    if (flags_uint(&nll_spec, &r->flags, F_N, 1, r->rows.rows, &n) != 0 ||
        flags_uint(&nll_spec, &r->flags, F_SEED, 0, (UINT64_C(1) << 53) - 1, &seed) != 0 ||
        enum_flag(r, F_VARIANCE, "variance", DIFFUSE_VARIANCE_BETA, &r->request.variance) != 0 ||
        enum_flag(r, F_DECODER, "decoder", DIFFUSE_DECODER_DISCRETE, &r->request.decoder) != 0)
        return -1;
    size_t dim = 0;
    diffuse_model_dim(r->model, &dim);
    if (r->rows.cols != dim)
        return flags_error(&nll_spec, "the data rows have %zu values, the model's %zu",
                           r->rows.cols, dim);
    r->request.n = (size_t)n;
    r->request.x0 = r->rows.values;
    r->request.labels = r->labels;
    r->request.seed = seed;
    r->request.use_ema = r->flags.given[F_USE_EMA] != NULL;
    return 0;
}

static void print_terms(const nll_run *r, const diffuse_nll_terms *nll)
{
    if (r->flags.given[F_JSON] != NULL)
        printf("{\"rows\": %zu, \"bits_per_dim\": %.17g, \"prior\": %.17g, \"diffusion\": %.17g, "
               "\"decoder\": %.17g}\n",
               r->request.n, nll->total, nll->prior, nll->diffusion, nll->decoder);
    else
        printf("NLL bound on %zu rows: %.6f bits/dim (L_T %.3e, sum L_t-1 %.6f, L_0 %.6f)\n",
               r->request.n, nll->total, nll->prior, nll->diffusion, nll->decoder);
}

int cli_nll(int argc, char **argv)
{
    nll_run r;
    memset(&r, 0, sizeof r);
    r.request = (diffuse_nll_request)DIFFUSE_NLL_REQUEST_INIT;
    int parsed = flags_parse(&nll_spec, argc, argv, &r.flags);
    int status = parsed == 1 ? CLI_OK : CLI_USAGE;
    if (parsed == 0) {
        status = CLI_FAILED;
        diffuse_nll_terms nll;
        if (make_request(&r) == 0) {
            if (diffuse_model_nll(r.model, r.schedule, &r.request, &nll) == DIFFUSE_OK) {
                print_terms(&r, &nll);
                status = CLI_OK;
            } else {
                flags_error(&nll_spec, "%s", diffuse_model_last_error(r.model));
            }
        }
    }
    free(r.labels);
    table_free(&r.rows);
    diffuse_model_free(r.model);
    diffuse_schedule_free(r.schedule);
    flags_free(&r.flags);
    return status;
}
