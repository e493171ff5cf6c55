/* The optimizer: Adam / AdamW, global-norm clipping, EMA (equations in
 * include/diffuse/optim.h; the learning-rate schedule is in lr_schedule.c). */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/vec.h"

/* Largest double below 1: the upper bound of the [0, 1) options. */
#define BELOW_ONE 0x1.fffffffffffffp-1
#define INT31_MAX 2147483647.0

static const option_spec optim_option_specs[OPTIM_OPTION_COUNT] = {
    [DIFFUSE_OPTIMIZER_LEARNING_RATE] = {"learning_rate", true, 0.0, 1.0, 1e-3},
    [DIFFUSE_OPTIMIZER_BETA1] = {"beta1", true, 0.0, BELOW_ONE, 0.9},
    [DIFFUSE_OPTIMIZER_BETA2] = {"beta2", true, 0.0, BELOW_ONE, 0.999},
    /* ε > 0 keeps m̂/(√v̂ + ε) finite when a gradient is exactly 0. */
    [DIFFUSE_OPTIMIZER_EPSILON] = {"epsilon", true, 1e-30, 1.0, 1e-8},
    /* λ ≤ 1 and lr ≤ 1 keep AdamW's factor 1 − lr·λ in [0, 1]. */
    [DIFFUSE_OPTIMIZER_WEIGHT_DECAY] = {"weight_decay", true, 0.0, 1.0, 0.0},
    [DIFFUSE_OPTIMIZER_CLIP_NORM] = {"clip_norm", true, 0.0, 1.7976931348623157e308, 0.0},
    [DIFFUSE_OPTIMIZER_EMA_DECAY] = {"ema_decay", true, 0.0, BELOW_ONE, 0.0},
    [DIFFUSE_OPTIMIZER_WARMUP_STEPS] = {"warmup_steps", false, 0.0, INT31_MAX, 0.0},
    [DIFFUSE_OPTIMIZER_DECAY] = {"decay", false, DIFFUSE_LR_DECAY_NONE, DIFFUSE_LR_DECAY_LINEAR,
                                 DIFFUSE_LR_DECAY_NONE},
    [DIFFUSE_OPTIMIZER_DECAY_STEPS] = {"decay_steps", false, 0.0, INT31_MAX, 0.0},
    [DIFFUSE_OPTIMIZER_MIN_LEARNING_RATE] = {"min_learning_rate", true, 0.0, 1.0, 0.0},
};

const option_table optim_option_table = {"optimizer", optim_option_specs, OPTIM_OPTION_COUNT};

const char *const optim_kind_names[OPTIM_KIND_COUNT] = {
    [DIFFUSE_OPTIMIZER_ADAM] = "adam",
    [DIFFUSE_OPTIMIZER_ADAMW] = "adamw",
};

static diffuse_status check_kind(diffuse_optimizer_kind kind)
{
    if ((unsigned)kind >= OPTIM_KIND_COUNT)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "unknown optimizer kind %d",
                            (int)kind);
    return DIFFUSE_OK;
}

/* The options a new optimizer of `kind` starts with: the table's, except
 * AdamW's decoupled weight decay. */
static void kind_defaults(diffuse_optimizer_kind kind, double values[OPTIM_OPTION_COUNT])
{
    option_defaults(&optim_option_table, values);
    if (kind == DIFFUSE_OPTIMIZER_ADAMW)
        values[DIFFUSE_OPTIMIZER_WEIGHT_DECAY] = OPTIM_ADAMW_WEIGHT_DECAY;
}

/* Getters take a const handle but still record their failures in it: the
 * message slot is not part of the optimizer's observable state. */
static diffuse_error *error_of(const diffuse_optimizer *opt)
{
    return (diffuse_error *)&opt->error;
}

/* ---- Layout: which parameters are decayed -------------------------------- */

/* Offset, size and decay flag of a model tensor; false when the tensor does
 * not fit in `param_count` parameters. */
