/* model/config_keys: private to config*.c — the key table that drives parsing,
 * checks, suggestions and the canonical form of a run config. */
#ifndef SCALELAB_MODEL_CONFIG_KEYS_H
#define SCALELAB_MODEL_CONFIG_KEYS_H

#include <stddef.h>

#include "model/config.h"

typedef enum config_type {
    CONFIG_INT, CONFIG_INT64, CONFIG_U64, CONFIG_DOUBLE, CONFIG_BOOL, CONFIG_ENUM, CONFIG_STRING
} config_type;

typedef struct config_key {
    const char *section, *name;
    config_type type;
    size_t offset;        /* into model_config */
    double min, max;      /* numeric range */
    int min_open;         /* the lower bound is exclusive */
    const char *const *enum_names;
    unsigned mixers;      /* bit m set: the key is part of the canonical form for mixer m */
} config_key;

const config_key *model_config_find(const char *section, const char *name);
int model_config_section_known(const char *section);
/* The closest valid key to name (as "section.name"); keys in section win ties. */
void model_config_suggest(const char *section, const char *name, char *out, size_t outlen);
const char *model_config_suggest_section(const char *section);
int model_config_set_key(model_config *c, const config_key *k, const char *value, char *err, size_t errlen);

#endif
