/* kern_cuda_available in a build without CUDA (the CUDA build defines it in
 * kernels/cuda/backend.cu). */
#if !defined(SCALELAB_CUDA) && !defined(SCALELAB_F64)
#include <stdio.h>

#include "kernels/kernels.h"

int kern_cuda_available(char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "built without CUDA (nvcc not found or CUDA=0)");
    return 0;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int kernels_cpu_cuda_none_unused;
#endif
