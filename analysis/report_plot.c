/* report_plot: the data files and gnuplot scripts of a report's figures, and
 * running gnuplot on them. Each figure is built by one function that writes its
 * data file and its script together, so the script's "index i" always names
 * the block the data writer emitted as the i-th. */
#include "analysis/report_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const report_plot_info report_plots[] = {
    {"frontier", "Final loss against training compute"},
    {"isoflop_wsfr", "IsoFLOP: loss against WSFR"},
    {"isoflop_params", "IsoFLOP: loss against parameters"},
    {"context", "Context utility: loss by position"},
    {"curves", "Training curves"},
};
const size_t report_n_plots = sizeof report_plots / sizeof report_plots[0];

static const char *const label_palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                            "#E69F00", "#56B4E9", "#000000", "#999999"};
/* Viridis samples without its last, yellow end, which vanishes on white. */
static const char *const budget_ramp[] = {"#8fd744", "#35b779", "#21908d", "#31688e", "#443a83", "#440154"};
static const int label_points[] = {7, 5, 9, 13, 11, 15};

long report_label_index(const report_data *d, const char *label) {
    for (size_t i = 0; i < d->n_labels; i++)
        if (!strcmp(d->labels[i], label)) return (long)i;
    return -1;
}

const char *report_label_colour(const report_data *d, const char *label) {
    long i = report_label_index(d, label);
    size_t n = sizeof label_palette / sizeof label_palette[0];
    return label_palette[i < 0 ? n - 1 : (size_t)i % n];
}

/* Budgets ascend from light green to dark purple, spread over the whole ramp. */
const char *report_budget_colour(size_t budget, size_t n_budgets) {
    size_t n = sizeof budget_ramp / sizeof budget_ramp[0];
    if (n_budgets <= 1) return budget_ramp[n - 2];
    if (n_budgets > n) return budget_ramp[budget % n];
    return budget_ramp[budget * (n - 1) / (n_budgets - 1)];
}

static int label_point(const report_data *d, const char *label) {
    long i = report_label_index(d, label);
    size_t n = sizeof label_points / sizeof label_points[0];
    return label_points[i < 0 ? 0 : (size_t)i % n];
}

/* "4.1e4" rather than "4.096e+04": 3 significant digits and a bare exponent
 * read faster in tables of FLOPs and parameter counts. */
void report_fmt_num(char *out, size_t n, double x) {
    if (!isfinite(x)) {
        snprintf(out, n, "–");
        return;
    }
    if (x == 0 || (fabs(x) < 1e4 && fabs(x) >= 1e-3)) {
        snprintf(out, n, "%.4g", x);
        return;
    }
    char tmp[64], *e;
    snprintf(tmp, sizeof tmp, "%.3g", x);
    if (!(e = strchr(tmp, 'e'))) {
        snprintf(out, n, "%s", tmp);
        return;
    }
    int exponent = atoi(e + 1);
    *e = 0;
    snprintf(out, n, "%se%d", tmp, exponent);
}

/* A gnuplot single-quoted string: only ' needs escaping (doubled). */
static void gp_str(util_buf *b, const char *s) {
    util_buf_puts(b, "'");
    for (; *s; s++) {
        if (*s == '\'') util_buf_puts(b, "''");
        else util_buf_append(b, s, 1);
    }
    util_buf_puts(b, "'");
}

static void gp_preamble(util_buf *gp, const char *name, int w, int h) {
    util_buf_printf(gp,
                    "# Redraw with: cd <report dir> && gnuplot data/%s.gp\n"
                    "set terminal svg size %d,%d font 'Helvetica,13' background rgb 'white'\n"
                    "set termoption noenhanced\n"
                    "set output 'plots/%s.svg'\n"
                    "set border 3 lw 1 lc rgb '#555555'\n"
                    "set tics nomirror out scale 0.6\n"
                    "set grid xtics ytics lc rgb '#e8e8e8' lw 1 dt 1\n"
                    "set key top right opaque box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'\n"
                    "set datafile missing 'NaN'\n",
                    name, w, h, name);
}

