/* The CUDA backend: its context, memory, matmul (cuBLAS SGEMM in FP32), the
 * fixed-order sum of squares, and the kern_backend tables (FP32, and bf16: bf16
 * products with FP32 accumulation, flash attention). The other ops are in
 * ops.cu, the bf16 matmul in matmul.cu, the mixers in attn.cu and power*.cu. */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/writes.h"

void kcu_fail(const char *file, int line, const char *what, const char *why) {
    fprintf(stderr, "scalelab: CUDA error at %s:%d: %s: %s\n", file, line, what, why);
    exit(EXIT_FAILURE);
}

/* Fixed-order reductions: this many blocks' partial sums, summed in order on the host. */
enum { KCU_REDUCE_BLOCKS = 256, KCU_REDUCE_THREADS = 256 };

/* The one context (see cuda_common.h for why there is one). */
static struct {
    std::once_flag once;
    int ok;
    char why[256];
    cublasHandle_t blas;
    double *reduce; /* KCU_REDUCE_BLOCKS partial sums */
    float *partials; /* kcu_partials: grow-only */
    size_t partials_n;
    unsigned long long calls; /* kcu_device_calls */
} ctx;

void kcu_count_call(void) { ctx.calls++; }
unsigned long long kcu_device_calls(void) { return ctx.calls; }

static void ctx_init(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(ctx.why, sizeof ctx.why, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports 0 devices");
        cudaGetLastError();
        return;
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess || prop.major < 9) {
        snprintf(ctx.why, sizeof ctx.why, "device 0 %s (%s): this build targets compute capability 9.0",
                 e != cudaSuccess ? "unreadable" : prop.name, e != cudaSuccess ? cudaGetErrorString(e) : "too old");
        return;
    }
    if ((e = cudaMalloc(&ctx.reduce, KCU_REDUCE_BLOCKS * sizeof(double))) != cudaSuccess) {
        snprintf(ctx.why, sizeof ctx.why, "device 0 (%s): %s", prop.name, cudaGetErrorString(e));
        return;
    }
    cublasStatus_t s = cublasCreate(&ctx.blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(ctx.why, sizeof ctx.why, "cuBLAS: %s", cublasGetStatusString(s));
        return;
    }
    /* FP32 arithmetic: the default math mode never uses TF32 for SGEMM (unless
     * NVIDIA_TF32_OVERRIDE=1 is set), and the CPU reference is what we match. */
    KCU_BLAS(cublasSetMathMode(ctx.blas, CUBLAS_DEFAULT_MATH));
    ctx.ok = 1;
}

static int ctx_ready(void) {
    std::call_once(ctx.once, ctx_init);
    return ctx.ok;
}

cublasHandle_t kcu_blas(void) { return ctx.blas; }

float *kcu_partials(size_t n) {
    if (n > ctx.partials_n) {
        /* cudaFree waits for the device, so no kernel still reads the old buffer. */
        if (ctx.partials) KCU_CHECK(cudaFree(ctx.partials));
        size_t want = n > 2 * ctx.partials_n ? n : 2 * ctx.partials_n;
        KCU_CHECK(cudaMalloc(&ctx.partials, want * sizeof(float)));
        ctx.partials_n = want;
    }
    return ctx.partials;
}

/* ---- memory ---- */

static void *cu_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) { /* the bf16 matmul's kept copies give theirs back first */
        cudaGetLastError(); /* not sticky: clear it so the next call is not blamed */
        kcu_mm_release_copies();
        e = cudaMalloc(&p, bytes ? bytes : 1);
    }
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return NULL;
    }
    KCU_CHECK(e);
    KCU_CHECK(cudaMemset(p, 0, bytes ? bytes : 1));
    kcu_records_allocated(p, bytes); /* memory freed and given again is no GELU op's record (matmul.cu) */
    return p;
}
static void cu_free(void *p) {
    if (p) KCU_CHECK(cudaFree(p));
}
static void cu_upload(void *dst, const void *host_src, size_t bytes) {
    if (bytes) KCU_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}
