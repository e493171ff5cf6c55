/*
 * libdiffuse — denoising diffusion probabilistic models in C.
 *
 * Include this umbrella header; it pulls in every public part of the API.
 * See common.h for the conventions (status codes, errors, ownership,
 * threads, the 0-based timestep convention) that every function follows.
 */
#ifndef DIFFUSE_DIFFUSE_H
#define DIFFUSE_DIFFUSE_H

#include "diffuse/common.h"
#include "diffuse/rng.h"
#include "diffuse/schedule.h"
#include "diffuse/forward.h"
#include "diffuse/posterior.h"
#include "diffuse/model.h"
#include "diffuse/optim.h"
#include "diffuse/train.h"
#include "diffuse/sampler.h"
#include "diffuse/likelihood.h"
#include "diffuse/checkpoint.h"
#include "diffuse/toy2d.h"
#include "diffuse/metrics.h"
#include "diffuse/images.h"

#endif