static bool describe_tensor(const model_tensor *t, size_t param_count, optim_tensor_layout *out)
{
    if (t->rank > MODEL_MAX_RANK || t->offset > param_count)
        return false;
    size_t count = 1;
    for (size_t r = 0; r < t->rank; r++) {
        if (t->shape[r] != 0 && count > param_count / t->shape[r])
            return false;
        count *= t->shape[r];
    }
    if (count > param_count - t->offset)
        return false;
    out->offset = t->offset;
    out->count = count;
    /* Only weight matrices and kernels (rank ≥ 2) are decayed; see optim.h. */
    out->decayed = t->rank >= 2;
    return true;
}

static int by_offset(const void *a, const void *b)
{
    size_t x = ((const optim_tensor_layout *)a)->offset;
    size_t y = ((const optim_tensor_layout *)b)->offset;
    return (x > y) - (x < y);
}

/* Appends [begin, end) to the segments, merging it into the last one when
 * both have the same decay flag. */
static void append_segment(diffuse_optimizer *opt, size_t begin, size_t end, bool decayed)
{
    if (begin == end)
        return;
    optim_segment *last = opt->segment_count > 0 ? &opt->segments[opt->segment_count - 1] : NULL;
    if (last != NULL && last->decayed == decayed) {
        last->end = end;
        return;
    }
    opt->segments[opt->segment_count++] = (optim_segment){begin, end, decayed};
}

/* Segments covering 0 .. param_count from the tensors sorted by offset;
 * overlapping tensors make the decay rule ambiguous and are refused. */
static diffuse_status build_segments(diffuse_optimizer *opt, optim_tensor_layout *sorted)
{
    qsort(sorted, opt->tensor_count, sizeof *sorted, by_offset);
    size_t end = 0;
    for (size_t i = 0; i < opt->tensor_count; i++) {
        if (sorted[i].count == 0)
            continue;
        if (sorted[i].offset < end)
            return diffuse_fail(&opt->error, DIFFUSE_ERROR_MISMATCH,
                                "model tensors overlap at parameter %zu", sorted[i].offset);
        append_segment(opt, end, sorted[i].offset, false); /* parameters of no tensor */
        end = sorted[i].offset + sorted[i].count;
        append_segment(opt, sorted[i].offset, end, sorted[i].decayed);
    }
    append_segment(opt, end, opt->param_count, false);
    return DIFFUSE_OK;
}

static diffuse_status describe_model(diffuse_optimizer *opt, const diffuse_model *model)
{
    size_t n = model->tensor_count;
    if (n > 0 && model->tensors == NULL)
        return diffuse_fail(&opt->error, DIFFUSE_ERROR_MISMATCH,
                            "model lists %zu tensors but has no tensor table", n);
    opt->tensor_count = n;
    opt->tensors = calloc(n > 0 ? n : 1, sizeof *opt->tensors);
    opt->segments = calloc(2 * n + 1, sizeof *opt->segments); /* tensors and gaps */
    optim_tensor_layout *sorted = calloc(n > 0 ? n : 1, sizeof *sorted);
    diffuse_status status = DIFFUSE_OK;
    if (opt->tensors == NULL || opt->segments == NULL || sorted == NULL)
        status = diffuse_fail(&opt->error, DIFFUSE_ERROR_NO_MEMORY,
                              "out of memory for the layout of %zu tensors", n);
    for (size_t i = 0; status == DIFFUSE_OK && i < n; i++) {
        if (!describe_tensor(&model->tensors[i], opt->param_count, &opt->tensors[i]))
            status = diffuse_fail(&opt->error, DIFFUSE_ERROR_MISMATCH,
                                  "model tensor %zu (\"%.64s\") does not fit in the %zu "
                                  "parameters",
                                  i, model->tensors[i].name, opt->param_count);
    }
    if (status == DIFFUSE_OK) {
        if (n > 0)
            memcpy(sorted, opt->tensors, n * sizeof *sorted);
        status = build_segments(opt, sorted);
    }
    free(sorted);
    return status;
}