static void dat_num(util_buf *b, double x) {
    if (isfinite(x)) util_buf_printf(b, "%.9g", x);
    else util_buf_puts(b, "NaN");
}

static void block_end(util_buf *dat, size_t *block) {
    util_buf_puts(dat, "\n\n");
    (*block)++;
}

/* Layout of one panel per budget: up to 3 columns. */
static void panel_layout(size_t n, size_t *rows, size_t *cols) {
    *cols = n < 3 ? n : 3;
    *rows = (n + *cols - 1) / *cols;
}

static void budget_title(util_buf *gp, const report_budget *b) {
    char c[32];
    report_fmt_num(c, sizeof c, b->flops);
    util_buf_printf(gp, "set title 'C = %s FLOPs (%zu runs)' font ',12'\n", c, b->n_runs);
}

/* Per budget, per run: (tokens, loss). For context == 1: (position, loss) then
 * one block with the knee point. */
static int plot_runs_by_budget(const report_data *d, int context, util_buf *dat, util_buf *gp) {
    const char *name = context ? "context" : "curves";
    size_t rows, cols, block = 0;
    panel_layout(d->n_budgets, &rows, &cols);
    gp_preamble(gp, name, (int)(cols * 430 + 20), (int)(rows * 360 + 20));
    util_buf_printf(gp, "set multiplot layout %zu,%zu\n", rows, cols);
    if (context) util_buf_puts(gp, "set logscale x 2\nset format x '%g'\nset xlabel 'position in context (log2 buckets)'\n");
    else util_buf_puts(gp, "set format x '%.1s%c'\nset xlabel 'training tokens'\n");
    util_buf_puts(gp, "set ylabel 'loss (nats/token)'\n");
    char *titled = calloc(d->n_labels + 1, 1);
    if (!titled) return -1;
    int knee_titled = 0;
    for (size_t k = 0; k < d->n_budgets; k++) {
        budget_title(gp, &d->budgets[k]);
        /* A legend only where this panel shows a label for the first time. */
        int new_label = !knee_titled && context;
        for (size_t i = 0; i < d->n_runs; i++) {
            long li = report_label_index(d, d->runs[i].label);
            if (d->runs[i].budget == (int)k && li >= 0 && !titled[li]) new_label = 1;
        }
        util_buf_puts(gp, new_label ? "set key top right\n" : "unset key\n");
        if (!context) {
            /* The first steps (loss near ln 256) would squash the rest: the y axis
             * starts at the highest loss any run of the panel has once it has
             * seen a tenth of its tokens. */
            double top = -INFINITY;
            for (size_t i = 0; i < d->n_runs; i++) {
                const report_run *r = &d->runs[i];
                if (r->budget != (int)k || r->n_curve == 0) continue;
                for (size_t j = 0; j < r->n_curve; j++)
                    if (r->curve[j].x >= 0.1 * r->curve[r->n_curve - 1].x) {
                        top = fmax(top, r->curve[j].y);
                        break;
                    }
            }
            if (isfinite(top)) util_buf_printf(gp, "set yrange [*:%.6g]\n", top + 0.02 * fabs(top));
        }
        util_buf_puts(gp, "plot ");
        int first = 1;
        for (size_t i = 0; i < d->n_runs; i++) {
            const report_run *r = &d->runs[i];
            if (r->budget != (int)k) continue;
            const report_point *pts = context ? r->pos_loss : r->curve;
            size_t n = context ? r->n_pos_loss : r->n_curve;
            util_buf_printf(dat, "# run %lld %s\n", (long long)r->id, r->label);
            for (size_t j = 0; j < n; j++) {
                dat_num(dat, pts[j].x), util_buf_puts(dat, " "), dat_num(dat, pts[j].y), util_buf_puts(dat, "\n");
            }
            if (n == 0) util_buf_puts(dat, "NaN NaN\n");
            long li = report_label_index(d, r->label);
            util_buf_printf(gp, "%s'data/%s.dat' index %zu using 1:2 with lines lw %s lc rgb '#%s%s' ",
                            first ? "" : ", \\\n     ", name, block, context ? "1.6" : "1.2", context ? "" : "30",
                            report_label_colour(d, r->label) + 1);
            if (li >= 0 && !titled[li]) {
                util_buf_puts(gp, "title "), gp_str(gp, r->label), titled[li] = 1;
            } else {
                util_buf_puts(gp, "notitle");
            }
            first = 0;
            block_end(dat, &block);
            if (context) {
                util_buf_printf(dat, "# knee of run %lld\n", (long long)r->id);
                if (r->knee >= 0) {
                    dat_num(dat, r->pos_loss[r->knee].x), util_buf_puts(dat, " ");
                    dat_num(dat, r->pos_loss[r->knee].y), util_buf_puts(dat, "\n");
                } else {
                    util_buf_puts(dat, "NaN NaN\n");
                }
                util_buf_printf(gp, ", \\\n     'data/context.dat' index %zu using 1:2 with points pt 6 ps 1.8 lw 2 "
                                    "lc rgb '%s' %s", block, report_label_colour(d, r->label),
                                knee_titled ? "notitle" : "title 'knee'");
                knee_titled = 1;
                block_end(dat, &block);
            }
        }
        util_buf_puts(gp, "\n");
    }
    util_buf_puts(gp, "unset multiplot\n");
    free(titled);
    return 0;
}

