/* The ε-network handle, shared by every architecture (internal).
 *
 * A model is a function out = f(params; x_t, t [, labels]) from n rows of
 * dimension `dim` (and their timesteps) to n rows of dimension `dim`: what
 * `prediction` says (ε, x_0 or v; core/prediction.h reads it). Every
 * evaluation is described by a diffuse_model_call (diffuse/model.h), here
 * always a complete one: size = sizeof(diffuse_model_call), validated
 * arrays (model_call_read makes one from the caller's).
 *
 * A model that learns its variance (DIFFUSE_MODEL_LEARN_VARIANCE) has a
 * network with out_dim = 2·dim outputs per row, [f | v] (improved-
 * diffusion's split of 2C channels into C and C): its architecture's ops
 * write and take such rows, and model_run / model_run_backward split them
 * into the call's out and out_variance. Everything else calls those two.
 *
 * Parameters live in ONE contiguous float buffer (llm.c style); `grads` has
 * the same layout, and `ema` (NULL until an optimizer with EMA enabled first
 * steps) too. The layout is described by `tensors`: named sub-arrays of the
 * buffer in a fixed, documented order, which checkpoints and the optimizer's
 * weight-decay mask use. */
#ifndef DIFFUSE_SRC_MODEL_H
#define DIFFUSE_SRC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "diffuse/model.h"
#include "diffuse/schedule.h"
#include "util/busy.h"
#include "util/error.h"
#include "model/gradient_ready.h"
#include "model/gradient_team.h"

#define MODEL_MAX_RANK 4

typedef struct model_tensor {
    char name[64];                 /* e.g. "input.weight", safetensors key */
    size_t offset;                 /* in floats from the start of params */
    size_t rank;                   /* 1 for biases, 2 for weight matrices */
    size_t shape[MODEL_MAX_RANK];  /* row-major; a linear weight is [out, in] */
} model_tensor;

typedef struct model_ops {
    /* Inference: call->out = f(params; call->x_t, call->t, call->labels).
     * `params` is m->params or m->ema. May grow scratch buffers inside the
     * model. */
    diffuse_status (*predict)(diffuse_model *m, const float *params,
                              const diffuse_model_call *call);
    /* Training forward with m->params: like predict, but keeps the
     * activations that backward needs. NULL for models that cannot train. */
    diffuse_status (*forward)(diffuse_model *m, const diffuse_model_call *call);
    /* Accumulates dL/dparams into m->grads (does not zero them) given
     * d_out = dL/dout of the last forward call. Once per forward: backward
     * may overwrite what forward kept, and so may predict in between;
     * DIFFUSE_ERROR_STATE then. */
    diffuse_status (*backward)(diffuse_model *m, const float *d_out, size_t n);
    /* Releases `arch`. */
    void (*destroy)(void *arch);
} model_ops;

struct diffuse_model {
    diffuse_error error;
    busy_state busy;             /* run by a call that may call user code (common.h) */
    const model_ops *ops;
    void *arch;                  /* architecture state: configuration, activations */
    diffuse_model_config *config;/* owned copy of the configuration it was built from */
    size_t dim;                  /* data dimension d */
    int prediction;              /* diffuse_prediction */
    bool learns_variance;        /* DIFFUSE_MODEL_LEARN_VARIANCE */
    size_t out_dim;              /* the network's floats per row: dim, or 2·dim */
    float *wide;                 /* [wide_rows, 2·dim]: model_run's rows before the split */
    size_t wide_rows;
    size_t param_count;
    float *params;               /* never moves once allocated: replicas point at it */
    bool shares_params;          /* a replica: params belong to its primary */
    float *grads;                /* NULL in a replica */
    float *ema;                  /* NULL until EMA starts */
    gradient_team *team;         /* non-NULL: backward adds through it (model_grads_open) */
    size_t team_worker;          /* this model's worker index in `team` */
    gradient_ready *ready;       /* non-NULL: backward reports finished groups to it */
    diffuse_model **replicas;    /* [i − 1]: worker i's (model_replica); NULL until used */
    size_t replica_count;
    size_t tensor_count;
    model_tensor *tensors;
    diffuse_schedule *schedule;  /* trained or loaded with (a copy), NULL: unknown (model_schedule.h) */
};

/* `full` = the caller's `call` completed to this library's size (fields
 * past call->size zero), after checking the size rule of diffuse/model.h.
 * INVALID_ARGUMENT with a message in `error` otherwise. Checks nothing
 * else. */
diffuse_status model_call_read(diffuse_error *error, const diffuse_model_call *call,
                               diffuse_model_call *full);

/* A complete call over n rows (labels may be NULL), for the library's own
 * callers: m->ops->predict(m, params, &MODEL_CALL(n, x, t, NULL, out)). The
 * compound literal lives until the end of the enclosing block. */
#define MODEL_CALL(n, x_t, t, labels, out)                                                    \
    ((diffuse_model_call){sizeof(diffuse_model_call), (n), (x_t), (t), (labels), (out), NULL})

