/* cli/family: a family YAML -> the concrete run configs it allows, with their accounting.
 * Only `scalelab recommend` uses it; fit/ stays model-agnostic and sees column values.
 *
 * Format (configs/family-*.yaml):
 *   base: small-power.yaml        # optional run config the choices start from (relative to
 *                                 # the family file's folder, or as given)
 *   d_model: [64, 128, 256]       # each other key: a list of allowed values (or one value);
 *   n_layer: [2, 4, 8]            # "model.<key>" when the run config has it, else "train.<key>",
 *   context: [512]                # or a dotted key as is
 * Every combination is resolved (model_config_resolve); invalid ones (heads that do not divide
 * d_model, context not a multiple of chunk, ...) are counted and left out. */
#ifndef SCALELAB_CLI_FAMILY_H
#define SCALELAB_CLI_FAMILY_H

#include <stddef.h>

#include "model/model.h"

typedef struct family_member {
    model_config cfg;
    model_flops flops;
} family_member;

#define FAMILY_MAX_MEMBERS 200000

int family_enumerate(const char *path, family_member **out, size_t *n, size_t *n_invalid, char *err,
                     size_t errlen);

#endif