diffuse_status optim_check_model(diffuse_optimizer *opt, const diffuse_model *m)
{
    if (m->param_count != opt->param_count)
        return diffuse_fail(&opt->error, DIFFUSE_ERROR_MISMATCH,
                            "model has %zu parameters; the optimizer was created for %zu",
                            m->param_count, opt->param_count);
    if (m->tensor_count != opt->tensor_count || (m->tensor_count > 0 && m->tensors == NULL))
        return diffuse_fail(&opt->error, DIFFUSE_ERROR_MISMATCH,
                            "model has %zu tensors; the optimizer was created for %zu",
                            m->tensors == NULL ? 0 : m->tensor_count, opt->tensor_count);
    for (size_t i = 0; i < opt->tensor_count; i++) {
        optim_tensor_layout t;
        const optim_tensor_layout *want = &opt->tensors[i];
        if (!describe_tensor(&m->tensors[i], m->param_count, &t) || t.offset != want->offset ||
            t.count != want->count || t.decayed != want->decayed)
            return diffuse_fail(&opt->error, DIFFUSE_ERROR_MISMATCH,
                                "model tensor %zu (\"%.64s\") differs from the layout the "
                                "optimizer was created for",
                                i, m->tensors[i].name);
    }
    return DIFFUSE_OK;
}

/* ---- Handle ---------------------------------------------------------------- */

DIFFUSE_API diffuse_status diffuse_optimizer_create(diffuse_optimizer **out,
                                                    diffuse_optimizer_kind kind,
                                                    const diffuse_model *model)
{
    diffuse_status status = diffuse_check_pointer(NULL, out, "out");
    if (status != DIFFUSE_OK)
        return status;
    *out = NULL;
    status = diffuse_check_pointer(NULL, model, "model");
    if (status != DIFFUSE_OK)
        return status;
    if ((status = check_kind(kind)) != DIFFUSE_OK)
        return status;
    if (model->param_count == 0)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "model has no parameters to optimize (a callback model?)");
    size_t count;
    status = diffuse_check_matrix_size(NULL, model->param_count, 1, &count);
    if (status != DIFFUSE_OK)
        return status;

    diffuse_optimizer *opt = calloc(1, sizeof *opt);
    if (opt == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY, "out of memory for the optimizer");
    opt->kind = kind;
    opt->param_count = count;
    kind_defaults(kind, opt->options);
    /* Moments start at 0 (calloc): m_0 = v_0 = 0, which bias correction undoes. */
    opt->first_moment = calloc(count, sizeof *opt->first_moment);
    opt->second_moment = calloc(count, sizeof *opt->second_moment);
    if (opt->first_moment == NULL || opt->second_moment == NULL)
        status = diffuse_fail(NULL, DIFFUSE_ERROR_NO_MEMORY,
                              "out of memory for the moments of %zu parameters", count);
    else
        status = describe_model(opt, model);
    if (status != DIFFUSE_OK) {
        diffuse_optimizer_free(opt);
        return status;
    }
    *out = opt;
    return DIFFUSE_OK;
}

DIFFUSE_API void diffuse_optimizer_free(diffuse_optimizer *optimizer)
{
    if (optimizer == NULL)
        return;
    free(optimizer->first_moment);
    free(optimizer->second_moment);
    free(optimizer->tensors);
    free(optimizer->segments);
    free(optimizer);
}

DIFFUSE_API const char *diffuse_optimizer_last_error(const diffuse_optimizer *optimizer)
{
    return diffuse_error_message(optimizer != NULL ? &optimizer->error : NULL);
}

DIFFUSE_API diffuse_status diffuse_optimizer_get_kind(const diffuse_optimizer *optimizer,
                                                      diffuse_optimizer_kind *kind)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error_of(optimizer), kind, "kind");
    if (status == DIFFUSE_OK)
        *kind = optimizer->kind;
    return status;
}

/* ---- Options ----------------------------------------------------------------- */

DIFFUSE_API diffuse_status diffuse_optimizer_set_double(diffuse_optimizer *optimizer,
                                                        diffuse_optimizer_option option,
                                                        double value)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status != DIFFUSE_OK)
        return status;
    return option_set(&optimizer->error, &optim_option_table, optimizer->options, (int)option,
                      value, true);
}

DIFFUSE_API diffuse_status diffuse_optimizer_set_int(diffuse_optimizer *optimizer,
                                                     diffuse_optimizer_option option,
                                                     int64_t value)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status != DIFFUSE_OK)
        return status;
    return option_set_int(&optimizer->error, &optim_option_table, optimizer->options,
                          (int)option, value);
}

