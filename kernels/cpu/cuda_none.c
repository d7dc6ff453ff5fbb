/* The CUDA entry points of kernels.h in a build without CUDA (the CUDA build
 * defines them in kernels/cuda/): each says "built without CUDA". */
#if !defined(SCALELAB_CUDA) && !defined(SCALELAB_F64)
#include <stdio.h>

#include "kernels/kernels.h"

int kern_cuda_available(char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "built without CUDA (nvcc not found or CUDA=0)");
    return 0;
}

const kern_backend *kern_cuda_backend(void) { return NULL; }
const kern_backend *kern_cuda_backend_bf16(void) { return NULL; }
int kern_cuda_bf16_matmul_mode(int mode) {
    (void)mode;
    return 0;
}
void kern_cuda_bf16_matmul_counts(long long *copies, long long *fallbacks, long long *reused) {
    *copies = *fallbacks = *reused = 0;
}
int kern_cuda_bf16_epilogue_mode(int mode) {
    (void)mode;
    return 0;
}
void kern_cuda_bf16_epilogue_counts(long long *fused, long long *composed) { *fused = *composed = 0; }
#else
/* ISO C forbids an empty translation unit. */
typedef int kernels_cpu_cuda_none_unused;
#endif
