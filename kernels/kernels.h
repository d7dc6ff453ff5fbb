/* kernels: the compute ops the model calls, behind one backend interface.
 * kernels/cpu/ holds the reference implementations (C, OpenBLAS, OpenMP);
 * kernels/cuda/ their CUDA twins (same signatures, device pointers).
 *
 * The numerical API is written once over a scalar type REAL and declared twice:
 * float (names as written) and double (names with an _f64 suffix). The double
 * twin is the same source compiled with -DSCALELAB_F64 (see the Makefile) and
 * exists so tests can check gradients by finite differences in float64.
 * kernels/ depends on nothing else of scalelab. */
#ifndef SCALELAB_KERNELS_H
#define SCALELAB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The mixer shape, its check and the facts derived from it (D, phi's coefficients,
 * saved sizes): kernels/kern_shape.h, shared with the CUDA sources and model/flops.h. */
#include "kernels/kern_shape.h"

void kern_mixer_count_flops(const kern_mixer_shape *s, kern_flop_count *out);
/* The CPU backends' mixer_count_flops: forward as kern_mixer_count_flops; training
 * implementation 3 x forward's (the backward counted as 2 x forward, an approximation:
 * kernels/cpu/mixer_flops.c says why). */
void kern_cpu_mixer_count_flops(const kern_mixer_shape *s, kern_flop_count_train *out);
/* The CUDA backends' mixer_count_flops (bf16 0: "cuda", 1: "cuda-bf16"), from the kernels'
 * own launch facts (kernels/cuda/plan.h, flops.c): which path the call takes, its padded
 * extents and tiles. Host arithmetic only, in every build (with or without CUDA or a GPU);
 * reads the opt-out switches (SCALELAB_POWER_FUSED, _DPHI, _INTRA, SCALELAB_FLASH_BWD) as a
 * call would at this moment. For a shape kern_mixer_shape_check accepts. */
void kern_cuda_mixer_count_flops(const kern_mixer_shape *s, int bf16, kern_flop_count_train *out);

#define REAL float
#define KR(name) name
#include "kernels/kern_mixer.inc"
#include "kernels/kern_ops.inc"
#undef REAL
#undef KR
#define REAL double
#define KR(name) name##_f64
#include "kernels/kern_mixer.inc"
#include "kernels/kern_ops.inc"
#undef REAL
#undef KR

/* A source compiled once per scalar type (kernels/cpu/ and model/net*.c: float, and again
 * with -DSCALELAB_F64 for the float64 twin) names the scalar and the symbols of this
 * compilation KERN_REAL and KERN_KR(name), the names declared above. */
#ifdef SCALELAB_F64
#define KERN_REAL double
#define KERN_KR(name) name##_f64
#else
#define KERN_REAL float
#define KERN_KR(name) name
#endif

/* CUDA (kernels/cuda/, float only). Everything below is declared in every build;
 * a build without CUDA links kernels/cpu/cuda_none.c, where each says "built
 * without CUDA", so no caller needs #ifdef SCALELAB_CUDA.
 *
 * kern_cuda_available: 1 when this build has CUDA and a usable GPU (compute
 * capability 9.0); else 0, with err saying why ("built without CUDA", "no CUDA
 * device (...)"). */
int kern_cuda_available(char *err, size_t errlen);

/* The one check of a device name (--device, model_train_opts.device, a sweep's
 * device): "cpu", "cuda" or "auto". 0 when valid; else -1 with err
 * "expected cpu, cuda or auto, got 'NAME'". (A sweep records the GPU slot a run
 * had as "cuda:N" in the store; the trainer itself gets "cuda" and sees that one
 * GPU through CUDA_VISIBLE_DEVICES.) */
int kern_device_check(const char *device, char *err, size_t errlen);

/* The float backend for a device name: "cpu" the CPU backend; "cuda" the CUDA
 * backend, or NULL with err "--device cuda: WHY; use --device cpu" when this
 * build or machine has none; "auto" the CUDA backend when available, else the
 * CPU backend with err saying why CUDA was not used (the call still succeeds).
 * NULL with kern_device_check's message for any other name. */
