/* report_page: DIR/index.html or DIR/index.md. Both formats are written by the
 * same section code through a small emitter (headings, paragraphs, figures,
 * tables), so the two can never disagree about what a report contains. Every
 * piece of text from the store passes through the format's escaper. */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int report_html_escape(util_buf *b, const char *s) {
    int rc = 0;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '&': rc = util_buf_puts(b, "&amp;"); break;
        case '<': rc = util_buf_puts(b, "&lt;"); break;
        case '>': rc = util_buf_puts(b, "&gt;"); break;
        case '"': rc = util_buf_puts(b, "&quot;"); break;
        case '\'': rc = util_buf_puts(b, "&#39;"); break;
        default: rc = util_buf_append(b, s, 1);
        }
    }
    return rc;
}

int report_md_escape(util_buf *b, const char *s) {
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == '\n' || *s == '\r') rc = util_buf_puts(b, " "); /* a newline would end a table row */
        /* Only what could start markup inside a line or a table cell; text never
         * starts a line here, so '#', '-', '+' need no escape. */
        else if (strchr("\\`*_[]<>|", *s)) rc = util_buf_printf(b, "\\%c", *s);
        else rc = util_buf_append(b, s, 1);
    }
    return rc;
}

typedef struct page {
    util_buf b;
    report_format f;
    const report_data *d;
    int open; /* an HTML <section> is open */
} page;

static void esc(page *p, const char *s) {
    if (p->f == REPORT_HTML) report_html_escape(&p->b, s);
    else report_md_escape(&p->b, s);
}

