/*
 * libdiffuse — the noise-prediction network ("ε-network") and its configuration.
 *
 * A model is a function f_θ(x_t, t) from n rows of dimension `dim` (with one
 * 0-based timestep per row) to n rows of dimension `dim`: the predicted noise
 * ε (DIFFUSE_PREDICT_EPSILON), the velocity v = √ᾱ_t ε − √(1−ᾱ_t) x_0
 * (DIFFUSE_PREDICT_V) or the clean data x_0 (DIFFUSE_PREDICT_X0). The
 * samplers and the trainer use any model through the same handle; how the
 * network computes f_θ is its architecture:
 *
 *   DIFFUSE_ARCH_MLP       a time-conditioned residual MLP for vectors (below);
 *                          trainable.
 *   DIFFUSE_ARCH_CALLBACK  f is a function supplied by the caller
 *                          (diffuse_model_create_callback); usable by every
 *                          sampler, cannot be trained, has no parameters.
 *
 * ---- Configuration --------------------------------------------------------
 *
 * A diffuse_model_config names the architecture, the data dimension and typed
 * options keyed by diffuse_model_option. Every option has a name (used by
 * checkpoints), a type (int or double), bounds and a default, and applies to
 * a set of architectures; the config functions reject options that do not
 * apply to the config's architecture. Options can be enumerated per
 * architecture (diffuse_model_config_option_count / _option_at), so code that
 * stores a configuration (checkpoints) needs no per-architecture knowledge.
 * New architectures add new option values; existing values never change.
 *
 * ---- The MLP (DIFFUSE_ARCH_MLP) ------------------------------------------
 *
 * With d = dim, H = HIDDEN_WIDTH, L = HIDDEN_LAYERS, E = TIME_EMBED_DIM,
 * P = TIME_MAX_PERIOD, φ = ACTIVATION, and every linear map written as
 * Linear(v) = W v + b with W stored [out, in] (PyTorch's nn.Linear):
 *
 *   sinusoidal embedding of t (computed in double, rounded to float):
 *       half = E/2,  f_k = exp(−ln(P)·k/half),  k = 0 … half−1
 *       emb(t) = [cos(t f_0), …, cos(t f_{half−1}), sin(t f_0), …, sin(t f_{half−1})]
 *   time features:   e   = W_t2 φ(W_t1 emb(t) + b_t1) + b_t2           (E → H → H)
 *                    [+ E_label[y]  with K = CLASSES > 0 classes]
 *   input:           h_0 = W_in x_t + b_in + e                          (d → H)
 *   hidden blocks:   h_l = W_l φ(h_{l−1}) + b_l [+ h_{l−1} if RESIDUAL]  l = 1 … L
 *   output:          f   = W_out φ(h_L) + b_out                         (H → d)
 *
 * Adding e to the input projection equals one linear layer applied to the
 * concatenation [x_t, time features] (its weight is [W_in | I]), so this is
 * the usual "concatenate the time embedding" MLP with the time branch kept
 * separate. φ is SiLU, φ(x) = x·σ(x), or GELU in its tanh form,
 * φ(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (PyTorch's
 * gelu(approximate="tanh")). Every value is float32; the activations use a
 * polynomial exp accurate to about 1 ulp.
 *
 * Weight layout: one contiguous float array, tensors in this order (names are
 * those of the equivalent PyTorch module's state_dict, shapes row-major):
 *
 *   time_mlp.0.weight [H, E]   time_mlp.0.bias [H]      (W_t1, b_t1)
 *   time_mlp.2.weight [H, H]   time_mlp.2.bias [H]      (W_t2, b_t2)
 *   input.weight      [H, d]   input.bias      [H]      (W_in, b_in)
 *   blocks.{l}.weight [H, H]   blocks.{l}.bias [H]      (W_{l+1}, b_{l+1}), l = 0 … L−1
 *   output.weight     [d, H]   output.bias     [d]      (W_out, b_out)
 *   label_emb.weight  [K+1, H]                          (E_label, only when K > 0)
 *
 * packed without gaps: param_count = H·E + H + H·H + H + H·d + H + L·(H·H + H)
 * + d·H + d [+ (K+1)·H]. diffuse_model_tensor_info describes the same layout
 * at run time.
 *
 * Class labels (both networks): with K = CLASSES > 0 the label embedding
 * has K + 1 rows, the classes 0 … K−1 and the "null" class K of
 * classifier-free guidance (Ho & Salimans 2022; improved-diffusion's
 * label_emb, one row more). A call with labels must give each row one in
 * [0, K) (DIFFUSE_ERROR_OUT_OF_RANGE otherwise, before anything is
 * computed); a call with labels NULL is unconditional: every row gets the
 * null row, which the trainer trains through DIFFUSE_TRAINER_LABEL_DROPOUT.
 *
 * Default initialisation (reproducible from DIFFUSE_MODEL_SEED): every weight
 * and bias of a layer with fan-in `in` is uniform on (−1/√in, 1/√in), like
 * PyTorch's nn.Linear, including the output layer (no zero init, so every
 * gradient is non-zero from the first step); the label embedding N(0, 1)
 * (nn.Embedding, Philox normal value i of stream (seed, 1)). Parameter i
 * takes the Philox uniform value i of stream (seed, 0), so it depends only
 * on (seed, i).
 *
 * ---- The U-Net (DIFFUSE_ARCH_UNET) ---------------------------------------
 *
 * improved-diffusion's UNetModel (Nichol & Dhariwal 2021) on rows that are
 * images flattened in NCHW order: dim = C·H·W (C = IMAGE_CHANNELS, H, W),
 * checked when the model is built. With B = BASE_CHANNELS, L = LEVELS,
 * multipliers m_0 … m_{L−1}, R = RES_BLOCKS, G = GROUPS, M = HEADS,
 * GN = GroupNorm(G groups, ε = 1e-5), SiLU(x) = x·σ(x):
 *
 *   time:  e = W_2 SiLU(W_1 emb(t) + b_1) + b_2 [+ E_label[y]]   (emb of size B, e of 4B)
 *   ResBlock(x; C_in → C_out):
 *          h = Conv3(SiLU(GN(x))) + (W_e SiLU(e) + b_e)   (broadcast over pixels)
 *          h = Conv3(Dropout(SiLU(GN(h))))
 *          y = h + (C_in = C_out ? x : Conv1(x))
 *   Attention(x; C): q, k, v = Conv1(GN(x)) split in M heads of C/M channels;
 *          y = x + Conv1(concat_h V_h softmax(Q_hᵀK_h/√(C/M))ᵀ)   (softmax over H·W)
 *   down:  Conv3(x → B); per level l: R × [ResBlock(→ m_l B), Attention if
 *          bit l of ATTENTION_LEVELS]; a stride-2 Conv3 except at the last level
 *   middle: ResBlock, Attention, ResBlock
 *   up:    per level l = L−1 … 0: R + 1 × [concatenate the matching
 *          down-path output, ResBlock(→ m_l B), Attention if bit l]; a
 *          nearest 2× up-sampling and Conv3 except at level 0
 *   out:   Conv3(SiLU(GN(h)) → C)
 *
 * (Conv3/Conv1: 3×3 / 1×1 convolutions with bias, zero padding 1 / 0.) The
 * tensor names and order are those of the network's layer list
 * (diffuse_model_tensor_info): improved-diffusion's state_dict names
 * (input_blocks.1.0.in_layers.2.weight, …; "attention" layers have none),
 * convolution weights [C_out, C_in, k, k]. Initialisation: convolutions and
 * linear layers uniform on ±1/√fan_in (PyTorch's default, no zero-init),
 * GroupNorm γ = 1, β = 0, label embedding N(0, 1). Lists of per-level
 * values are scalar options (LEVEL_MULT_l, a bit mask for attention), so
 * the option ABI stays typed scalars. Dropout masks are keyed by each
 * row's x_t and t, so training is the same for any thread split and on
 * resume.
 *
 * ---- Learned variance (DIFFUSE_MODEL_LEARN_VARIANCE) -----------------------
 *
 * With LEARN_VARIANCE = 1 (MLP, U-Net) the network has 2·dim outputs per row,
 * [f | v] (the MLP's output layer is H → 2d, the U-Net's last convolution has
 * 2C channels: improved-diffusion's learn_sigma): f is the prediction of
 * DIFFUSE_MODEL_PREDICTION, v ∈ about [−1, 1] sets the reverse variance
 * between its two natural ends (Nichol & Dhariwal 2021, "learned range"):
 *
 *   σ_t² = exp(f_v log β_t + (1 − f_v) log β̃_t),   f_v = (v + 1)/2.
 *
 * The model call returns f in `out` and v in `out_variance`; the output
 * layer's tensors have the doubled shape (rows d … 2d−1, or channels
 * C … 2C−1, are v). The trainer trains such a model on L_hybrid
 * (diffuse/train.h), DDPM samples with DIFFUSE_VARIANCE_LEARNED
 * (diffuse/sampler.h) and diffuse_model_nll evaluates its likelihood
 * (diffuse/likelihood.h). Callback models never learn their variance.
 *
 * ---- Threads and determinism ----------------------------------------------
 *
 * A model is used by one thread at a time (prediction reuses scratch memory
 * inside the handle); different models are independent. Matrix products go
 * through OpenBLAS, which may round differently with another thread count;
 * so diffuse_model_predict runs them with OpenBLAS set to one thread for the
 * duration of the call (the setting is process-wide in Debian's OpenBLAS;
 * the caller's value is restored before the call returns). The result
 * therefore depends only on the inputs (the n rows, their timesteps and
 * labels) and the parameters, not on OPENBLAS_NUM_THREADS or the CPU
 * affinity. The bits of one row's output may depend on n and on the other
 * rows (OpenBLAS picks kernels by matrix size): the same rows predicted in
 * one call or in two halves can differ in the last bit. Callback models run
 * the caller's function with OpenBLAS untouched.
 */