/* The checks of a getter before the option's: the handle, then `value`. */
static diffuse_status check_getter(const diffuse_optimizer *optimizer, const void *value)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error_of(optimizer), value, "value");
    return status;
}

DIFFUSE_API diffuse_status diffuse_optimizer_get_double(const diffuse_optimizer *optimizer,
                                                        diffuse_optimizer_option option,
                                                        double *value)
{
    diffuse_status status = check_getter(optimizer, value);
    if (status == DIFFUSE_OK)
        status = option_get_double(error_of(optimizer), &optim_option_table, optimizer->options,
                                   (int)option, value);
    return status;
}

DIFFUSE_API diffuse_status diffuse_optimizer_get_int(const diffuse_optimizer *optimizer,
                                                     diffuse_optimizer_option option,
                                                     int64_t *value)
{
    diffuse_status status = check_getter(optimizer, value);
    if (status == DIFFUSE_OK)
        status = option_get_int(error_of(optimizer), &optim_option_table, optimizer->options,
                                (int)option, value);
    return status;
}

DIFFUSE_API diffuse_status diffuse_optimizer_double_bounds(diffuse_optimizer_option option,
                                                           double *min, double *max)
{
    if (min == NULL || max == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "min and max must not be NULL");
    return option_bounds(NULL, &optim_option_table, (int)option, true, min, max);
}

DIFFUSE_API diffuse_status diffuse_optimizer_int_bounds(diffuse_optimizer_option option,
                                                        int64_t *min, int64_t *max)
{
    if (min == NULL || max == NULL)
        return diffuse_fail(NULL, DIFFUSE_ERROR_INVALID_ARGUMENT, "min and max must not be NULL");
    return option_int_bounds(NULL, &optim_option_table, (int)option, min, max);
}

/* Every option applies to both kinds; only the defaults differ. */
DIFFUSE_API diffuse_status diffuse_optimizer_option_count(diffuse_optimizer_kind kind,
                                                          size_t *count)
{
    diffuse_status status = check_kind(kind);
    if (status != DIFFUSE_OK)
        return status;
    return option_count(&optim_option_table, OPTION_ALL, count);
}

DIFFUSE_API diffuse_status diffuse_optimizer_option_info(diffuse_optimizer_kind kind,
                                                         size_t index, diffuse_option_info *info)
{
    diffuse_status status = check_kind(kind);
    if (status != DIFFUSE_OK)
        return status;
    double defaults[OPTIM_OPTION_COUNT];
    kind_defaults(kind, defaults);
    return option_info(&optim_option_table, OPTION_ALL, defaults, index, info);
}

/* ---- State ------------------------------------------------------------------- */

DIFFUSE_API diffuse_status diffuse_optimizer_step_count(const diffuse_optimizer *optimizer,
                                                        uint64_t *steps)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error_of(optimizer), steps, "steps");
    if (status == DIFFUSE_OK)
        *steps = optimizer->step;
    return status;
}

DIFFUSE_API diffuse_status diffuse_optimizer_current_learning_rate(
    const diffuse_optimizer *optimizer, double *lr)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status == DIFFUSE_OK)
        status = diffuse_check_pointer(error_of(optimizer), lr, "lr");
    if (status == DIFFUSE_OK)
        status = optim_check_schedule(optimizer, error_of(optimizer));
    if (status == DIFFUSE_OK)
        *lr = optim_learning_rate_at(optimizer, optimizer->step);
    return status;
}

DIFFUSE_API diffuse_status diffuse_optimizer_reset(diffuse_optimizer *optimizer)
{
    diffuse_status status = diffuse_check_pointer(NULL, optimizer, "optimizer");
    if (status != DIFFUSE_OK)
        return status;
    memset(optimizer->first_moment, 0, optimizer->param_count * sizeof(float));
    memset(optimizer->second_moment, 0, optimizer->param_count * sizeof(float));
    optimizer->step = 0;
    return DIFFUSE_OK;
}

/* ---- The step ----------------------------------------------------------------- */