/* K, the classes of m's label embedding: 0 for an unconditional network
 * and for a callback model. A network with K > 0 has K + 1 embedding rows:
 * rows 0 … K−1 are the classes, row K is the "null" class of classifier-free
 * guidance (Ho & Salimans 2022), what a call without labels (labels NULL)
 * and a label dropped in training get. */
size_t model_classes(const diffuse_model *m);

/* The labels of n rows as the caller gives them: NULL, or each in
 * [0, classes) — OUT_OF_RANGE naming the first bad one otherwise; `what`
 * names the array in the message ("labels"). */
diffuse_status model_check_labels(diffuse_error *error, size_t classes, const int32_t *labels,
                                  size_t n, const char *what);

/* out[i] = the embedding row of row i for a network with `classes` > 0:
 * labels[i] in [0, classes] (classes = the null row, see model_classes),
 * or `classes` for every row when labels is NULL. INVALID_ARGUMENT for a
 * label outside [0, classes] (the library's own callers never pass one;
 * the check keeps the embedding lookup in bounds whatever happens). */
diffuse_status model_labels_take(diffuse_error *error, size_t classes, const int32_t *labels,
                                 size_t n, int32_t *out);

/* The network on a complete call: call->out = f and, when m learns its
 * variance and call->out_variance is not NULL, call->out_variance = v.
 * `training`: ops->forward (m->params, activations kept for
 * model_run_backward), else ops->predict with `params` (m->params or m->ema).
 * Fails as the ops do, or NO_MEMORY (the split's rows). */
diffuse_status model_run(diffuse_model *m, const float *params, const diffuse_model_call *call,
                         bool training);

/* ops->backward of the last training model_run, given d_out = dL/df and
 * d_variance = dL/dv (n·dim each; NULL: zero, and ignored by a model that
 * does not learn its variance). */
diffuse_status model_run_backward(diffuse_model *m, const float *d_out, const float *d_variance,
                                  size_t n);

/* The busy guard of a call that runs `m` and may call user code meanwhile
 * (a prediction, a sampler's run, a training step; see "Callbacks and
 * re-entry" in diffuse/common.h): model_enter fails with STATE (message in
 * `error`, naming `call`) when m is busy already; model_leave ends the call
 * and frees m if its free function was called meanwhile. */
diffuse_status model_enter(diffuse_model *m, diffuse_error *error, const char *call);
void model_leave(diffuse_model *m);

/* Zeroes m->grads (the training step calls it before backward). */
void model_zero_grads(diffuse_model *m);

/* Allocates m->ema as a copy of m->params if it does not exist yet. */
diffuse_status model_ensure_ema(diffuse_model *m);

/* Worker `index`'s replica of `m` (index ≥ 1; worker 0 uses m itself),
 * created on first use and kept, with its activation memory, until m is
 * freed, so every handle that runs m on several threads (a trainer, a
 * sampler) shares the same replicas. A replica has the same architecture
 * and configuration, its own activation workspace and error slot, m's
 * parameter buffer (borrowed) and no gradient buffer of its own: its
 * backward must run in a gradient team (model_join_team) that adds into
 * m's. Several threads may run forward/backward/predict at once, each on
 * its own replica (or m), as long as nobody writes the parameters
 * meanwhile. It has no EMA; sampling passes m->ema as `params` explicitly.
 * Only models built from their configuration have replicas: for a callback
 * model, DIFFUSE_ERROR_UNSUPPORTED (the user's function would be called from
 * several threads, which it never promised to allow). Also NO_MEMORY.
 * Failures leave *out = NULL and the message in the calling thread's slot
 * (diffuse_last_error). */
diffuse_status model_replica(diffuse_model *m, size_t index, diffuse_model **out);

/* Whether model_replica works for `m` (false for callback models). */
bool model_can_replicate(const diffuse_model *m);

/* From now on m's backward adds its gradients through `team` as worker
 * `worker` (gradient_team.h); NULL: straight into m->grads again. */
void model_join_team(diffuse_model *m, gradient_team *team, size_t worker);

/* For an architecture's backward: where to accumulate the gradient of the
 * parameters [offset, offset + count), one tensor group (a layer's weight
 * and bias, contiguous in the buffer; m->ready hears of it once final). Every open is followed by
 * model_grads_close once the group's gradient is added, and every backward
 * opens the same groups in the same order. In a team this waits for the
 * previous worker to close the group. */
float *model_grads_open(diffuse_model *m, size_t offset, size_t count);
void model_grads_close(diffuse_model *m);

/* The tensor table (names, offsets, shapes) of the model diffuse_model_create
 * would build from `config`, without allocating or initialising parameters:
 * a checkpoint reader checks a file against it before trusting the
 * configuration's sizes. `config` must be of an architecture that is built
 * from its configuration (not a callback model). *tensors (malloc'd, the
 * caller frees it) receives *count entries. Fails as the architecture's
 * build does (an inconsistent configuration, NO_MEMORY) with the message in
 * `error` (may be NULL). */
diffuse_status model_describe_layout(const diffuse_model_config *config, model_tensor **tensors,
                                     size_t *count, diffuse_error *error);

#endif
