/* model/config: the key table, typed setters, resolution, canonical JSON and hash.
 * Every key of DESIGN section 3 lives in one table (config_keys) that drives
 * parsing, range checks, suggestions for misspelt keys and the canonical form,
 * so a key added there is known everywhere at once. YAML parsing is in
 * config_yaml.c. */
#include "model/config.h"
#include "model/config_keys.h"
#include "model/data.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kern_shape.h"
#include "util/util.h"

#define MIX_ALL ((1u << MODEL_MIXER_SOFTMAX) | (1u << MODEL_MIXER_WINDOW) | (1u << MODEL_MIXER_POWER))
#define MIX_POWER (1u << MODEL_MIXER_POWER)
#define MIX_WINDOW (1u << MODEL_MIXER_WINDOW)

static const char *const mixer_names[] = {"softmax", "window", "power", NULL};
static const char *const norm_names[] = {"layernorm", "rmsnorm", NULL};
static const char *const normalize_names[] = {"sum", "rms", NULL};
static const char *const precision_names[] = {"fp32", "bf16", "auto", NULL};

#define F(field) offsetof(model_config, field)
/* min/max bound the value; min_open makes the lower bound exclusive (lr > 0).
 * Integer keys whose 0 means "derived" (n_kv_head, head_dim, mlp_hidden) have min 0. */
static const config_key config_keys[] = {
    {"model", "vocab_size", CONFIG_INT, F(vocab_size), 2, 2147483647.0, 0, NULL, MIX_ALL},
    {"model", "d_model", CONFIG_INT, F(d_model), 1, 1 << 20, 0, NULL, MIX_ALL},
    {"model", "n_layer", CONFIG_INT, F(n_layer), 1, 1 << 12, 0, NULL, MIX_ALL},
    {"model", "n_head", CONFIG_INT, F(n_head), 1, 1 << 12, 0, NULL, MIX_ALL},
    {"model", "n_kv_head", CONFIG_INT, F(n_kv_head), 0, 1 << 12, 0, NULL, MIX_ALL},
    {"model", "head_dim", CONFIG_INT, F(head_dim), 0, 1 << 16, 0, NULL, MIX_ALL},
    {"model", "mlp_hidden", CONFIG_INT, F(mlp_hidden), 0, 1 << 24, 0, NULL, MIX_ALL},
    {"model", "mixer", CONFIG_ENUM, F(mixer), 0, 0, 0, mixer_names, MIX_ALL},
    {"model", "p", CONFIG_INT, F(p), 1, 4, 0, NULL, MIX_POWER},
    {"model", "chunk", CONFIG_INT, F(chunk), 1, 1 << 24, 0, NULL, MIX_POWER},
    {"model", "window", CONFIG_INT, F(window), 1, 1 << 30, 0, NULL, MIX_WINDOW},
    {"model", "gating", CONFIG_BOOL, F(gating), 0, 1, 0, NULL, MIX_POWER},
    {"model", "normalize", CONFIG_ENUM, F(normalize), 0, 0, 0, normalize_names, MIX_POWER},
    {"model", "norm", CONFIG_ENUM, F(norm), 0, 0, 0, norm_names, MIX_ALL},
    {"model", "tie_embeddings", CONFIG_BOOL, F(tie_embeddings), 0, 1, 0, NULL, MIX_ALL},
    {"train", "context", CONFIG_INT, F(context), 1, 1 << 24, 0, NULL, MIX_ALL},
    {"train", "batch_size", CONFIG_INT, F(batch_size), 1, 1 << 20, 0, NULL, MIX_ALL},
    {"train", "tokens", CONFIG_INT64, F(tokens), 1, 9.0e18, 0, NULL, MIX_ALL},
    {"train", "lr", CONFIG_DOUBLE, F(lr), 0, 1e3, 1, NULL, MIX_ALL},
    {"train", "min_lr_ratio", CONFIG_DOUBLE, F(min_lr_ratio), 0, 1, 0, NULL, MIX_ALL},
    {"train", "warmup_steps", CONFIG_INT, F(warmup_steps), 0, 2147483647.0, 0, NULL, MIX_ALL},
    {"train", "weight_decay", CONFIG_DOUBLE, F(weight_decay), 0, 1e3, 0, NULL, MIX_ALL},
    {"train", "grad_clip", CONFIG_DOUBLE, F(grad_clip), 0, 1e30, 0, NULL, MIX_ALL},
    {"train", "precision", CONFIG_ENUM, F(precision), 0, 0, 0, precision_names, MIX_ALL},
    {"train", "seed", CONFIG_U64, F(seed), 0, 1.8446744073709552e19, 0, NULL, MIX_ALL},
    {"train", "eval_every", CONFIG_INT, F(eval_every), 1, 2147483647.0, 0, NULL, MIX_ALL},
    {"train", "eval_tokens", CONFIG_INT64, F(eval_tokens), 1, 9.0e18, 0, NULL, MIX_ALL},
    {"data", "source", CONFIG_STRING, F(data_source), 0, 0, 0, NULL, MIX_ALL},
};
#undef F
enum { N_KEYS = sizeof config_keys / sizeof config_keys[0] };