static void cu_download(void *host_dst, const void *src, size_t bytes) {
    if (bytes) KCU_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

/* ---- matmul ---- */

/* Row-major C = A B is column-major C^T = B^T A^T: swap the operands and the
 * dimensions, keep each operand's own transpose flag. */
void kcu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              long long stride_a, const float *b, int ldb, long long stride_b, float beta, float *c, int ldc,
              long long stride_c, int batch) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch == 1)
        KCU_BLAS(cublasSgemm(ctx.blas, tb, ta, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
    else
        KCU_BLAS(cublasSgemmStridedBatched(ctx.blas, tb, ta, n, m, k, &alpha, b, ldb, stride_b, a, lda, stride_a,
                                           &beta, c, ldc, stride_c, batch));
}

static void cu_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, const float *b,
                      float beta, float *c) {
    kcu_gemm(trans_a, trans_b, m, n, k, alpha, a, trans_a ? m : k, 0, b, trans_b ? k : n, 0, beta, c, n, 0, 1);
}

static void cu_matmul_bias(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                           const float *bias, float *c) {
    kcu_matmul_bias_composed(cu_matmul, trans_a, trans_b, m, n, k, a, b, bias, c);
}
static void cu_matmul_bias_gelu(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                                const float *bias, float *pre, float *c) {
    kcu_matmul_bias_gelu_composed(cu_matmul, trans_a, trans_b, m, n, k, a, b, bias, pre, c);
}
static void cu_matmul_dgelu(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                            const float *pre, float *c, float *dbias) {
    kcu_matmul_dgelu_composed(cu_matmul, trans_a, trans_b, m, n, k, a, b, pre, c, dbias);
}
static void cu_matmul_add(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                          const float *bias, const float *r, float *c) {
    kcu_matmul_add_composed(cu_matmul, trans_a, trans_b, m, n, k, a, b, bias, r, c);
}

/* ---- sum of squares: a fixed grid, each thread a fixed set of elements, each
 * block a fixed tree, the blocks summed in order on the host: the same bits
 * for every run. ---- */

__global__ void sum_squares_kernel(size_t n, const float *x, double *partial) {
    __shared__ double sh[KCU_REDUCE_THREADS];
    double s = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i] * x[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

static double cu_sum_squares(size_t n, const float *x) {
    double part[KCU_REDUCE_BLOCKS];
    sum_squares_kernel<<<KCU_REDUCE_BLOCKS, KCU_REDUCE_THREADS>>>(n, x, ctx.reduce);
    KCU_LAUNCHED();
    KCU_CHECK(cudaMemcpy(part, ctx.reduce, sizeof part, cudaMemcpyDeviceToHost));
    double s = 0;
    for (int b = 0; b < KCU_REDUCE_BLOCKS; b++) s += part[b];
    return s;
}

/* ---- mixers: dispatch by kind ---- */

/* The CPU's shape check (kernels/kern_shape.h) with its words, at every entry: a shape the
 * kernels would only assume valid stops the program (power plans check again in pw_plan). */
static const kern_mixer_shape *checked(const kern_mixer_shape *s) {
    char why[512];
    if (kern_mixer_shape_check(s, why, sizeof why)) kcu_fail(__FILE__, __LINE__, "mixer shape", why);
    return s;
}
static size_t cu_mixer_saved_size(const kern_mixer_shape *s) { return kern_mx_saved_size(checked(s)); }
static size_t cu_mixer_work_size(const kern_mixer_shape *s) {
    return checked(s)->kind == KERN_MIXER_POWER ? kcu_power_work_size(s) : kcu_attn_work_size(s);
}
static void cu_mixer_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, float *y, float *saved, float *work) {
    if (checked(s)->kind == KERN_MIXER_POWER) kcu_power_forward(s, q, k, v, log_g, y, saved, work);
    else kcu_attn_forward(s, q, k, v, y, saved, work);
}
static void cu_mixer_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                              const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                              float *dk, float *dv, float *dlog_g, float *work) {
    if (checked(s)->kind == KERN_MIXER_POWER) kcu_power_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work);
    else kcu_attn_backward(s, q, k, v, y, saved, dy, dq, dk, dv, work);
}