/* A paragraph of escaped text, printf-style. */
static void para(page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void para(page *p, const char *fmt, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    util_buf_puts(&p->b, p->f == REPORT_HTML ? "<p>" : "");
    esc(p, text);
    util_buf_puts(&p->b, p->f == REPORT_HTML ? "</p>\n" : "\n\n");
}

static void section(page *p, const char *id, const char *title) {
    if (p->f == REPORT_HTML) {
        util_buf_printf(&p->b, "%s<section id=\"%s\">\n<h2>", p->open ? "</section>\n" : "", id);
        p->open = 1;
        esc(p, title);
        util_buf_puts(&p->b, "</h2>\n");
    } else {
        util_buf_printf(&p->b, "<a id=\"%s\"></a>\n\n## ", id);
        esc(p, title);
        util_buf_puts(&p->b, "\n\n");
    }
}

static void figure(page *p, const char *name, const char *caption) {
    if (p->f == REPORT_HTML) {
        util_buf_printf(&p->b, "<figure><img src=\"plots/%s.svg\" alt=\"", name);
        esc(p, caption);
        util_buf_printf(&p->b, "\"><figcaption>");
        esc(p, caption);
        util_buf_printf(&p->b, " <a href=\"data/%s.dat\">data</a> · <a href=\"data/%s.gp\">gnuplot script</a>"
                               "</figcaption></figure>\n", name, name);
    } else {
        util_buf_puts(&p->b, "![");
        esc(p, caption);
        util_buf_printf(&p->b, "](plots/%s.svg)\n\n*", name);
        esc(p, caption);
        util_buf_printf(&p->b, "* ([data](data/%s.dat), [gnuplot script](data/%s.gp))\n\n", name, name);
    }
}

/* Tables: first column may carry a colour swatch (the run label's colour). */
static void table_head(page *p, const char *const *cols, size_t n) {
    if (p->f == REPORT_HTML) {
        util_buf_puts(&p->b, "<div class=\"scroll\"><table>\n<thead><tr>");
        for (size_t i = 0; i < n; i++) {
            util_buf_puts(&p->b, i ? "<th class=\"num\">" : "<th>");
            esc(p, cols[i]);
            util_buf_puts(&p->b, "</th>");
        }
        util_buf_puts(&p->b, "</tr></thead>\n<tbody>\n");
    } else {
        util_buf_puts(&p->b, "|");
        for (size_t i = 0; i < n; i++) esc(p, cols[i]), util_buf_puts(&p->b, "|");
        util_buf_puts(&p->b, "\n|");
        for (size_t i = 0; i < n; i++) util_buf_puts(&p->b, i ? "---:|" : ":---|");
        util_buf_puts(&p->b, "\n");
    }
}

static void table_row(page *p, const char *const *cells, size_t n, const char *swatch) {
    if (p->f == REPORT_HTML) {
        util_buf_puts(&p->b, "<tr>");
        for (size_t i = 0; i < n; i++) {
            util_buf_puts(&p->b, i ? "<td class=\"num\">" : "<td>");
            if (i == 0 && swatch) util_buf_printf(&p->b, "<span class=\"sw\" style=\"background:%s\"></span>", swatch);
            esc(p, cells[i]);
            util_buf_puts(&p->b, "</td>");
        }
        util_buf_puts(&p->b, "</tr>\n");
    } else {
        util_buf_puts(&p->b, "|");
        for (size_t i = 0; i < n; i++) esc(p, cells[i]), util_buf_puts(&p->b, "|");
        util_buf_puts(&p->b, "\n");
    }
}

static void table_end(page *p) {
    util_buf_puts(&p->b, p->f == REPORT_HTML ? "</tbody></table></div>\n" : "\n");
}

#define NUM(buf, x) (report_fmt_num(buf, sizeof buf, (x)), buf)

static const char css[] =
    "body{font:15px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1d2330;background:#f6f7f9;margin:0}\n"
    "main{max-width:1180px;margin:0 auto;padding:24px 32px 64px}\n"
    "header{background:#1d2330;color:#fff;padding:22px 32px}header h1{margin:0;font-size:24px;font-weight:600}\n"
    "header p{margin:4px 0 0;color:#b9c0cc}\n"
    "nav{margin:10px 0 0}nav a{color:#8fc1ff;margin-right:16px;text-decoration:none;font-size:14px}\n"
    "section{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:8px 24px 18px;margin:20px 0}\n"
    "h2{font-size:19px;font-weight:600;margin:14px 0 8px}\n"
    ".cards{display:flex;gap:14px;flex-wrap:wrap;margin:20px 0 0}\n"
    ".card{flex:1 1 240px;background:#fff;border:1px solid #e3e6eb;border-left:4px solid #0072B2;border-radius:8px;padding:12px 16px}\n"
    ".card b{display:block;font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#66707f}\n"
    ".card span{font-size:20px;font-weight:600}.card small{display:block;color:#66707f}\n"
    "figure{margin:12px 0}figure img{max-width:100%;height:auto;border:1px solid #eef0f3}\n"
    "figcaption{font-size:13px;color:#66707f}figcaption a{color:#3a6ea5}\n"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin:8px 0}\n"
    "th,td{padding:4px 10px;border-bottom:1px solid #edf0f3;white-space:nowrap}th{background:#f1f3f6;text-align:left}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafbfc}\n"
    ".sw{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:7px}\n"
    ".rule{background:#f1f6fb;border-left:3px solid #4292c6;padding:8px 12px;font-size:14px}\n"
    "h3{font-size:16px;font-weight:600;margin:14px 0 4px}\n"
    "#answer{border-left:4px solid #1d2330}td{white-space:normal}#answer td:last-child{text-align:left;min-width:16em}\n";

/* The answer, first: per arm and budget the optimum with its interval and
 * verdict, the WSFR compared with 1, the noise floor, and what is missing. */
