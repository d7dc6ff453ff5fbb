/* The gemm counting hook of mixer_count.h, once per build (float and float64). */
#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_count.h"

#include <stddef.h>

kern_gemm_hook_fn KR(kern_cpu_gemm_hook);
void *KR(kern_cpu_gemm_hook_ctx);

void KR(kern_cpu_set_gemm_hook)(kern_gemm_hook_fn fn, void *ctx) {
    KR(kern_cpu_gemm_hook_ctx) = ctx;
    KR(kern_cpu_gemm_hook) = fn;
}
