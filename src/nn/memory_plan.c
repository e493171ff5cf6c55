/* Lifetimes and offsets of the executor's arrays (see memory_plan.h). */
#include "nn/memory_plan.h"

#include <stdlib.h>
#include <string.h>

#include "nn/lifetimes.h"

/* Offsets are multiples of this many floats (64 bytes). */
#define PLAN_ALIGN ((size_t)16)

/* The arrays of layer k: output, gradient, forward and backward scratch. */
enum { OUTPUT, GRADIENT, SCRATCH, BACK_SCRATCH, ARRAYS };

typedef struct planner {
    const nn_layer_list *list;
    nn_memory_plan *plan;
    nn_lifetime *arrays; /* [ARRAYS · count] */
    size_t steps;        /* 2N */
    bool *keep;          /* [count] outputs kept although recomputable */
} planner;

bool nn_layer_backward_by_row(const nn_layer *layer)
{
    switch (layer->kind) {
    case NN_LAYER_CONV2D:
    case NN_LAYER_GROUP_NORM:
    case NN_LAYER_ATTENTION:
    case NN_LAYER_UPSAMPLE:
    case NN_LAYER_CONCAT:
    case NN_LAYER_DROPOUT:
        return true;
    default:
        return false;
    }
}

bool nn_layer_backward_reads_input(const nn_layer *layer)
{
    switch (layer->kind) {
    case NN_LAYER_LINEAR:
    case NN_LAYER_DENSE:
    case NN_LAYER_CONV2D:
    case NN_LAYER_GROUP_NORM:
    case NN_LAYER_ATTENTION:
        return true;
    default:
        return false;
    }
}

/* An output worth recomputing instead of keeping: elementwise or a copy
 * from inputs and state that are kept anyway, or a 1×1 convolution (an
 * attention block's QKV: C_in·C_out flops per pixel, a ninth of the 3×3
 * convolutions around it, for 3C values per pixel not kept). */
static bool recomputable(const nn_layer *layer)
{
    bool pointwise = layer->kind == NN_LAYER_CONV2D && layer->kernel == 1 && layer->stride == 1;
    bool cheap = layer->kind == NN_LAYER_GROUP_NORM || layer->kind == NN_LAYER_UPSAMPLE ||
                 layer->kind == NN_LAYER_CONCAT || layer->kind == NN_LAYER_DROPOUT || pointwise;
    return cheap && layer->add == NN_NO_LAYER;
}

static size_t backward_step(const planner *p, size_t k)
{
    return p->steps - 1 - k;
}

static nn_lifetime *array_of(const planner *p, int array, size_t k)
{
    return &p->arrays[(size_t)array * p->list->count + k];
}

static void use(nn_lifetime *life, size_t step)
{
    life->first = step < life->first ? step : life->first;
    life->last = step > life->last ? step : life->last;
}

/* Backward of a reader reads output j (by_row: one image at a time, so a
 * recomputable j can be rebuilt from its inputs): marks what must be kept. */
static void mark_kept(planner *p, int j, bool by_row)
{
    if (j < 0)
        return;
    const nn_layer *layer = &p->list->layers[j];
    if (!by_row || !recomputable(layer) || p->keep[j]) {
        p->plan->kept[j] = true;
        return;
    }
    mark_kept(p, layer->input, true);
    if (layer->kind == NN_LAYER_CONCAT)
        mark_kept(p, layer->concat, true);
}

/* A backward step reads output j at `step`, from the kept array or by
 * recomputing it (then its inputs are read there); returns the floats one
 * image's recomputation of j needs (its chain of outputs). */
static size_t read_at(planner *p, int j, size_t step)
{
    if (j < 0)
        return 0;
    const nn_layer *layer = &p->list->layers[j];
    if (p->plan->kept[j]) {
        use(array_of(p, OUTPUT, (size_t)j), step);
        return 0;
    }
    size_t floats = layer->out + read_at(p, layer->input, step);
    if (layer->kind == NN_LAYER_CONCAT)
        floats += read_at(p, layer->concat, step);
    return floats;
}

static void note_contributor(planner *p, int j, size_t k)
{
    if (j >= 0 && (p->plan->first_contributor[j] == NN_NO_LAYER ||
                   (size_t)p->plan->first_contributor[j] < k))
        p->plan->first_contributor[j] = (int)k;
}

/* The forward lifetimes: each output from its own step to its last
 * consumer's; a dense layer's φ(x) for its step. */
static void forward_lifetimes(planner *p)
{
    const nn_layer_list *list = p->list;
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        *array_of(p, OUTPUT, k) = (nn_lifetime){layer->out, k, k, 0};
        *array_of(p, SCRATCH, k) =
            (nn_lifetime){layer->kind == NN_LAYER_DENSE ? layer->in : 0, k, k, 0};
        const int sources[] = {layer->input, layer->add, layer->concat};
        for (size_t s = 0; s < 3; s++)
            if (sources[s] >= 0)
                use(array_of(p, OUTPUT, (size_t)sources[s]), k);
    }
}

/* The backward lifetimes: kept outputs to their last reader, gradients
 * from their first contributor, the dense layers' scratch. */