static void answer(page *p) {
    const report_data *d = p->d;
    section(p, "answer", "Answer");
    if (d->n_budgets == 0) {
        size_t counts[4] = {0}; /* done, running/pending, failed/diverged, other */
        for (size_t i = 0; i < d->n_runs; i++) {
            const char *st = d->runs[i].status;
            counts[!strcmp(st, "done") ? 0 : !strcmp(st, "pending") || !strcmp(st, "running") ? 1
                   : !strcmp(st, "failed") || !strcmp(st, "diverged") ? 2 : 3]++;
        }
        para(p, "No answer yet: none of the %zu runs has finished with a loss (%zu pending or running, %zu failed "
                "or diverged, %zu other), so there is nothing to fit. The plots below are empty frames; the runs "
                "table lists every run.", d->n_runs, counts[1], counts[2], counts[3]);
        return;
    }
    if (d->n_arms == 0)
        para(p, "No answer: no arm in these runs moves one thing at a time (the width within one family and state "
                "setting, or the state at fixed weights within one mixer), so no optimum can be located.");
    for (size_t i = 0; i < d->n_arms; i++) {
        const report_arm *a = &d->arms[i];
        char title[512], line[1024];
        report_arm_title(d, a, title, sizeof title);
        if (p->f == REPORT_HTML) util_buf_puts(&p->b, "<h3>"), esc(p, title), util_buf_puts(&p->b, "</h3>\n");
        else util_buf_puts(&p->b, "### "), esc(p, title), util_buf_puts(&p->b, "\n\n");
        int width = a->kind == REPORT_ARM_WIDTH;
        const char *wcols[] = {"budget C", "widths", "sampled N", "N_opt [95% interval]", "loss at N_opt",
                               "tokens at N_opt", "tokens / N", "verdict", "why"};
        const char *scols[] = {"budget C", "settings", "sampled WSFR", "WSFR_opt [95% interval]", "loss at WSFR_opt",
                               "best state setting", "vs 1 (balanced)", "verdict", "why"};
        table_head(p, width ? wcols : scols, 9);
        for (size_t k = 0; k < a->n_budgets; k++) {
            const report_arm_budget *ab = &a->budgets[k];
            char c[32], n[24], r0[32], r1[32], range[80], v[32], lo[32], hi[32], opt[120], l[32], t[32], tn[32], set[160];
            const char *rel;
            snprintf(n, sizeof n, "%zu", ab->n);
            NUM(r0, ab->x_min), NUM(r1, ab->x_max);
            snprintf(range, sizeof range, "%s – %s", r0, r1);
            NUM(v, ab->x_opt), NUM(lo, ab->lo), NUM(hi, ab->hi);
            int bound = !strcmp(ab->verdict, "bound"), lower = bound && strstr(ab->why, "below");
            if (bound) snprintf(opt, sizeof opt, "%s %s", lower ? "≤" : "≥", lower ? r0 : r1);
            else if (isfinite(ab->x_opt) && isfinite(ab->lo)) snprintf(opt, sizeof opt, "%s [%s, %s]", v, lo, hi);
            else if (isfinite(ab->x_opt)) snprintf(opt, sizeof opt, "%s (no interval)", v);
            else snprintf(opt, sizeof opt, "–");
            const report_run *set_run = &d->runs[ab->nearest_run >= 0 ? ab->nearest_run : ab->best_run];
            char ss[32];
            snprintf(set, sizeof set, "%s (state %s)", set_run->label, NUM(ss, set_run->state_size));
            double ref = bound ? (lower ? ab->x_min : ab->x_max) : ab->x_opt;
            rel = !isfinite(ref) ? "–"
                  : bound ? (lower ? (ref <= 1 ? "below 1" : "cannot tell") : (ref >= 1 ? "above 1" : "cannot tell"))
                  : !isfinite(ab->lo) ? (ref > 1 ? "above 1 (no interval)" : "below 1 (no interval)")
                  : ab->lo > 1 ? "above 1" : ab->hi < 1 ? "below 1" : "contains 1";
            const char *cells[] = {NUM(c, d->budgets[ab->budget].flops), n, range, opt,
                                   NUM(l, bound ? report_run_loss(&d->runs[ab->best_run]) : ab->loss_opt),
                                   width ? NUM(t, ab->tokens_opt) : set,
                                   width ? NUM(tn, ab->tokens_opt / (bound ? (lower ? ab->x_min : ab->x_max) : ab->x_opt)) : rel,
                                   ab->verdict, ab->why};
            table_row(p, cells, 9, NULL);
        }
        table_end(p);
        for (size_t k = 0; k < a->n_budgets && !width; k++) {
            char c[32];
            report_wsfr_sentence(&a->budgets[k], line, sizeof line);
            para(p, "At C = %s: %s", NUM(c, d->budgets[a->budgets[k].budget].flops), line);
        }
        if (isfinite(a->exponent)) {
            char e[32], lo[32], hi[32];
            para(p, "Across budgets (stored fit, 95%% interval of the exponent): %s_opt scales as C^%s [%s, %s].", width ? "N" : "WSFR", NUM(e, a->exponent),
                 NUM(lo, a->exponent_lo), NUM(hi, a->exponent_hi));
        }
        if (a->fit_id && a->fit_reasons[0]) para(p, "Fit #%lld diagnostics: %s", (long long)a->fit_id, a->fit_reasons);
        if (width)
            para(p, "Tokens at N_opt are C / (3 (W + S)) with W and S interpolated between the arm's widths; a "
                    "bound gives the edge width and its tokens.");
    }
    util_buf noise = {0};
    double worst = 0;
    size_t pairs = report_noise_pairs(d, &noise, &worst);
    if (pairs)
        para(p, "Noise floor (runs that differ only in the seed): %s. Loss differences below %.4f between settings "
                "are within noise.", noise.data, worst);
    else
        para(p, "Noise floor: unknown (no pair of runs differs only in the seed; add seeds to one point of each arm).");
    util_buf_free(&noise);
    /* What is missing. */
    util_buf miss = {0};
    int have_w = 0, have_s = 0;
    size_t unfinished = 0, no_curve = 0;
    for (size_t i = 0; i < d->n_arms; i++) have_w |= d->arms[i].kind == REPORT_ARM_WIDTH, have_s |= d->arms[i].kind == REPORT_ARM_STATE;
    for (size_t i = 0; i < d->n_runs; i++) {
        unfinished += d->runs[i].budget < 0;
        no_curve += d->runs[i].budget >= 0 && d->runs[i].n_curve == 0;
    }
    if (!have_w) util_buf_puts(&miss, " no width arm (so no N_opt);");
    if (!have_s) util_buf_puts(&miss, " no state arm at fixed weights (so no WSFR_opt);");
    if (unfinished) util_buf_printf(&miss, " %zu runs not finished (not in any fit);", unfinished);
    if (no_curve) util_buf_printf(&miss, " %zu finished runs without a training curve;", no_curve);
    if (miss.len) {
        miss.data[--miss.len] = 0;
        para(p, "Missing:%s.", miss.data);
    }
    util_buf_free(&miss);
}