/* bf16 backend mixers: softmax and window through the flash kernels (flash.cu) when
 * the head dim has a kernel, other head dims as in the FP32 backend; power retention
 * with its products on the tensor cores (bf16 operands, FP32 accumulation, power.cu). */
size_t kcu_power_work_size_prec(const kern_mixer_shape *s, int bf16);
void kcu_power_forward_prec(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                            const float *log_g, float *y, float *saved, float *work, int bf16);
void kcu_power_backward_prec(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                             float *dk, float *dv, float *dlog_g, float *work, int bf16);
static int use_flash(const kern_mixer_shape *s) { return kcu_flash_supported(s); }
/* What the mixers issue (kernels/cuda/flops.c, from the launch facts in plan.h). */
static void cu_mixer_count_flops(const kern_mixer_shape *s, kern_flop_count_train *out) {
    kern_cuda_mixer_count_flops(checked(s), 0, out);
}
static void cu_mixer_count_flops_bf16(const kern_mixer_shape *s, kern_flop_count_train *out) {
    kern_cuda_mixer_count_flops(checked(s), 1, out);
}
static size_t cu_mixer_work_size_bf16(const kern_mixer_shape *s) {
    if (checked(s)->kind == KERN_MIXER_POWER) return kcu_power_work_size_prec(s, 1);
    return use_flash(s) ? kcu_flash_work_size(s) : cu_mixer_work_size(s);
}
static void check_aligned(const void *p) {
    if ((uintptr_t)p % 16) kcu_fail(__FILE__, __LINE__, "flash attention", "a tensor is not 16-byte aligned");
}
static void cu_mixer_forward_bf16(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                                  const float *log_g, float *y, float *saved, float *work,
                                  const __nv_bfloat16 *k16, __nv_bfloat16 *y16) {
    if (checked(s)->kind == KERN_MIXER_POWER) return kcu_power_forward_prec(s, q, k, v, log_g, y, saved, work, 1);
    if (!use_flash(s)) return cu_mixer_forward(s, q, k, v, log_g, y, saved, work);
    check_aligned(q), check_aligned(k), check_aligned(v), check_aligned(y);
    kcu_flash_forward(s, q, k, v, y, saved, work, k16, y16);
}
static void cu_mixer_backward_bf16(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                                   const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                                   float *dk, float *dv, float *dlog_g, float *work, const __nv_bfloat16 *q16) {
    if (checked(s)->kind == KERN_MIXER_POWER)
        return kcu_power_backward_prec(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work, 1);
    if (!use_flash(s)) return cu_mixer_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work);
    check_aligned(q), check_aligned(k), check_aligned(v), check_aligned(y), check_aligned(dy), check_aligned(dq),
        check_aligned(dk), check_aligned(dv);
    kcu_flash_backward(s, q, k, v, y, saved, dy, dq, dk, dv, work, q16);
}

/* ---- the bf16 table's ops declare what they write ----
 * Each op of the bf16 table (but alloc, free and embedding_backward, whose extents the
 * arguments do not give, and the products, which matmul.cu tracks itself) runs the FP32
 * backend's op (the bf16 mixers for the mixers), then tells the bf16 matmul the ranges it wrote
 * (writes.h, kcu_op_wrote): the bf16 copies the matmul keeps of other tensors stay valid
 * across it, so an activation saved for the backward and a weight between its forward and
 * backward products are rounded once a step. An output left out would let a product read a
 * stale copy: tests/unit/test_writes.c checks writes.h against every byte the CPU ops write in
 * training steps, and SCALELAB_MM_CHECK=1 checks every reuse on the GPU (test_backend sets it). */