static void backward_lifetimes(planner *p)
{
    const nn_layer_list *list = p->list;
    nn_memory_plan *plan = p->plan;
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        if (nn_layer_backward_reads_input(layer))
            mark_kept(p, layer->input, nn_layer_backward_by_row(layer));
    }
    for (size_t k = 0; k < list->count; k++) {
        const nn_layer *layer = &list->layers[k];
        note_contributor(p, layer->input, k);
        note_contributor(p, layer->add, k);
        note_contributor(p, layer->concat, k);
        size_t step = backward_step(p, k);
        if (nn_layer_backward_reads_input(layer)) {
            size_t chain = read_at(p, layer->input, step);
            plan->recompute_floats = chain > plan->recompute_floats ? chain : plan->recompute_floats;
        }
        size_t scratch = layer->kind == NN_LAYER_DENSE    ? 2 * layer->in
                         : layer->kind == NN_LAYER_LINEAR ? layer->in
                                                          : 0;
        *array_of(p, BACK_SCRATCH, k) = (nn_lifetime){scratch, step, step, 0};
        plan->kept_floats += plan->kept[k] ? layer->out : 0;
    }
    for (size_t k = 0; k < list->count; k++) {
        int first = plan->first_contributor[k];
        size_t start = backward_step(p, first == NN_NO_LAYER ? k : (size_t)first);
        *array_of(p, GRADIENT, k) = (nn_lifetime){list->layers[k].out, start,
                                                  backward_step(p, k), 0};
    }
}

static void round_sizes(planner *p)
{
    for (size_t i = 0; i < ARRAYS * p->list->count; i++)
        p->arrays[i].size = (p->arrays[i].size + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

static void take_offsets(planner *p)
{
    size_t *targets[ARRAYS] = {p->plan->output, p->plan->gradient, p->plan->scratch,
                               p->plan->back_scratch};
    for (int a = 0; a < ARRAYS; a++)
        for (size_t k = 0; k < p->list->count; k++)
            targets[a][k] = array_of(p, a, k)->offset;
}

/* The lifetimes and offsets for the current `keep`; the plan's arena in
 * row_floats. */
static diffuse_status plan_once(diffuse_error *error, planner *p, bool training)
{
    nn_memory_plan *plan = p->plan;
    size_t count = p->list->count;
    memset(plan->kept, 0, count * sizeof *plan->kept);
    memset(p->arrays, 0, ARRAYS * count * sizeof *p->arrays);
    plan->kept_floats = plan->recompute_floats = 0;
    for (size_t k = 0; k < count; k++)
        plan->first_contributor[k] = NN_NO_LAYER;
    forward_lifetimes(p);
    if (training)
        backward_lifetimes(p);
    round_sizes(p);
    plan->bound = nn_lifetimes_bound(p->arrays, ARRAYS * count);
    diffuse_status status = nn_lifetimes_pack(error, p->arrays, ARRAYS * count, &plan->row_floats);
    if (status == DIFFUSE_OK)
        take_offsets(p);
    return status;
}

/* Recomputing costs time, so an output that can be kept without a longer
 * arena is kept: each recomputed one in turn, from the last layer back,
 * stays kept when the plan with it is no longer. */
static diffuse_status keep_what_is_free(diffuse_error *error, planner *p)
{
    size_t best = p->plan->row_floats;
    diffuse_status status = DIFFUSE_OK;
    for (size_t j = p->list->count; j-- > 0 && status == DIFFUSE_OK;) {
        if (p->plan->kept[j] || !recomputable(&p->list->layers[j]))
            continue;
        p->keep[j] = true;
        status = plan_once(error, p, true);
        if (status == DIFFUSE_OK && p->plan->row_floats > best)
            p->keep[j] = false;
        else
            best = p->plan->row_floats;
    }
    return status == DIFFUSE_OK ? plan_once(error, p, true) : status;
}

diffuse_status nn_memory_plan_init(diffuse_error *error, nn_memory_plan *plan,
                                   const nn_layer_list *list, bool training)
{
    size_t count = list->count;
    memset(plan, 0, sizeof *plan);
    plan->kept = calloc(count, sizeof *plan->kept);
    plan->output = calloc(count, sizeof *plan->output);
    plan->gradient = calloc(count, sizeof *plan->gradient);
    plan->scratch = calloc(count, sizeof *plan->scratch);
    plan->back_scratch = calloc(count, sizeof *plan->back_scratch);
    plan->first_contributor = calloc(count, sizeof *plan->first_contributor);
    planner p = {list, plan, calloc(ARRAYS * count, sizeof *p.arrays), 2 * count,
                 calloc(count, sizeof *p.keep)};
    diffuse_status status = DIFFUSE_OK;
    if (plan->kept == NULL || plan->output == NULL || plan->gradient == NULL ||
        plan->scratch == NULL || plan->back_scratch == NULL || plan->first_contributor == NULL ||
        p.arrays == NULL || p.keep == NULL)
        status = diffuse_fail(error, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a memory plan");
    if (status == DIFFUSE_OK)
        status = plan_once(error, &p, training);
    if (status == DIFFUSE_OK && training)
        status = keep_what_is_free(error, &p);
    free(p.arrays);
    free(p.keep);
    if (status != DIFFUSE_OK)
        nn_memory_plan_release(plan);
    return status;
}

void nn_memory_plan_release(nn_memory_plan *plan)
{
    free(plan->kept);
    free(plan->output);
    free(plan->gradient);
    free(plan->scratch);
    free(plan->back_scratch);
    free(plan->first_contributor);
    memset(plan, 0, sizeof *plan);
}