#ifndef DIFFUSE_MODEL_H
#define DIFFUSE_MODEL_H

#include "diffuse/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct diffuse_model diffuse_model;
typedef struct diffuse_model_config diffuse_model_config;

typedef enum diffuse_architecture {
    DIFFUSE_ARCH_MLP = 0,     /* time-conditioned (residual) MLP for vectors */
    DIFFUSE_ARCH_CALLBACK = 1, /* caller-supplied prediction function */
    DIFFUSE_ARCH_UNET = 2      /* U-Net for images (below) */
} diffuse_architecture;

typedef enum diffuse_prediction {
    DIFFUSE_PREDICT_EPSILON = 0, /* the network predicts the noise ε */
    DIFFUSE_PREDICT_V = 1,       /* the network predicts v = √ᾱ_t ε − √(1−ᾱ_t) x_0 */
    DIFFUSE_PREDICT_X0 = 2       /* the network predicts the clean data x_0 */
} diffuse_prediction;

typedef enum diffuse_activation {
    DIFFUSE_ACTIVATION_SILU = 0, /* x·σ(x) */
    DIFFUSE_ACTIVATION_GELU = 1  /* ½x(1 + tanh(√(2/π)(x + 0.044715x³))) */
} diffuse_activation;

/* Options of a model configuration. "applies to" lists the architectures
 * that accept the option; bounds are inclusive. */