/* The gradient passes and the update walk their arrays in blocks of a
 * constant size plus a scalar tail and are compiled for AVX-512, AVX2 and
 * the baseline (NN_VECTOR_CLONES, see nn/vec.h). Every element goes through
 * the same IEEE operations in each variant, so the results are bitwise
 * identical whichever variant runs. */

/* Partial sums of the squared norm: a fixed number of interleaved lanes
 * breaks the serial dependence of one accumulator (32 doubles: four AVX-512
 * registers) and shortens each rounding chain, while the summation order
 * stays fixed, so the result is bitwise reproducible. */
#define NORM_LANES 32

/* lane[j] += g[j]², j < count. */
static NN_ALWAYS_INLINE void add_squares(double *restrict lane, const float *restrict g,
                                         size_t count)
{
    for (size_t j = 0; j < count; j++)
        lane[j] += (double)g[j] * (double)g[j];
}

/* Σ g_i² in double: lane j sums the elements i ≡ j (mod NORM_LANES) in
 * increasing i, then the lanes are added in order 0, 1, … A NaN or Inf in g
 * makes the sum non-finite (a float squared cannot overflow a double). */
static NN_VECTOR_CLONES double squared_norm(const float *g, size_t n)
{
    double lane[NORM_LANES] = {0};
    size_t i = 0;
    for (; i + NORM_LANES <= n; i += NORM_LANES)
        add_squares(lane, g + i, NORM_LANES);
    add_squares(lane, g + i, n - i);
    double total = 0.0;
    for (size_t j = 0; j < NORM_LANES; j++)
        total += lane[j];
    return total;
}

/* A float is Inf or NaN exactly when its exponent bits are all ones. */
#define FLOAT_EXPONENT_BITS UINT32_C(0x7f800000)

/* The largest exponent field of g[0 .. count) and `largest`. An integer
 * maximum is exact in any order, so the compiler vectorises it freely. */
static NN_ALWAYS_INLINE uint32_t largest_exponent(uint32_t largest, const float *g, size_t count)
{
    for (size_t j = 0; j < count; j++) {
        uint32_t bits;
        memcpy(&bits, &g[j], sizeof bits);
        bits &= FLOAT_EXPONENT_BITS;
        largest = bits > largest ? bits : largest;
    }
    return largest;
}

/* True when every g_i is finite: the check a step needs when it does not
 * need the norm. Two integer operations per element, where the norm needs a
 * conversion, a multiplication and an addition in double. */
static NN_VECTOR_CLONES bool all_finite(const float *g, size_t n)
{
    uint32_t largest = 0;
    size_t i = 0;
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK)
        largest = largest_exponent(largest, g + i, NN_VEC_BLOCK);
    largest = largest_exponent(largest, g + i, n - i);
    return largest != FLOAT_EXPONENT_BITS;
}

/* The name of the tensor parameter i belongs to, for messages. */
static const char *tensor_name_at(const diffuse_optimizer *opt, const diffuse_model *m, size_t i)
{
    const char *name = "(no tensor)";
    for (size_t t = 0; t < opt->tensor_count; t++) {
        if (i >= opt->tensors[t].offset && i - opt->tensors[t].offset < opt->tensors[t].count)
            name = m->tensors[t].name;
    }
    return name;
}

/* The message for a non-finite gradient: the first bad element and its
 * tensor, so the user can tell which layer blew up. */
static diffuse_status fail_non_finite(diffuse_optimizer *opt, const diffuse_model *m)
{
    size_t i = 0;
    while (i < m->param_count && isfinite(m->grads[i]))
        i++;
    const char *name = tensor_name_at(opt, m, i);
    return diffuse_fail(&opt->error, DIFFUSE_ERROR_NUMERIC,
                        "gradient is not finite: grads[%zu] = %g in tensor \"%.64s\"; "
                        "step skipped, weights and optimizer state unchanged",
                        i, i < m->param_count ? (double)m->grads[i] : 0.0, name);
}

/* *norm = ‖g‖₂ when clipping needs it (else 0), failing with NUMERIC when a
 * g_i is NaN or Inf. Without clipping no pass over g is needed here. */