static void recommendation(page *p) {
    const report_data *d = p->d;
    section(p, "recommendation", "Recommendation from a fitted law");
    if (!d->fit_id) {
        para(p, "No stored law of this sweep (scalelab fit --sweep %s --form chinchilla stores one); the answer "
                "above comes from the IsoFLOP optima alone.", d->n_sweeps ? d->sweeps[0] : "S");
        return;
    }
    para(p, "What stored fit #%lld (%s) recommends at each budget: the minimum predicted loss subject to "
            "C = 3 (W + S) tokens.", (long long)d->fit_id, d->fit_form);
    const char *cols[] = {"budget C", "runs", "best run", "best loss", "rec. N", "rec. tokens", "rec. WSFR", "rec. loss"};
    table_head(p, cols, 8);
    for (size_t k = 0; k < d->n_budgets; k++) {
        const report_budget *b = &d->budgets[k];
        const report_run *best = &d->runs[b->best_run];
        char c[32], nr[32], br[128], bl[32], rn[32], rt[32], rw[32], rl[32];
        snprintf(nr, sizeof nr, "%zu", b->n_runs);
        snprintf(br, sizeof br, "#%lld %s", (long long)best->id, best->shape);
        const char *cells[] = {NUM(c, b->flops), nr, br, NUM(bl, report_run_loss(best)),
                               NUM(rn, b->rec_ok ? b->rec_params : NAN), NUM(rt, b->rec_ok ? b->rec_tokens : NAN),
                               NUM(rw, b->rec_ok ? b->rec_wsfr : NAN), NUM(rl, b->rec_ok ? b->rec_loss : NAN)};
        table_row(p, cells, 8, report_shape_colour(d, best->shape));
    }
    table_end(p);
    if (d->n_budgets) para(p, "Recommendation source: %s. A dash means the law gave no optimum there.",
                           d->budgets[d->n_budgets - 1].rec_source);
}

static void frontier(page *p) {
    const report_data *d = p->d;
    section(p, "frontier", "Loss against training compute");
    figure(p, "frontier", "Final loss of every finished run against its training FLOPs, coloured by shape "
                          "(the same colours in every plot and table). Diamonds: each budget's optimum (the lowest "
                          "IsoFLOP vertex judged ok or weak, else the best run).");
    char e[32], a[32], al[32];
    if (d->frontier.ok)
        para(p, "Fitted frontier through the %zu budget optima: L(C) = %s + %s C^-%s.", d->frontier.n_points,
             NUM(e, d->frontier.E), NUM(a, d->frontier.A), NUM(al, d->frontier.alpha));
    else
        para(p, "No frontier fitted: %s", d->frontier.note);
}

