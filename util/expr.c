/* util/expr: the small expression language of sweep specs' derived values and
 * constraints and of fit's --derive and --where (grammar of values in util/util.h).
 * A recursive-descent evaluator over the text (no tree): each level of the
 * grammar below returns a value. Short-circuit and/or parse their right side
 * with `skip` set, so that "b != 0 and a / b > 1" never divides by zero.
 *
 *   or     := and ("or" and)*
 *   and    := not ("and" not)*
 *   not    := "not" not | cmp
 *   cmp    := sum (("=="|"!="|"<"|"<="|">"|">=") sum)?
 *   sum    := term (("+"|"-") term)*
 *   term   := unary (("*"|"/"|"//"|"%") unary)*
 *   unary  := "-" unary | "+" unary | power
 *   power  := atom ("**" unary)?
 *   atom   := NUMBER | STRING | ${key} | [key] | key | true | false
 *           | (min|max) "(" or ("," or)* ")" | (log|exp) "(" or ")" | "(" or ")"
 *
 * [key] reads like ${key}: a column name that holds spaces or operators
 * ("[Training FLOP]"). log and exp are functions only when "(" follows, so a
 * key may still be called log.
 *
 * Every rule that recurses into itself (a parenthesis, a min/max argument,
 * log/exp argument, unary - and +, **, not) counts one level of ps->depth, so that no input can
 * nest the C stack deeper than UTIL_EXPR_MAX_DEPTH rounds of the grammar.
 */
#include "util/util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *src, *p;
    util_expr_lookup_fn lookup;
    void *ctx;
    int skip;     /* inside an unevaluated branch: check syntax only */
    int depth;
    char *err;
    size_t errlen;
    size_t err_col;
} parser;

/* fail and reference hold the large buffers; kept out of line so that the
 * recursive rules' frames stay small (the depth limit bounds their count). */
__attribute__((noinline)) static int fail(parser *ps, const char *at, const char *fmt, const char *what) {
    ps->err_col = (size_t)(at - ps->src);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return util_err(ps->err, ps->errlen, "%s (at column %zu of \"%s\")", msg, ps->err_col + 1, ps->src);
}