typedef enum diffuse_model_option {
    /* int, H: width of every hidden layer. [1, 65536], default 128. MLP. */
    DIFFUSE_MODEL_HIDDEN_WIDTH = 0,
    /* int, L: hidden H→H blocks after the input layer. [0, 256], default 3. MLP. */
    DIFFUSE_MODEL_HIDDEN_LAYERS = 1,
    /* int, E: size of the sinusoidal time embedding; must be even.
     * [2, 65536], default 64. MLP. */
    DIFFUSE_MODEL_TIME_EMBED_DIM = 2,
    /* int, diffuse_activation. Default SILU. MLP. */
    DIFFUSE_MODEL_ACTIVATION = 3,
    /* int 0/1: add the skip connection h_{l−1} in the hidden blocks. Default 1. MLP. */
    DIFFUSE_MODEL_RESIDUAL = 4,
    /* int, seed of the default initialisation. [0, 2^53 − 1], default 0. MLP. */
    DIFFUSE_MODEL_SEED = 5,
    /* int, diffuse_prediction: what the output means. Default EPSILON. All. */
    DIFFUSE_MODEL_PREDICTION = 6,
    /* double, P: longest period of the time embedding. [1, 1e9], default 10000. MLP,
     * UNET. */
    DIFFUSE_MODEL_TIME_MAX_PERIOD = 7,
    /* The U-Net's options (see "The U-Net" above); all int unless said. */
    /* C: image channels. [1, 256], default 1. */
    DIFFUSE_MODEL_IMAGE_CHANNELS = 8,
    /* H, W: image height and width, multiples of 2^(LEVELS − 1). [1, 4096], default 28. */
    DIFFUSE_MODEL_IMAGE_HEIGHT = 9,
    DIFFUSE_MODEL_IMAGE_WIDTH = 10,
    /* B: base channels; even (it is also the time embedding's size). [2, 4096],
     * default 32. */
    DIFFUSE_MODEL_BASE_CHANNELS = 11,
    /* L: resolutions (L − 1 down-samplings). [1, 5], default 3. */
    DIFFUSE_MODEL_LEVELS = 12,
    /* m_l: channel multiplier of level l (level l has m_l·B channels); the
     * ones at l ≥ LEVELS are not used. [1, 64], defaults 1, 2, 2, 2, 2. */
    DIFFUSE_MODEL_LEVEL_MULT_0 = 13,
    DIFFUSE_MODEL_LEVEL_MULT_1 = 14,
    DIFFUSE_MODEL_LEVEL_MULT_2 = 15,
    DIFFUSE_MODEL_LEVEL_MULT_3 = 16,
    DIFFUSE_MODEL_LEVEL_MULT_4 = 17,
    /* R: ResBlocks per level on the way down (R + 1 on the way up). [1, 16], default 2. */
    DIFFUSE_MODEL_RES_BLOCKS = 18,
    /* Bit mask: bit l set = self-attention after every ResBlock of level l
     * (resolution H/2^l). [0, 31], default 4 (7×7 at 28×28, 8×8 at 32×32). */
    DIFFUSE_MODEL_ATTENTION_LEVELS = 19,
    /* M: attention heads; m_l·B must be a multiple of M at the attention levels.
     * [1, 64], default 4. */
    DIFFUSE_MODEL_HEADS = 20,
    /* double q: dropout rate inside the ResBlocks, training only. [0, 0.99], default 0. */
    DIFFUSE_MODEL_DROPOUT = 21,
    /* G: GroupNorm groups; B must be a multiple of G. [1, 1024], default 8. */
    DIFFUSE_MODEL_GROUPS = 22,
    /* K: classes of the label embedding (K + 1 rows with the null class, see
     * "Class labels" above); 0 = unconditional. [0, 1048576], default 0. MLP,
     * UNET. */
    DIFFUSE_MODEL_CLASSES = 23,
    /* int 0/1: the network also learns its reverse variance (Nichol & Dhariwal
     * 2021, "learned range"; see "Learned variance" above). Default 0. MLP,
     * UNET. */
    DIFFUSE_MODEL_LEARN_VARIANCE = 24
} diffuse_model_option;

