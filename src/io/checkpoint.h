/* Checkpoint files (internal): what the parts of the checkpoint unit share.
 * checkpoint.c: format metadata, tensor helpers, error reporting;
 * checkpoint_model.c: the model section, diffuse_model_save/_load;
 * checkpoint_schedule.c: the schedule section;
 * checkpoint_trainer.c: optimizer and trainer sections, diffuse_trainer_save/_load.
 *
 * A checkpoint is a safetensors file (src/safetensors.h) with this content,
 * format_version 2 (every value of "__metadata__" is a string; numbers are
 * written so that they read back bit-exactly, in their shortest such form;
 * enum options by name, see checkpoint_write_number):
 *
 *   metadata  format                "libdiffuse-checkpoint"
 *             format_version        "2" ("1": libdiffuse 0.1, no checksum)
 *             checksum              "crc32c:<8 hex digits>", the CRC-32C of
 *                                   the data section, then of the length
 *                                   field and header without the digits
 *                                   (st_writer_set_checksum)
 *             kind                  "model" | "trainer"
 *             library_version       "0.2.0"   (informational, never checked)
 *             model.architecture    "mlp"     (diffuse_model_architecture_name)
 *             model.dim             data dimension d
 *             model.<option>        every option that applies to the architecture,
 *                                   by its enumeration name ("model.hidden_width")
 *             schedule.kind         "linear" | "scaled_linear" | "cosine" |
 *                                   "sigmoid" | "custom"
 *             schedule.steps        T
 *             schedule.<option>     every option that applies to the kind
 *                                   ("schedule.beta_start"), typed ("0" for
 *                                   zero_terminal_snr; 0.1 wrote "0.0")
 *   tensors   <model tensor name>   F32, the model's shape ("input.weight" [H, d])
 *             ema.<tensor name>     F32, the EMA weights, when the model has them
 *             schedule.betas        F64 [T], CUSTOM schedules only (β before any
 *                                   zero-terminal-SNR rescale)
 *   kind "trainer" adds:
 *   metadata  optimizer.kind        "adam" | "adamw"
 *             optimizer.<option>    all optimizer options ("optimizer.learning_rate")
 *             optimizer.step        steps taken (unsigned 64-bit)
 *             trainer.<option>      "trainer.batch_size", "trainer.seed", "trainer.threads"
 *   tensors   optimizer.first_moment, optimizer.second_moment   F32 [param_count]
 *
 * Reading is strict: within the CHECKPOINT_MAX_* limits; the checksum
 * verified before any value is used; every key above is required, numbers are parsed with
 * the strict safetensors parsers and then set through the handles' own
 * setters, every tensor must have the dtype and shape the rebuilt handles
 * need, weights and moments must be finite (second moments ≥ 0), and the
 * file must hold no other tensors. Metadata keys outside this list are
 * ignored (tools may annotate a file); a later library that stores anything
 * an older reader could not honour must raise format_version.
 *
 * The helpers below report into a caller-provided diffuse_error (never
 * NULL); the public functions add the path and record the result in the
 * handle and the thread's slot (checkpoint_report). */
#ifndef DIFFUSE_SRC_CHECKPOINT_H
#define DIFFUSE_SRC_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffuse/checkpoint.h"
#include "util/error.h"
#include "util/option_table.h"
#include "io/safetensors.h"

#define CHECKPOINT_FORMAT "libdiffuse-checkpoint"
/* Written by this library: version 1 plus the checksum. */
#define CHECKPOINT_FORMAT_VERSION 2
/* libdiffuse 0.1's files: no checksum, otherwise the same. Still read. */
#define CHECKPOINT_FORMAT_VERSION_UNSEALED 1
#define CHECKPOINT_CHECKSUM_KEY "checksum"

/* What a checkpoint can need, so that a hostile header cannot make the
 * reader allocate more: an MLP has at most ~520 tensors (256 hidden
 * layers), twice that with EMA weights, plus 3; ~40 metadata keys; a
 * header entry takes ~100 bytes. The limits leave room for larger
 * architectures and for annotations by tools. */
#define CHECKPOINT_MAX_HEADER_BYTES ((uint64_t)4 << 20)
#define CHECKPOINT_MAX_TENSORS ((size_t)16384)
#define CHECKPOINT_MAX_METADATA ((size_t)1024)

/* optimizer.step must be below 2^63: step k draws its noise from the
 * Philox streams 2k and 2k + 1, which must not wrap around to those of
 * step 0 (so a loaded counter can always advance). */
#define CHECKPOINT_MAX_STEP ((uint64_t)INT64_MAX)

/* Room for "<section>.<name>": sections are short, names (model tensor
 * names, option names) at most 63 bytes. */
#define CHECKPOINT_KEY_SIZE 96

/* Tensors a trainer checkpoint holds beyond those of a model checkpoint:
 * optimizer.first_moment and optimizer.second_moment. */
#define CHECKPOINT_TRAINER_EXTRA_TENSORS 2

typedef enum checkpoint_kind { CHECKPOINT_MODEL = 0, CHECKPOINT_TRAINER = 1 } checkpoint_kind;

/* key = "<prefix><name>" (e.g. "model." + "dim"); truncated names cannot
 * occur for the names the library uses (see CHECKPOINT_KEY_SIZE). */
void checkpoint_key(char key[CHECKPOINT_KEY_SIZE], const char *prefix, const char *name);

/* ---- Writing -------------------------------------------------------------- */

/* A writer holding the format metadata (format, format_version, kind,
 * library_version). Errors: NO_MEMORY. *out = NULL on failure. */
diffuse_status checkpoint_writer_create(st_writer **out, checkpoint_kind kind,
                                        diffuse_error *err);