static void ws(parser *ps) {
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

/* Consumes tok (after whitespace) when it is next; words must not run on. */
static int accept(parser *ps, const char *tok) {
    ws(ps);
    size_t n = strlen(tok);
    if (strncmp(ps->p, tok, n)) return 0;
    if (isalpha((unsigned char)tok[0]) && (isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_' ||
                                           ps->p[n] == '.'))
        return 0;
    ps->p += n;
    return 1;
}

static int is_num(parser *ps, const util_value *v, const char *at, const char *op) {
    if (ps->skip || !v->is_str) return 0;
    return fail(ps, at, "operator %s needs numbers, got a string", op);
}

static int truthy(const util_value *v) { return v->is_str ? v->len > 0 : v->num != 0; }

static void num(util_value *v, double x) {
    v->is_str = 0;
    v->num = x;
    v->s = NULL;
    v->len = 0;
}

static int parse_or(parser *ps, util_value *v);

/* Enters one level of nesting (leave with ps->depth--). */
static int deeper(parser *ps) {
    if (++ps->depth <= UTIL_EXPR_MAX_DEPTH) return 0;
    ps->depth--;
    char what[32];
    snprintf(what, sizeof what, "%d", UTIL_EXPR_MAX_DEPTH);
    return fail(ps, ps->p, "expression nested too deeply (more than %s levels)", what);
}

__attribute__((noinline)) static int reference(parser *ps, const char *start, size_t len, const char *at, util_value *v) {
    char key[256];
    if (len == 0 || len >= sizeof key) return fail(ps, at, "%s", "bad key reference");
    memcpy(key, start, len);
    key[len] = 0;
    if (ps->skip) {
        num(v, 0);
        return 0;
    }
    char why[512];
    if (!ps->lookup || ps->lookup(ps->ctx, key, v, why, sizeof why)) {
        ps->err_col = (size_t)(at - ps->src);
        return util_err(ps->err, ps->errlen, "%s (at column %zu of \"%s\")",
                        ps->lookup ? why : "references are not allowed here", ps->err_col + 1, ps->src);
    }
    return 0;
}

static int parse_call(parser *ps, int is_max, const char *at, util_value *v) {
    if (!accept(ps, "(")) return fail(ps, ps->p, "%s", "expected ( after min/max");
    int n = 0;
    double best = 0;
    do {
        util_value a;
        const char *arg_at = ps->p;
        if (parse_or(ps, &a) || is_num(ps, &a, arg_at, is_max ? "max" : "min")) return -1;
        if (n++ == 0 || (is_max ? a.num > best : a.num < best)) best = a.num;
    } while (accept(ps, ","));
    if (!accept(ps, ")")) return fail(ps, ps->p, "%s", "expected , or )");
    (void)at;
    num(v, ps->skip ? 0 : best);
    return 0;
}

/* log(x) or exp(x), after the name; a value without a real result is an error at the name. */
static int parse_fn1(parser *ps, int is_log, const char *at, util_value *v) {
    if (!accept(ps, "(")) return fail(ps, ps->p, "%s", "expected (");
    const char *arg_at = ps->p;
    if (parse_or(ps, v) || is_num(ps, v, arg_at, is_log ? "log" : "exp")) return -1;
    if (!accept(ps, ")")) return fail(ps, ps->p, "%s", "expected )");
    if (ps->skip) return 0;
    if (is_log && !(v->num > 0)) return fail(ps, at, "%s", "log of a number that is not positive");
    double r = is_log ? log(v->num) : exp(v->num);
    if (!isfinite(r)) return fail(ps, at, "%s", "exp overflows");
    num(v, r);
    return 0;
}

/* A function name followed by "(" (after whitespace); otherwise nothing is consumed. */
static int accept_fn(parser *ps, const char *name) {
    const char *save = ps->p;
    if (!accept(ps, name)) return 0;
    ws(ps);
    if (*ps->p == '(') return 1;
    ps->p = save;
    return 0;
}

static int parse_atom(parser *ps, util_value *v) {
    ws(ps);
    const char *at = ps->p;
    char c = *ps->p;
    if (c == '(') {
        ps->p++;
        if (parse_or(ps, v)) return -1;
        if (!accept(ps, ")")) return fail(ps, ps->p, "%s", "expected )");
        return 0;
    }
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)ps->p[1]))) {
        char *end;
        double x = strtod(ps->p, &end);
        ps->p = end;
        num(v, x);
        return 0;
    }
    if (c == '"' || c == '\'') {
        const char *end = strchr(ps->p + 1, c);
        if (!end) return fail(ps, at, "%s", "unterminated string");
        v->is_str = 1;
        v->num = 0;
        v->s = ps->p + 1;
        v->len = (size_t)(end - ps->p - 1);
        ps->p = end + 1;
        return 0;
    }
    if (c == '$') {
        if (ps->p[1] != '{') return fail(ps, at, "%s", "expected { after $");
        const char *end = strchr(ps->p + 2, '}');
        if (!end) return fail(ps, at, "%s", "unterminated ${");
        const char *k = ps->p + 2;
        ps->p = end + 1;
        while (k < end && isspace((unsigned char)*k)) k++;
        size_t len = (size_t)(end - k);
        while (len && isspace((unsigned char)k[len - 1])) len--;
        return reference(ps, k, len, at, v);
    }
    if (c == '[') {
        const char *end = strchr(ps->p + 1, ']');
        if (!end) return fail(ps, at, "%s", "unterminated [");
        const char *k = ps->p + 1;
        ps->p = end + 1;
        return reference(ps, k, (size_t)(end - k), at, v);
    }
    if (isalpha((unsigned char)c) || c == '_') {
        if (accept(ps, "true")) { num(v, 1); return 0; }
        if (accept(ps, "false")) { num(v, 0); return 0; }
        if (accept(ps, "min")) return parse_call(ps, 0, at, v);
        if (accept(ps, "max")) return parse_call(ps, 1, at, v);
        if (accept_fn(ps, "log")) return parse_fn1(ps, 1, at, v);
        if (accept_fn(ps, "exp")) return parse_fn1(ps, 0, at, v);
        const char *k = ps->p;
        while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '.') ps->p++;
        return reference(ps, k, (size_t)(ps->p - k), at, v);
    }
    if (!c) return fail(ps, at, "%s", "unexpected end of expression");
    char tok[2] = {c, 0};
    return fail(ps, at, "unexpected '%s'", tok);
}