/* Largest data dimension a model accepts. */
#define DIFFUSE_MODEL_MAX_DIM ((size_t)1 << 24)

/* ---- Configuration -------------------------------------------------------
 * Functions on a configuration record failures in it (read them with
 * diffuse_model_config_last_error) and in the thread's slot. A configuration
 * is plain data: use it from one thread at a time. */

/* Creates a configuration for `arch` and data dimension `dim`
 * (1 ≤ dim ≤ DIFFUSE_MODEL_MAX_DIM) with every option at its default.
 * Free it with diffuse_model_config_free. *out = NULL on failure.
 * Errors: INVALID_ARGUMENT (out NULL, unknown arch), OUT_OF_RANGE (dim),
 * NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_model_config_create(diffuse_model_config **out,
                                                       diffuse_architecture arch, size_t dim);

/* A new configuration equal to `config` (free it separately). */
DIFFUSE_API diffuse_status diffuse_model_config_copy(diffuse_model_config **out,
                                                     const diffuse_model_config *config);

/* Frees a configuration. NULL is a no-op. */
DIFFUSE_API void diffuse_model_config_free(diffuse_model_config *config);

/* Message of the last failing call on `config` ("" if none). */
DIFFUSE_API const char *diffuse_model_config_last_error(const diffuse_model_config *config);

/* The architecture and data dimension the configuration was created with.
 * Errors: INVALID_ARGUMENT (NULL). */