static diffuse_status gradient_norm(diffuse_optimizer *opt, const diffuse_model *m, double *norm)
{
    *norm = 0.0;
    if (opt->options[DIFFUSE_OPTIMIZER_CLIP_NORM] > 0.0) {
        double squared = squared_norm(m->grads, m->param_count);
        if (!isfinite(squared))
            return fail_non_finite(opt, m);
        *norm = sqrt(squared);
    }
    /* Without clipping, a non-finite gradient is found by the update's dry
     * run (check_update): it makes the new first moment non-finite. */
    return DIFFUSE_OK;
}

/* Scalars of one step, in float like the buffers they multiply. */
typedef struct step_coefficients {
    float gradient_scale;         /* clipping factor min(1, c/‖g‖) */
    float beta1, one_minus_beta1; /* β1, 1 − β1 */
    float beta2, one_minus_beta2; /* β2, 1 − β2 */
    float step_size;              /* lr_s / (1 − β1^k): folds m̂'s correction into lr */
    float inv_sqrt_correction2;   /* 1 / sqrt(1 − β2^k): √v̂ = √v · this */
    float epsilon;
    float l2;                     /* Adam's λ on decayed parameters, else 0 */
    float shrink;                 /* AdamW's 1 − lr_s·λ on decayed parameters, else 1 */
    float ema_decay, ema_weight;  /* d, 1 − d */
} step_coefficients;

/* The buffers of one segment, each starting at the segment's first
 * parameter. */
typedef struct segment_buffers {
    float *theta, *m, *v;
    const float *grad;
    float *ema; /* NULL without EMA */
} segment_buffers;

/* The new values of one element (θ', m', v', ema'). With l2 = 0 and
 * shrink = 1 (parameters not decayed) the extra terms are exact no-ops, so
 * one formula serves Adam, AdamW and both kinds of segment. */
static NN_ALWAYS_INLINE void update_element(const step_coefficients *c, float theta, float m,
                                            float v, float grad, float ema, float out[4])
{
    float g = c->gradient_scale * grad + c->l2 * theta; /* clipped gradient (+ λθ for Adam) */
    float mi = c->beta1 * m + c->one_minus_beta1 * g;   /* m ← β1·m + (1−β1)·g */
    float vi = c->beta2 * v + c->one_minus_beta2 * (g * g); /* v ← β2·v + (1−β2)·g² */
    /* θ ← (1 − lr·λ)·θ − lr·m̂/(√v̂ + ε) */
    float t = c->shrink * theta -
              c->step_size * mi / (sqrtf(vi) * c->inv_sqrt_correction2 + c->epsilon);
    out[0] = t;
    out[1] = mi;
    out[2] = vi;
    out[3] = c->ema_decay * ema + c->ema_weight * t; /* ema ← d·ema + (1−d)·θ */
}

/* The fused update of elements [first, first + count): with `write`, stores
 * the new values; without, only returns the largest exponent field among
 * them (a dry run: FLOAT_EXPONENT_BITS when one is not finite). `with_ema`
 * and `write` are constants at each call, so the compiler drops what a call
 * does not need. */
static NN_ALWAYS_INLINE uint32_t update_span(const step_coefficients *coefficients, size_t first,
                                             size_t count, float *restrict theta,
                                             float *restrict m, float *restrict v,
                                             const float *restrict grad, float *restrict ema,
                                             bool with_ema, bool write)
{
    const step_coefficients c = *coefficients; /* locals: no aliasing with the arrays */
    uint32_t largest = 0;
    for (size_t i = first; i < first + count; i++) {
        float next[4];
        update_element(&c, theta[i], m[i], v[i], grad[i], with_ema ? ema[i] : 0.0f, next);
        if (write) {
            theta[i] = next[0];
            m[i] = next[1];
            v[i] = next[2];
            if (with_ema)
                ema[i] = next[3];
        } else {
            largest = largest_exponent(largest, next, with_ema ? 4 : 3);
        }
    }
    return largest;
}

/* update_span over a segment's n elements: full blocks (vectorised), then
 * the tail. */
