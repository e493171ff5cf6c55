/*
 * libdiffuse — checkpoints.
 *
 * Files are safetensors (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then raw little-endian data. Python users can open
 * the weights with the safetensors package or a few lines of numpy
 * (tests/reference/checkpoint_read.py shows them).
 *
 * Content (format_version 2; every metadata value is a string: integers as
 * integers ("256", "0"), doubles in the shortest form that reads back
 * bit-exactly ("0.9", "1e-8", "10000.0"), enum options by the names of their
 * values: "model.activation" "silu" | "gelu", "model.prediction" "epsilon" |
 * "v" | "x0", "optimizer.decay" "none" | "cosine" | "linear"; the numbers
 * that libdiffuse 0.1 wrote for these, and its "0.0" for integers, still
 * load):
 *   __metadata__  "format": "libdiffuse-checkpoint", "format_version": "2",
 *                 "checksum": "crc32c:" and 8 lowercase hex digits, the
 *                 CRC-32C (Castagnoli) of the data section followed by
 *                 the length field and header without those 8 digits
 *                 (tests/reference/checkpoint_read.py computes it);
 *                 "kind": "model" or "trainer", "library_version";
 *                 "model.architecture" ("mlp"), "model.dim" and one
 *                 "model.<option>" per option of the architecture, named as
 *                 diffuse_model_config_option_at names it ("model.hidden_width");
 *                 "schedule.kind" ("linear", "scaled_linear", "cosine",
 *                 "sigmoid", "custom"), "schedule.steps" and the kind's
 *                 options ("schedule.beta_start", "schedule.zero_terminal_snr");
 *                 trainer files add "optimizer.kind" ("adam", "adamw"), every
 *                 optimizer option ("optimizer.learning_rate"), "optimizer.step",
 *                 "trainer.batch_size", "trainer.seed", "trainer.threads".
 *   tensors       the weights, F32, under the names and shapes of
 *                 diffuse_model_tensor_info ("input.weight" [H, d]); the EMA
 *                 weights, when the model has them, as "ema.<name>"; a custom
 *                 schedule's β as F64 "schedule.betas" [T]; trainer files add
 *                 "optimizer.first_moment" and "optimizer.second_moment", F32
 *                 [param_count].
 * Files are canonical: the same state always gives the same bytes.
 *
 * Writes are atomic: the file is written to a temporary file in the same
 * directory, flushed to disk (fsync), then renamed over `path`; a crash or
 * an error mid-save never destroys an existing checkpoint. An error leaves
 * no temporary file behind. A process killed mid-save: on Linux the
 * temporary file has no name until the instant before the rename
 * (O_TMPFILE), so nothing is left unless the kill falls between those two
 * system calls; elsewhere (or without /proc) a hidden
 * ".<name>.tmp-<host>-<pid>-<n>" is left. Either leftover is removed by the
 * next save to the same path, once no process of that pid runs on this
 * machine. A save refuses non-finite weights or moments
 * (DIFFUSE_ERROR_NUMERIC) rather than write a file that cannot be loaded.
 *
 * Reads validate everything before any handle is handed out: the safetensors
 * structure, within what a checkpoint can need (a header of at most 4 MiB,
 * 16384 tensors, 1024 metadata entries), and the file's size against its
 * header before the data is read (a valid header followed by a GiB costs
 * only the header); "format" and "format_version" (another format or
 * version is DIFFUSE_ERROR_FORMAT, with a message saying which); the
 * checksum ("checksum mismatch", also any flipped bit or hand edit); every
 * key above is required and parsed strictly, then set through the handles'
 * own setters, so a value out of bounds is refused as it would be from a
 * caller, and options that a training step would refuse together (a
 * learning-rate decay over DECAY_STEPS = 0, MIN_LEARNING_RATE above
 * LEARNING_RATE) are refused at load; "optimizer.step" must be below 2^63
 * (step k's noise comes from the Philox streams 2k and 2k + 1, which must
 * not wrap around); every tensor must have the dtype and shape of the
 * rebuilt handles, and no other tensor may be present; weights, EMA weights
 * and moments must be finite and second moments ≥ 0. The tensor shapes are
 * checked against the architecture before the model allocates anything, so
 * a corrupt size cannot make the loader allocate more than the file holds.
 * Any such defect is DIFFUSE_ERROR_FORMAT ("the file is corrupt", including
 * NaN weights), with a message naming the key or tensor (the checksum comes
 * first, so a damaged file usually says "checksum mismatch");
 * DIFFUSE_ERROR_MISMATCH means a valid
 * file that does not fit the request (a model checkpoint given to
 * diffuse_trainer_load). Metadata keys outside the list are ignored, so tools
 * may annotate a file (a tool that edits a value must write a new checksum).
 * Running out of memory while loading or saving is always
 * DIFFUSE_ERROR_NO_MEMORY, never another status or a changed value.
 *
 * Files of libdiffuse 0.1 (format_version 1, no checksum) are still read,
 * with every check above except the checksum (they have none to verify);
 * saving the loaded handles writes a version 2 file. libdiffuse 0.1 does
 * not read version 2 files.
 *
 * Errors: a save records its message in the handle it was called on
 * (diffuse_model_last_error, diffuse_trainer_last_error) and in the thread's
 * slot; a load has no handle and uses the thread's slot (diffuse_last_error)
 * only. Messages name the file: "cannot load checkpoint \"PATH\": ...".
 *
 * Ownership: arguments are borrowed for the call. Handles created by the
 * load functions belong to the caller, who frees them with their *_free
 * functions. On any failure every out-pointer is NULL and nothing is leaked.
 *
 * Threads: a save uses its handles like any other call on them (one thread
 * at a time); loads share nothing and may run in parallel.
 */
