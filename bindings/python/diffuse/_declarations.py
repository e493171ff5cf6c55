"""Every exported C function of libdiffuse, declared once.

Each entry is (name, result, argtypes, error source):

  result        "status"    diffuse_status; non-OK raises the DiffuseError subclass
                "string"    const char *, returned as str (None for NULL)
                "unsigned"  an unsigned int, returned as is
                "int"       an int, returned as is (a C data callback's result)
                "size"      a size_t, returned as is
                "void"      nothing
  error source  for "status" functions, where the detailed message is:
                (last_error_function, argument index) for calls on a handle,
                None for calls without one (constructors, bounds queries),
                whose message is in the thread's diffuse_last_error().

This module imports nothing but ctypes so that tools (check_exports.py) can
read the table without loading the library. The callback prototypes are
declared here too, next to the functions that take them.
"""

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint, c_uint64, c_void_p)

HANDLE = c_void_p
OUT_HANDLE = POINTER(c_void_p)
ENUM = c_int
OUT_ENUM = POINTER(c_int)
FLOATS = POINTER(c_float)
DOUBLES = POINTER(c_double)
INT32S = POINTER(c_int32)
OUT_SIZE = POINTER(c_size_t)
OUT_I64 = POINTER(c_int64)
OUT_U64 = POINTER(c_uint64)
OUT_DOUBLE = POINTER(c_double)
OUT_STRING = POINTER(c_char_p)


class OptionInfo(Structure):
    """diffuse_option_info (common.h); set size = ctypes.sizeof(OptionInfo)."""
    _fields_ = [("size", c_size_t), ("option", c_int), ("name", c_char_p),
                ("is_double", c_int), ("min", c_double), ("max", c_double),
                ("default_value", c_double)]


OUT_OPTION_INFO = POINTER(OptionInfo)

# typedef int (*diffuse_data_fn)(void *user, float *x, int32_t *labels, size_t capacity,
#                                size_t dim, char *message, size_t message_size);
DATA_FN = CFUNCTYPE(c_int, c_void_p, FLOATS, INT32S, c_size_t, c_size_t, POINTER(c_char),
                    c_size_t)
# typedef int (*diffuse_train_progress_fn)(void *user, uint64_t step, double loss,
#                                          double steps_per_second);
TRAIN_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_uint64, c_double, c_double)
# typedef int (*diffuse_sample_progress_fn)(void *user, uint64_t done, uint64_t total);
SAMPLE_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint64)
# typedef int (*diffuse_classifier_fn)(void *user, size_t n, size_t dim, const float *x_t,
#                                      const int32_t *t, const int32_t *labels, float *gradient,
#                                      char *message, size_t message_size);
CLASSIFIER_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, c_size_t, FLOATS, INT32S, INT32S, FLOATS,
                          POINTER(c_char), c_size_t)


class ModelCall(Structure):
    """diffuse_model_call: one evaluation of a model (size-prefixed; see
    "The model call" in diffuse/model.h)."""
    _fields_ = [("size", c_size_t), ("n", c_size_t), ("x_t", FLOATS), ("t", INT32S),
                ("labels", INT32S), ("out", FLOATS), ("out_variance", FLOATS)]


class NllTerms(Structure):
    """diffuse_nll_terms (likelihood.h): the bound's terms in bits/dim."""
    _fields_ = [("prior", c_double), ("diffusion", c_double), ("decoder", c_double),
                ("total", c_double)]


class NllRequest(Structure):
    """diffuse_nll_request (likelihood.h; size-prefixed like ModelCall)."""
    _fields_ = [("size", c_size_t), ("n", c_size_t), ("x0", FLOATS), ("labels", INT32S),
                ("variance", c_int), ("decoder", c_int), ("seed", c_uint64),
                ("use_ema", c_int), ("per_sample", POINTER(NllTerms))]