static NN_ALWAYS_INLINE uint32_t update_blocks(const step_coefficients *c,
                                               const segment_buffers *b, size_t n,
                                               bool with_ema, bool write)
{
    uint32_t largest = 0;
    size_t i = 0;
    for (; i + NN_VEC_BLOCK <= n; i += NN_VEC_BLOCK) {
        uint32_t block = update_span(c, i, NN_VEC_BLOCK, b->theta, b->m, b->v, b->grad, b->ema,
                                     with_ema, write);
        largest = block > largest ? block : largest;
    }
    uint32_t tail = update_span(c, i, n - i, b->theta, b->m, b->v, b->grad, b->ema, with_ema,
                                write);
    return tail > largest ? tail : largest;
}

/* The update of one segment; b->ema == NULL skips the EMA. */
static NN_VECTOR_CLONES void update_segment(const step_coefficients *c, const segment_buffers *b,
                                            size_t n)
{
    if (b->ema != NULL)
        update_blocks(c, b, n, true, true);
    else
        update_blocks(c, b, n, false, true);
}

/* Whether the update of one segment leaves every new value finite (a dry
 * run: nothing is written). */
static NN_VECTOR_CLONES bool segment_stays_finite(const step_coefficients *c,
                                                  const segment_buffers *b, size_t n)
{
    uint32_t largest = b->ema != NULL ? update_blocks(c, b, n, true, false)
                                      : update_blocks(c, b, n, false, false);
    return largest != FLOAT_EXPONENT_BITS;
}

static step_coefficients step_coefficients_for(const diffuse_optimizer *opt, double lr,
                                               double norm)
{
    const double *o = opt->options;
    double clip = o[DIFFUSE_OPTIMIZER_CLIP_NORM];
    double beta1 = o[DIFFUSE_OPTIMIZER_BETA1], beta2 = o[DIFFUSE_OPTIMIZER_BETA2];
    double k = (double)opt->step + 1.0; /* 1-based step of the bias correction */
    double ema_decay = o[DIFFUSE_OPTIMIZER_EMA_DECAY];
    step_coefficients c;
    c.gradient_scale = (float)(clip > 0.0 && norm > clip ? clip / norm : 1.0);
    c.beta1 = (float)beta1;
    c.one_minus_beta1 = (float)(1.0 - beta1);
    c.beta2 = (float)beta2;
    c.one_minus_beta2 = (float)(1.0 - beta2);
    c.step_size = (float)(lr / (1.0 - pow(beta1, k)));
    c.inv_sqrt_correction2 = (float)(1.0 / sqrt(1.0 - pow(beta2, k)));
    c.epsilon = (float)o[DIFFUSE_OPTIMIZER_EPSILON];
    c.l2 = 0.0f;
    c.shrink = 1.0f;
    c.ema_decay = (float)ema_decay;
    c.ema_weight = (float)(1.0 - ema_decay);
    return c;
}

/* Sets the decay terms of `c` for a segment of decayed or undecayed
 * parameters. */
static void set_segment_decay(step_coefficients *c, const diffuse_optimizer *opt, double lr,
                              bool decayed)
{
    double lambda = decayed ? opt->options[DIFFUSE_OPTIMIZER_WEIGHT_DECAY] : 0.0;
    bool decoupled = opt->kind == DIFFUSE_OPTIMIZER_ADAMW;
    c->l2 = decoupled ? 0.0f : (float)lambda;
    c->shrink = decoupled ? (float)(1.0 - lr * lambda) : 1.0f;
}

/* What can fail before the update is computed (see check_update). */
static diffuse_status check_step(diffuse_optimizer *opt, diffuse_model *m, double *norm)
{
    diffuse_status status = optim_check_model(opt, m);
    if (status != DIFFUSE_OK)
        return status;
    if (m->params == NULL || m->grads == NULL)
        return diffuse_fail(&opt->error, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "model has no parameter or gradient buffer");
    status = optim_check_schedule(opt, &opt->error);
    if (status != DIFFUSE_OK)
        return status;
    return gradient_norm(opt, m, norm);
}

/* The buffers of segment `seg`; `ema` is the EMA array (NULL: none). */
static segment_buffers segment_buffers_of(diffuse_optimizer *opt, diffuse_model *m,
                                          const optim_segment *seg, float *ema)
{
    size_t b = seg->begin;
    segment_buffers buffers = {m->params + b, opt->first_moment + b, opt->second_moment + b,
                               m->grads + b, ema != NULL ? ema + b : NULL};
    return buffers;
}