static void isoflop(page *p) {
    section(p, "isoflop", "IsoFLOP curves");
    para(p, "Runs of equal training compute, one panel per arm; colour is the run's shape, the marker is the "
            "budget. Each black line is a least-squares parabola in log x through one budget's runs (dash pattern "
            "per budget); the black marker with a horizontal bar is the optimum with its 95%% interval, from the "
            "stored fit where there is one.");
    figure(p, "isoflop_params", "Width arms: loss against parameter count N at fixed compute.");
    figure(p, "isoflop_wsfr", "State arms: loss against WSFR at fixed compute and fixed weights; the dotted "
                              "line marks WSFR = 1 (balanced).");
}

static void context(page *p) {
    const report_data *d = p->d;
    section(p, "context", "Context utility");
    if (p->f == REPORT_HTML) util_buf_puts(&p->b, "<div class=\"rule\">");
    char t[16];
    snprintf(t, sizeof t, "%g%%", REPORT_KNEE_THRESHOLD * 100);
    para(p, "Knee rule: the knee of a run is the first position bucket b (log2 buckets 1, 2-3, 4-7, ...) "
            "such that loss(b) minus the lowest loss of any later bucket is below %s of the run's total "
            "drop (loss of the first bucket minus its lowest loss). Past the knee, more context stops "
            "lowering the loss. A last bucket that the context cuts to less than half its width (with a "
            "128-token context, the bucket of position 128 alone) is left out as too noisy.", t);
    if (p->f == REPORT_HTML) util_buf_puts(&p->b, "</div>\n");
    figure(p, "context", "Loss by position in the context at the last evaluation, one panel per budget "
                         "(log2 x axis), coloured by shape; open circles mark each run's knee.");
    /* One row per mixer and budget: the spread over a budget's shapes is what
     * matters here; every run's own knee is in the runs table. */
    const char *cols[] = {"mixer", "budget C", "runs", "state size", "knee position (median)", "knee range",
                          "loss at knee", "loss at last bucket", "best-context loss"};
    table_head(p, cols, 9);
    for (size_t k = d->n_budgets; k-- > 0;) {
        for (size_t l = 0; l < d->n_labels; l++) {
            double knees[64], knee_loss = 0, last = 0, best = 0, smin = INFINITY, smax = 0;
            size_t n = 0, nk = 0;
            for (size_t i = 0; i < d->n_runs; i++) {
                const report_run *r = &d->runs[i];
                if (r->budget != (int)k || strcmp(r->label, d->labels[l])) continue;
                n++;
                if (r->state_size < smin) smin = r->state_size;
                if (r->state_size > smax) smax = r->state_size;
                best += r->best_context_loss;
                if (r->knee < 0) continue;
                if (nk < sizeof knees / sizeof knees[0]) knees[nk] = r->pos_loss[r->knee].x;
                knee_loss += r->pos_loss[r->knee].y;
                last += r->pos_loss[r->n_pos_loss - 1].y;
                nk++;
            }
            if (n == 0) continue;
            size_t m = nk < 64 ? nk : 64;
            for (size_t a = 1; a < m; a++) /* insertion sort: a handful of runs */
                for (size_t b = a; b > 0 && knees[b] < knees[b - 1]; b--) {
                    double t = knees[b];
                    knees[b] = knees[b - 1], knees[b - 1] = t;
                }
            char c[32], nr[24], ss[80], s0[32], s1[32], km[32], kr[80], k0[32], k1[32], kl[32], ll[32], bc[32];
            snprintf(nr, sizeof nr, "%zu", n);
            report_fmt_num(s0, sizeof s0, smin), report_fmt_num(s1, sizeof s1, smax);
            snprintf(ss, sizeof ss, smin == smax ? "%s" : "%s – %s", s0, s1);
            report_fmt_num(km, sizeof km, m ? (m % 2 ? knees[m / 2] : 0.5 * (knees[m / 2 - 1] + knees[m / 2])) : NAN);
            report_fmt_num(k0, sizeof k0, m ? knees[0] : NAN), report_fmt_num(k1, sizeof k1, m ? knees[m - 1] : NAN);
            snprintf(kr, sizeof kr, "%s – %s", k0, k1);
            const char *cells[] = {d->labels[l], NUM(c, d->budgets[k].flops), nr, ss, km, kr,
                                   NUM(kl, nk ? knee_loss / (double)nk : NAN), NUM(ll, nk ? last / (double)nk : NAN),
                                   NUM(bc, best / (double)n)};
            table_row(p, cells, 9, NULL);
        }
    }
    table_end(p);
    para(p, "Losses in this table are means over the budget's runs of that mixer.");
}