/* Per label: (training FLOPs, loss, WSFR); then the budgets' optima; the
 * frontier line is the fitted law itself. */
static int plot_frontier(const report_data *d, util_buf *dat, util_buf *gp) {
    size_t block = 0;
    gp_preamble(gp, "frontier", 900, 540);
    util_buf_puts(gp, "set logscale x 10\nset format x '1e%L'\nset xlabel 'training FLOPs  C = 3 (W + S) tokens'\n"
                      "set ylabel 'final loss (nats/token)'\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
                      "set key top right\n"
                      "set autoscale xfix\n"
                      "# marker area grows with WSFR: 0.6 at WSFR <= 0.25, 2.6 at WSFR >= 64\n"
                      "wsfr_size(w) = w != w ? 1 : 0.6 + 2.0 * (log(w < 0.25 ? 0.25 : (w > 64 ? 64 : w)) - log(0.25)) / (log(64) - log(0.25))\n"
                      "set label 1 'marker size grows with WSFR (small: state-heavy, large: weight-heavy)' "
                      "at graph 0.01, graph 0.03 font ',10' tc rgb '#777777'\n");
    if (d->frontier.ok)
        util_buf_printf(gp, "frontier(x) = %.9g + %.9g * x**(-%.9g)\n", d->frontier.E, d->frontier.A, d->frontier.alpha);
    util_buf_puts(gp, "plot ");
    int first = 1;
    for (size_t l = 0; l < d->n_labels; l++) {
        util_buf_printf(dat, "# %s: flops loss wsfr\n", d->labels[l]);
        size_t n = 0;
        for (size_t i = 0; i < d->n_runs; i++) {
            const report_run *r = &d->runs[i];
            if (r->budget < 0 || strcmp(r->label, d->labels[l])) continue;
            dat_num(dat, r->training_flops), util_buf_puts(dat, " "), dat_num(dat, report_run_loss(r));
            util_buf_puts(dat, " "), dat_num(dat, r->wsfr), util_buf_puts(dat, "\n");
            n++;
        }
        if (n == 0) util_buf_puts(dat, "NaN NaN NaN\n");
        /* 25% transparent ("#AARRGGBB"): runs of one budget share an x. */
        const char *c = report_label_colour(d, d->labels[l]);
        util_buf_printf(gp, "%s'data/frontier.dat' index %zu using 1:2:(wsfr_size($3)) with points pt %d ps variable "
                            "lc rgb '#40%s' title ",
                        first ? "" : ", \\\n     ", block, label_point(d, d->labels[l]), c + 1);
        gp_str(gp, d->labels[l]);
        first = 0;
        block_end(dat, &block);
    }
    util_buf_puts(dat, "# budget optima: flops loss\n");
    for (size_t k = 0; k < d->n_budgets; k++) {
        const report_budget *b = &d->budgets[k];
        double loss = b->by_params.ok ? b->by_params.loss_opt : report_run_loss(&d->runs[b->best_run]);
        dat_num(dat, b->flops), util_buf_puts(dat, " "), dat_num(dat, loss), util_buf_puts(dat, "\n");
    }
    util_buf_printf(gp, ", \\\n     'data/frontier.dat' index %zu using 1:2 with points pt 12 ps 2.2 lw 1.5 "
                        "lc rgb '#222222' title 'budget optimum'", block);
    block_end(dat, &block);
    if (d->frontier.ok)
        util_buf_printf(gp, ", \\\n     frontier(x) with lines lw 2 dt 2 lc rgb '#222222' "
                            "title sprintf('L = %%.3g + %%.3g C^-%%.3g', %.9g, %.9g, %.9g)",
                        d->frontier.E, d->frontier.A, d->frontier.alpha);
    util_buf_puts(gp, "\n");
    return 0;
}