#define DECLARED(call, spans)                                                                      \
    do {                                                                                           \
        unsigned long long t_ = kcu_device_calls();                                                \
        call;                                                                                      \
        kcu_span w_[KCU_WRITES_MAX];                                                               \
        int n_ = spans;                                                                            \
        kcu_op_wrote(t_, w_, n_);                                                                  \
    } while (0)
/* The FP32 backend's op `name` on the call's arguments, declared by kcu_writes_name. */
#define F32_OP(name, ...) DECLARED(kern_cuda_backend()->name(__VA_ARGS__), kcu_writes_##name(__VA_ARGS__, w_))

static void w_upload(void *dst, const void *src, size_t bytes) { F32_OP(upload, dst, src, bytes); }
static void w_download(void *dst, const void *src, size_t bytes) { F32_OP(download, dst, src, bytes); }
static void w_add_bias(int n, int dim, float *x, const float *bias) { F32_OP(add_bias, n, dim, x, bias); }
static void w_bias_backward(int n, int dim, const float *dy, float *db) { F32_OP(bias_backward, n, dim, dy, db); }
static void w_add(size_t n, const float *x, float *y) { F32_OP(add, n, x, y); }
static void w_zero(size_t n, float *x) { F32_OP(zero, n, x); }
static void w_gelu_forward(size_t n, const float *x, float *y) { F32_OP(gelu_forward, n, x, y); }
static void w_gelu_backward(size_t n, const float *x, const float *dy, float *dx) {
    F32_OP(gelu_backward, n, x, dy, dx);
}
/* RoPE also writes its output's bf16 copy (kcu_produce): q's for the flash backward, k's for
 * the flash forward, dq's and dk's for their weight and input gradients' products. */
static void rope16(int rows, int seq, int nh, int d, const float *c, const float *sn, float *x, int backward) {
    long long cols = (long long)nh * d;
    __nv_bfloat16 *x16 = kcu_produce(x, rows, cols);
    int wrote = 0;
    DECLARED(wrote = kcu_rope16(rows, seq, nh, d, c, sn, x, x16, backward),
             kcu_writes_rope_forward(rows, seq, nh, d, c, sn, x, w_));
    kcu_produced(x, rows, cols, wrote ? x16 : NULL);
}
static void w_rope_forward(int rows, int seq, int nh, int d, const float *c, const float *sn, float *x) {
    rope16(rows, seq, nh, d, c, sn, x, 0);
}
static void w_rope_backward(int rows, int seq, int nh, int d, const float *c, const float *sn, float *dx) {
    rope16(rows, seq, nh, d, c, sn, dx, 1);
}
static void w_embedding_forward(int n, int dim, const int32_t *tok, const float *table, float *out) {
    F32_OP(embedding_forward, n, dim, tok, table, out);
}
static void w_logsigmoid_forward(size_t n, float *x) { F32_OP(logsigmoid_forward, n, x); }
static void w_logsigmoid_backward(size_t n, const float *lg, const float *dlg, float *dz) {
    F32_OP(logsigmoid_backward, n, lg, dlg, dz);
}
static void w_xent_forward(int n, int vocab, const float *logits, const int32_t *t, float *loss) {
    F32_OP(xent_forward, n, vocab, logits, t, loss);
}
static void w_xent_backward(int n, int vocab, const float *logits, const int32_t *t, float scale, float *dl) {
    F32_OP(xent_backward, n, vocab, logits, t, scale, dl);
}
static double w_sum_squares(size_t n, const float *x) {
    double r = 0;
    DECLARED(r = kern_cuda_backend()->sum_squares(n, x), kcu_writes_sum_squares(n, x, w_));
    return r;
}
static void w_scale(size_t n, float *x, float a) { F32_OP(scale, n, x, a); }
static void w_adamw(size_t n, float *p, const float *g, float *m, float *v, double lr, double b1, double b2,
                    double eps, double wd, int64_t step) {
    DECLARED(kern_cuda_backend()->adamw(n, p, g, m, v, lr, b1, b2, eps, wd, step), kcu_writes_adamw(n, p, g, m, v, w_));
}
/* The norms' forward writes its output as a bf16 record where kcu_out_begin allows (kern_ops.inc:
 * only products read x_norm, for q, k, v, the gate, W1 and the LM head, and their weight
 * gradients), else FP32 y and its bf16 copy; the backward writes the residual
 * gradient and its copy, for W2's and Wo's products. Why records: the FP32 x_norm was 4 bytes an
 * element written and never read. */
