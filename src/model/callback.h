/* Callback models: f is the caller's diffuse_predict_fn (internal). */
#ifndef DIFFUSE_SRC_NN_CALLBACK_H
#define DIFFUSE_SRC_NN_CALLBACK_H

#include "diffuse/model.h"
#include "model/architecture.h"

/* Registry entry: no build (the function cannot come from a config). */
extern const nn_architecture nn_callback_architecture;

/* Makes `m` (with m->config and m->dim set, no parameters) call `fn`. */
diffuse_status nn_callback_attach(diffuse_model *m, diffuse_predict_fn fn, void *user);

#endif
