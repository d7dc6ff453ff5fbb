/* Private to kernels/cuda/*.cu: error checking, the shared context (cuBLAS
 * handle, reduction scratch, partial sums) and row-major gemm helpers.
 *
 * The backend interface (kern_backend) has no context argument: its ops are
 * plain function pointers shared with the CPU backend. So the CUDA backend
 * keeps one process-wide context, created by kern_cuda_backend() and never
 * freed (like the CUDA runtime's own primary context); the bf16 matmul's share
 * of it (cuBLASLt handle and workspace, bf16 operand scratch, algorithm table)
 * lives in matmul.cu, made at its first use. Every op runs on the default
 * stream, in issue order, issued from one host thread; only download and
 * sum_squares wait (and the bf16 matmul's copies, when a buffer grows or is freed, and
 * each reuse under SCALELAB_MM_CHECK=1). */
#ifndef SCALELAB_KERNELS_CUDA_COMMON_H
#define SCALELAB_KERNELS_CUDA_COMMON_H

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

extern "C" {
#include "kernels/cuda/copies.h"
#include "kernels/cuda/plan.h"
#include "kernels/kernels.h"
}

/* A failed CUDA or cuBLAS call cannot be reported through the void ops of the
 * interface: print where and why, then exit (as llm.c does). */
[[noreturn]] void kcu_fail(const char *file, int line, const char *what, const char *why);
/* Every CUDA and cuBLAS call of the backend goes through KCU_CHECK or KCU_BLAS (kernel
 * launches through KCU_LAUNCHED), and each counts one "device call" (kcu_device_calls):
 * any write to device memory by any op moves the count, which is how the bf16 matmul
 * knows that the bf16 copies it keeps (matmul.cu) are still those of their sources: calls
 * it did not make itself, and that no op accounted for by declaring its writes
 * (kcu_op_wrote), make it forget every copy. */
void kcu_count_call(void);
unsigned long long kcu_device_calls(void);
#define KCU_CHECK(call)                                                                            \
    do {                                                                                           \
        kcu_count_call();                                                                          \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) kcu_fail(__FILE__, __LINE__, #call, cudaGetErrorString(e_));        \
    } while (0)
#define KCU_BLAS(call)                                                                             \
    do {                                                                                           \
        kcu_count_call();                                                                          \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) kcu_fail(__FILE__, __LINE__, #call, cublasGetStatusString(s_)); \
    } while (0)
/* After every launch: configuration errors show up here, faults at the next sync. */
#define KCU_LAUNCHED() KCU_CHECK(cudaGetLastError())

/* The context's cuBLAS handle (kernels/cuda/backend.cu). */
cublasHandle_t kcu_blas(void);
/* The context's scratch for partial sums, at least n floats, valid until the next
 * call (ops issue in order on one stream, so one op's partials are consumed before the
 * next op's kernels run). Growing it waits for the device; it never shrinks. */
float *kcu_partials(size_t n);

static inline unsigned kcu_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b);
}

/* Row-major C = alpha op(A) op(B) + beta C, strided over `batch` products
 * (strides in floats; batch 1 ignores them). FP32 arithmetic (no TF32), so
 * results match the CPU reference to float rounding. */
void kcu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              long long stride_a, const float *b, int ldb, long long stride_b, float beta, float *c, int ldc,
              long long stride_c, int batch);

/* The bf16 backend's matmul (kernels/cuda/matmul.cu): kern_matmul's contract, bf16
 * operands with FP32 accumulation, FP32 storage or bf16 copies by
 * kern_cuda_bf16_matmul_mode. */
void kcu_matmul_bf16(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, const float *b,
                     float beta, float *c);

/* An op of the bf16 backend declares what it wrote (backend.cu wraps each op of the bf16
 * table): before = kcu_device_calls() when the op began, w its n output ranges (NULL
 * pointers skipped). The bf16 matmul's kept copies of those ranges are forgotten and the
 * others stay valid across the op (matmul.cu, copies.h); an op that does not declare makes
 * the next product forget every copy. */
void kcu_op_wrote(unsigned long long before, const kcu_span *w, int n);
/* The bf16 records (matmul.cu) that [p, p + bytes) overlaps forgotten: the backend's alloc gave
 * that memory out again. */