static int parse_unary(parser *ps, util_value *v);

static int parse_power(parser *ps, util_value *v) {
    if (parse_atom(ps, v)) return -1;
    ws(ps);
    const char *at = ps->p;
    if (!accept(ps, "**")) return 0;
    util_value e;
    if (deeper(ps)) return -1;
    int rc = parse_unary(ps, &e);
    ps->depth--;
    if (rc || is_num(ps, v, at, "**") || is_num(ps, &e, at, "**")) return -1;
    if (ps->skip) return 0;
    double r = pow(v->num, e.num);
    if (!isfinite(r)) return fail(ps, at, "%s", "** overflows or has no real value");
    num(v, r);
    return 0;
}

static int parse_unary(parser *ps, util_value *v) {
    ws(ps);
    const char *at = ps->p;
    if (*ps->p == '-' || *ps->p == '+') {
        int neg = *ps->p == '-';
        ps->p++;
        if (deeper(ps)) return -1;
        int rc = parse_unary(ps, v);
        ps->depth--;
        if (rc || is_num(ps, v, at, neg ? "-" : "+")) return -1;
        if (neg) v->num = -v->num;
        return 0;
    }
    return parse_power(ps, v);
}

static int parse_term(parser *ps, util_value *v) {
    if (parse_unary(ps, v)) return -1;
    for (;;) {
        ws(ps);
        const char *at = ps->p;
        const char *op = accept(ps, "//") ? "//" : accept(ps, "*") ? "*" : accept(ps, "/") ? "/"
                       : accept(ps, "%") ? "%" : NULL;
        if (!op) return 0;
        if (op[0] == '*' && *ps->p == '*') return fail(ps, at, "%s", "unexpected *"); /* "* *" */
        util_value r;
        if (parse_unary(ps, &r) || is_num(ps, v, at, op) || is_num(ps, &r, at, op)) return -1;
        if (ps->skip) continue;
        if (op[0] != '*' && r.num == 0) return fail(ps, at, "division by zero in %s", op);
        double a = v->num, b = r.num;
        double x = op[0] == '*' ? a * b
                 : !strcmp(op, "/") ? a / b
                 : !strcmp(op, "//") ? floor(a / b)
                 : a - b * floor(a / b); /* Python %: result takes the divisor's sign */
        num(v, x);
    }
}

static int parse_sum(parser *ps, util_value *v) {
    if (parse_term(ps, v)) return -1;
    for (;;) {
        ws(ps);
        const char *at = ps->p;
        int plus = *ps->p == '+';
        if (!plus && *ps->p != '-') return 0;
        ps->p++;
        util_value r;
        if (parse_term(ps, &r) || is_num(ps, v, at, plus ? "+" : "-") ||
            is_num(ps, &r, at, plus ? "+" : "-"))
            return -1;
        if (!ps->skip) num(v, plus ? v->num + r.num : v->num - r.num);
    }
}