# typedef void (*diffuse_log_fn)(void *user, diffuse_log_level level, const char *message);
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)

# typedef int (*diffuse_predict_fn)(void *user, const diffuse_model_call *call, size_t dim);
PREDICT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(ModelCall), c_size_t)


class PeerExchange(Structure):
    """diffuse_peer_exchange: one exchange between the processes of a step
    ("Peers" in diffuse/train.h; size-prefixed)."""
    _fields_ = [("size", c_size_t), ("phase", c_int), ("failed", c_int), ("rows", c_uint64),
                ("first_row", c_uint64), ("total_rows", c_uint64), ("grads", FLOATS),
                ("grad_count", c_size_t), ("squared_error", c_double),
                ("message", POINTER(c_char)), ("message_size", c_size_t),
                ("ready_offset", c_size_t), ("ready_count", c_size_t)]


# typedef int (*diffuse_peer_fn)(void *user, diffuse_peer_exchange *exchange);
PEER_FN = CFUNCTYPE(c_int, c_void_p, POINTER(PeerExchange))


def _on(handle_kind, index=0):
    return ("diffuse_%s_last_error" % handle_kind, index)


RNG, SCHEDULE, CONFIG, MODEL = _on("rng"), _on("schedule"), _on("model_config"), _on("model")
OPTIMIZER, TRAINER, SAMPLER = _on("optimizer"), _on("trainer"), _on("sampler")
BATCH = [HANDLE, c_size_t, c_size_t, INT32S, FLOATS, FLOATS, FLOATS]  # (s, n, d, t, a, b, out)