static void w_layernorm_forward(int n, int dim, const float *x, const float *w, const float *b, float eps, float *y,
                                float *mean, float *rstd) {
    kcu_out o = kcu_out_begin(y, n, dim);
    DECLARED(kcu_layernorm_forward16(n, dim, x, w, b, eps, o.y, mean, rstd, o.y16),
             kcu_writes_layernorm_forward(n, dim, x, w, b, eps, y, mean, rstd, w_));
    kcu_out_end(o, y, n, dim);
}
static void w_layernorm_backward(int n, int dim, const float *x, const float *w, const float *mean, const float *rstd,
                                 const float *dy, float *dx, float *dw, float *db) {
    __nv_bfloat16 *dx16 = kcu_produce(dx, n, dim);
    DECLARED(kcu_layernorm_backward16(n, dim, x, w, mean, rstd, dy, dx, dw, db, dx16),
             kcu_writes_layernorm_backward(n, dim, x, w, mean, rstd, dy, dx, dw, db, w_));
    kcu_produced(dx, n, dim, dx16);
}
static void w_rmsnorm_forward(int n, int dim, const float *x, const float *w, float eps, float *y, float *rstd) {
    kcu_out o = kcu_out_begin(y, n, dim);
    DECLARED(kcu_rmsnorm_forward16(n, dim, x, w, eps, o.y, rstd, o.y16),
             kcu_writes_rmsnorm_forward(n, dim, x, w, eps, y, rstd, w_));
    kcu_out_end(o, y, n, dim);
}
static void w_rmsnorm_backward(int n, int dim, const float *x, const float *w, const float *rstd, const float *dy,
                               float *dx, float *dw) {
    __nv_bfloat16 *dx16 = kcu_produce(dx, n, dim);
    DECLARED(kcu_rmsnorm_backward16(n, dim, x, w, rstd, dy, dx, dw, dx16),
             kcu_writes_rmsnorm_backward(n, dim, x, w, rstd, dy, dx, dw, w_));
    kcu_produced(dx, n, dim, dx16);
}
/* The flash kernels read a kept bf16 copy of k (forward) and of q (backward) where one is
 * certainly current (kcu_kept, looked up before the op begins: RoPE wrote them), instead of
 * rounding k or q again into their work; the forward also writes y's copy (kcu_produce), which
 * the output projection's product and its weight gradient's read instead of a rounding pass. */
static int flash_path(const kern_mixer_shape *s) { return s->kind != KERN_MIXER_POWER && use_flash(s); }
static const __nv_bfloat16 *kept_rows(const kern_mixer_shape *s, const float *x, int heads) {
    return flash_path(s) ? kcu_kept(x, (long long)s->batch * s->seq, (long long)heads * s->head_dim) : NULL;
}
static void w_mixer_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                            const float *log_g, float *y, float *saved, float *work) {
    long long rows = (long long)s->batch * s->seq, cols = (long long)s->n_head * s->head_dim;
    /* y's slot first: a copy claimed after the lookup could take k's buffer while the op reads it */
    __nv_bfloat16 *y16 = flash_path(s) ? kcu_produce(y, rows, cols) : NULL;
    const __nv_bfloat16 *k16 = kept_rows(s, k, s->n_kv_head);
    DECLARED(cu_mixer_forward_bf16(s, q, k, v, log_g, y, saved, work, k16, y16),
             kcu_writes_mixer_forward(s, q, k, v, log_g, y, saved, work, cu_mixer_saved_size(s),
                                      cu_mixer_work_size_bf16(s), w_));
    kcu_produced(y, rows, cols, y16);
}
static void w_mixer_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                             float *dk, float *dv, float *dlog_g, float *work) {
    const __nv_bfloat16 *q16 = kept_rows(s, q, s->n_head);
    DECLARED(cu_mixer_backward_bf16(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work, q16),
             kcu_writes_mixer_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work,
                                       cu_mixer_work_size_bf16(s), w_));
}