/* One IsoFLOP panel: per budget, the points of each label in `only` (NULL:
 * every label) as (x, loss) blocks, the parabola as a function over the
 * budget's own x range, and a block with its vertex. parabolas[k * stride]
 * is budget k's parabola. */
static void isoflop_panel(const report_data *d, const char *name, int by_params, const char *only,
                          const report_parabola *parabolas, size_t stride, int legend, util_buf *dat,
                          util_buf *gp, size_t *block) {
    util_buf_puts(gp, "plot ");
    int first = 1;
    for (size_t k = 0; k < d->n_budgets; k++) {
        const report_parabola *pb = &parabolas[k * stride];
        const char *bc = report_budget_colour(k, d->n_budgets);
        double lo = INFINITY, hi = 0;
        for (size_t l = 0; l < d->n_labels; l++) {
            if (only && strcmp(only, d->labels[l])) continue;
            size_t n = 0;
            for (size_t i = 0; i < d->n_runs; i++) {
                const report_run *r = &d->runs[i];
                if (r->budget != (int)k || strcmp(r->label, d->labels[l])) continue;
                double x = by_params ? r->params : r->wsfr;
                if (n == 0) util_buf_printf(dat, "# budget %zu %s: x loss\n", k, d->labels[l]);
                dat_num(dat, x), util_buf_puts(dat, " "), dat_num(dat, report_run_loss(r)), util_buf_puts(dat, "\n");
                if (x > 0 && x < lo) lo = x;
                if (x > hi) hi = x;
                n++;
            }
            if (n == 0) continue; /* no empty blocks: gnuplot rejects a plot with no points */
            util_buf_printf(gp, "%s'data/%s.dat' index %zu using 1:2 with points pt %d ps 1.3 lc rgb '%s' notitle",
                            first ? "" : ", \\\n     ", name, *block, label_point(d, d->labels[l]), bc);
            first = 0;
            block_end(dat, block);
        }
        char c[32];
        report_fmt_num(c, sizeof c, d->budgets[k].flops);
        if (pb->ok && hi > 0) {
            /* Drawn only over the budget's own x range (widened a little): a
             * parabola in log x says nothing far outside its points. */
            double u0 = log(lo) - 0.15 * (log(hi) - log(lo)) - 0.05, u1 = log(hi) + 0.15 * (log(hi) - log(lo)) + 0.05;
            util_buf_printf(gp, "%s(log(x) >= %.9g && log(x) <= %.9g) ? %.9g*log(x)**2 + %.9g*log(x) + %.9g : 1/0 "
                                "with lines lw 2 lc rgb '%s' %s",
                            first ? "" : ", \\\n     ", u0, u1, pb->a, pb->b, pb->c, bc, legend ? "title 'C = " : "notitle");
            if (legend) util_buf_printf(gp, "%s'", c);
            first = 0;
            util_buf_printf(dat, "# budget %zu vertex: x loss\n", k);
            dat_num(dat, pb->x_opt), util_buf_puts(dat, " "), dat_num(dat, pb->loss_opt), util_buf_puts(dat, "\n");
            util_buf_printf(gp, ", \\\n     'data/%s.dat' index %zu using 1:2 with points pt 3 ps 2.4 lw 2.5 lc rgb '%s' notitle",
                            name, *block, bc);
            block_end(dat, block);
        } else if (legend) {
            util_buf_printf(gp, "%sNaN with lines lw 2 lc rgb '%s' title 'C = %s (no parabola)'",
                            first ? "" : ", \\\n     ", bc, c);
            first = 0;
        }
    }
    if (legend) {
        util_buf_printf(gp, "%sNaN with points pt 3 ps 2 lw 2 lc rgb '#222222' title 'vertex'", first ? "" : ", \\\n     ");
        first = 0;
        for (size_t l = 0; l < d->n_labels && !only; l++) {
            util_buf_printf(gp, ", \\\n     NaN with points pt %d ps 1.3 lc rgb '#666666' title ", label_point(d, d->labels[l]));
            gp_str(gp, d->labels[l]);
        }
    }
    if (first) util_buf_puts(gp, "NaN notitle"); /* a panel without points still draws its frame */
    util_buf_puts(gp, "\n");
}

