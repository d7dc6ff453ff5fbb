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

/* Okabe-Ito, then Tol's muted set: 12 colours that stay apart for colour-blind readers. */
static const char *const shape_palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                                            "#882255", "#117733", "#332288", "#999933", "#AA4499", "#44AA99"};
#define N_SHAPE_COLOURS (sizeof shape_palette / sizeof shape_palette[0])
static const int budget_points[] = {7, 5, 9, 13, 11, 15};
#define N_BUDGET_POINTS (sizeof budget_points / sizeof budget_points[0])

long report_label_index(const report_data *d, const char *label) {
    for (size_t i = 0; i < d->n_labels; i++)
        if (!strcmp(d->labels[i], label)) return (long)i;
    return -1;
}

long report_shape_index(const report_data *d, const char *shape) {
    for (size_t i = 0; i < d->n_shapes; i++)
        if (!strcmp(d->shapes[i], shape)) return (long)i;
    return -1;
}

const char *report_shape_colour(const report_data *d, const char *shape) {
    long i = report_shape_index(d, shape);
    return i < 0 ? "#000000" : shape_palette[(size_t)i % N_SHAPE_COLOURS];
}

int report_budget_point(size_t k) { return budget_points[k % N_BUDGET_POINTS]; }
int report_budget_dash(size_t k) { return (int)(k % 5) + 1; }

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
                    "set key outside right top box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'\n"
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

/* Explicit tick marks for a log axis over [lo, hi]: 1-2-3-5 per decade (every
 * mark labelled with report_fmt_num, e.g. "3e10", "20k" would need a unit), or
 * only the decades when the range spans more than 3 of them. */
static void log_tics(util_buf *gp, const char *axis, double lo, double hi) {
    if (!(lo > 0) || !(hi >= lo)) return;
    double span = log10(hi) - log10(lo);
    static const double steps1235[] = {1, 2, 3, 5}, steps1[] = {1};
    const double *steps = span > 3 ? steps1 : steps1235;
    size_t ns = span > 3 ? 1 : 4;
    if (span < 0.5) { /* less than half a decade: 1..9 */
        static const double all[] = {1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9};
        steps = all, ns = 10;
    }
    util_buf_printf(gp, "set %stics (", axis);
    int first = 1;
    for (int e = (int)floor(log10(lo)) - 1; e <= (int)ceil(log10(hi)) + 1; e++)
        for (size_t i = 0; i < ns; i++) {
            double v = steps[i] * pow(10, e);
            if (v < lo * 0.999 || v > hi * 1.001) continue;
            char t[32];
            report_fmt_num(t, sizeof t, v);
            util_buf_printf(gp, "%s'%s' %.9g", first ? "" : ", ", t, v);
            first = 0;
        }
    if (first) { /* no mark inside: label both ends */
        char a[32], b[32];
        report_fmt_num(a, sizeof a, lo), report_fmt_num(b, sizeof b, hi);
        util_buf_printf(gp, "'%s' %.9g, '%s' %.9g", a, lo, b, hi);
    }
    util_buf_puts(gp, ")\n");
}

/* Tick marks 0, step, 2 step, ... up to hi, step a 1-2-5 number giving 4 to 8
 * marks, labelled with report_fmt_num ("2e5", "1.2e6"). */
static void lin_tics(util_buf *gp, const char *axis, double hi) {
    if (!(hi > 0)) return;
    double e = pow(10, floor(log10(hi / 5))), step = e;
    if (hi / step > 8) step = 2 * e;
    if (hi / step > 8) step = 5 * e;
    if (hi / step > 8) step = 10 * e;
    util_buf_printf(gp, "set %stics (", axis);
    for (int i = 0; i * step <= hi * 1.0001; i++) {
        char t[32];
        report_fmt_num(t, sizeof t, i * step);
        util_buf_printf(gp, "%s'%s' %.9g", i ? ", " : "", t, i * step);
    }
    util_buf_puts(gp, ")\n");
}

