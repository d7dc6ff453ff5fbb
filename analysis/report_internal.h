/* Shared by the analysis/report_*.c files; not part of the public contract. */
#ifndef SCALELAB_REPORT_INTERNAL_H
#define SCALELAB_REPORT_INTERNAL_H

#include "analysis/report.h"

/* One colour means one thing in every plot and table: the colour of a run's
 * shape (report_run.shape, by its index in report_data.shapes; a 12-colour
 * palette from Okabe-Ito and Tol's muted set). Budgets are told apart by
 * panels, marker shapes and dash patterns, drawn in black and greys. */
const char *report_shape_colour(const report_data *d, const char *shape);
long report_shape_index(const report_data *d, const char *shape);
long report_label_index(const report_data *d, const char *label);
/* Marker (gnuplot point type) and dash pattern of budget k. */
int report_budget_point(size_t k);
int report_budget_dash(size_t k);

/* The plots a report draws, in page order. */
typedef struct report_plot_info {
    const char *name;   /* file stem: plots/<name>.svg */
    const char *title;
} report_plot_info;
extern const report_plot_info report_plots[];
extern const size_t report_n_plots;

/* Writes data/<name>.dat and data/<name>.gp for every plot and runs gnuplot on
 * each (fork/exec, no shell) in dir. */
int report_draw_plots(const report_data *d, const char *dir, char *err, size_t errlen);

/* A number for people: 3 significant digits with SI-like exponents ("1.23e12"). */
void report_fmt_num(char *out, size_t n, double x);

/* report_data.c: the sorted distinct labels and shapes; budget groups of finished runs. */
int report_collect_labels(report_data *d);
int report_group_budgets(report_data *d);

/* report_plot.c: the EMA factor for a training curve of n logged points. */
double report_smoothing(size_t n);

/* report_analyse.c: the loss at budget k's optimum (best arm vertex judged ok or weak, else best run). */
double report_budget_optimum_loss(const report_data *d, size_t k);

/* report_answer.c: whether a finished run belongs to an arm; one budget of an arm in words, the WSFR-vs-1 sentence, an arm's title. */
int report_run_in_arm(const report_data *d, const report_arm *a, const report_run *r);
int report_arm_budget_text(const report_data *d, const report_arm *a, const report_arm_budget *ab, char *out, size_t n);
int report_wsfr_sentence(const report_arm_budget *ab, char *out, size_t n);
void report_arm_title(const report_data *d, const report_arm *a, char *out, size_t n);
/* Pairs of finished runs that differ only in train.seed: the noise floor. Writes
 * "shape at C: seed a LOSS, seed b LOSS (|diff| X)" lines; returns how many. */
size_t report_noise_pairs(const report_data *d, util_buf *out, double *max_diff);

#endif