DIFFUSE_API diffuse_status diffuse_model_config_architecture(const diffuse_model_config *config,
                                                             diffuse_architecture *arch);
DIFFUSE_API diffuse_status diffuse_model_config_dim(const diffuse_model_config *config,
                                                    size_t *dim);

/* Typed option access. Errors: INVALID_ARGUMENT (NULL, unknown option, or the
 * option has the other type), UNSUPPORTED (the option does not apply to the
 * config's architecture), OUT_OF_RANGE (value outside the bounds, or an odd
 * TIME_EMBED_DIM), NUMERIC (non-finite double). A failed set leaves the
 * configuration unchanged. */
DIFFUSE_API diffuse_status diffuse_model_config_set_int(diffuse_model_config *config,
                                                        diffuse_model_option option,
                                                        int64_t value);
DIFFUSE_API diffuse_status diffuse_model_config_get_int(const diffuse_model_config *config,
                                                        diffuse_model_option option,
                                                        int64_t *value);
DIFFUSE_API diffuse_status diffuse_model_config_set_double(diffuse_model_config *config,
                                                           diffuse_model_option option,
                                                           double value);
DIFFUSE_API diffuse_status diffuse_model_config_get_double(const diffuse_model_config *config,
                                                           diffuse_model_option option,
                                                           double *value);

/* Inclusive bounds of an option for an architecture (same errors as the
 * getters; failures are reported through diffuse_last_error() only). */
DIFFUSE_API diffuse_status diffuse_model_config_int_bounds(diffuse_architecture arch,
                                                           diffuse_model_option option,
                                                           int64_t *min, int64_t *max);
DIFFUSE_API diffuse_status diffuse_model_config_double_bounds(diffuse_architecture arch,
                                                              diffuse_model_option option,
                                                              double *min, double *max);

/* Enumerates the options that apply to `arch`, in increasing option value:
 * `count` receives how many; option_info describes, for 0 ≤ index < count,
 * the option, name, type, bounds and default (diffuse_option_info, see
 * diffuse/common.h; int options may also have to be a multiple of a step:
 * TIME_EMBED_DIM is even); option_at gives the option, whether it is
 * double-valued (1) or int-valued (0), and its name (static storage, e.g.
 * "hidden_width"). Errors: INVALID_ARGUMENT (NULL, unknown arch, info->size
 * too small), OUT_OF_RANGE (index). Thread-safe. */
DIFFUSE_API diffuse_status diffuse_model_config_option_count(diffuse_architecture arch,
                                                             size_t *count);
DIFFUSE_API diffuse_status diffuse_model_config_option_info(diffuse_architecture arch,
                                                            size_t index,
                                                            diffuse_option_info *info);
DIFFUSE_API diffuse_status diffuse_model_config_option_at(diffuse_architecture arch, size_t index,
                                                          diffuse_model_option *option,
                                                          int *is_double, const char **name);

/* The option of `arch` called `name` (exact match), and its type.
 * Errors: INVALID_ARGUMENT (NULL, unknown arch, no such option for arch). */
DIFFUSE_API diffuse_status diffuse_model_config_find_option(diffuse_architecture arch,
                                                            const char *name,
                                                            diffuse_model_option *option,
                                                            int *is_double);

/* "mlp", "callback", "unet" (static storage). Errors: INVALID_ARGUMENT. */
DIFFUSE_API diffuse_status diffuse_model_architecture_name(diffuse_architecture arch,
                                                           const char **name);

/* ---- Models ----------------------------------------------------------------
 * Functions on a model record failures in it (diffuse_model_last_error) and
 * in the thread's slot, including those that take a const model. */

/* Builds a model from `config` (copied; the caller keeps and frees its own),
 * with parameters set to the seeded default initialisation and zero
 * gradients. Errors: INVALID_ARGUMENT (NULL; a CALLBACK configuration, which
 * needs diffuse_model_create_callback), NO_MEMORY. *out = NULL on failure. */
DIFFUSE_API diffuse_status diffuse_model_create(diffuse_model **out,
                                                const diffuse_model_config *config);