const kern_backend *kern_backend_select(const char *device, char *err, size_t errlen);

/* The bf16 variant of a backend kern_backend_select returned (see
 * kern_cuda_backend_bf16), or NULL when it has none (the CPU backend). */
const kern_backend *kern_backend_bf16(const kern_backend *be);

/* The CUDA backend: alloc gives device memory, upload/download copy to and
 * from the host, every op runs on the GPU in issue order (matmul through cuBLAS
 * SGEMM in FP32). The mixers keep the CPU layouts and `saved` contents; their
 * work size is the backend's own. A failing CUDA call prints file, line and
 * cause and exits. NULL when kern_cuda_available fails. A static table. */
const kern_backend *kern_cuda_backend(void);
/* The same backend at precision bf16 (train.precision: bf16): every matmul takes
 * bf16 operands on the tensor cores with FP32 accumulation (tensors stay FP32 in
 * memory, so parameters, AdamW state, norms, the loss and softmax statistics are
 * FP32; the exceptions are the records, kern_ops.inc: matmul_bias_gelu's pre, kept in bf16 for
 * matmul_dgelu, and the GELU ops' c and the norms' y, kept in bf16 for this table's products);
 * softmax and window attention (head dim 16/32/64/128) run as tiled flash kernels (bf16 tiles,
 * FP32 accumulation and statistics, memory linear in seq);
 * power retention runs on the tensor cores without phi rows in memory where its tiled
 * kernels apply (kernels/cuda/power_intra.cu, power_phi.cu, power_dphi.cu; cuBLAS on bf16
 * operands elsewhere). NULL when kern_cuda_available fails. */
const kern_backend *kern_cuda_backend_bf16(void);
/* Which matmul that bf16 backend runs: 1 (the default) the operands first rounded into
 * bf16 copies in backend-owned scratch, then cuBLASLt on bf16 storage (FP32 accumulation,
 * FP32 C; kernels/cuda/matmul.cu); 0 FP32 storage, cuBLAS rounding the operands as it
 * loads them (compute type 32F_FAST_16BF). The environment variable SCALELAB_MM_BF16=0
 * selects 0, read once, at the first call of this or of the matmul;
 * mode 0 or 1 here sets it (tests and benches compare both), any other value only
 * asks. Returns the mode before the call; 0 in a build without CUDA. */
int kern_cuda_bf16_matmul_mode(int mode);
/* How many products that matmul has run in mode 1 since the start: on bf16 copies, and
 * fallen back to FP32 storage (cuBLASLt had no algorithm for the shape, or no memory
 * was left for the copies), so tests and benches can see that mode 1 took effect; and
 * how many operands took a copy kept from an earlier product instead of a new rounding.
 * All 0 in a build without CUDA. */
void kern_cuda_bf16_matmul_counts(long long *copies, long long *fallbacks, long long *reused);
/* Whether that bf16 backend fuses the bias of the epilogue ops (kern_ops.inc: matmul_bias,
 * matmul_bias_gelu) into its products: 1 (the default) one cuBLASLt call with the bias
 * epilogue (in matmul mode 1); 0 the product, then add_bias. GELU and its derivative run
 * after the product either way (kernels/cuda/matmul.cu says why). SCALELAB_MM_EPILOGUE=0
 * selects 0, read once; the mode argument as in kern_cuda_bf16_matmul_mode. Returns the
 * mode before the call; 0 without CUDA. */
int kern_cuda_bf16_epilogue_mode(int mode);
/* How many biases that backend has fused, and composed (for any reason: mode 0 of either,
 * cuBLASLt without an algorithm for the key, an empty product, no memory for the copies).
 * Both 0 without CUDA. */
void kern_cuda_bf16_epilogue_counts(long long *fused, long long *composed);

#endif