void kcu_records_allocated(const void *p, size_t bytes);
/* Where an op writes its output c (m x n) that only the bf16 table's products read (kern_ops.inc:
 * the norms' forward y): as c's bf16 record in the first half of c's own bytes (y NULL, y16 = c;
 * matmul mode 1, c 256-byte aligned, n % 8 == 0), else FP32 y = c and c's bf16 copy y16 (as
 * kcu_produce: NULL where none). kcu_out_begin before the op; kcu_out_end after the op ran and
 * declared its writes makes the record or the copy c's. */
typedef struct kcu_out {
    float *y;
    __nv_bfloat16 *y16;
} kcu_out;
kcu_out kcu_out_begin(float *c, long long m, long long n);
void kcu_out_end(kcu_out o, const float *c, long long m, long long n);
/* Free the kept copies' buffers (matmul.cu; waits for the device): the backend's alloc calls it
 * when the device is out of memory, then tries again. */
void kcu_mm_release_copies(void);

/* An op that writes c (m x n) and can also write c's bf16 copy, for the bf16 matmul to keep
 * for the next product that reads c (matmul.cu): kcu_produce gives the buffer for the copy
 * (row stride n; NULL: none, as in the bf16 matmul's mode 0, for n % 8 != 0 or without
 * memory) and forgets any copy of c; the op runs and declares its writes (kcu_op_wrote), then
 * kcu_produced makes the buffer c's copy. */
__nv_bfloat16 *kcu_produce(const float *c, long long m, long long n);
void kcu_produced(const float *c, long long m, long long n, __nv_bfloat16 *buf);
/* The bf16 copy of src (m x n, row stride n) that the bf16 matmul keeps, when it is certainly
 * src's now (every device call since it was made accounted for), else NULL. Asked between ops,
 * as kcu_produce: the copy stays src's through the next op if that op declares its writes and
 * they miss src (backend.cu's mixers read k's and q's so). */
const __nv_bfloat16 *kcu_kept(const float *src, long long m, long long n);
/* RoPE (ops.cu) that also writes the rotated x's bf16 copy into x16 (NULL: none; backward 1:
 * the transpose). 1 when it wrote x16 (head dim a multiple of 8, x, the tables and x16
 * aligned), else 0. */
int kcu_rope16(int n_rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t, float *x,
               __nv_bfloat16 *x16, int backward);

/* The norms (ops.cu) with their output's bf16 copy (y16 / dx16: NULL for none; the backward's
 * dx accumulates, and its copy is of the sum). */
void kcu_layernorm_forward16(int n, int dim, const float *x, const float *w, const float *b, float eps, float *y,
                             float *mean, float *rstd, __nv_bfloat16 *y16);
void kcu_layernorm_backward16(int n, int dim, const float *x, const float *w, const float *mean, const float *rstd,
                              const float *dy, float *dx, float *dw, float *db, __nv_bfloat16 *dx16);
void kcu_rmsnorm_forward16(int n, int dim, const float *x, const float *w, float eps, float *y, float *rstd,
                           __nv_bfloat16 *y16);
void kcu_rmsnorm_backward16(int n, int dim, const float *x, const float *w, const float *rstd, const float *dy,
                            float *dx, float *dw, __nv_bfloat16 *dx16);

/* The bf16 table's GELU after its product (ops.cu; its pre is bf16, n values, kern_ops.inc):
 * the product as bf16 (prod16, cuBLASLt's D) or FP32 (x32, NULL when prod16 is given; may be y).
 * Forward: v = product (+ bias[column], cols columns; bias NULL: added already), pre16 = bf16(v)
 * (prod16 may be pre16), y = gelu(v). Backward ([m, n]): y = product gelu'(pre16). y16 (NULL: none)
 * gets y rounded to bf16, the copy the bf16 matmul keeps for the next product, or c's record in
 * c's own memory, y then NULL and not written (matmul.cu). */
void kcu_gelu_forward16(size_t n, int cols, const __nv_bfloat16 *prod16, const float *x32, const float *bias,
                        __nv_bfloat16 *pre16, float *y, __nv_bfloat16 *y16);
void kcu_gelu_backward16(int m, int n, const __nv_bfloat16 *prod16, const float *x32, const __nv_bfloat16 *pre16,
                         float *y, __nv_bfloat16 *y16, float *dbias, float *part);