#ifndef DIFFUSE_CHECKPOINT_H
#define DIFFUSE_CHECKPOINT_H

#include "diffuse/common.h"
#include "diffuse/model.h"
#include "diffuse/optim.h"
#include "diffuse/schedule.h"
#include "diffuse/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The schedule a model belongs to ---------------------------------------
 * A network learns ε for the noise levels of the schedule it was trained
 * with; sampled through another (a T = 500 cosine model run with a T = 1000
 * linear sampler) it produces noise. So a model remembers its schedule: the
 * one it was last trained with (each training step records the trainer's)
 * or the one its checkpoint holds (diffuse_model_load, diffuse_trainer_load).
 * diffuse_sampler_create and diffuse_model_save then refuse another one,
 * with DIFFUSE_ERROR_MISMATCH and a message naming both. Schedules are the
 * same when their β_0 … β_{T−1} are (kind and options are how β is made).
 * A freshly created model has none and accepts any. Retraining with another
 * schedule (fine-tuning) makes that one the model's. */

/* Declares `schedule` (copied) the one `model` belongs to, replacing the one
 * it was trained or loaded with: the explicit override, for sampling or
 * saving with another schedule on purpose. NULL forgets it (any schedule is
 * then accepted). Errors: INVALID_ARGUMENT (model NULL), STATE (the model is
 * busy: called from a callback of a call running it), NO_MEMORY (the model
 * keeps its schedule). */
DIFFUSE_API diffuse_status diffuse_model_set_schedule(diffuse_model *model,
                                                      const diffuse_schedule *schedule);

/* Saves the model's architecture and options, its weights (and EMA weights,
 * when present) and the configuration of `schedule` (kind, T, options,
 * custom β), the schedule the model is meant to be sampled with.
 * Errors (recorded in `model`): INVALID_ARGUMENT (NULL or empty argument),
 * UNSUPPORTED (a callback model: its prediction function is code, not data),
 * NUMERIC (a non-finite weight), MISMATCH (`schedule` is not the model's,
 * above), IO (the directory does not exist or is not writable, the disk is
 * full, ...; an existing file is then left as it was), NO_MEMORY. */
DIFFUSE_API diffuse_status diffuse_model_save(diffuse_model *model,
                                              const diffuse_schedule *schedule, const char *path);

/* Loads a file written by diffuse_model_save or diffuse_trainer_save:
 * creates a model with its weights (and EMA weights) and, when `schedule` is
 * not NULL, the schedule it was saved with (the file's schedule is validated
 * and becomes the model's either way, above). Predictions of the loaded model are bit-identical to those of
 * the saved one. Errors: INVALID_ARGUMENT (path or model NULL), IO (cannot
 * open or read the file, not a regular file), FORMAT (corrupt, truncated,
 * not a libdiffuse checkpoint, unsupported format_version), NO_MEMORY.
 * On failure *model and *schedule are NULL. */
DIFFUSE_API diffuse_status diffuse_model_load(const char *path, diffuse_model **model,
                                              diffuse_schedule **schedule);

/* Saves everything needed to resume training bit-exactly: the model and the
 * trainer's schedule (as diffuse_model_save), the optimizer's kind, options,
 * moments and step count, and the trainer's options (batch size, seed,
 * threads). The trainer draws step k's noise from (seed, k), so nothing else
 * is needed. The data callback is not saved: a resumed run must hand out the
 * same batches (e.g. by restarting its data stream at step · batch_size).
 * Errors (recorded in `trainer`): as diffuse_model_save. */
DIFFUSE_API diffuse_status diffuse_trainer_save(diffuse_trainer *trainer, const char *path);

/* Loads a file written by diffuse_trainer_save and creates all four handles
 * in the saved state; the trainer borrows the model and the optimizer, so
 * free the trainer first. Set the data callback again before training.
 * Training on then gives the same bits as a run that never stopped.
 * Errors: INVALID_ARGUMENT (any argument NULL), IO, FORMAT (as
 * diffuse_model_load; also a trainer file whose optimizer or trainer part is
 * missing or invalid), MISMATCH (a model checkpoint, which holds no
 * optimizer state: load it with diffuse_model_load), NO_MEMORY.
 * On failure every out-pointer is NULL and nothing is leaked. */
DIFFUSE_API diffuse_status diffuse_trainer_load(const char *path, diffuse_model **model,
                                                diffuse_schedule **schedule,
                                                diffuse_optimizer **optimizer,
                                                diffuse_trainer **trainer);

#ifdef __cplusplus
}
#endif

#endif /* DIFFUSE_CHECKPOINT_H */