/* An empty panel that says what is missing instead of failing. */
static void empty_panel(util_buf *gp, const char *why, int logx) {
    util_buf_puts(gp, "set xrange [1:10]\nset yrange [0:1]\nunset xtics\nunset ytics\nset label 99 ");
    gp_str(gp, why);
    util_buf_printf(gp, " at graph 0.5, graph 0.5 center font ',12' tc rgb '#666666'\n%splot NaN notitle\n"
                        "unset label 99\nset xtics\nset ytics\nset autoscale\n", logx ? "" : "");
}

/* Layout of one panel per budget: up to 3 columns. */
static void panel_layout(size_t n, size_t *rows, size_t *cols) {
    if (n == 0) n = 1;
    *cols = n < 3 ? n : 3;
    *rows = (n + *cols - 1) / *cols;
}

static void budget_title(util_buf *gp, const report_budget *b) {
    char c[32];
    report_fmt_num(c, sizeof c, b->flops);
    util_buf_printf(gp, "set title 'C = %s FLOPs (%zu runs)' font ',12'\n", c, b->n_runs);
}

/* Exponential moving average of the training loss, bias-corrected (so the
 * first points are not pulled towards 0), over about n/40 logged points. */
double report_smoothing(size_t n) {
    double beta = 1 - 40.0 / (double)(n ? n : 1);
    return beta < 0 ? 0 : beta > 0.98 ? 0.98 : beta;
}

static void smoothed(const report_point *pts, size_t n, util_buf *dat) {
    double m = 0, w = 0, beta = report_smoothing(n);
    for (size_t j = 0; j < n; j++) {
        m = beta * m + (1 - beta) * pts[j].y, w = beta * w + (1 - beta);
        dat_num(dat, pts[j].x), util_buf_puts(dat, " "), dat_num(dat, m / w), util_buf_puts(dat, "\n");
    }
}

/* Per budget, per run: training curves (smoothed train loss, then eval loss) or
 * context curves ((position, loss), then the knee). Colour: the run's shape. */