size_t model_config_key_count(void) { return N_KEYS; }

int model_config_key_name(size_t i, char *out, size_t outlen) {
    if (i >= N_KEYS) return -1;
    snprintf(out, outlen, "%s.%s", config_keys[i].section, config_keys[i].name);
    return 0;
}

const char *model_mixer_name(model_mixer m) {
    return (unsigned)m < 3 ? mixer_names[m] : "?";
}

model_precision model_precision_resolve(model_precision p, int on_cuda) {
    if (p != MODEL_PRECISION_AUTO) return p;
    return on_cuda ? MODEL_PRECISION_BF16 : MODEL_PRECISION_FP32;
}

const char *model_precision_name(model_precision p) {
    return (unsigned)p < 3 ? precision_names[p] : "?";
}

void model_config_default(model_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 256;
    c->d_model = 128;
    c->n_layer = 4;
    c->n_head = 4;
    c->mixer = MODEL_MIXER_POWER;
    c->p = 2;
    c->chunk = 64;
    c->window = 128;
    c->gating = 1;
    c->norm = MODEL_NORM_LAYERNORM;
    c->context = 512;
    c->batch_size = 16;
    c->tokens = 2000000;
    c->lr = 3.0e-3;
    c->min_lr_ratio = 0.1;
    c->warmup_steps = 50;
    c->weight_decay = 0.1;
    c->grad_clip = 1.0;
    c->precision = MODEL_PRECISION_AUTO;
    c->eval_every = 100;
    c->eval_tokens = 65536;
    snprintf(c->data_source, sizeof c->data_source, "synthetic:recall");
}

void model_config_suggest(const char *section, const char *name, char *out, size_t outlen) {
    size_t best = (size_t)-1;
    const config_key *pick = NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        const config_key *k = &config_keys[i];
        /* A key in the right section wins a tie (and a key written in the wrong
         * section is still found, at distance 0, in its own). */
        size_t dist = 2 * util_edit_distance(name, k->name) + (section && strcmp(section, k->section) != 0);
        if (dist < best) best = dist, pick = k;
    }
    snprintf(out, outlen, "%s.%s", pick->section, pick->name);
}

static const char *const section_names[] = {"model", "train", "data"};

int model_config_section_known(const char *section) {
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(section, section_names[i])) return 1;
    return 0;
}

const char *model_config_suggest_section(const char *section) {
    size_t best = (size_t)-1, pick = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t d = util_edit_distance(section, section_names[i]);
        if (d < best) best = d, pick = i;
    }
    return section_names[pick];
}

const config_key *model_config_find(const char *section, const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(config_keys[i].section, section) && !strcmp(config_keys[i].name, name))
            return &config_keys[i];
    return NULL;
}

static void describe_range(const config_key *k, char *out, size_t outlen) {
    const char *what = k->type == CONFIG_DOUBLE ? "a number" : "an integer";
    if (k->max >= 1e9 || k->max == 2147483647.0)
        snprintf(out, outlen, "%s %s %.15g", what, k->min_open ? ">" : ">=", k->min);
    else
        snprintf(out, outlen, "%s in %s%.15g, %.15g]", what, k->min_open ? "(" : "[", k->min, k->max);
}

