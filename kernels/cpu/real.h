/* Private to kernels/cpu/: REAL and KR() for this compilation (kernels.h's KERN_REAL and
 * KERN_KR), so one source builds both the float code and its float64 twin (-DSCALELAB_F64),
 * and the CBLAS names that go with them. Include after kernels/kernels.h (which undefines
 * REAL and KR when done). */
#ifndef SCALELAB_KERNELS_CPU_REAL_H
#define SCALELAB_KERNELS_CPU_REAL_H

#include <cblas.h>

#define REAL KERN_REAL
#define KR(name) KERN_KR(name)
#ifdef SCALELAB_F64
#define cblas_gemm cblas_dgemm
#define REAL_EPSILON 2.220446049250313e-16
#else
#define cblas_gemm cblas_sgemm
#define REAL_EPSILON 1.1920929e-07f
#endif

#endif