/* The message for a finite gradient whose update is not finite (e.g. g²
 * overflows float for |g| above about 1.8e19): the first element whose new
 * θ, m, v or EMA would not be finite. */
static diffuse_status fail_update_overflow(diffuse_optimizer *opt, const diffuse_model *m,
                                           const step_coefficients *c,
                                           const segment_buffers *b, size_t begin, size_t n)
{
    static const char *const names[4] = {"weight", "first moment", "second moment", "EMA"};
    size_t i = 0, k = 0;
    for (; i < n; i++) {
        float next[4];
        update_element(c, b->theta[i], b->m[i], b->v[i], b->grad[i],
                       b->ema != NULL ? b->ema[i] : 0.0f, next);
        for (k = 0; k < 4 && isfinite(next[k]); k++)
            ;
        if (k < 4)
            break;
    }
    return diffuse_fail(&opt->error, DIFFUSE_ERROR_NUMERIC,
                        "the update is not finite: the %s of parameter %zu in tensor \"%.64s\" "
                        "would overflow (gradient %g); step skipped, weights and optimizer state "
                        "unchanged",
                        names[k < 4 ? k : 0], begin + i, tensor_name_at(opt, m, begin + i),
                        i < n ? (double)b->grad[i] : 0.0);
}

/* The dry run of the whole update: DIFFUSE_ERROR_NUMERIC when a new weight,
 * moment or EMA value would not be finite, before anything changes. It also
 * catches every non-finite gradient (NaN or Inf in g makes the new m or v
 * non-finite), reported as such. Without an EMA buffer yet, the one the step
 * creates is a copy of θ. */
static diffuse_status check_update(diffuse_optimizer *opt, diffuse_model *m,
                                   step_coefficients *c, double lr, bool with_ema)
{
    float *ema = with_ema ? (m->ema != NULL ? m->ema : m->params) : NULL;
    for (size_t s = 0; s < opt->segment_count; s++) {
        const optim_segment *seg = &opt->segments[s];
        segment_buffers buffers = segment_buffers_of(opt, m, seg, ema);
        set_segment_decay(c, opt, lr, seg->decayed);
        if (segment_stays_finite(c, &buffers, seg->end - seg->begin))
            continue;
        /* A non-finite gradient anywhere is the cause to report first. */
        if (!all_finite(m->grads, m->param_count))
            return fail_non_finite(opt, m);
        return fail_update_overflow(opt, m, c, &buffers, seg->begin, seg->end - seg->begin);
    }
    return DIFFUSE_OK;
}

diffuse_status optim_step(diffuse_optimizer *opt, diffuse_model *m)
{
    if (opt == NULL || m == NULL)
        return diffuse_fail(opt != NULL ? &opt->error : NULL, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "optimizer and model must not be NULL");
    double norm = 0.0;
    diffuse_status status = check_step(opt, m, &norm);
    if (status != DIFFUSE_OK)
        return status;
    double lr = optim_learning_rate_at(opt, opt->step);
    step_coefficients c = step_coefficients_for(opt, lr, norm);
    bool with_ema = opt->options[DIFFUSE_OPTIMIZER_EMA_DECAY] > 0.0;
    if ((status = check_update(opt, m, &c, lr, with_ema)) != DIFFUSE_OK)
        return status;
    /* Allocation is the last thing that can fail: until here nothing
     * changed, and a new EMA buffer is a copy of the unchanged θ. */
    if (with_ema && (status = model_ensure_ema(m)) != DIFFUSE_OK)
        return diffuse_fail(&opt->error, status, "EMA buffer: %s",
                            diffuse_error_message(&m->error));
    for (size_t s = 0; s < opt->segment_count; s++) {
        const optim_segment *seg = &opt->segments[s];
        segment_buffers buffers = segment_buffers_of(opt, m, seg, with_ema ? m->ema : NULL);
        set_segment_decay(&c, opt, lr, seg->decayed);
        update_segment(&c, &buffers, seg->end - seg->begin);
    }
    opt->step++;
    return DIFFUSE_OK;
}