static int plot_runs_by_budget(const report_data *d, int context, util_buf *dat, util_buf *gp) {
    const char *name = context ? "context" : "curves";
    size_t rows, cols, block = 0;
    panel_layout(d->n_budgets, &rows, &cols);
    gp_preamble(gp, name, (int)(cols * 560 + 20), (int)(rows * 380 + 20));
    util_buf_printf(gp, "set multiplot layout %zu,%zu\n", rows, cols);
    util_buf_puts(gp, "set key outside right top font ',9' samplen 1.5 spacing 1\n");
    if (context) util_buf_puts(gp, "set logscale x 2\nset format x '%g'\nset xlabel 'position in context (log2 buckets)'\n");
    else util_buf_puts(gp, "set xlabel 'training tokens'\n");
    util_buf_puts(gp, "set ylabel 'loss (nats/token)'\n");
    if (d->n_budgets == 0) {
        empty_panel(gp, "no finished runs yet", 0);
        util_buf_puts(gp, "unset multiplot\n");
        return 0;
    }
    for (size_t k = 0; k < d->n_budgets; k++) {
        budget_title(gp, &d->budgets[k]);
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
            util_buf_puts(gp, "set yrange [*:*]\n");
            double most = 0;
            for (size_t i = 0; i < d->n_runs; i++)
                if (d->runs[i].budget == (int)k && d->runs[i].n_curve)
                    most = fmax(most, d->runs[i].curve[d->runs[i].n_curve - 1].x);
            lin_tics(gp, "x", most);
            if (isfinite(top)) util_buf_printf(gp, "set yrange [*:%.6g]\n", top + 0.02 * fabs(top));
        }
        util_buf_puts(gp, "plot ");
        int first = 1;
        size_t missing = 0;
        for (size_t i = 0; i < d->n_runs; i++) {
            const report_run *r = &d->runs[i];
            if (r->budget != (int)k) continue;
            const report_point *pts = context ? r->pos_loss : r->curve;
            size_t n = context ? r->n_pos_loss : r->n_curve;
            if (n == 0) { /* an empty series is left out (and counted in the title) */
                missing++;
                continue;
            }
            const char *colour = report_shape_colour(d, r->shape);
            util_buf_printf(dat, "# run %lld %s\n", (long long)r->id, r->shape);
            if (context) {
                for (size_t j = 0; j < n; j++) {
                    dat_num(dat, pts[j].x), util_buf_puts(dat, " "), dat_num(dat, pts[j].y), util_buf_puts(dat, "\n");
                }
            } else {
                smoothed(pts, n, dat);
            }
            util_buf_printf(gp, "%s'data/%s.dat' index %zu using 1:2 with lines lw %s lc rgb '%s' title ",
                            first ? "" : ", \\\n     ", name, block, context ? "1.6" : "1.2", colour);
            char title[160];
            snprintf(title, sizeof title, "%s%s", r->shape, r->seed ? " (seed " : "");
            if (r->seed) snprintf(title + strlen(title), sizeof title - strlen(title), "%d)", r->seed);
            gp_str(gp, title);
            first = 0;
            block_end(dat, &block);
            if (context && r->knee >= 0) {
                util_buf_printf(dat, "# knee of run %lld\n", (long long)r->id);
                dat_num(dat, r->pos_loss[r->knee].x), util_buf_puts(dat, " ");
                dat_num(dat, r->pos_loss[r->knee].y), util_buf_puts(dat, "\n");
                util_buf_printf(gp, ", \\\n     'data/context.dat' index %zu using 1:2 with points pt 6 ps 1.8 lw 2 "
                                    "lc rgb '%s' notitle", block, colour);
                block_end(dat, &block);
            }
            if (!context && r->n_eval) {
                util_buf_printf(dat, "# eval of run %lld\n", (long long)r->id);
                for (size_t j = 0; j < r->n_eval; j++) {
                    dat_num(dat, r->eval_curve[j].x), util_buf_puts(dat, " ");
                    dat_num(dat, r->eval_curve[j].y), util_buf_puts(dat, "\n");
                }
                util_buf_printf(gp, ", \\\n     'data/curves.dat' index %zu using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 "
                                    "lc rgb '%s' notitle", block, colour);
                block_end(dat, &block);
            }
        }
        if (first) {
            util_buf_puts(gp, "NaN notitle\n");
            /* nothing to draw in this panel: say so on a blank frame */
            gp->len -= strlen("plot NaN notitle\n");
            gp->data[gp->len] = 0;
            empty_panel(gp, context ? "no loss-by-position curves stored" : "no training curves stored", 0);
            continue;
        }
        /* Legend entries for the line styles, in black. */
        util_buf_printf(gp, ", \\\n     NaN with lines lw 1.2 lc rgb '#222222' title %s",
                        context ? "'loss by position'" : "'train (smoothed)'");
        util_buf_printf(gp, ", \\\n     NaN with %s lc rgb '#222222' title %s",
                        context ? "points pt 6 ps 1.4 lw 2" : "linespoints pt 7 ps 0.6 dt 2",
                        context ? "'knee'" : "'eval'");
        if (missing) util_buf_printf(gp, ", \\\n     NaN with dots lc rgb '#ffffff' title '%zu runs without curves'", missing);
        util_buf_puts(gp, "\n");
    }
    util_buf_puts(gp, "unset multiplot\n");
    return 0;
}

/* Per shape: (training FLOPs, loss, WSFR); then the budgets' optima; the
 * frontier line is the fitted law itself. */
