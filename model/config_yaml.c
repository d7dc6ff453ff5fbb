/* model/config_yaml: model_config_load, a run config from YAML (or JSON, which
 * libyaml reads as flow-style YAML) over the defaults. Every error names the
 * file and the 1-based line of the offending node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "model/config.h"
#include "model/config_keys.h"
#include "util/util.h"

enum { MAX_SEEN = 64 };

static int node_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null_scalar(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int load_section(model_config *c, yaml_document_t *doc, const char *path, const char *section,
                        yaml_node_t *map, char *err, size_t errlen) {
    if (is_null_scalar(map)) return 0; /* "train:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE)
        return util_err(err, errlen, "%s:%d: section '%s' must be a mapping of key: value", path,
                        node_line(map), section);
    const config_key *seen[MAX_SEEN];
    size_t n_seen = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return util_err(err, errlen, "%s:%d: a key in section '%s' must be a plain name", path,
                            node_line(kn), section);
        const char *name = scalar_text(kn);
        const config_key *k = model_config_find(section, name);
        if (!k) {
            char suggestion[64];
            model_config_suggest(section, name, suggestion, sizeof suggestion);
            return util_err(err, errlen, "%s:%d: unknown key '%s.%s' (did you mean %s?)", path,
                            node_line(kn), section, name, suggestion);
        }
        for (size_t i = 0; i < n_seen; i++)
            if (seen[i] == k)
                return util_err(err, errlen, "%s:%d: duplicate key '%s.%s'", path, node_line(kn), section, name);
        if (n_seen < MAX_SEEN) seen[n_seen++] = k;
        if (vn->type != YAML_SCALAR_NODE || is_null_scalar(vn))
            return util_err(err, errlen, "%s:%d: '%s.%s' needs a single value", path, node_line(vn),
                            section, name);
        /* A quoted "64" is a string; only strings and names may be quoted. */
        if (vn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && k->type != CONFIG_STRING &&
            k->type != CONFIG_ENUM)
            return util_err(err, errlen, "%s:%d: '%s.%s' expects %s, got the string \"%s\"", path,
                            node_line(vn), section, name,
                            k->type == CONFIG_BOOL ? "true or false"
                            : k->type == CONFIG_DOUBLE ? "a number" : "an integer",
                            scalar_text(vn));
        char why[512];
        if (model_config_set_key(c, k, scalar_text(vn), why, sizeof why))
            return util_err(err, errlen, "%s:%d: %s", path, node_line(vn), why);
    }
    return 0;
}

static int load_document(model_config *c, yaml_document_t *doc, const char *path, char *err, size_t errlen) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || is_null_scalar(root)) return 0; /* an empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return util_err(err, errlen, "%s:%d: expected a mapping with sections model, train, data", path,
                        node_line(root));
    unsigned seen = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        if (kn->type != YAML_SCALAR_NODE)
            return util_err(err, errlen, "%s:%d: a section name must be a plain name", path, node_line(kn));
        const char *section = scalar_text(kn);
        if (!model_config_section_known(section))
            return util_err(err, errlen, "%s:%d: unknown section '%s' (did you mean %s?)", path,
                            node_line(kn), section, model_config_suggest_section(section));
        unsigned bit = !strcmp(section, "model") ? 1u : !strcmp(section, "train") ? 2u : 4u;
        if (seen & bit) return util_err(err, errlen, "%s:%d: duplicate section '%s'", path, node_line(kn), section);
        seen |= bit;
        if (load_section(c, doc, path, section, yaml_document_get_node(doc, p->value), err, errlen)) return -1;
    }
    return 0;
}

/* A run config is small: a device (/dev/zero), a FIFO or a huge file is refused
 * before it is read, not read until memory runs out. */
enum { CONFIG_MAX_FILE_BYTES = 16 << 20 };

int model_config_load(model_config *c, const char *path, char *err, size_t errlen) {
    char *text;
    size_t len;
    struct stat st;
    if (stat(path, &st)) return util_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return util_err(err, errlen, "%s: not a regular file", path);
    if (st.st_size > CONFIG_MAX_FILE_BYTES)
        return util_err(err, errlen, "%s: %lld bytes, larger than the %d-byte limit of a config", path,
                        (long long)st.st_size, CONFIG_MAX_FILE_BYTES);
    if (util_read_file(path, &text, &len, err, errlen)) return -1;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(text);
        return util_err(err, errlen, "%s: cannot initialise the YAML parser", path);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_document_t doc;
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = util_err(err, errlen, "%s:%d: YAML syntax error: %s%s%s", path, (int)parser.problem_mark.line + 1,
                      parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
                      parser.context ? parser.context : "");
    } else {
        rc = load_document(c, &doc, path, err, errlen);
        yaml_document_delete(&doc);
        if (!rc) {
            /* A second document would be silently ignored: refuse it. */
            yaml_document_t extra;
            if (!yaml_parser_load(&parser, &extra)) {
                rc = util_err(err, errlen, "%s:%d: YAML syntax error: %s", path,
                              (int)parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown");
            } else {
                if (yaml_document_get_root_node(&extra))
                    rc = util_err(err, errlen, "%s:%d: more than one YAML document", path,
                                  (int)extra.start_mark.line + 1);
                yaml_document_delete(&extra);
            }
        }
    }
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}