/* ---- the tables ---- */

void kcu_fill_ops(kern_backend *be); /* ops.cu */

extern "C" int kern_cuda_available(char *err, size_t errlen) {
    if (ctx_ready()) return 1;
    if (err && errlen) snprintf(err, errlen, "%s", ctx.why);
    return 0;
}

extern "C" const kern_backend *kern_cuda_backend(void) {
    static kern_backend be;
    static std::once_flag filled;
    if (!ctx_ready()) return NULL;
    std::call_once(filled, [] {
        be.name = "cuda";
        be.alloc = cu_alloc;
        be.free = cu_free;
        be.upload = cu_upload;
        be.download = cu_download;
        be.matmul = cu_matmul;
        be.matmul_bias = cu_matmul_bias;
        be.matmul_bias_gelu = cu_matmul_bias_gelu;
        be.matmul_dgelu = cu_matmul_dgelu;
        be.matmul_add = cu_matmul_add;
        be.sum_squares = cu_sum_squares;
        be.mixer_saved_size = cu_mixer_saved_size;
        be.mixer_work_size = cu_mixer_work_size;
        be.mixer_forward = cu_mixer_forward;
        be.mixer_backward = cu_mixer_backward;
        be.mixer_count_flops = cu_mixer_count_flops;
        kcu_fill_ops(&be);
    });
    return &be;
}

extern "C" const kern_backend *kern_cuda_backend_bf16(void) {
    static kern_backend be;
    static std::once_flag filled;
    const kern_backend *f32 = kern_cuda_backend();
    if (!f32) return NULL;
    std::call_once(filled, [f32] {
        be = *f32;
        be.name = "cuda-bf16";
        be.matmul = kcu_matmul_bf16;
        be.matmul_bias = kcu_matmul_bias_bf16;
        be.matmul_bias_gelu = kcu_matmul_bias_gelu_bf16;
        be.matmul_dgelu = kcu_matmul_dgelu_bf16;
        be.matmul_add = kcu_matmul_add_bf16;
        be.mixer_work_size = cu_mixer_work_size_bf16;
        be.mixer_forward = w_mixer_forward;
        be.mixer_backward = w_mixer_backward;
        be.mixer_count_flops = cu_mixer_count_flops_bf16;
        /* every other op declares its writes (above) */
        be.upload = w_upload, be.download = w_download, be.add_bias = w_add_bias, be.bias_backward = w_bias_backward;
        be.add = w_add, be.zero = w_zero, be.layernorm_forward = w_layernorm_forward;
        be.layernorm_backward = w_layernorm_backward, be.rmsnorm_forward = w_rmsnorm_forward;
        be.rmsnorm_backward = w_rmsnorm_backward, be.gelu_forward = w_gelu_forward, be.gelu_backward = w_gelu_backward;
        be.rope_forward = w_rope_forward, be.rope_backward = w_rope_backward;
        be.embedding_forward = w_embedding_forward, be.logsigmoid_forward = w_logsigmoid_forward;
        be.logsigmoid_backward = w_logsigmoid_backward, be.xent_forward = w_xent_forward;
        be.xent_backward = w_xent_backward, be.sum_squares = w_sum_squares, be.scale = w_scale, be.adamw = w_adamw;
    });
    return &be;
}