/* Loss against WSFR: one panel, every mixer, a parabola per budget (which WSFR
 * is best at fixed compute, across mixers). Loss against N: one panel per
 * mixer, a parabola per budget (the classic IsoFLOP per architecture). */
static int plot_isoflop(const report_data *d, int by_params, util_buf *dat, util_buf *gp) {
    const char *name = by_params ? "isoflop_params" : "isoflop_wsfr";
    size_t block = 0;
    const char *axes = "set ylabel 'final loss (nats/token)'\nset offsets graph 0.05, graph 0.05, graph 0.08, graph 0.05\n"
                       "set samples 400\nset logscale x 10\n";
    if (!by_params) {
        gp_preamble(gp, name, 900, 540);
        util_buf_printf(gp, "%sset xlabel 'WSFR = weight FLOPs / state FLOPs per token'\nset format x '%%g'\n"
                            "set key outside right top\n", axes);
        report_parabola *pw = malloc((d->n_budgets + 1) * sizeof *pw);
        if (!pw) return -1;
        for (size_t k = 0; k < d->n_budgets; k++) pw[k] = d->budgets[k].by_wsfr;
        isoflop_panel(d, name, 0, NULL, pw, 1, 1, dat, gp, &block);
        free(pw);
        return 0;
    }
    size_t rows, cols = d->n_labels < 2 ? 1 : 2;
    rows = (d->n_labels + cols - 1) / cols;
    /* One y range for every panel, so mixers compare at a glance; no legends
     * (they would hide points): budget colours are those of the WSFR plot. */
    double ylo = INFINITY, yhi = -INFINITY, xlo = INFINITY, xhi = 0;
    for (size_t i = 0; i < d->n_runs; i++) {
        if (d->runs[i].budget < 0) continue;
        ylo = fmin(ylo, report_run_loss(&d->runs[i])), yhi = fmax(yhi, report_run_loss(&d->runs[i]));
        if (d->runs[i].params > 0) xlo = fmin(xlo, d->runs[i].params), xhi = fmax(xhi, d->runs[i].params);
    }
    double pad = 0.06 * (yhi - ylo) + 1e-3;
    gp_preamble(gp, name, (int)(cols * 520 + 20), (int)(rows * 360 + 20));
    util_buf_printf(gp, "%sset xlabel 'parameters N'\nset format x '%%.0s%%c'\nunset key\n"
                        "set yrange [%.6g:%.6g]\nset xrange [%.6g:%.6g]\nset offsets 0, 0, 0, 0\n"
                        "set multiplot layout %zu,%zu\n",
                    axes, ylo - pad, yhi + pad, xlo / 1.15, xhi * 1.15, rows, cols);
    for (size_t l = 0; l < d->n_labels; l++) {
        util_buf_puts(gp, "set title "), gp_str(gp, d->labels[l]), util_buf_puts(gp, " font ',12'\n");
        isoflop_panel(d, name, 1, d->labels[l], &d->label_params[l], d->n_labels, 0, dat, gp, &block);
    }
    util_buf_puts(gp, "unset multiplot\n");
    return 0;
}

