/* The symmetric power embedding phi_p: R^d -> R^D, D = C(d+p-1, p), with
 * phi(x).phi(y) = (x.y)^p (MATH.md). One feature per multiset i_1 <= ... <= i_p:
 * sqrt(p! / prod_r c_r!) x_{i_1} ... x_{i_p}, c_r the multiplicity of index r.
 * Features are ordered lexicographically by (i_1, ..., i_p). p = 1 and p = 2
 * have direct loops; p = 3, 4 walk the multisets with an odometer. The order, the
 * coefficients and D are kernels/kern_shape.h's, shared with the GPU's feature table. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_impl.h"

void KR(kern_mx_phi_rows)(int p, int d, int rows, const REAL *x, int ldx, REAL *out) {
    int D = kern_mx_phi_dim(d, p);
    const REAL sqrt2 = (REAL)M_SQRT2;
    for (int n = 0; n < rows; n++) {
        const REAL *xr = x + (size_t)n * ldx;
        REAL *o = out + (size_t)n * D;
        if (p == 1) {
            memcpy(o, xr, sizeof(REAL) * d);
        } else if (p == 2) {
            for (int i = 0; i < d; i++) {
                REAL xi = xr[i];
                *o++ = xi * xi;
                REAL xs = sqrt2 * xi;
                for (int j = i + 1; j < d; j++) *o++ = xs * xr[j];
            }
        } else {
            assert(p <= KERN_POWER_P_MAX);
            int idx[KERN_POWER_P_MAX] = {0}, f = 0;
            do {
                REAL prod = (REAL)sqrt(kern_mx_phi_multinomial(idx, p));
                for (int r = 0; r < p; r++) prod *= xr[idx[r]];
                o[f++] = prod;
            } while (kern_mx_phi_next(idx, p, d));
        }
    }
}

void KR(kern_mx_phi_rows_backward)(int p, int d, int rows, const REAL *x, int ldx, const REAL *dphi,
                              REAL *dx, int ldd) {
    int D = kern_mx_phi_dim(d, p);
    const REAL sqrt2 = (REAL)M_SQRT2;
    for (int n = 0; n < rows; n++) {
        const REAL *xr = x + (size_t)n * ldx, *gr = dphi + (size_t)n * D;
        REAL *dr = dx + (size_t)n * ldd;
        if (p == 1) {
            memcpy(dr, gr, sizeof(REAL) * d);
        } else if (p == 2) {
            memset(dr, 0, sizeof(REAL) * d);
            for (int i = 0; i < d; i++) {
                REAL xi = xr[i], acc = 2 * xi * *gr++;
                for (int j = i + 1; j < d; j++, gr++) {
                    acc += sqrt2 * xr[j] * *gr;
                    dr[j] += sqrt2 * xi * *gr;
                }
                dr[i] += acc;
            }
        } else {
            memset(dr, 0, sizeof(REAL) * d);
            int idx[KERN_POWER_P_MAX] = {0}, f = 0;
            do {
                REAL c = (REAL)sqrt(kern_mx_phi_multinomial(idx, p)) * gr[f++];
                /* d/dx_{idx[r]} of the product: the other p-1 factors */
                for (int r = 0; r < p; r++) {
                    REAL prod = c;
                    for (int t = 0; t < p; t++)
                        if (t != r) prod *= xr[idx[t]];
                    dr[idx[r]] += prod;
                }
            } while (kern_mx_phi_next(idx, p, d));
        }
    }
}