static int plot_frontier(const report_data *d, util_buf *dat, util_buf *gp) {
    size_t block = 0;
    gp_preamble(gp, "frontier", 980, 540);
    util_buf_puts(gp, "set logscale x 10\nset xlabel 'training FLOPs  C = 3 (W + S) tokens'\n"
                      "set ylabel 'final loss (nats/token)'\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
                      "set key font ',10'\n");
    if (d->n_budgets == 0) {
        empty_panel(gp, "no finished runs yet", 1);
        return 0;
    }
    double lo = d->budgets[0].flops, hi = d->budgets[d->n_budgets - 1].flops;
    util_buf_printf(gp, "set xrange [%.9g:%.9g]\n", lo / 1.5, hi * 1.5);
    log_tics(gp, "x", lo / 1.5, hi * 1.5);
    if (d->frontier.ok)
        util_buf_printf(gp, "frontier(x) = %.9g + %.9g * x**(-%.9g)\n", d->frontier.E, d->frontier.A, d->frontier.alpha);
    util_buf_puts(gp, "plot ");
    int first = 1;
    for (size_t l = 0; l < d->n_shapes; l++) {
        size_t n = 0;
        for (size_t i = 0; i < d->n_runs; i++) {
            const report_run *r = &d->runs[i];
            if (r->budget < 0 || strcmp(r->shape, d->shapes[l])) continue;
            if (n == 0) util_buf_printf(dat, "# %s: flops loss wsfr\n", d->shapes[l]);
            dat_num(dat, r->training_flops), util_buf_puts(dat, " "), dat_num(dat, report_run_loss(r));
            util_buf_puts(dat, " "), dat_num(dat, r->wsfr), util_buf_puts(dat, "\n");
            n++;
        }
        if (n == 0) continue;
        util_buf_printf(gp, "%s'data/frontier.dat' index %zu using 1:2 with points pt 7 ps 1.1 lc rgb '%s' title ",
                        first ? "" : ", \\\n     ", block, report_shape_colour(d, d->shapes[l]));
        gp_str(gp, d->shapes[l]);
        first = 0;
        block_end(dat, &block);
    }
    util_buf_puts(dat, "# budget optima: flops loss\n");
    for (size_t k = 0; k < d->n_budgets; k++) {
        dat_num(dat, d->budgets[k].flops), util_buf_puts(dat, " "), dat_num(dat, report_budget_optimum_loss(d, k));
        util_buf_puts(dat, "\n");
    }
    util_buf_printf(gp, "%s'data/frontier.dat' index %zu using 1:2 with points pt 12 ps 2.2 lw 1.5 "
                        "lc rgb '#222222' title 'budget optimum'", first ? "" : ", \\\n     ", block);
    block_end(dat, &block);
    if (d->frontier.ok)
        util_buf_printf(gp, ", \\\n     frontier(x) with lines lw 2 dt 2 lc rgb '#222222' "
                            "title sprintf('L = %%.3g + %%.3g C^-%%.3g', %.9g, %.9g, %.9g)",
                        d->frontier.E, d->frontier.A, d->frontier.alpha);
    util_buf_puts(gp, "\n");
    return 0;
}

/* One IsoFLOP panel for one arm: per budget, the arm's runs coloured by shape
 * with the budget's marker, the parabola (black, the budget's dash pattern)
 * drawn over the budget's own x range, and the vertex with its interval. */