/* Advice on a valid configuration known not to work, for the caller to show
 * (the library never prints): today an MLP whose hidden_width is below the
 * data dimension (its output cannot span R^dim, so it cannot learn ε and
 * samples noise). Writes the NUL-terminated message into `buffer` (`size`
 * bytes, truncated to fit) like snprintf and returns the size it needs
 * including the NUL; 0 when there is nothing to say (buffer untouched).
 * diffuse_model_create also passes it to the log function (diffuse_set_log)
 * as a warning.
 * buffer may be NULL with size 0 to ask for the size. Cannot fail; a NULL
 * model has nothing to say. */
DIFFUSE_API size_t diffuse_model_warning(const diffuse_model *model, char *buffer, size_t size);

/* ---- The model call --------------------------------------------------------
 * One evaluation of f_θ, described by one struct: the inputs (rows, their
 * timesteps, optional class labels) and where the outputs go. New inputs (a
 * condition, an image shape) and outputs (a learned variance) become new
 * fields at the end, not new functions. diffuse_model_predict takes it, and
 * a callback model's function receives it.
 *
 * ABI: `size` comes first and the caller sets it to
 * sizeof(diffuse_model_call) as its header declares it (DIFFUSE_MODEL_CALL_INIT
 * does, with every other field zero). The library reads only the first
 * `size` bytes and takes later fields as zero/NULL, so a program built
 * against an older header keeps working; a larger size (a newer header) is
 * accepted when the bytes this library does not know are all zero and
 * refused otherwise, so a request it cannot honour never passes silently.
 * Fields are only ever added at the end.
 *
 * Ownership: every array is the caller's, borrowed for the duration of the
 * call only (never kept, never freed); `out` is written, the rest read. */
typedef struct diffuse_model_call {
    size_t size;           /* sizeof(diffuse_model_call) */
    size_t n;              /* rows, at least 1 */
    const float *x_t;      /* [n, dim] inputs x_t, row-major */
    const int32_t *t;      /* [n] 0-based timesteps, t[i] ≥ 0 */
    const int32_t *labels; /* [n] class labels in [0, CLASSES), or NULL:
                            * unconditional (the null class of a model with
                            * classes). A model without classes ignores
                            * them; a callback model's function receives
                            * them. */
    float *out;            /* [n, dim] written: f_θ (what diffuse_prediction says) */
    float *out_variance;   /* [n, dim] written: the variance output v of a model
                            * that learns it (LEARN_VARIANCE), or NULL (v is
                            * then dropped); must be NULL for other models */
} diffuse_model_call;

/* Initialiser for a diffuse_model_call with `size` set and nothing else:
 * diffuse_model_call call = DIFFUSE_MODEL_CALL_INIT; then set n, x_t, t, out. */
#define DIFFUSE_MODEL_CALL_INIT {sizeof(diffuse_model_call), 0, NULL, NULL, NULL, NULL, NULL}

/* The caller's prediction function for a callback model. `call` is filled by
 * the library (its size is this library's sizeof(diffuse_model_call); labels
 * may be NULL; out_variance is NULL: a callback model has no variance
 * output) and is valid only during the call: the function must write
 * call->out[i·dim + j] = f(x_t, t)[i·dim + j] for the call->n rows and
 * return 0, or return non-zero on failure (the library call then fails with
 * DIFFUSE_ERROR_CALLBACK). Non-finite outputs fail with
 * DIFFUSE_ERROR_NUMERIC. */
typedef int (*diffuse_predict_fn)(void *user, const diffuse_model_call *call, size_t dim);
/* The function runs while its model is busy ("Callbacks and re-entry" in
 * diffuse/common.h): calling diffuse_model_predict or set_params on the same
 * model from inside it returns DIFFUSE_ERROR_STATE; diffuse_model_free makes
 * the call in progress fail with DIFFUSE_ERROR_CANCELLED and frees the model
 * when that call returns (a sampler running the model must not be used
 * after that). */

/* A model whose prediction is `fn` (with `user` passed back untouched; it must
 * stay valid while the model exists). It has no parameters and cannot be
 * trained. Errors: INVALID_ARGUMENT (NULL out/fn, unknown prediction),
 * OUT_OF_RANGE (dim), NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_model_create_callback(diffuse_model **out, size_t dim,
                                                         diffuse_prediction prediction,
                                                         diffuse_predict_fn fn, void *user);

/* Frees a model and its buffers. Trainers and samplers that borrow it must be
 * freed first. NULL is a no-op. On a busy model (a call that runs it is in
 * progress, see diffuse/common.h) the free happens when that call returns. */