/* An option value as metadata `key`: an enum option (model.activation,
 * model.prediction, optimizer.decay) by the name of its value ("gelu"), a
 * double option as a double in its shortest round-trip form, an integer
 * option as a 64-bit integer (its double holds it exactly). */
diffuse_status checkpoint_write_number(st_writer *w, const char *key, bool is_double,
                                       double value, diffuse_error *err);

/* Every option of `table` as "<prefix><name>" = values[k], typed as in
 * checkpoint_write_number. */
diffuse_status checkpoint_write_options(st_writer *w, const char *prefix,
                                        const option_table *table, const double *values,
                                        diffuse_error *err);

/* An F32 tensor of `rank` dimensions `shape` whose values (borrowed until
 * the file is written) must all be finite: a checkpoint that could not be
 * loaded again is never written. Errors: NUMERIC (naming the tensor and the
 * element), INVALID_ARGUMENT, NO_MEMORY. */
diffuse_status checkpoint_add_floats(st_writer *w, const char *name, size_t rank,
                                     const size_t *shape, const float *data, diffuse_error *err);

/* The model section: architecture, dim, options, weights and EMA weights.
 * Errors: UNSUPPORTED (a model that is not built from its configuration,
 * i.e. a callback model), NUMERIC (non-finite weight), NO_MEMORY. */
diffuse_status checkpoint_write_model(st_writer *w, const diffuse_model *m, diffuse_error *err);

/* The schedule section: kind, steps, applicable options, custom β. */
diffuse_status checkpoint_write_schedule(st_writer *w, const diffuse_schedule *s,
                                         diffuse_error *err);

/* ---- Reading -------------------------------------------------------------- */

/* Opens `path` within the CHECKPOINT_MAX_* limits, checks the format
 * metadata and the checksum; *kind receives the file's kind. Errors: IO,
 * FORMAT (corrupt file, checksum mismatch, another format, an unsupported
 * format_version), NO_MEMORY. *out = NULL on failure. */
diffuse_status checkpoint_open(st_file **out, const char *path, checkpoint_kind *kind,
                               diffuse_error *err);

/* The index k < count of names[k], the value of metadata `key` (a kind
 * stored by name). Errors: FORMAT, naming the key when it is missing and
 * saying that the value "is <not_a_name>" otherwise, e.g. not_a_name =
 * "not a schedule kind". */
diffuse_status checkpoint_read_name(const st_file *f, const char *key, const char *const *names,
                                    size_t count, const char *not_a_name, size_t *index,
                                    diffuse_error *err);

/* An option value as checkpoint_write_number stores it: `real` for a
 * double option, `integer` for an integer option. */
typedef struct checkpoint_number {
    double real;
    int64_t integer;
} checkpoint_number;


/* Metadata `key` parsed strictly as a double or as a 64-bit integer; any
 * value of the type is accepted (the handle's setter checks the bounds).
 * An enum option is read by name, or as its number (libdiffuse 0.1's
 * files). Errors: FORMAT (missing, not a number of the type, an unknown
 * name). */
diffuse_status checkpoint_read_number(const st_file *f, const char *key, bool is_double,
                                      checkpoint_number *value, diffuse_error *err);

/* Whether `key` is an option added after the files of format_version 1
 * were first written, absent from those files, and so read as its default
 * when it is absent (every other missing key is a FORMAT error). */
bool checkpoint_key_absent_is_default(const st_file *f, const char *key);

/* Copies the F32 tensor `name` of exactly this rank and shape into `out`
 * (product(shape) floats) and checks that every value is finite.
 * Errors: FORMAT (missing tensor, other dtype or shape, non-finite value). */
diffuse_status checkpoint_read_floats(const st_file *f, const char *name, size_t rank,
                                      const size_t *shape, float *out, diffuse_error *err);

/* Reports that a handle's setter or constructor refused what the file
 * holds (`what`, e.g. "the schedule configuration"): NO_MEMORY stays
 * NO_MEMORY, anything else means a value the library does not accept, i.e.
 * a corrupt file (FORMAT). The _key form names metadata `key`. Returns the
 * status. */
diffuse_status checkpoint_rejected(diffuse_error *err, diffuse_status status, const char *what,
                                   const char *message);
diffuse_status checkpoint_rejected_key(diffuse_error *err, diffuse_status status,
                                       const char *key, const char *message);

/* Rebuilds the model (configuration, weights, EMA weights) and the schedule.
 * *tensors_used += the number of tensors read, for checkpoint_check_tensors.
 * Errors: FORMAT, NO_MEMORY. *model / *schedule = NULL on failure. */
diffuse_status checkpoint_read_model(const st_file *f, diffuse_model **model,
                                     size_t *tensors_used, diffuse_error *err);
diffuse_status checkpoint_read_schedule(const st_file *f, diffuse_schedule **schedule,
                                        size_t *tensors_used, diffuse_error *err);

/* FORMAT unless the file holds exactly `expected` tensors (a stray tensor
 * means the file was not written for the configuration it claims). */
diffuse_status checkpoint_check_tensors(const st_file *f, size_t expected, diffuse_error *err);

/* ---- Reporting ----------------------------------------------------------- */

/* Copies into `err` the message that a public call which just failed with
 * `status` left in the thread's slot; returns `status`. */
diffuse_status checkpoint_last_error(diffuse_error *err, diffuse_status status);

/* Records "cannot <action> checkpoint "<path>": <detail>" with `status` in
 * `handle_error` (may be NULL) and the thread's slot; returns `status`. */
diffuse_status checkpoint_report(diffuse_error *handle_error, diffuse_status status,
                                 const char *action, const char *path,
                                 const diffuse_error *detail);

#endif
