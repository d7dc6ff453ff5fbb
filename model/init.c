/* Initial parameter values (GSL mt19937 Gaussians), shared by both twins of
 * model/net. Kept out of the dual-compiled net*.c because GSL's headers bring
 * their own CBLAS declarations, which clash with OpenBLAS's cblas.h. */
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "model/net.h"
#include "util/util.h"

int model_net_init_values(const model_net_tensor *tensors, size_t n_tensors, size_t n_params, int n_layer,
                          uint64_t seed, double *out, char *err, size_t errlen) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return util_err(err, errlen, "net: out of memory for the random generator");
    gsl_rng_set(rng, (unsigned long)(seed ^ (seed >> 32)));
    double out_std = 0.02 / sqrt(2.0 * n_layer);
    double gate_bias = log(0.999 / 0.001); /* logsigmoid(b) = log 0.999 */
    memset(out, 0, n_params * sizeof *out);
    for (size_t i = 0; i < n_tensors; i++) {
        const model_net_tensor *t = &tensors[i];
        const char *leaf = strrchr(t->name, '.');
        leaf = leaf ? leaf + 1 : t->name;
        int norm_weight = strstr(t->name, "norm") && !strcmp(leaf, "w");
        double std = (!strcmp(leaf, "wo") || !strcmp(leaf, "w2")) ? out_std : 0.02;
        for (size_t j = 0; j < t->size; j++) {
            double *x = out + t->offset + j;
            if (norm_weight) *x = 1;
            else if (!strcmp(leaf, "bg")) *x = gate_bias;
            else if (t->rows == 1) *x = 0; /* biases */
            else *x = gsl_ran_gaussian(rng, std);
        }
    }
    gsl_rng_free(rng);
    return 0;
}
