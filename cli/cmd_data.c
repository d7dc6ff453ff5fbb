/* scalelab data prepare --from PATH... --out FILE [--format table|json] [--json]: byte-level token shards. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/data.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab data prepare --from PATH [PATH...] [--from PATH]... --out FILE [--json]\n\n"
            "Writes a byte-level token shard (a small header with magic and version, then the tokens,\n"
            "documents separated by a reserved token) from text files and folders:\n"
            "folders are walked in sorted order, one file is one document, binary files (NUL bytes\n"
            "or mostly invalid UTF-8) and empty files are skipped, symbolic links inside folders\n"
            "are not followed. The output is replaced atomically. Train runs read it with\n"
            "data.source: \"file:FILE\".\n\n"
            "  --from PATH  a file or folder to read (repeatable; more paths may follow)\n"
            "  --out FILE   the shard to write\n"
            "  --json       print the counts as one JSON object (the same as --format json)\n"
            "  --format F   table (default) or json\n"
            "  -h, --help   this help\n");
}

static int prepare(int argc, char **argv) {
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t n = 0;
    const char *out = NULL;
    int json = 0, opt, from_seen = 0;
    if (!paths) return cli_error(CLI_FAIL, "data", "out of memory");
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    /* '-' first in optstring: operands come back as option 1, in order, so
     * "--from a b --out x" reads a and b as inputs. */
    while ((opt = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f': paths[n++] = optarg; from_seen = 1; break;
        case 1:
            if (!from_seen) {
                free(paths);
                usage(stderr);
                return cli_error(CLI_USAGE, "data prepare", "unexpected argument '%s' (inputs follow --from)", optarg);
            }
            paths[n++] = optarg;
            break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'F':
            if (cli_format_json("data prepare", optarg, &json)) { free(paths); return CLI_USAGE; }
            break;
        case 'h': usage(stdout); free(paths); return CLI_OK;
        default: free(paths); return cli_option_error("data prepare", opt, argv, opts);
        }
    }
    if (!n || !out) {
        free(paths);
        usage(stderr);
        return cli_error(CLI_USAGE, "data prepare", "%s", !n ? "--from PATH is required" : "--out FILE is required");
    }
    model_data_prepare_stats st;
    char err[1024];
    double t0 = util_monotonic();
    int rc = model_data_prepare(paths, n, out, &st, err, sizeof err);
    free(paths);
    if (rc) return cli_error(CLI_FAIL, "data prepare", "%s", err);
    double dt = util_monotonic() - t0;
    if (json) {
        util_buf b = {0};
        util_buf_puts(&b, "{\"out\":");
        util_buf_json_str(&b, out);
        util_buf_printf(&b, ",\"files_read\":%" PRId64 ",\"files_skipped\":%" PRId64 ",\"documents\":%" PRId64
                        ",\"bytes\":%" PRId64 ",\"tokens\":%" PRId64 ",\"seconds\":", st.files_read,
                        st.files_skipped, st.documents, st.bytes, st.bytes + st.documents - 1);
        util_buf_json_num(&b, dt);
        util_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        util_buf_free(&b);
    } else {
        printf("%s: %" PRId64 " files read, %" PRId64 " skipped (binary or empty), %" PRId64 " documents, %" PRId64
               " bytes, %.1f s\n", out, st.files_read, st.files_skipped, st.documents, st.bytes, dt);
    }
    return CLI_OK;
}

int cli_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!strcmp(argv[1], "prepare")) return prepare(argc - 1, argv + 1);
    usage(stderr);
    return cli_error(CLI_USAGE, "data", "unknown subcommand '%s' (expected prepare)", argv[1]);
}