static int parse_cmp(parser *ps, util_value *v) {
    if (parse_sum(ps, v)) return -1;
    static const char *ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    ws(ps);
    const char *at = ps->p;
    int k = -1;
    for (int i = 0; i < 6 && k < 0; i++)
        if (accept(ps, ops[i])) k = i;
    if (k < 0) return 0;
    util_value r;
    if (parse_sum(ps, &r)) return -1;
    if (ps->skip) return 0;
    int c;
    if (v->is_str != r.is_str) {
        if (k > 1) return fail(ps, at, "%s", "cannot order a string against a number");
        c = 1; /* unequal */
    } else if (v->is_str) {
        size_t n = v->len < r.len ? v->len : r.len;
        c = memcmp(v->s, r.s, n);
        if (!c) c = (v->len > r.len) - (v->len < r.len);
    } else {
        c = (v->num > r.num) - (v->num < r.num);
    }
    int res = k == 0 ? c == 0 : k == 1 ? c != 0 : k == 2 ? c <= 0 : k == 3 ? c >= 0 : k == 4 ? c < 0 : c > 0;
    num(v, res);
    ws(ps);
    for (int i = 0; i < 6; i++)
        if (!strncmp(ps->p, ops[i], strlen(ops[i])))
            return fail(ps, ps->p, "%s", "chained comparisons are not supported; use and");
    return 0;
}

static int parse_not(parser *ps, util_value *v) {
    if (accept(ps, "not")) {
        if (deeper(ps)) return -1;
        int rc = parse_not(ps, v);
        ps->depth--;
        if (rc) return -1;
        num(v, !truthy(v));
        return 0;
    }
    return parse_cmp(ps, v);
}

static int parse_and(parser *ps, util_value *v) {
    if (parse_not(ps, v)) return -1;
    while (accept(ps, "and")) {
        int short_circuit = !ps->skip && !truthy(v);
        ps->skip += short_circuit;
        util_value r;
        int rc = parse_not(ps, &r);
        ps->skip -= short_circuit;
        if (rc) return -1;
        if (!ps->skip) num(v, short_circuit ? 0 : truthy(&r));
    }
    return 0;
}

static int parse_or(parser *ps, util_value *v) {
    if (deeper(ps)) return -1;
    int rc = parse_and(ps, v);
    while (!rc && accept(ps, "or")) {
        int short_circuit = !ps->skip && truthy(v);
        ps->skip += short_circuit;
        util_value r;
        rc = parse_and(ps, &r);
        ps->skip -= short_circuit;
        if (!rc && !ps->skip) num(v, short_circuit ? 1 : truthy(&r));
    }
    ps->depth--;
    return rc;
}

int util_expr_eval(const char *expr, util_expr_lookup_fn lookup, void *ctx, util_value *out,
                    size_t *err_col, char *err, size_t errlen) {
    parser ps = {.src = expr, .p = expr, .lookup = lookup, .ctx = ctx, .err = err, .errlen = errlen};
    int rc = parse_or(&ps, out);
    if (!rc) {
        ws(&ps);
        if (*ps.p) rc = fail(&ps, ps.p, "%s", "unexpected text after the expression");
    }
    if (!rc && !out->is_str && !isfinite(out->num))
        rc = fail(&ps, expr, "%s", "the result is not a finite number");
    if (rc && err_col) *err_col = ps.err_col;
    return rc;
}

int util_expr_check(const char *expr, size_t *err_col, char *err, size_t errlen) {
    /* skip from the start: references read as 0 without a lookup and no operator computes */
    parser ps = {.src = expr, .p = expr, .skip = 1, .err = err, .errlen = errlen};
    util_value v;
    int rc = parse_or(&ps, &v);
    if (!rc) {
        ws(&ps);
        if (*ps.p) rc = fail(&ps, ps.p, "%s", "unexpected text after the expression");
    }
    if (rc && err_col) *err_col = ps.err_col;
    return rc;
}

void util_value_format(const util_value *v, char *out, size_t outlen) {
    if (v->is_str) {
        snprintf(out, outlen, "%.*s", (int)v->len, v->s);
    } else if (v->num == floor(v->num) && fabs(v->num) < 9007199254740992.0) {
        snprintf(out, outlen, "%.0f", v->num == 0 ? 0.0 : v->num); /* no "-0" */
    } else {
        snprintf(out, outlen, "%.17g", v->num);
    }
}

int util_expr_marked(const char *text) { return text && strstr(text, "${") != NULL; }