static void isoflop_panel(const report_data *d, const char *name, const report_arm *a, util_buf *dat, util_buf *gp,
                          size_t *block) {
    double xlo = INFINITY, xhi = 0, ylo = INFINITY, yhi = -INFINITY;
    for (size_t k = 0; k < a->n_budgets; k++) {
        const report_arm_budget *ab = &a->budgets[k];
        xlo = fmin(xlo, ab->x_min), xhi = fmax(xhi, ab->x_max);
    }
    for (size_t i = 0; i < d->n_runs; i++)
        if (report_run_in_arm(d, a, &d->runs[i]))
            ylo = fmin(ylo, report_run_loss(&d->runs[i])), yhi = fmax(yhi, report_run_loss(&d->runs[i]));
    if (a->kind == REPORT_ARM_STATE) xlo = fmin(xlo, 0.8), xhi = fmax(xhi, 1.25); /* show where 1 (balanced) is */
    double x0 = xlo / 1.4, x1 = xhi * 1.4, pad = 0.08 * (yhi - ylo) + 1e-3;
    util_buf_printf(gp, "set xrange [%.9g:%.9g]\n", x0, x1);
    if (isfinite(ylo)) util_buf_printf(gp, "set yrange [%.9g:%.9g]\n", ylo - pad, yhi + pad);
    log_tics(gp, "x", x0, x1);
    if (a->kind == REPORT_ARM_STATE)
        util_buf_puts(gp, "set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lw 1.5 lc rgb '#888888'\n"
                          "set label 1 'WSFR = 1 (balanced)' at 1, graph 0.97 right offset -0.5,0 font ',10' tc rgb '#666666'\n");
    util_buf_puts(gp, "plot ");
    int first = 1;
    for (size_t k = 0; k < a->n_budgets; k++) {
        const report_arm_budget *ab = &a->budgets[k];
        size_t bk = (size_t)ab->budget;
        for (size_t l = 0; l < d->n_shapes; l++) {
            size_t n = 0;
            for (size_t i = 0; i < d->n_runs; i++) {
                const report_run *r = &d->runs[i];
                if (r->budget != ab->budget || strcmp(r->shape, d->shapes[l])) continue;
                double x = a->kind == REPORT_ARM_WIDTH ? r->params : r->wsfr;
                if (!report_run_in_arm(d, a, r)) continue;
                if (n == 0) util_buf_printf(dat, "# budget %zu %s: x loss\n", bk, d->shapes[l]);
                dat_num(dat, x), util_buf_puts(dat, " "), dat_num(dat, report_run_loss(r)), util_buf_puts(dat, "\n");
                n++;
            }
            if (n == 0) continue; /* no empty blocks */
            util_buf_printf(gp, "%s'data/%s.dat' index %zu using 1:2 with points pt %d ps 1.4 lc rgb '%s' notitle",
                            first ? "" : ", \\\n     ", name, *block, report_budget_point(bk),
                            report_shape_colour(d, d->shapes[l]));
            first = 0;
            block_end(dat, block);
        }
        char c[32];
        report_fmt_num(c, sizeof c, d->budgets[bk].flops);
        /* The optimum is drawn where it is one (ok, weak); a bound or an
         * undecided budget gets a legend entry that says so. */
        int have = isfinite(ab->x_opt) && ab->x_opt > 0 && (!strcmp(ab->verdict, "ok") || !strcmp(ab->verdict, "weak"));
        const char *grey = "#222222";
        if (ab->has_curve) {
            /* Drawn only over the budget's own x range (widened a little): a
             * parabola in log x says nothing far outside its points. */
            double u0 = log(ab->x_min) - 0.1, u1 = log(ab->x_max) + 0.1;
            util_buf_printf(gp, "%s(log(x) >= %.9g && log(x) <= %.9g) ? %.9g*log(x)**2 + %.9g*log(x) + %.9g : 1/0 "
                                "with lines lw 1.5 dt %d lc rgb '%s' title 'C = %s: parabola'",
                            first ? "" : ", \\\n     ", u0, u1, ab->coef[2], ab->coef[1], ab->coef[0],
                            report_budget_dash(bk), grey, c);
            first = 0;
        }
        if (have) {
            util_buf_printf(dat, "# budget %zu vertex: x loss lo hi\n", bk);
            dat_num(dat, ab->x_opt), util_buf_puts(dat, " "), dat_num(dat, ab->loss_opt), util_buf_puts(dat, " ");
            dat_num(dat, isfinite(ab->lo) ? ab->lo : ab->x_opt), util_buf_puts(dat, " ");
            dat_num(dat, isfinite(ab->hi) ? ab->hi : ab->x_opt), util_buf_puts(dat, "\n");
            util_buf_printf(gp, "%s'data/%s.dat' index %zu using 1:2:3:4 with xerrorbars pt %d ps 2 lw 2 dt %d lc rgb '%s' "
                                "title 'C = %s: optimum (%s)'",
                            first ? "" : ", \\\n     ", name, *block, report_budget_point(bk) - 1 > 0 ? report_budget_point(bk) - 1 : 1,
                            report_budget_dash(bk), grey, c, ab->verdict);
            first = 0;
            block_end(dat, block);
        } else {
            char edge[32] = "";
            if (!strcmp(ab->verdict, "bound"))
                report_fmt_num(edge, sizeof edge, strstr(ab->why, "below") ? ab->x_min : ab->x_max);
            util_buf_printf(gp, "%sNaN with points pt %d ps 1.4 lc rgb '%s' title 'C = %s: %s%s%s'",
                            first ? "" : ", \\\n     ", report_budget_point(bk), grey, c, ab->verdict,
                            edge[0] ? (strstr(ab->why, "below") ? " <= " : " >= ") : "", edge);
            first = 0;
        }
    }
    for (size_t l = 0; l < d->n_shapes; l++) { /* colour key: the shapes of this arm */
        int used = 0;
        for (size_t i = 0; i < d->n_runs && !used; i++)
            used = !strcmp(d->runs[i].shape, d->shapes[l]) && report_run_in_arm(d, a, &d->runs[i]);
        if (!used) continue;
        util_buf_printf(gp, ", \\\n     NaN with points pt 7 ps 1.2 lc rgb '%s' title ", report_shape_colour(d, d->shapes[l]));
        gp_str(gp, d->shapes[l]);
    }
    util_buf_puts(gp, "\n");
    if (a->kind == REPORT_ARM_STATE) util_buf_puts(gp, "unset arrow 1\nunset label 1\n");
    util_buf_puts(gp, "set autoscale\n");
}

