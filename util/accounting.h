/* util/accounting: the one field list of the accounting record (DESIGN.md section 4).
 *
 * Every layer that holds, stores or prints the accounting numbers generates what it
 * needs from UTIL_ACCOUNTING_FIELDS: the struct below (model/flops, sweep's planned
 * runs and the store all hold a util_accounting), the SQL column list and its binds
 * and reads (store/store_runs.c), and the JSON/CSV keys (cli/cmd_flops.c, cli/cmd_runs.c, the
 * sweep plan). The name of each field is its DESIGN section 4 name, which is at the
 * same time the struct member, the SQL column and the JSON/CSV key. The order is
 * the order of the `runs` table's columns and of every printed list; adding a field
 * here adds it everywhere (the store needs a migration for the new column). */
#ifndef SCALELAB_UTIL_ACCOUNTING_H
#define SCALELAB_UTIL_ACCOUNTING_H

/* X(name, comment): one line per field, in column order. */
#define UTIL_ACCOUNTING_FIELDS(X)                                                   \
    X(params, "every parameter")                                                    \
    X(params_non_embedding, "N: without token embedding and LM head")              \
    X(weight_flops_per_token, "W: forward weight FLOPs per token")                 \
    X(state_flops_per_token, "S: forward state FLOPs per token")                   \
    X(wsfr, "W / S")                                                               \
    X(state_dim, "D = C(d+p-1, p) for power, d otherwise")                          \
    X(state_size, "values carried per sequence")                                    \
    X(tokens, "training tokens")                                                    \
    X(training_flops, "C = 3 (W + S) tokens")

#define UTIL_ACCOUNTING_DECL_(name, comment) double name;
#define UTIL_ACCOUNTING_NAME_(name, comment) #name,
#define UTIL_ACCOUNTING_ONE_(name, comment) +1

/* The record. Every value is a double; NAN where not (yet) known. */
typedef struct util_accounting {
    UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_DECL_)
} util_accounting;

/* As a member of a larger struct: `UTIL_ACCOUNTING_MEMBER(acc);` gives both
 * s.acc (the whole record, to copy or pass on) and s.params, s.wsfr, ... (its
 * fields by name), over the same storage. */
#define UTIL_ACCOUNTING_MEMBER(acc)                              \
    union {                                                      \
        util_accounting acc;                                     \
        struct {                                                 \
            UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_DECL_)        \
        };                                                       \
    }

/* A record whose holder also calls some fields by older short names (the plan's W, S and
 * flops, the report's weight_flops): UTIL_ACCOUNTING_MEMBER_ALIASED(acc, UTIL_ACCOUNTING_ALIAS(W,
 * weight_flops_per_token) ...) adds each alias over its field's storage, placed by the
 * field's index in the list, so the aliases cannot drift from the list. */
#define UTIL_ACCOUNTING_IX_(name, comment) UTIL_ACCOUNTING_IX_##name,
enum { UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_IX_) };
#define UTIL_ACCOUNTING_ALIAS(alias, field)             \
    struct {                                            \
        double alias##_at_[UTIL_ACCOUNTING_IX_##field]; \
        double alias;                                   \
    };
#define UTIL_ACCOUNTING_MEMBER_ALIASED(acc, ...)                 \
    union {                                                      \
        util_accounting acc;                                     \
        struct {                                                 \
            UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_DECL_)        \
        };                                                       \
        __VA_ARGS__                                              \
    }

/* Number of fields, and their names in order. */
enum { UTIL_ACCOUNTING_N = 0 UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_ONE_) };
static const char *const util_accounting_names[UTIL_ACCOUNTING_N] __attribute__((unused)) = {
    UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_NAME_)};

/* Field k (0 <= k < UTIL_ACCOUNTING_N) by index, in list order. */
#define UTIL_ACCOUNTING_CASE_(name, comment) if (k == i++) return &a->name;
static inline double *util_accounting_at(util_accounting *a, int k) {
    int i = 0;
    UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_CASE_)
    return 0;
}
static inline double util_accounting_get(const util_accounting *a, int k) {
    return *util_accounting_at((util_accounting *)a, k);
}

#endif
