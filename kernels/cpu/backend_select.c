/* kern_device_check, kern_backend_select, kern_backend_bf16: the one place that
 * reads a device name and picks a backend, in every build (kern_cuda_* answer
 * "built without CUDA" where there is no CUDA; see kernels/cpu/cuda_none.c). */
#ifndef SCALELAB_F64 /* backends are float only: the f64 twin has no selection */
#include <stdio.h>
#include <string.h>

#include "kernels/kernels.h"

int kern_device_check(const char *device, char *err, size_t errlen) {
    if (device && (!strcmp(device, "cpu") || !strcmp(device, "cuda") || !strcmp(device, "auto"))) return 0;
    if (err && errlen) snprintf(err, errlen, "expected cpu, cuda or auto, got '%s'", device ? device : "(null)");
    return -1;
}

const kern_backend *kern_backend_select(const char *device, char *err, size_t errlen) {
    if (kern_device_check(device, err, errlen)) return NULL;
    if (!strcmp(device, "cpu")) return kern_cpu_backend();
    /* cuda or auto: the GPU when this build has CUDA and the machine a usable device. */
    char why[256];
    if (kern_cuda_available(why, sizeof why)) return kern_cuda_backend();
    if (err && errlen) {
        if (!strcmp(device, "cuda")) snprintf(err, errlen, "--device cuda: %s; use --device cpu", why);
        else snprintf(err, errlen, "%s", why);
    }
    return strcmp(device, "cuda") ? kern_cpu_backend() : NULL;
}

const kern_backend *kern_backend_bf16(const kern_backend *be) {
    return be && be == kern_cuda_backend() ? kern_cuda_backend_bf16() : NULL;
}
#else
typedef int kernels_cpu_backend_select_unused;
#endif