/* Parses an integer written as digits or as an exactly integral number
 * (2e6 is 2000000; 1.5 is refused). */
static int parse_integer(const char *text, double *out) {
    char *end;
    errno = 0;
    long long ll = strtoll(text, &end, 10);
    if (end != text && *end == 0 && errno == 0) {
        *out = (double)ll;
        return 0;
    }
    errno = 0;
    unsigned long long ull = strtoull(text, &end, 10);
    if (end != text && *end == 0 && errno == 0 && text[0] != '-') {
        *out = (double)ull;
        return 0;
    }
    double d = strtod(text, &end);
    if (end == text || *end != 0 || !isfinite(d) || d != floor(d)) return -1;
    *out = d;
    return 0;
}

static int set_source(model_config *c, const char *value, char *err, size_t errlen) {
    char why[512];
    if (strlen(value) >= sizeof c->data_source)
        return util_err(err, errlen, "data.source: longer than %zu characters", sizeof c->data_source - 1);
    if (model_data_check_source(value, why, sizeof why)) return util_err(err, errlen, "data.source: %s", why);
    snprintf(c->data_source, sizeof c->data_source, "%s", value);
    return 0;
}

static int set_value(model_config *c, const config_key *k, const char *value, char *err, size_t errlen) {
    char *base = (char *)c;
    char range[96];
    if (k->type == CONFIG_STRING) {
        if (k->offset == offsetof(model_config, data_source))
            return set_source(c, value, err, errlen);
        return util_err(err, errlen, "internal: string key without a setter");
    }
    if (k->type == CONFIG_BOOL) {
        int b;
        if (!strcmp(value, "true") || !strcmp(value, "True") || !strcmp(value, "TRUE")) b = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "False") || !strcmp(value, "FALSE")) b = 0;
        else return util_err(err, errlen, "%s.%s: expected true or false, got '%s'", k->section, k->name, value);
        memcpy(base + k->offset, &b, sizeof b);
        return 0;
    }
    if (k->type == CONFIG_ENUM) {
        for (int i = 0; k->enum_names[i]; i++)
            if (!strcmp(value, k->enum_names[i])) {
                memcpy(base + k->offset, &i, sizeof i);
                if (k->offset == offsetof(model_config, normalize)) c->normalize_set = 1;
                return 0;
            }
        util_buf choices = {0};
        for (int i = 0; k->enum_names[i]; i++)
            util_buf_printf(&choices, "%s%s", i ? ", " : "", k->enum_names[i]);
        util_err(err, errlen, "%s.%s: expected one of %s, got '%s'", k->section, k->name,
                 choices.data ? choices.data : "", value);
        util_buf_free(&choices);
        return -1;
    }
    describe_range(k, range, sizeof range);
    double x;
    if (k->type == CONFIG_DOUBLE) {
        char *end;
        x = strtod(value, &end);
        if (end == value || *end != 0 || !isfinite(x))
            return util_err(err, errlen, "%s.%s: expected %s, got '%s'", k->section, k->name, range, value);
    } else if (parse_integer(value, &x)) {
        return util_err(err, errlen, "%s.%s: expected %s, got '%s'", k->section, k->name, range, value);
    }
    if (x < k->min || (k->min_open && x == k->min) || x > k->max)
        return util_err(err, errlen, "%s.%s: expected %s, got %s", k->section, k->name, range, value);
    switch (k->type) {
    case CONFIG_INT: {
        int v = (int)x;
        memcpy(base + k->offset, &v, sizeof v);
        break;
    }
    case CONFIG_INT64: {
        int64_t v = (int64_t)x;
        memcpy(base + k->offset, &v, sizeof v);
        break;
    }
    case CONFIG_U64: {
        /* Parsed again as text so seeds above 2^53 keep every bit. A value of 2^64
         * or more is refused (it passed the range check above only because k->max
         * rounds to 2^64 as a double; converting it would be undefined, 0 on x86). */
        uint64_t v;
        if (strchr(value, 'e') || strchr(value, 'E') || strchr(value, '.')) {
            if (x >= 18446744073709551616.0)
                return util_err(err, errlen, "%s.%s: expected an integer in [0, 18446744073709551615], got %s",
                                k->section, k->name, value);
            v = (uint64_t)x;
        } else {
            errno = 0;
            v = strtoull(value, NULL, 10);
            if (errno == ERANGE)
                return util_err(err, errlen, "%s.%s: expected an integer in [0, 18446744073709551615], got %s",
                                k->section, k->name, value);
        }
        memcpy(base + k->offset, &v, sizeof v);
        break;
    }
    default: memcpy(base + k->offset, &x, sizeof x); break;
    }
    return 0;
}