/* Loss against N for every width arm, loss against WSFR for every state arm:
 * one panel per arm; a figure without arms says what is missing. */
static int plot_isoflop(const report_data *d, int by_params, util_buf *dat, util_buf *gp) {
    const char *name = by_params ? "isoflop_params" : "isoflop_wsfr";
    report_arm_kind kind = by_params ? REPORT_ARM_WIDTH : REPORT_ARM_STATE;
    size_t block = 0, n = 0;
    for (size_t i = 0; i < d->n_arms; i++) n += d->arms[i].kind == kind;
    size_t rows = n ? n : 1;
    gp_preamble(gp, name, 1000, (int)(rows * 440 + 20));
    util_buf_printf(gp, "set ylabel 'final loss (nats/token)'\nset logscale x 10\nset key font ',10'\n"
                        "set xlabel '%s'\nset multiplot layout %zu,1\n",
                    by_params ? "parameters N (log scale)" : "WSFR = weight FLOPs / state FLOPs per token (log scale)", rows);
    if (n == 0) {
        empty_panel(gp, by_params ? "no width arm: no family whose width varies at fixed state setting"
                                  : "no state arm: no runs that move the state at fixed weights within one mixer", 1);
    }
    for (size_t i = 0; i < d->n_arms; i++) {
        const report_arm *a = &d->arms[i];
        if (a->kind != kind) continue;
        char title[256];
        snprintf(title, sizeof title, "%s%s%s", a->name, d->n_sweeps ? ", sweep " : "",
                 d->n_sweeps ? d->sweeps[a->sweep] : "");
        util_buf_puts(gp, "set title "), gp_str(gp, title), util_buf_puts(gp, " font ',12'\n");
        isoflop_panel(d, name, a, dat, gp, &block);
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