/* The backward's bias gradient: dbias (NULL: none) accumulates the column sums of y ([m, n]),
 * summed as y is written where n % 4 == 0 and the pointers are aligned (else bias_backward after
 * it); part is scratch of kcu_dgelu16_part_floats(m, n) floats, 16-byte aligned, that must not
 * overlap prod16. */
size_t kcu_dgelu16_part_floats(int m, int n);

/* The epilogue ops of kern_ops.inc as the separate ops after a given matmul (ops.cu): the
 * FP32 backend's, and the bf16 backend's where cuBLASLt does not fuse them. */
typedef void (*kcu_matmul_fn)(int, int, int, int, int, float, const float *, const float *, float, float *);
void kcu_matmul_bias_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                              const float *b, const float *bias, float *c);
void kcu_matmul_bias_gelu_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                                   const float *b, const float *bias, float *pre, float *c);
void kcu_matmul_dgelu_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                               const float *b, const float *pre, float *c, float *dbias);
void kcu_matmul_add_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                             const float *b, const float *bias, const float *r, float *c);
/* The bf16 backend's epilogue ops (matmul.cu): fused by cuBLASLt on the bf16 copies, or
 * composed over kcu_matmul_bf16 (kern_cuda_bf16_epilogue_mode says when). */
void kcu_matmul_bias_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                          const float *bias, float *c);
void kcu_matmul_bias_gelu_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                               const float *bias, float *pre, float *c);
void kcu_matmul_dgelu_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                           const float *pre, float *c, float *dbias);
void kcu_matmul_add_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                         const float *bias, const float *r, float *c);

/* Sizes of the mixers' device work, in floats, and their forward/backward
 * (kernels/cuda/attn.cu, power.cu, power_backward.cu). */
size_t kcu_attn_work_size(const kern_mixer_shape *s);
void kcu_attn_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, float *y,
                      float *saved, float *work);
void kcu_attn_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                       const float *y, const float *saved, const float *dy, float *dq, float *dk, float *dv,
                       float *work);
size_t kcu_power_work_size(const kern_mixer_shape *s);
void kcu_power_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                       const float *log_g, float *y, float *saved, float *work);
void kcu_power_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                        const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                        float *dk, float *dv, float *dlog_g, float *work);

/* Flash attention for the bf16 backend (kernels/cuda/flash.cu): which shapes it takes
 * (softmax or window, head dim 16, 32, 64 or 128), its work (floats),
 * forward (y, saved = row log-sum-exp) and backward (dq, dk, dv overwritten). k16_kept / q16_kept
 * (NULL: none): k's (forward) or q's (backward) bf16 copy, dense in k's or q's layout, read
 * instead of rounding k or q into work (kcu_kept); y16 (NULL: none) gets y rounded to bf16 in
 * y's layout, the bf16 matmul's copy for the products that read y (kcu_produce). */
int kcu_flash_supported(const kern_mixer_shape *s);
size_t kcu_flash_work_size(const kern_mixer_shape *s);
void kcu_flash_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, float *y,
                       float *saved, float *work, const __nv_bfloat16 *k16_kept, __nv_bfloat16 *y16);
/* kernels/cuda/flash_wg.cu: the forward on wgmma (plan.h's kcu_flash_wg says when), from
 * k16 and v16, the bf16 copies of k and v that kcu_flash_forward made or was given. */
void kcu_flash_wg_forward(const kern_mixer_shape *s, const float *q, const __nv_bfloat16 *k16,
                          const __nv_bfloat16 *v16, float *y, float *lse, __nv_bfloat16 *y16);
/* kernels/cuda/flash_wg_bwd.cu: the backward on wgmma (plan.h's kcu_flash_bwd_wg says when), from
 * the bf16 copies of q and dy, FP32 k and v, the forward's log-sum-exp and D_i; dq cleared. */
void kcu_flash_wg_backward(const kern_mixer_shape *s, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16,
                           const float *k, const float *v, const float *lse, const float *dd, float *dq, float *dk,
                           float *dv);
/* Stops (kcu_fail) unless the device is compute capability 9.0, naming the opt-out switch. */
void kcu_need_sm90a(const char *what, const char *opt_out);
void kcu_flash_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, const float *y,
                        const float *saved, const float *dy, float *dq, float *dk, float *dv, float *work,
                        const __nv_bfloat16 *q16_kept);

#endif