static int build_plot(const report_data *d, const char *name, util_buf *dat, util_buf *gp,
                      char *err, size_t errlen) {
    int rc;
    if (!strcmp(name, "curves")) rc = plot_runs_by_budget(d, 0, dat, gp);
    else if (!strcmp(name, "context")) rc = plot_runs_by_budget(d, 1, dat, gp);
    else if (!strcmp(name, "frontier")) rc = plot_frontier(d, dat, gp);
    else if (!strcmp(name, "isoflop_wsfr")) rc = plot_isoflop(d, 0, dat, gp);
    else if (!strcmp(name, "isoflop_params")) rc = plot_isoflop(d, 1, dat, gp);
    else return util_err(err, errlen, "unknown plot '%s'", name);
    return rc ? util_err(err, errlen, "plot %s: out of memory", name) : 0;
}

int report_plot_data(const report_data *d, const char *name, util_buf *out, char *err, size_t errlen) {
    util_buf gp = {0};
    int rc = build_plot(d, name, out, &gp, err, errlen);
    util_buf_free(&gp);
    return rc;
}

/* Runs `gnuplot data/<name>.gp` with dir as its working directory, so the
 * scripts use relative paths and the report folder can be moved or shared;
 * gnuplot's messages go to data/<name>.log and are quoted back on failure. */
static int run_gnuplot(const char *dir, const char *name, char *err, size_t errlen) {
    char script[256], log[256];
    snprintf(script, sizeof script, "data/%s.gp", name);
    snprintf(log, sizeof log, "data/%s.log", name);
    const char *gnuplot = getenv("SCALELAB_GNUPLOT");
    if (!gnuplot || !*gnuplot) gnuplot = "gnuplot";
    int ready[2];
    if (pipe2(ready, O_CLOEXEC)) return util_err(err, errlen, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(ready[0]), close(ready[1]);
        return util_err(err, errlen, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec; a failed exec reports its
         * errno through the close-on-exec pipe. */
        int fd = -1, e = 0;
        if (chdir(dir) || (fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
            dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
            e = errno;
        } else {
            int devnull = open("/dev/null", O_RDONLY);
            if (devnull >= 0) dup2(devnull, 0);
            char *const argv[] = {(char *)gnuplot, script, NULL};
            execvp(gnuplot, argv);
            e = errno;
        }
        ssize_t wr = write(ready[1], &e, sizeof e);
        (void)wr;
        _exit(127);
    }
    close(ready[1]);
    int child_errno = 0;
    ssize_t got = read(ready[0], &child_errno, sizeof child_errno);
    close(ready[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got == (ssize_t)sizeof child_errno)
        return util_err(err, errlen, "cannot run %s: %s%s", gnuplot, strerror(child_errno),
                        child_errno == ENOENT ? " (install gnuplot-nox: make deps)" : "");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, log);
    const char *tail = "";
    if (!util_read_file(path, &text, &len, NULL, 0)) {
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = 0;
        tail = text;
        for (char *p = text; *p; p++)
            if (*p == '\n' && p[1]) tail = p + 1;
    }
    int rc = util_err(err, errlen, "gnuplot failed on %s/%s (exit %d): %s", dir, script,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1, tail);
    free(text);
    return rc;
}

int report_draw_plots(const report_data *d, const char *dir, char *err, size_t errlen) {
    char path[4096];
    for (size_t i = 0; i < report_n_plots; i++) {
        const char *name = report_plots[i].name;
        util_buf dat = {0}, gp = {0};
        int rc = build_plot(d, name, &dat, &gp, err, errlen);
        if (!rc) {
            snprintf(path, sizeof path, "%s/data/%s.dat", dir, name);
            rc = util_write_file_atomic(path, dat.data ? dat.data : "", dat.len, err, errlen);
        }
        if (!rc) {
            snprintf(path, sizeof path, "%s/data/%s.gp", dir, name);
            rc = util_write_file_atomic(path, gp.data ? gp.data : "", gp.len, err, errlen);
        }
        util_buf_free(&dat);
        util_buf_free(&gp);
        if (!rc) rc = run_gnuplot(dir, name, err, errlen);
        if (rc) return rc;
    }
    return 0;
}