DIFFUSE_API void diffuse_model_free(diffuse_model *model);

/* Message of the last failing call on `model` ("" if none). */
DIFFUSE_API const char *diffuse_model_last_error(const diffuse_model *model);

/* Getters. Errors: INVALID_ARGUMENT (NULL). */
DIFFUSE_API diffuse_status diffuse_model_dim(const diffuse_model *model, size_t *dim);
DIFFUSE_API diffuse_status diffuse_model_architecture(const diffuse_model *model,
                                                      diffuse_architecture *arch);
DIFFUSE_API diffuse_status diffuse_model_prediction(const diffuse_model *model,
                                                    diffuse_prediction *prediction);
/* Number of float parameters (0 for a callback model). */
DIFFUSE_API diffuse_status diffuse_model_param_count(const diffuse_model *model, size_t *count);
/* The configuration the model was built from, owned by the model: valid
 * until diffuse_model_free, read it with the config getters. */
DIFFUSE_API diffuse_status diffuse_model_get_config(const diffuse_model *model,
                                                    const diffuse_model_config **config);

/* Copies the parameters into / from a caller array of exactly `count` =
 * param_count floats, in the layout documented above. set_params rejects
 * non-finite values (NUMERIC) and then changes nothing; it does not touch
 * the EMA copy. Errors: INVALID_ARGUMENT (NULL), MISMATCH (count),
 * UNSUPPORTED (a callback model has no parameters), NUMERIC. */
DIFFUSE_API diffuse_status diffuse_model_get_params(const diffuse_model *model, float *out,
                                                    size_t count);
DIFFUSE_API diffuse_status diffuse_model_set_params(diffuse_model *model, const float *in,
                                                    size_t count);

/* The exponential moving average of the parameters, kept by an optimizer
 * with EMA enabled (same layout). *has_ema = 1 once it exists.
 * get_ema_params fails with STATE before that; set_ema_params (for restoring
 * a checkpoint) creates it if needed. Errors as for get/set_params. */
DIFFUSE_API diffuse_status diffuse_model_has_ema(const diffuse_model *model, int *has_ema);
DIFFUSE_API diffuse_status diffuse_model_get_ema_params(const diffuse_model *model, float *out,
                                                        size_t count);
DIFFUSE_API diffuse_status diffuse_model_set_ema_params(diffuse_model *model, const float *in,
                                                        size_t count);

/* The parameter layout: `count` named tensors that tile [0, param_count)
 * in order, without gaps or overlap. tensor_info gives tensor `index`'s name
 * (valid while the model exists), its offset in floats, its rank (1 or 2 for
 * the MLP) and its shape (shape[r] for r < rank; the rest are set to 1).
 * Errors: INVALID_ARGUMENT (NULL), OUT_OF_RANGE (index). */
DIFFUSE_API diffuse_status diffuse_model_tensor_count(const diffuse_model *model, size_t *count);
DIFFUSE_API diffuse_status diffuse_model_tensor_info(const diffuse_model *model, size_t index,
                                                     const char **name, size_t *offset,
                                                     size_t *rank, size_t shape[4]);

/* call->out = f_θ(call->x_t, call->t [, call->labels]) with the current
 * parameters (not the EMA); see "The model call" in diffuse/model.h for the
 * struct (size, n, x_t, t, labels, out, out_variance), its size rule and
 * ownership. out (and out_variance) must not overlap x_t, t, labels or each
 * other. Errors: INVALID_ARGUMENT (NULL call, x_t, t or out; a size smaller
 * than 0.2's struct, or a larger one with non-zero fields this library does
 * not know; n = 0 or too large; overlapping arrays; t[i] < 0), OUT_OF_RANGE
 * (a label outside [0, CLASSES) of a model with classes), UNSUPPORTED
 * (out_variance set for a model that does not learn its variance), NUMERIC
 * (non-finite x_t or output), CALLBACK (a callback model's function failed),
 * NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_model_predict(diffuse_model *model,
                                                 const diffuse_model_call *call);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_MODEL_H */
