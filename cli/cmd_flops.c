/* scalelab flops CONFIG [--set k=v]... [--json]: the FLOP accounting of one run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/config.h"
#include "model/flops.h"
#include "util/accounting.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab flops CONFIG.yaml [--set key=value]... [--format table|json] [--json]\n\n"
            "Parameters, weight and state FLOPs per token, WSFR, state size and training FLOPs\n"
            "of a run config (the conventions: README \"FLOP conventions\").\n\n"
            "  --set key=value  override a config key (e.g. model.d_model=256); repeatable\n"
            "  --json           print one JSON object (the same as --format json)\n"
            "  --format F       table (default) or json\n"
            "  -h, --help       this help\n");
}

/* The rows both formats print: the accounting record in util/accounting.h's order,
 * with the LM head's share of W right after W. */
enum { N_ROWS = UTIL_ACCOUNTING_N + 1 };
typedef struct flops_row { const char *name; double v; } flops_row;
static void accounting_rows(const model_flops *f, flops_row rows[N_ROWS]) {
    size_t n = 0;
    for (int k = 0; k < UTIL_ACCOUNTING_N; k++) {
        rows[n++] = (flops_row){util_accounting_names[k], util_accounting_get(&f->acc, k)};
        if (!strcmp(util_accounting_names[k], "weight_flops_per_token"))
            rows[n++] = (flops_row){"lm_head_flops_per_token", f->lm_head_flops_per_token};
    }
}

static void print_json(const model_config *c, const model_flops *f) {
    char hash[17];
    model_config_hash(c, hash);
    util_buf b = {0};
    flops_row rows[N_ROWS + 3];
    accounting_rows(f, rows);
    rows[N_ROWS] = (flops_row){"implementation_state_flops_per_token", f->impl_state_flops_per_token};
    rows[N_ROWS + 1] = (flops_row){"cuda_bf16_training_state_flops_per_token", model_flops_cuda_training_state(c, 1)};
    rows[N_ROWS + 2] = (flops_row){"cuda_fp32_training_state_flops_per_token", model_flops_cuda_training_state(c, 0)};
    util_buf_puts(&b, "{\"config_hash\":");
    util_buf_json_str(&b, hash);
    util_buf_puts(&b, ",\"mixer\":");
    util_buf_json_str(&b, model_mixer_name(c->mixer));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        util_buf_printf(&b, ",\"%s\":", rows[i].name);
        util_buf_json_num(&b, rows[i].v);
    }
    util_buf_puts(&b, "}\n");
    fputs(b.data, stdout);
    util_buf_free(&b);
}

static void print_table(const model_config *c, const model_flops *f) {
    char hash[17];
    model_config_hash(c, hash);
    printf("config %s  mixer %s  L=%d H=%d h=%d h_k=%d d=%d F=%d V=%d T=%d\n", hash, model_mixer_name(c->mixer),
           c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->head_dim, c->mlp_hidden, c->vocab_size,
           c->context);
    flops_row rows[N_ROWS];
    accounting_rows(f, rows);
    for (size_t i = 0; i < N_ROWS; i++) printf("%-26s %.6g\n", rows[i].name, rows[i].v);
    printf("%-26s %.6g  (state FLOPs/token the CPU kernels issue)\n", "implementation_state",
           f->impl_state_flops_per_token);
    /* DESIGN's training state FLOPs are 3 S; the GPU's kernels issue more (padding, recomputation) */
    printf("%-26s %.6g  (a training step's state FLOPs/token on CUDA bf16; 3 S = %.6g)\n", "cuda_bf16_training",
           model_flops_cuda_training_state(c, 1), 3 * f->state_flops_per_token);
    printf("%-26s %.6g  (the same on CUDA FP32)\n", "cuda_fp32_training", model_flops_cuda_training_state(c, 0));
}

int cli_flops(int argc, char **argv) {
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **sets = calloc((size_t)argc, sizeof *sets);
    size_t n_sets = 0;
    int json = 0, opt;
    if (!sets) return cli_error(CLI_FAIL, "flops", "out of memory");
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': sets[n_sets++] = optarg; break;
        case 'j': json = 1; break;
        case 'f':
            if (cli_format_json("flops", optarg, &json)) { free(sets); return CLI_USAGE; }
            break;
        case 'h': usage(stdout); free(sets); return CLI_OK;
        default: free(sets); return cli_option_error("flops", opt, argv, opts);
        }
    }
    if (optind != argc - 1) {
        free(sets);
        usage(stderr);
        return cli_error(CLI_USAGE, "flops", "expected exactly one CONFIG file");
    }
    model_config c;
    char err[1024];
    model_config_default(&c);
    int rc = model_config_load(&c, argv[optind], err, sizeof err) ||
             model_config_apply_sets(&c, sets, n_sets, err, sizeof err);
    free(sets);
    if (rc) return cli_error(CLI_FAIL, "flops", "%s", err);
    if (model_config_resolve(&c, err, sizeof err)) return cli_error(CLI_FAIL, "flops", "%s: %s", argv[optind], err);
    model_flops f;
    model_flops_compute(&c, &f);
    if (json) print_json(&c, &f);
    else print_table(&c, &f);
    return CLI_OK;
}