int model_config_set_key(model_config *c, const config_key *k, const char *value, char *err, size_t errlen) {
    return set_value(c, k, value, err, errlen);
}

int model_config_set(model_config *c, const char *key, const char *value, char *err, size_t errlen) {
    char section[32], suggestion[64];
    const char *dot = strchr(key, '.');
    if (!dot || (size_t)(dot - key) >= sizeof section) {
        model_config_suggest(NULL, key, suggestion, sizeof suggestion);
        return util_err(err, errlen, "'%s': unknown key, expected section.key (did you mean %s?)", key, suggestion);
    }
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = 0;
    if (!model_config_section_known(section)) {
        model_config_suggest(NULL, dot + 1, suggestion, sizeof suggestion);
        return util_err(err, errlen, "'%s': unknown section '%s' (did you mean %s?)", key, section, suggestion);
    }
    const config_key *k = model_config_find(section, dot + 1);
    if (!k) {
        model_config_suggest(section, dot + 1, suggestion, sizeof suggestion);
        return util_err(err, errlen, "'%s': unknown key (did you mean %s?)", key, suggestion);
    }
    return set_value(c, k, value, err, errlen);
}

int model_config_apply_sets(model_config *c, const char *const *sets, size_t n, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i])
            return util_err(err, errlen, "--set '%s': expected key=value (e.g. model.d_model=256)", sets[i]);
        char key[128];
        size_t klen = (size_t)(eq - sets[i]);
        if (klen >= sizeof key) return util_err(err, errlen, "--set '%s': key too long", sets[i]);
        memcpy(key, sets[i], klen);
        key[klen] = 0;
        char why[512];
        if (model_config_set(c, key, eq + 1, why, sizeof why))
            return util_err(err, errlen, "--set %s: %s", sets[i], why);
    }
    return 0;
}

int model_config_resolve(model_config *c, char *err, size_t errlen) {
    if (c->n_kv_head == 0) c->n_kv_head = c->n_head;
    if (c->head_dim == 0) {
        if (c->d_model % c->n_head)
            return util_err(err, errlen, "model.d_model (%d) must be divisible by model.n_head (%d) "
                            "unless model.head_dim is given", c->d_model, c->n_head);
        c->head_dim = c->d_model / c->n_head;
    }
    if (c->mlp_hidden == 0) c->mlp_hidden = 4 * c->d_model;
    if (!c->normalize_set) c->normalize = c->p % 2 ? MODEL_NORMALIZE_RMS : MODEL_NORMALIZE_SUM;
    if (c->n_kv_head > c->n_head || c->n_head % c->n_kv_head)
        return util_err(err, errlen, "model.n_head (%d) must be a multiple of model.n_kv_head (%d)",
                        c->n_head, c->n_kv_head);
    if (c->mixer == MODEL_MIXER_POWER && c->context % c->chunk)
        return util_err(err, errlen, "train.context (%d) must be a multiple of model.chunk (%d) for the power mixer",
                        c->context, c->chunk);
    /* A power state the kernels cannot index is refused here, named, rather than overflowed
     * there (head_dim 512 at p 4 gives D = 2.9e9): the kernels' own check, in config words. */
    if (c->mixer == MODEL_MIXER_POWER && kern_power_check(c->head_dim, c->p, "model.", err, errlen)) return -1;
    if (c->eval_tokens < c->context)
        return util_err(err, errlen, "train.eval_tokens (%" PRId64 ") must be at least train.context (%d)",
                        c->eval_tokens, c->context);
    char why[512];
    if (model_data_check_source(c->data_source, why, sizeof why))
        return util_err(err, errlen, "data.source: %s", why);
    return 0;
}

