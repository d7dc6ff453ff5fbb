/* A counting hook on the gemms of the CPU mixers (kernels/cpu/mixer*.c), so that
 * tests count the work the kernels really do instead of restating a formula
 * (tests/unit/test_mixer_flops.c, test_flops_net.c). Every mixer gemm goes
 * through kern_mx_gemm (mixer_impl.h), which calls the hook, when one is set, with the
 * gemm's m, n, k (2 m n k FLOPs) and its transposes, then OpenBLAS. Behaviour is
 * unchanged; with no hook (the default) the cost is one load per gemm. The hook
 * is process-wide: set it from one thread while no mixer runs; the hook itself
 * may be called from the mixers' OpenMP threads at once. */
#ifndef SCALELAB_KERNELS_CPU_MIXER_COUNT_H
#define SCALELAB_KERNELS_CPU_MIXER_COUNT_H

typedef void (*kern_gemm_hook_fn)(void *ctx, int trans_a, int trans_b, int m, int n, int k);

/* fn NULL removes the hook. One hook for the float mixers, one for their float64
 * twin (each build defines its own, so either links without the other). */
void kern_cpu_set_gemm_hook(kern_gemm_hook_fn fn, void *ctx);
void kern_cpu_set_gemm_hook_f64(kern_gemm_hook_fn fn, void *ctx);

extern kern_gemm_hook_fn kern_cpu_gemm_hook, kern_cpu_gemm_hook_f64;
extern void *kern_cpu_gemm_hook_ctx, *kern_cpu_gemm_hook_ctx_f64;

#endif
