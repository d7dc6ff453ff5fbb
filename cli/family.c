/* cli/family: enumerating a family YAML (format in cli/family.h) with libyaml. */
#include "cli/family.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/util.h"

enum { MAX_KEYS = 32, MAX_VALUES = 256 };

typedef struct choice {
    char key[128];
    const char *values[MAX_VALUES];
    size_t n;
} choice;

static const char *scalar(yaml_document_t *doc, yaml_node_t *n) {
    (void)doc;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* "d_model" -> "model.d_model" when the run config has that key, else "train.<key>"; dotted as is. */
static int full_key(const char *key, char *out, size_t outlen) {
    char probe[256];
    model_config c;
    model_config_default(&c);
    if (strchr(key, '.')) snprintf(out, outlen, "%s", key);
    else {
        snprintf(out, outlen, "model.%s", key);
        if (model_config_get(&c, out, probe, sizeof probe)) snprintf(out, outlen, "train.%s", key);
    }
    return model_config_get(&c, out, probe, sizeof probe);
}

int family_enumerate(const char *path, family_member **out, size_t *n, size_t *n_invalid, char *err,
                     size_t errlen) {
    *out = NULL;
    *n = *n_invalid = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return util_err(err, errlen, "%s: cannot open", path);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int loaded = yaml_parser_load(&parser, &doc);
    int rc = -1;
    family_member *members = NULL;
    choice ch[MAX_KEYS];
    size_t nk = 0, cap = 0;
    model_config base;
    model_config_default(&base);
    if (!loaded) {
        util_err(err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        util_err(err, errlen, "%s:1: expected a mapping of keys to lists of allowed values", path);
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key), *vn = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(&doc, kn);
        size_t line = kn ? kn->start_mark.line + 1 : 0;
        if (!key) { util_err(err, errlen, "%s:%zu: keys must be plain names", path, line); goto out; }
        if (!strcmp(key, "base")) {
            const char *b = scalar(&doc, vn);
            if (!b) { util_err(err, errlen, "%s:%zu: base: expected a file name", path, line); goto out; }
            char dir[4096], bp[8192];
            snprintf(dir, sizeof dir, "%s", path);
            snprintf(bp, sizeof bp, "%s/%s", dirname(dir), b);
            FILE *t = b[0] == '/' ? NULL : fopen(bp, "rb");
            if (t) fclose(t);
            if (model_config_load(&base, t ? bp : b, err, errlen)) goto out;
            continue;
        }
        if (nk == MAX_KEYS) { util_err(err, errlen, "%s:%zu: more than %d keys", path, line, MAX_KEYS); goto out; }
        choice *c = &ch[nk];
        if (full_key(key, c->key, sizeof c->key)) {
            util_err(err, errlen, "%s:%zu: '%s' is not a run-config key (model.* or train.*)", path, line, key);
            goto out;
        }
        c->n = 0;
        if (vn && vn->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                const char *v = scalar(&doc, yaml_document_get_node(&doc, *it));
                if (!v || c->n == MAX_VALUES) {
                    util_err(err, errlen, "%s:%zu: %s: expected at most %d plain values", path, line, key, MAX_VALUES);
                    goto out;
                }
                c->values[c->n++] = v;
            }
        } else if (scalar(&doc, vn)) {
            c->values[c->n++] = scalar(&doc, vn);
        }
        if (!c->n) { util_err(err, errlen, "%s:%zu: %s: expected a value or a non-empty list", path, line, key); goto out; }
        nk++;
    }
    size_t total = 1;
    for (size_t i = 0; i < nk; i++) {
        total *= ch[i].n;
        if (total > FAMILY_MAX_MEMBERS) {
            util_err(err, errlen, "%s: more than %d combinations; narrow the lists", path, FAMILY_MAX_MEMBERS);
            goto out;
        }
    }
    for (size_t m = 0; m < total; m++) {
        model_config c = base;
        size_t r = m;
        for (size_t i = 0; i < nk; i++) {
            const char *v = ch[i].values[r % ch[i].n];
            r /= ch[i].n;
            char e2[512];
            if (model_config_set(&c, ch[i].key, v, e2, sizeof e2)) {
                util_err(err, errlen, "%s: %s: %s", path, ch[i].key, e2);
                goto out;
            }
        }
        char e3[512];
        if (model_config_resolve(&c, e3, sizeof e3)) { (*n_invalid)++; continue; }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            family_member *nm = realloc(members, cap * sizeof *nm);
            if (!nm) { util_err(err, errlen, "out of memory"); goto out; }
            members = nm;
        }
        members[*n].cfg = c;
        model_flops_compute(&c, &members[*n].flops);
        (*n)++;
    }
    if (!*n) { util_err(err, errlen, "%s: none of the %zu combinations is a valid run config", path, total); goto out; }
    *out = members;
    members = NULL;
    rc = 0;
out:
    if (rc) *n = 0;
    free(members);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