int model_config_check_data(const model_config *c, char *err, size_t errlen) {
    model_data *d;
    char why[512];
    if (model_data_open(c->data_source, c->vocab_size, c->seed, &d, why, sizeof why))
        return util_err(err, errlen, "%s", why);
    model_data_close(d);
    return 0;
}

/* The shortest decimal form that reads back as the same double (at most %.17g),
 * so the canonical text is exact and still readable (3e-3 stays 0.003). */
static void print_double(util_buf *b, double x) {
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        if (strtod(tmp, NULL) == x) break;
    }
    util_buf_puts(b, tmp);
}

static void print_value(util_buf *b, const model_config *c, const config_key *k) {
    const char *base = (const char *)c;
    switch (k->type) {
    case CONFIG_INT: {
        int v;
        memcpy(&v, base + k->offset, sizeof v);
        util_buf_printf(b, "%d", v);
        break;
    }
    case CONFIG_INT64: {
        int64_t v;
        memcpy(&v, base + k->offset, sizeof v);
        util_buf_printf(b, "%" PRId64, v);
        break;
    }
    case CONFIG_U64: {
        uint64_t v;
        memcpy(&v, base + k->offset, sizeof v);
        util_buf_printf(b, "%" PRIu64, v);
        break;
    }
    case CONFIG_DOUBLE: {
        double v;
        memcpy(&v, base + k->offset, sizeof v);
        print_double(b, v);
        break;
    }
    case CONFIG_BOOL: {
        int v;
        memcpy(&v, base + k->offset, sizeof v);
        util_buf_puts(b, v ? "true" : "false");
        break;
    }
    case CONFIG_ENUM: {
        int v;
        memcpy(&v, base + k->offset, sizeof v);
        util_buf_json_str(b, k->enum_names[v]);
        break;
    }
    case CONFIG_STRING: util_buf_json_str(b, base + k->offset); break;
    }
}

int model_config_get(const model_config *c, const char *key, char *out, size_t outlen) {
    const char *dot = strchr(key, '.');
    char section[32];
    if (!dot || (size_t)(dot - key) >= sizeof section) return -1;
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = 0;
    const config_key *k = model_config_find(section, dot + 1);
    if (!k) return -1;
    util_buf b = {0};
    print_value(&b, c, k);
    if (!b.data) return -1;
    /* Text form without JSON quotes, as --set takes it. */
    const char *s = b.data;
    size_t n = b.len;
    if (k->type == CONFIG_STRING || k->type == CONFIG_ENUM) {
        s = k->type == CONFIG_STRING ? (const char *)c + k->offset : s + 1;
        n = k->type == CONFIG_STRING ? strlen(s) : n - 2;
    }
    snprintf(out, outlen, "%.*s", (int)n, s);
    util_buf_free(&b);
    return 0;
}

static int key_cmp(const void *a, const void *b) {
    const config_key *const *x = a, *const *y = b;
    int s = strcmp((*x)->section, (*y)->section);
    return s ? s : strcmp((*x)->name, (*y)->name);
}

char *model_config_canonical_json(const model_config *c) {
    const config_key *sorted[N_KEYS];
    for (size_t i = 0; i < N_KEYS; i++) sorted[i] = &config_keys[i];
    qsort(sorted, N_KEYS, sizeof sorted[0], key_cmp);
    util_buf b = {0};
    const char *section = NULL;
    util_buf_puts(&b, "{");
    for (size_t i = 0; i < N_KEYS; i++) {
        const config_key *k = sorted[i];
        if (!(k->mixers & (1u << c->mixer))) continue;
        if (!section || strcmp(section, k->section)) {
            util_buf_printf(&b, "%s\"%s\":{", section ? "}," : "", k->section);
            section = k->section;
        } else {
            util_buf_puts(&b, ",");
        }
        util_buf_printf(&b, "\"%s\":", k->name);
        print_value(&b, c, k);
    }
    if (util_buf_puts(&b, "}}")) {
        util_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void model_config_hash(const model_config *c, char out[17]) {
    char *json = model_config_canonical_json(c);
    uint64_t h = json ? util_hash64(json, strlen(json)) : 0;
    snprintf(out, 17, "%016" PRIx64, h);
    free(json);
}
