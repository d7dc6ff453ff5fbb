/* Shared by the analysis/report_*.c files; not part of the public contract. */
#ifndef SCALELAB_REPORT_INTERNAL_H
#define SCALELAB_REPORT_INTERNAL_H

#include "analysis/report.h"

/* Colour of a run label (by its index in report_data.labels) and of a budget:
 * the Okabe-Ito palette, which stays distinct for colour-blind readers. */
const char *report_label_colour(const report_data *d, const char *label);
const char *report_budget_colour(size_t budget, size_t n_budgets);
long report_label_index(const report_data *d, const char *label);

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

/* report_data.c: the sorted distinct labels; budget groups of finished runs. */
int report_collect_labels(report_data *d);
int report_group_budgets(report_data *d);

#endif
