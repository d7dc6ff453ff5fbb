/* For kernels/cpu/ sources and model/net*.c: REAL and KR() for this compilation, so one
 * source builds both the float code and its float64 twin (-DSCALELAB_F64).
 * Include after kernels/kernels.h (which undefines both when done). */
#ifndef SCALELAB_KERNELS_CPU_REAL_H
#define SCALELAB_KERNELS_CPU_REAL_H

#include <cblas.h>

#ifdef SCALELAB_F64
#define REAL double
#define KR(name) name##_f64
#define cblas_gemm cblas_dgemm
#define REAL_EPSILON 2.220446049250313e-16
#else
#define REAL float
#define KR(name) name
#define cblas_gemm cblas_sgemm
#define REAL_EPSILON 1.1920929e-07f
#endif

#endif