DECLARATIONS = [
    # common.h
    ("diffuse_version_number", "unsigned", [], None),
    ("diffuse_version_string", "string", [], None),
    ("diffuse_status_string", "string", [c_int], None),
    ("diffuse_status_name", "string", [c_int], None),
    ("diffuse_last_error", "string", [], None),
    ("diffuse_set_log", "void", [LOG_FN, c_void_p], None),
    # rng.h
    ("diffuse_rng_create", "status", [OUT_HANDLE, c_uint64, c_uint64], None),
    ("diffuse_rng_free", "void", [HANDLE], None),
    ("diffuse_rng_last_error", "string", [HANDLE], None),
    ("diffuse_rng_uniform", "status", [HANDLE, FLOATS, c_size_t], RNG),
    ("diffuse_rng_normal", "status", [HANDLE, FLOATS, c_size_t], RNG),
    ("diffuse_rng_get_state", "status", [HANDLE, OUT_U64, OUT_U64, OUT_U64], RNG),
    ("diffuse_rng_set_position", "status", [HANDLE, c_uint64], RNG),
    # schedule.h
    ("diffuse_schedule_create", "status", [OUT_HANDLE, ENUM, c_size_t], None),
    ("diffuse_schedule_create_custom", "status", [OUT_HANDLE, DOUBLES, c_size_t], None),
    ("diffuse_schedule_clone", "status", [OUT_HANDLE, HANDLE], _on("schedule", 1)),
    ("diffuse_schedule_free", "void", [HANDLE], None),
    ("diffuse_schedule_last_error", "string", [HANDLE], None),
    ("diffuse_schedule_set_double", "status", [HANDLE, ENUM, c_double], SCHEDULE),
    ("diffuse_schedule_set_int", "status", [HANDLE, ENUM, c_int64], SCHEDULE),
    ("diffuse_schedule_get_double", "status", [HANDLE, ENUM, OUT_DOUBLE], SCHEDULE),
    ("diffuse_schedule_get_int", "status", [HANDLE, ENUM, OUT_I64], SCHEDULE),
    ("diffuse_schedule_double_bounds", "status", [ENUM, OUT_DOUBLE, OUT_DOUBLE], None),
    ("diffuse_schedule_option_count", "status", [ENUM, OUT_SIZE], None),
    ("diffuse_schedule_option_info", "status", [ENUM, c_size_t, OUT_OPTION_INFO], None),
    ("diffuse_schedule_int_bounds", "status", [ENUM, OUT_I64, OUT_I64], None),
    ("diffuse_schedule_steps", "status", [HANDLE, OUT_SIZE], SCHEDULE),
    ("diffuse_schedule_get_kind", "status", [HANDLE, OUT_ENUM], SCHEDULE),
    ("diffuse_schedule_value", "status", [HANDLE, ENUM, c_size_t, OUT_DOUBLE], SCHEDULE),
    ("diffuse_schedule_get_table", "status", [HANDLE, ENUM, DOUBLES, c_size_t], SCHEDULE),
    # forward.h
    ("diffuse_q_sample", "status", BATCH, SCHEDULE),
    ("diffuse_q_sample_rng", "status",
     [HANDLE, c_size_t, c_size_t, INT32S, FLOATS, HANDLE, FLOATS, FLOATS], SCHEDULE),
    ("diffuse_q_marginal", "status", [HANDLE, c_size_t, OUT_DOUBLE, OUT_DOUBLE], SCHEDULE),
    ("diffuse_q_step", "status", [HANDLE, c_size_t, OUT_DOUBLE, OUT_DOUBLE], SCHEDULE),
    # posterior.h
    ("diffuse_posterior_mean", "status", BATCH, SCHEDULE),
    ("diffuse_posterior_variance", "status", [HANDLE, c_size_t, OUT_DOUBLE, OUT_DOUBLE],
     SCHEDULE),
    ("diffuse_predict_x0_from_eps", "status", BATCH, SCHEDULE),
    ("diffuse_predict_eps_from_x0", "status", BATCH, SCHEDULE),
    ("diffuse_velocity", "status", BATCH, SCHEDULE),
    ("diffuse_predict_x0_from_v", "status", BATCH, SCHEDULE),
    ("diffuse_predict_eps_from_v", "status", BATCH, SCHEDULE),
    ("diffuse_posterior_model_mean", "status", BATCH, SCHEDULE),
    # model.h: configurations
    ("diffuse_model_config_create", "status", [OUT_HANDLE, ENUM, c_size_t], None),
    ("diffuse_model_config_copy", "status", [OUT_HANDLE, HANDLE], _on("model_config", 1)),
    ("diffuse_model_config_free", "void", [HANDLE], None),
    ("diffuse_model_config_last_error", "string", [HANDLE], None),
    ("diffuse_model_config_architecture", "status", [HANDLE, OUT_ENUM], CONFIG),
    ("diffuse_model_config_dim", "status", [HANDLE, OUT_SIZE], CONFIG),
    ("diffuse_model_config_set_int", "status", [HANDLE, ENUM, c_int64], CONFIG),
    ("diffuse_model_config_get_int", "status", [HANDLE, ENUM, OUT_I64], CONFIG),
    ("diffuse_model_config_set_double", "status", [HANDLE, ENUM, c_double], CONFIG),
    ("diffuse_model_config_get_double", "status", [HANDLE, ENUM, OUT_DOUBLE], CONFIG),
    ("diffuse_model_config_int_bounds", "status", [ENUM, ENUM, OUT_I64, OUT_I64], None),
    ("diffuse_model_config_double_bounds", "status", [ENUM, ENUM, OUT_DOUBLE, OUT_DOUBLE],
     None),
    ("diffuse_model_config_option_count", "status", [ENUM, OUT_SIZE], None),
    ("diffuse_model_config_option_info", "status", [ENUM, c_size_t, OUT_OPTION_INFO], None),
    ("diffuse_model_config_option_at", "status",
     [ENUM, c_size_t, OUT_ENUM, POINTER(c_int), OUT_STRING], None),
    ("diffuse_model_config_find_option", "status", [ENUM, c_char_p, OUT_ENUM, POINTER(c_int)],
     None),
    ("diffuse_model_architecture_name", "status", [ENUM, OUT_STRING], None),
    # model.h: models
    ("diffuse_model_create", "status", [OUT_HANDLE, HANDLE], None),
    ("diffuse_model_create_callback", "status",
     [OUT_HANDLE, c_size_t, ENUM, PREDICT_FN, c_void_p], None),
    ("diffuse_model_free", "void", [HANDLE], None),
    ("diffuse_model_last_error", "string", [HANDLE], None),
    ("diffuse_model_dim", "status", [HANDLE, OUT_SIZE], MODEL),
    ("diffuse_model_architecture", "status", [HANDLE, OUT_ENUM], MODEL),
    ("diffuse_model_prediction", "status", [HANDLE, OUT_ENUM], MODEL),
    ("diffuse_model_param_count", "status", [HANDLE, OUT_SIZE], MODEL),
    ("diffuse_model_get_config", "status", [HANDLE, OUT_HANDLE], MODEL),
    ("diffuse_model_get_params", "status", [HANDLE, FLOATS, c_size_t], MODEL),
    ("diffuse_model_set_params", "status", [HANDLE, FLOATS, c_size_t], MODEL),
    ("diffuse_model_has_ema", "status", [HANDLE, POINTER(c_int)], MODEL),
    ("diffuse_model_get_ema_params", "status", [HANDLE, FLOATS, c_size_t], MODEL),
    ("diffuse_model_set_ema_params", "status", [HANDLE, FLOATS, c_size_t], MODEL),
    ("diffuse_model_tensor_count", "status", [HANDLE, OUT_SIZE], MODEL),
    ("diffuse_model_tensor_info", "status",
     [HANDLE, c_size_t, OUT_STRING, OUT_SIZE, OUT_SIZE, OUT_SIZE], MODEL),
    ("diffuse_model_predict", "status", [HANDLE, POINTER(ModelCall)], MODEL),
    # optim.h
    ("diffuse_optimizer_create", "status", [OUT_HANDLE, ENUM, HANDLE], None),
    ("diffuse_optimizer_free", "void", [HANDLE], None),
    ("diffuse_optimizer_last_error", "string", [HANDLE], None),
    ("diffuse_optimizer_get_kind", "status", [HANDLE, OUT_ENUM], OPTIMIZER),
    ("diffuse_optimizer_set_double", "status", [HANDLE, ENUM, c_double], OPTIMIZER),
    ("diffuse_optimizer_get_double", "status", [HANDLE, ENUM, OUT_DOUBLE], OPTIMIZER),
    ("diffuse_optimizer_set_int", "status", [HANDLE, ENUM, c_int64], OPTIMIZER),
    ("diffuse_optimizer_get_int", "status", [HANDLE, ENUM, OUT_I64], OPTIMIZER),
    ("diffuse_optimizer_double_bounds", "status", [ENUM, OUT_DOUBLE, OUT_DOUBLE], None),
    ("diffuse_optimizer_int_bounds", "status", [ENUM, OUT_I64, OUT_I64], None),
    ("diffuse_optimizer_option_count", "status", [ENUM, OUT_SIZE], None),
    ("diffuse_optimizer_option_info", "status", [ENUM, c_size_t, OUT_OPTION_INFO], None),
    ("diffuse_optimizer_step_count", "status", [HANDLE, OUT_U64], OPTIMIZER),
    ("diffuse_optimizer_current_learning_rate", "status", [HANDLE, OUT_DOUBLE], OPTIMIZER),
    ("diffuse_optimizer_reset", "status", [HANDLE], OPTIMIZER),
    # train.h
    ("diffuse_trainer_create", "status", [OUT_HANDLE, HANDLE, HANDLE, HANDLE], None),
    ("diffuse_trainer_free", "void", [HANDLE], None),
    ("diffuse_trainer_last_error", "string", [HANDLE], None),
    ("diffuse_trainer_set_int", "status", [HANDLE, ENUM, c_int64], TRAINER),
    ("diffuse_trainer_get_int", "status", [HANDLE, ENUM, OUT_I64], TRAINER),
    ("diffuse_trainer_int_bounds", "status", [ENUM, OUT_I64, OUT_I64], None),
    ("diffuse_trainer_set_double", "status", [HANDLE, ENUM, c_double], TRAINER),
    ("diffuse_trainer_get_double", "status", [HANDLE, ENUM, OUT_DOUBLE], TRAINER),
    ("diffuse_trainer_double_bounds", "status", [ENUM, OUT_DOUBLE, OUT_DOUBLE], None),
    ("diffuse_trainer_option_count", "status", [OUT_SIZE], None),
    ("diffuse_trainer_option_info", "status", [c_size_t, OUT_OPTION_INFO], None),
    ("diffuse_trainer_set_data", "status", [HANDLE, DATA_FN, c_void_p], TRAINER),
    ("diffuse_trainer_set_progress", "status",
     [HANDLE, TRAIN_PROGRESS_FN, c_void_p, c_uint64], TRAINER),
    ("diffuse_trainer_set_peers", "status", [HANDLE, PEER_FN, c_void_p], TRAINER),
    ("diffuse_trainer_set_peer_ready", "status", [HANDLE, c_int], TRAINER),
    ("diffuse_trainer_state_digest", "status", [HANDLE, OUT_U64], TRAINER),
    ("diffuse_trainer_step", "status", [HANDLE, OUT_DOUBLE], TRAINER),
    ("diffuse_trainer_step_batch", "status", [HANDLE, c_size_t, FLOATS, OUT_DOUBLE], TRAINER),
    ("diffuse_trainer_step_batch_labels", "status",
     [HANDLE, c_size_t, FLOATS, INT32S, OUT_DOUBLE], TRAINER),
    ("diffuse_trainer_train", "status", [HANDLE, c_uint64, OUT_DOUBLE], TRAINER),
    ("diffuse_trainer_step_count", "status", [HANDLE, OUT_U64], TRAINER),
    # sampler.h
    ("diffuse_sampler_create", "status", [OUT_HANDLE, HANDLE, HANDLE], None),
    ("diffuse_sampler_free", "void", [HANDLE], None),
    ("diffuse_sampler_last_error", "string", [HANDLE], None),
    ("diffuse_sampler_set_int", "status", [HANDLE, ENUM, c_int64], SAMPLER),
    ("diffuse_sampler_get_int", "status", [HANDLE, ENUM, OUT_I64], SAMPLER),
    ("diffuse_sampler_set_double", "status", [HANDLE, ENUM, c_double], SAMPLER),
    ("diffuse_sampler_get_double", "status", [HANDLE, ENUM, OUT_DOUBLE], SAMPLER),
    ("diffuse_sampler_int_bounds", "status", [ENUM, OUT_I64, OUT_I64], None),
    ("diffuse_sampler_double_bounds", "status", [ENUM, OUT_DOUBLE, OUT_DOUBLE], None),
    ("diffuse_sampler_option_count", "status", [OUT_SIZE], None),
    ("diffuse_sampler_option_info", "status", [c_size_t, OUT_OPTION_INFO], None),
    ("diffuse_sampler_set_progress", "status", [HANDLE, SAMPLE_PROGRESS_FN, c_void_p], SAMPLER),
    ("diffuse_sampler_run", "status", [HANDLE, c_size_t, FLOATS], SAMPLER),
    ("diffuse_sampler_run_labels", "status", [HANDLE, c_size_t, INT32S, FLOATS], SAMPLER),
    ("diffuse_sampler_set_classifier", "status", [HANDLE, CLASSIFIER_FN, c_void_p], SAMPLER),
    ("diffuse_sampler_create_standalone", "status", [OUT_HANDLE, HANDLE, c_size_t, ENUM], None),
    ("diffuse_sampler_set_timesteps", "status", [HANDLE, INT32S, c_size_t], SAMPLER),
    ("diffuse_sampler_timesteps", "status", [HANDLE, INT32S, c_size_t, OUT_SIZE], SAMPLER),
    ("diffuse_sampler_initial_noise", "status", [HANDLE, c_size_t, FLOATS], SAMPLER),
    ("diffuse_sampler_step", "status",
     [HANDLE, c_size_t, c_int32, FLOATS, FLOATS, FLOATS, FLOATS], SAMPLER),
    ("diffuse_sampler_step_variance", "status",
     [HANDLE, c_size_t, c_int32, FLOATS, FLOATS, FLOATS, FLOATS, FLOATS], SAMPLER),
    # likelihood.h
    ("diffuse_model_nll", "status",
     [HANDLE, HANDLE, POINTER(NllRequest), POINTER(NllTerms)], MODEL),
    # checkpoint.h
    ("diffuse_model_set_schedule", "status", [HANDLE, HANDLE], MODEL),
    ("diffuse_model_warning", "size", [HANDLE, POINTER(c_char), c_size_t], None),
    ("diffuse_model_save", "status", [HANDLE, HANDLE, c_char_p], MODEL),
    ("diffuse_model_load", "status", [c_char_p, OUT_HANDLE, OUT_HANDLE], None),
    ("diffuse_trainer_save", "status", [HANDLE, c_char_p], TRAINER),
    ("diffuse_trainer_load", "status",
     [c_char_p, OUT_HANDLE, OUT_HANDLE, OUT_HANDLE, OUT_HANDLE], None),
    # toy2d.h
    ("diffuse_toy2d_sample", "status", [ENUM, c_uint64, c_uint64, c_size_t, FLOATS], None),
    ("diffuse_toy2d_sample_labeled", "status",
     [ENUM, c_uint64, c_uint64, c_size_t, FLOATS, INT32S], None),
    ("diffuse_toy2d_classes", "status", [ENUM, OUT_SIZE], None),
    ("diffuse_toy2d_name", "string", [ENUM], None),
    ("diffuse_toy2d_from_name", "status", [c_char_p, OUT_ENUM], None),
    # images.h
    ("diffuse_images_load_idx", "status", [OUT_HANDLE, c_char_p, c_char_p], None),
    ("diffuse_images_free", "void", [HANDLE], None),
    ("diffuse_images_last_error", "string", [HANDLE], None),
    ("diffuse_images_shape", "status",
     [HANDLE, OUT_SIZE, OUT_SIZE, OUT_SIZE, OUT_SIZE, POINTER(c_int)], _on("images")),
    ("diffuse_images_get", "status", [HANDLE, c_size_t, c_size_t, FLOATS, INT32S],
     _on("images")),
    ("diffuse_images_set_shuffle", "status", [HANDLE, c_int, c_uint64], _on("images")),
    ("diffuse_images_position", "status", [HANDLE, OUT_U64], _on("images")),
    ("diffuse_images_seek", "status", [HANDLE, c_uint64], _on("images")),
    ("diffuse_images_data", "int",
     [c_void_p, FLOATS, INT32S, c_size_t, c_size_t, POINTER(c_char), c_size_t], None),
    # metrics.h
    ("diffuse_energy_distance", "status",
     [FLOATS, c_size_t, FLOATS, c_size_t, c_size_t, OUT_DOUBLE], None),
    ("diffuse_sample_moments", "status", [FLOATS, c_size_t, c_size_t, DOUBLES, DOUBLES], None),
]

RESULT_TYPES = {"status": c_int, "string": c_char_p, "unsigned": c_uint, "size": c_size_t,
                "void": None, "int": c_int}

DECLARED_NAMES = frozenset(entry[0] for entry in DECLARATIONS)