static void curves(page *p) {
    section(p, "curves", "Training curves");
    figure(p, "curves", "Training curves, one panel per budget, coloured by shape: the training loss smoothed "
                        "(bias-corrected exponential moving average over about 1/40 of the run) as a solid line, the evaluation loss on "
                        "held-out documents as dashed points.");
}

static void runs_table(page *p) {
    const report_data *d = p->d;
    section(p, "runs", "Runs");
    const char *cols[] = {"run", "shape", "status", "d_model", "layers", "context", "params N", "W/token",
                          "S/token", "WSFR", "state size", "tokens", "FLOPs", "train loss", "eval loss",
                          "best-context loss", "knee"};
    table_head(p, cols, 17);
    for (size_t i = 0; i < d->n_runs; i++) {
        const report_run *r = &d->runs[i];
        char id[24], dm[16], nl[16], cx[16], n[32], w[32], s[32], ws[32], ss[32], tk[32], fl[32], tl[32], el[32], bl[32],
            kn[32];
        snprintf(id, sizeof id, "#%lld", (long long)r->id);
        snprintf(dm, sizeof dm, "%d", r->d_model);
        snprintf(nl, sizeof nl, "%d", r->n_layer);
        snprintf(cx, sizeof cx, "%d", r->context);
        const char *cells[] = {id, r->shape, r->status, dm, nl, cx, NUM(n, r->params), NUM(w, r->weight_flops),
                               NUM(s, r->state_flops), NUM(ws, r->wsfr), NUM(ss, r->state_size), NUM(tk, r->tokens),
                               NUM(fl, r->training_flops), NUM(tl, r->final_train_loss), NUM(el, r->final_eval_loss),
                               NUM(bl, r->best_context_loss), NUM(kn, r->knee >= 0 ? r->pos_loss[r->knee].x : NAN)};
        table_row(p, cells, 17, r->budget >= 0 ? report_shape_colour(d, r->shape) : NULL);
    }
    table_end(p);
}

static void page_header(page *p) {
    const report_data *d = p->d;
    size_t done = 0;
    for (size_t i = 0; i < d->n_runs; i++) done += !strcmp(d->runs[i].status, "done");
    char title[256], sub[1024];
    snprintf(title, sizeof title, "scalelab report: %s", d->sweep[0] ? d->sweep : "all runs");
    snprintf(sub, sizeof sub, "%zu runs (%zu finished) · %zu compute budgets · %zu arms · store %s",
             d->n_runs, done, d->n_budgets, d->n_arms, d->db_path);
    if (p->f == REPORT_HTML) {
        util_buf_puts(&p->b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
        esc(p, title);
        util_buf_printf(&p->b, "</title>\n<style>\n%s</style></head>\n<body>\n<header><h1>", css);
        esc(p, title);
        util_buf_puts(&p->b, "</h1><p>");
        esc(p, sub);
        util_buf_puts(&p->b, "</p><nav><a href=\"#answer\">Answer</a><a href=\"#recommendation\">Recommendation</a><a href=\"#frontier\">Frontier</a>"
                             "<a href=\"#isoflop\">IsoFLOP</a><a href=\"#context\">Context utility</a>"
                             "<a href=\"#curves\">Training curves</a><a href=\"#runs\">Runs</a></nav></header>\n<main>\n");
    } else {
        util_buf_puts(&p->b, "# "), esc(p, title), util_buf_puts(&p->b, "\n\n");
        esc(p, sub), util_buf_puts(&p->b, "\n\n");
    }
}

int report_write(const report_data *d, const char *dir, report_format format, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/data", dir);
    if (util_mkdir_p(path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/plots", dir);
    if (util_mkdir_p(path, err, errlen)) return -1;
    if (report_draw_plots(d, dir, err, errlen)) return -1;
    page p = {.f = format, .d = d};
    page_header(&p);
    answer(&p);
    recommendation(&p);
    frontier(&p);
    isoflop(&p);
    context(&p);
    curves(&p);
    runs_table(&p);
    if (format == REPORT_HTML) util_buf_puts(&p.b, "</section>\n</main>\n</body></html>\n");
    snprintf(path, sizeof path, "%s/index.%s", dir, format == REPORT_HTML ? "html" : "md");
    int rc = p.b.data ? util_write_file_atomic(path, p.b.data, p.b.len, err, errlen)
                      : util_err(err, errlen, "out of memory");
    util_buf_free(&p.b);
    return rc;
}
