/* CUDA twins of the CPU ops in kernels/cpu/ops.c and ops_optim.c (same
 * formulas, same double accumulations where the CPU uses double).
 * Elementwise ops: one thread per element. Row ops (norms): one warp per row.
 * Cross-entropy: one block per row (the vocabulary may be wide). Column sums
 * (bias and norm parameter gradients): one block per 32 columns whose 32 row
 * lanes reduce in a fixed order, so they are bit-reproducible; the embedding
 * gradient uses atomics (two rows may hold the same token), so it is not. */
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.h"

#define THREADS 256
#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Block-wide reductions for blockDim.x = THREADS; every thread gets the result. */
__device__ double block_sum(double v, double *sh) {
    v = warp_sum(v);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double s = 0;
    for (int w = 0; w < THREADS / 32; w++) s += sh[w];
    return s;
}
__device__ float block_max(float v, float *sh) {
    v = warp_max(v);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float m = sh[0];
    for (int w = 1; w < THREADS / 32; w++) m = fmaxf(m, sh[w]);
    return m;
}

/* ---- elementwise ---- */

__global__ void add_bias_kernel(size_t n, int dim, float *x, const float *bias) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += bias[i % dim];
}
static void cu_add_bias(int n, int dim, float *x, const float *bias) {
    size_t total = (size_t)n * dim;
    add_bias_kernel<<<kcu_blocks(total, THREADS), THREADS>>>(total, dim, x, bias);
    KCU_LAUNCHED();
}

__global__ void add_kernel(size_t n, const float *x, float *y) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}
static void cu_add(size_t n, const float *x, float *y) {
    add_kernel<<<kcu_blocks(n, THREADS), THREADS>>>(n, x, y);
    KCU_LAUNCHED();
}
static void cu_zero(size_t n, float *x) {
    if (n) KCU_CHECK(cudaMemsetAsync(x, 0, n * sizeof(float)));
}

__device__ __forceinline__ float tanh_via_exp(float u) { return 1.f - 2.f / (expf(2.f * u) + 1.f); }
__device__ __forceinline__ float gelu(float v) {
    return 0.5f * v * (1.f + tanh_via_exp(GELU_C * (v + GELU_A * v * v * v)));
}
__device__ __forceinline__ float gelu_grad(float v, float dy) {
    float t = tanh_via_exp(GELU_C * (v + GELU_A * v * v * v));
    float du = GELU_C * (1.f + 3.f * GELU_A * v * v);
    return dy * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
}

/* Four elements a thread, by float4 when vec (n % 4 == 0, x, dy, y 16-byte aligned): the
 * scalar kernels moved ~60% of copy bandwidth on the H200 (ncu, 108 and 161 us a call at
 * [16384, 2048]). dy NULL: the forward, y = gelu(x); else the backward, y = dy gelu'(x) (dy
 * may be y). */
__global__ void gelu_kernel(size_t n, int vec, const float *x, const float *dy, float *y) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i >= n) return;
    if (vec) {
        float4 v = *reinterpret_cast<const float4 *>(x + i), o;
        if (dy) {
            float4 g = *reinterpret_cast<const float4 *>(dy + i);
            o = make_float4(gelu_grad(v.x, g.x), gelu_grad(v.y, g.y), gelu_grad(v.z, g.z), gelu_grad(v.w, g.w));
        } else {
            o = make_float4(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w));
        }
        *reinterpret_cast<float4 *>(y + i) = o;
        return;
    }
    for (size_t j = i; j < i + 4 && j < n; j++) y[j] = dy ? gelu_grad(x[j], dy[j]) : gelu(x[j]);
}
static int aligned(const void *p, unsigned bytes) { return !p || (uintptr_t)p % bytes == 0; }
static void gelu_launch(size_t n, const float *x, const float *dy, float *y) {
    int vec = n % 4 == 0 && aligned(x, 16) && aligned(y, 16) && aligned(dy, 16);
    gelu_kernel<<<kcu_blocks((n + 3) / 4, THREADS), THREADS>>>(n, vec, x, dy, y);
    KCU_LAUNCHED();
}

/* Four values at p + i as floats, from bf16 (8-byte load) or FP32 (16-byte load), and back. */
__device__ __forceinline__ void load4(const __nv_bfloat16 *p, size_t i, float *o) {
    uint2 u = *reinterpret_cast<const uint2 *>(p + i);
    float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.x));
    float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.y));
    o[0] = a.x, o[1] = a.y, o[2] = b.x, o[3] = b.y;
}
__device__ __forceinline__ void load4(const float *p, size_t i, float *o) {
    float4 v = *reinterpret_cast<const float4 *>(p + i);
    o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
}
__device__ __forceinline__ void store4(__nv_bfloat16 *p, size_t i, const float *o) {
    __nv_bfloat162 h[2] = {__floats2bfloat162_rn(o[0], o[1]), __floats2bfloat162_rn(o[2], o[3])};
    *reinterpret_cast<uint2 *>(p + i) = *reinterpret_cast<const uint2 *>(h);
}
__device__ __forceinline__ void store4(float *p, size_t i, const float *o) {
    *reinterpret_cast<float4 *>(p + i) = make_float4(o[0], o[1], o[2], o[3]);
}

/* The bf16 table's GELU after its product (matmul.cu; pre is bf16 there, kern_ops.inc). The
 * product comes as bf16 (prod16, what cuBLASLt wrote) or FP32 (x32, the fallback's, rounded to
 * bf16 here as Lt rounds its D, so both paths compute the same numbers). Forward (back 0): v =
 * the product (+ bias[column] when bias: cols columns), pre16 = bf16(v), y = gelu(v); backward:
 * y = the product times gelu'(pre16). y16 (NULL: none) gets y rounded, the bf16 matmul's copy
 * for the next product or the op's record in c's own memory (then y is NULL: not written).
 * prod16 may be pre16, x32 may be y: each element is read, then written, by one thread. */
/* x as bf16 holds it: what cuBLASLt's bf16 D would have stored */
__device__ __forceinline__ float bf16_round(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
/* Four values of the product at i: cuBLASLt's bf16 D (prod16), or the fallback's FP32 (x32)
 * rounded to bf16 as Lt rounds its D. */
__device__ __forceinline__ void load_product4(const __nv_bfloat16 *prod16, const float *x32, size_t i, float *v) {
    if (prod16) return load4(prod16, i, v);
    load4(x32, i, v);
#pragma unroll
    for (int j = 0; j < 4; j++) v[j] = bf16_round(v[j]);
}
template <int BACK>
__device__ __forceinline__ void gelu16_one(float v, float p, float *o) {
    *o = BACK ? gelu_grad(p, v) : gelu(v);
}
/* Four elements a thread with 8- and 16-byte accesses when vec, else one; the loops have
 * constant bounds so v, p and o stay in registers (a first version indexed them by a runtime
 * count: local memory, 120 us a call where gelu_kernel took 71; now 64 us, the forward's 10
 * bytes an element at ~3.9 TB/s, ncu on the H200 at [8192, 3072]). */
template <int BACK>
__global__ void gelu16_kernel(size_t n, int cols, int vec, const __nv_bfloat16 *prod16, const float *x32,
                              const float *bias, __nv_bfloat16 *pre16, float *y, __nv_bfloat16 *y16) {
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec) {
        size_t i = t * 4;
        if (i >= n) return;
        float v[4], p[4] = {0, 0, 0, 0}, o[4];
        load_product4(prod16, x32, i, v);
        if (BACK) load4(pre16, i, p);
        else if (bias) {
            float b[4];
            load4(bias, (unsigned)(i % (unsigned)cols), b); /* the remainder is < cols */
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] += b[j];
        }
#pragma unroll
        for (int j = 0; j < 4; j++) gelu16_one<BACK>(v[j], p[j], &o[j]);
        if (!BACK) store4(pre16, i, v);
        if (y) store4(y, i, o);
        if (y16) store4(y16, i, o);
        return;
    }
    if (t >= n) return;
    float v = prod16 ? __bfloat162float(prod16[t]) : bf16_round(x32[t]), o;
    float p = BACK ? __bfloat162float(pre16[t]) : 0.f;
    if (!BACK && bias) v += bias[t % (size_t)cols];
    gelu16_one<BACK>(v, p, &o);
    if (!BACK) pre16[t] = __float2bfloat16_rn(v);
    if (y) y[t] = o;
    if (y16) y16[t] = __float2bfloat16_rn(o);
}
static void gelu16_launch(size_t n, int cols, int back, const __nv_bfloat16 *prod16, const float *x32,
                          const float *bias, __nv_bfloat16 *pre16, float *y, __nv_bfloat16 *y16) {
    int vec = n % 4 == 0 && aligned(prod16, 8) && aligned(x32, 16) && aligned(pre16, 8) && aligned(y, 16) &&
              aligned(y16, 8) && (!bias || (cols % 4 == 0 && aligned(bias, 16)));
    size_t threads = vec ? (n + 3) / 4 : n;
    if (back) gelu16_kernel<1><<<kcu_blocks(threads, THREADS), THREADS>>>(n, cols, vec, prod16, x32, bias, pre16, y, y16);
    else gelu16_kernel<0><<<kcu_blocks(threads, THREADS), THREADS>>>(n, cols, vec, prod16, x32, bias, pre16, y, y16);
    KCU_LAUNCHED();
}
void kcu_gelu_forward16(size_t n, int cols, const __nv_bfloat16 *prod16, const float *x32, const float *bias,
                        __nv_bfloat16 *pre16, float *y, __nv_bfloat16 *y16) {
    gelu16_launch(n, cols, 0, prod16, x32, bias, pre16, y, y16);
}
static void cu_gelu_forward(size_t n, const float *x, float *y) { gelu_launch(n, x, NULL, y); }
static void cu_gelu_backward(size_t n, const float *x, const float *dy, float *dx) { gelu_launch(n, x, dy, dx); }

void kcu_matmul_bias_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                              const float *b, const float *bias, float *c) {
    mm(trans_a, trans_b, m, n, k, 1.f, a, b, 0.f, c);
    cu_add_bias(m, n, c, bias);
}
void kcu_matmul_bias_gelu_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                                   const float *b, const float *bias, float *pre, float *c) {
    kcu_matmul_bias_composed(mm, trans_a, trans_b, m, n, k, a, b, bias, pre);
    cu_gelu_forward((size_t)m * n, pre, c);
}
static void cu_bias_backward(int n, int dim, const float *dy, float *dbias); /* the column sums, below */
void kcu_matmul_dgelu_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                               const float *b, const float *pre, float *c, float *dbias) {
    mm(trans_a, trans_b, m, n, k, 1.f, a, b, 0.f, c);
    cu_gelu_backward((size_t)m * n, pre, c, c);
    if (dbias) cu_bias_backward(m, n, c, dbias);
}
void kcu_matmul_add_composed(kcu_matmul_fn mm, int trans_a, int trans_b, int m, int n, int k, const float *a,
                             const float *b, const float *bias, const float *r, float *c) {
    if (bias) kcu_matmul_bias_composed(mm, trans_a, trans_b, m, n, k, a, b, bias, c);
    else mm(trans_a, trans_b, m, n, k, 1.f, a, b, 0.f, c);
    cu_add((size_t)m * n, r, c);
}

/* One thread per W consecutive rotated pairs (row, head, i < half; sign -1 is the transpose):
 * W = 4 with 16-byte loads of x and the tables, where the half head dim is a multiple of 4 and
 * every pointer is 16-byte aligned; else W = 1. The index arithmetic runs in I: 32-bit where the
 * count fits, since 64-bit division is a long instruction sequence. Why both: the one-pair kernel
 * with 64-bit indices was compute-bound (ncu, 12-layer step on the H200: 19 us a call on q
 * [8192, 768], ~3x its bytes at copy bandwidth; 15 us with 32-bit indices). Each element's
 * rotation is the same arithmetic in every variant. x16 (NULL: none; the bf16 table's, W = 4
 * only) gets the rotated x rounded to bf16, at the same indices: the copy that the flash kernels
 * and the bf16 matmul read instead of rounding x in a pass of their own (backend.cu). */
template <typename I, int W>
__global__ void rope_kernel(I n, I seq, I n_head, I half, I head_dim, const float *cos_t, const float *sin_t, float *x,
                            __nv_bfloat16 *x16, float sign) {
    using vec = typename std::conditional<W == 4, float4, float>::type;
    I idx = (I)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    I groups = half / W, i = idx % groups, rh = idx / groups; /* rh = row * n_head + head */
    I tab = rh / n_head % seq * groups + i;
    vec *x0p = reinterpret_cast<vec *>(x + (size_t)rh * head_dim) + i, *x1p = x0p + groups;
    vec c = reinterpret_cast<const vec *>(cos_t)[tab], sn = reinterpret_cast<const vec *>(sin_t)[tab];
    vec x0 = *x0p, x1 = *x1p;
    float *c_ = reinterpret_cast<float *>(&c), *s_ = reinterpret_cast<float *>(&sn);
    float *a = reinterpret_cast<float *>(&x0), *b = reinterpret_cast<float *>(&x1);
#pragma unroll
    for (int k = 0; k < W; k++) {
        float sk = sign * s_[k], ak = a[k], bk = b[k];
        a[k] = ak * c_[k] - bk * sk;
        b[k] = ak * sk + bk * c_[k];
    }
    *x0p = x0, *x1p = x1;
    if constexpr (W == 4)
        if (x16) {
            size_t at = (size_t)rh * head_dim + (size_t)i * 4;
            store4(x16, at, a);
            store4(x16, at + half, b);
        }
}
template <int W>
static void rope_w(int n_rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t, float *x,
                   __nv_bfloat16 *x16, float sign) {
    size_t n = (size_t)n_rows * n_head * (head_dim / 2) / W;
    unsigned blocks = kcu_blocks(n, THREADS);
    /* the table index (row % seq) * half / W + i < n too */
    if (n < 0xffffffffu - THREADS)
        rope_kernel<unsigned, W>
            <<<blocks, THREADS>>>((unsigned)n, seq, n_head, head_dim / 2, head_dim, cos_t, sin_t, x, x16, sign);
    else
        rope_kernel<size_t, W><<<blocks, THREADS>>>(n, seq, n_head, head_dim / 2, head_dim, cos_t, sin_t, x, x16, sign);
    KCU_LAUNCHED();
}
/* x16 is written only on the 4-pair path; the caller learns which from the return: 1 when it was. */
static int rope(int n_rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t, float *x,
                __nv_bfloat16 *x16, float sign) {
    int wide = head_dim % 8 == 0 && aligned(x, 16) && aligned(cos_t, 16) && aligned(sin_t, 16) && aligned(x16, 8);
    (wide ? rope_w<4> : rope_w<1>)(n_rows, seq, n_head, head_dim, cos_t, sin_t, x, wide ? x16 : NULL, sign);
    return wide && x16;
}
int kcu_rope16(int n_rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t, float *x,
               __nv_bfloat16 *x16, int backward) {
    return rope(n_rows, seq, n_head, head_dim, cos_t, sin_t, x, x16, backward ? -1.f : 1.f);
}
static void cu_rope_forward(int n_rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t,
                            float *x) {
    rope(n_rows, seq, n_head, head_dim, cos_t, sin_t, x, NULL, 1.f);
}
static void cu_rope_backward(int n_rows, int seq, int n_head, int head_dim, const float *cos_t,
                             const float *sin_t, float *dx) {
    rope(n_rows, seq, n_head, head_dim, cos_t, sin_t, dx, NULL, -1.f);
}

__global__ void embedding_forward_kernel(size_t total, int dim, const int32_t *tokens, const float *table,
                                         float *out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) out[i] = table[(size_t)tokens[i / dim] * dim + i % dim];
}
__global__ void embedding_backward_kernel(size_t total, int dim, const int32_t *tokens, const float *dout,
                                          float *dtable) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) atomicAdd(dtable + (size_t)tokens[i / dim] * dim + i % dim, dout[i]);
}
static void cu_embedding_forward(int n, int dim, const int32_t *tokens, const float *table, float *out) {
    size_t total = (size_t)n * dim;
    embedding_forward_kernel<<<kcu_blocks(total, THREADS), THREADS>>>(total, dim, tokens, table, out);
    KCU_LAUNCHED();
}
static void cu_embedding_backward(int n, int dim, const int32_t *tokens, const float *dout, float *dtable) {
    size_t total = (size_t)n * dim;
    embedding_backward_kernel<<<kcu_blocks(total, THREADS), THREADS>>>(total, dim, tokens, dout, dtable);
    KCU_LAUNCHED();
}

__global__ void logsigmoid_forward_kernel(size_t n, float *x) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float z = x[i];
    x[i] = fminf(z, 0.f) - log1pf(expf(-fabsf(z)));
}
__global__ void logsigmoid_backward_kernel(size_t n, const float *log_g, const float *dlog_g, float *dz) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dz[i] = -dlog_g[i] * expm1f(log_g[i]);
}
static void cu_logsigmoid_forward(size_t n, float *x) {
    logsigmoid_forward_kernel<<<kcu_blocks(n, THREADS), THREADS>>>(n, x);
    KCU_LAUNCHED();
}
static void cu_logsigmoid_backward(size_t n, const float *log_g, const float *dlog_g, float *dz) {
    logsigmoid_backward_kernel<<<kcu_blocks(n, THREADS), THREADS>>>(n, log_g, dlog_g, dz);
    KCU_LAUNCHED();
}

__global__ void scale_kernel(size_t n, float *x, float a) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= a;
}
static void cu_scale(size_t n, float *x, float a) {
    scale_kernel<<<kcu_blocks(n, THREADS), THREADS>>>(n, x, a);
    KCU_LAUNCHED();
}

__global__ void adamw_kernel(size_t n, float *param, const float *grad, float *m, float *v, double lr, float b1,
                             float b2, double eps, double wd, double bc1, double bc2) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grad[i];
    float mi = b1 * m[i] + (1 - b1) * g, vi = b2 * v[i] + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    double mh = mi / bc1, vh = vi / bc2;
    param[i] -= (float)(lr * (mh / (sqrt(vh) + eps) + wd * param[i]));
}
static void cu_adamw(size_t n, float *param, const float *grad, float *m, float *v, double lr, double beta1,
                     double beta2, double eps, double weight_decay, int64_t step) {
    double bc1 = 1 - pow(beta1, (double)step), bc2 = 1 - pow(beta2, (double)step);
    adamw_kernel<<<kcu_blocks(n, THREADS), THREADS>>>(n, param, grad, m, v, lr, (float)beta1, (float)beta2, eps,
                                                      weight_decay, bc1, bc2);
    KCU_LAUNCHED();
}

/* ---- column sums: out[c] += sum_i f(i, c), in two fixed-order passes: row slices
 * into partial sums, then each column's partials in slice order (the same bits every
 * run). One pass with a block per 32 columns used dim / 32 blocks: 4 of the 132
 * multiprocessors at d_model 128, 100 us per call, a fifth of a small model's step. ---- */

enum { CS_ROWS = 8, CS_FIN = 32, CS_MAX_SLICES = 256 };

/* The R row lanes' sums of a block's 32 columns, added in lane order: lane 0 (threadIdx.y
 * == 0) gets the totals, the other lanes 0. */
template <int R>
__device__ void lanes_total(float (*sw)[33], float (*sb)[33], float aw, float ab, float *tw, float *tb) {
    sw[threadIdx.y][threadIdx.x] = aw;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    *tw = *tb = 0;
    if (threadIdx.y) return;
    for (int l = 0; l < R; l++) {
        *tw += sw[l][threadIdx.x];
        *tb += sb[l][threadIdx.x];
    }
}

/* mean == NULL and rstd == NULL: plain sums of y (bias gradient). Otherwise the
 * weight part sums y[i,c] (x[i,c] - mean_i) rstd_i and the bias part y[i,c].
 * Block (32 columns, CS_ROWS row lanes) per (column block, row slice); part holds
 * [2][slices][dim]: weight part, then bias part. */
__global__ void column_partials_kernel(int n, int dim, int per, const float *y, const float *x, const float *mean,
                                       const float *rstd, float *part) {
    __shared__ float sw[CS_ROWS][33], sb[CS_ROWS][33];
    int c = blockIdx.x * 32 + threadIdx.x, lane = threadIdx.y, slice = blockIdx.y;
    int i0 = slice * per, i1 = min(n, i0 + per);
    float aw = 0, ab = 0;
    if (c < dim)
        for (int i = i0 + lane; i < i1; i += CS_ROWS) {
            float g = y[(size_t)i * dim + c];
            ab += g;
            if (rstd) aw += g * (x[(size_t)i * dim + c] - (mean ? mean[i] : 0.f)) * rstd[i];
        }
    float tw, tb;
    lanes_total<CS_ROWS>(sw, sb, aw, ab, &tw, &tb);
    if (lane == 0 && c < dim) {
        part[(size_t)slice * dim + c] = tw;
        part[((size_t)gridDim.y + slice) * dim + c] = tb;
    }
}
/* Each column's partials ([slices][dim] each, pw for dw and pb for db; only those of a non-NULL
 * output are read): CS_FIN lanes take every CS_FIN-th slice, then lane 0 adds the
 * lanes in order (fixed order: the same bits every run). One thread walking all 256 slices
 * of its column took 17 us a call at d_model 256 (ncu, H200): 17 calls, 5% of the step. */
__global__ void column_finish_kernel(int dim, int slices, const float *pw, const float *pb, float *dw, float *db) {
    __shared__ float sw[CS_FIN][33], sb[CS_FIN][33];
    int c = blockIdx.x * 32 + threadIdx.x, lane = threadIdx.y;
    float tw = 0, tb = 0;
    if (c < dim)
        for (int s = lane; s < slices; s += CS_FIN) {
            if (dw) tw += pw[(size_t)s * dim + c];
            if (db) tb += pb[(size_t)s * dim + c];
        }
    lanes_total<CS_FIN>(sw, sb, tw, tb, &tw, &tb);
    if (lane == 0 && c < dim) {
        if (dw) dw[c] += tw;
        if (db) db[c] += tb;
    }
}
/* column_finish_kernel over [slices][dim] partials (pw for dw, pb for db; either output NULL). */
static void column_finish(int dim, int slices, const float *pw, const float *pb, float *dw, float *db) {
    column_finish_kernel<<<(dim + 31) / 32, dim3(32, CS_FIN)>>>(dim, slices, pw, pb, dw, db);
    KCU_LAUNCHED();
}
static void column_sums(int n, int dim, const float *y, const float *x, const float *mean, const float *rstd,
                        float *dw, float *db) {
    if (n <= 0 || dim <= 0) return;
    int slices = n / 128 < 1 ? 1 : n / 128 > CS_MAX_SLICES ? CS_MAX_SLICES : n / 128;
    int per = (n + slices - 1) / slices;
    float *part = kcu_partials((size_t)2 * slices * dim);
    column_partials_kernel<<<dim3((dim + 31) / 32, slices), dim3(32, CS_ROWS)>>>(n, dim, per, y, x, mean, rstd, part);
    KCU_LAUNCHED();
    column_finish(dim, slices, part, part + (size_t)slices * dim, dw, db);
}
static void cu_bias_backward(int n, int dim, const float *dy, float *dbias) {
    column_sums(n, dim, dy, NULL, NULL, NULL, NULL, dbias);
}

/* ---- matmul_dgelu's bias gradient, summed as its GELU derivative is written (the bf16 table:
 * matmul.cu). Without it, bias_backward read the whole [m, n] output again: at the 12-layer
 * model's MLP (8192 x 3072 FP32) 100 MB, ~28 us a layer (ncu, H200). A block of DG_THREADS
 * threads takes 4 columns a thread over DG_ROWS rows (a slice); each thread sums its columns
 * down its slice in row order, the slices' partials [slices][n] are then added in slice order
 * by column_finish_kernel: the same bits every run. ---- */
enum { DG_ROWS = 16, DG_THREADS = 128, DG_MAX_SLICES = 1024 };
static int dg_slices(int m) {
    int s = (m + DG_ROWS - 1) / DG_ROWS;
    return s < 1 ? 1 : s > DG_MAX_SLICES ? DG_MAX_SLICES : s;
}
size_t kcu_dgelu16_part_floats(int m, int n) { return (size_t)dg_slices(m) * n; }

__global__ void dgelu16_colsum_kernel(int m, int n, int per, const __nv_bfloat16 *prod16, const float *x32,
                                      const __nv_bfloat16 *pre16, float *y, __nv_bfloat16 *y16, float *part) {
    int c = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (c >= n) return;
    int r0 = blockIdx.y * per, r1 = min(m, r0 + per);
    float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll 4
    for (int r = r0; r < r1; r++) {
        size_t i = (size_t)r * n + c;
        float v[4], p[4], o[4];
        load_product4(prod16, x32, i, v);
        load4(pre16, i, p);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            o[j] = gelu_grad(p[j], v[j]);
            s[j] += o[j];
        }
        if (y) store4(y, i, o);
        if (y16) store4(y16, i, o);
    }
    store4(part, (size_t)blockIdx.y * n + c, s);
}

void kcu_gelu_backward16(int m, int n, const __nv_bfloat16 *prod16, const float *x32, const __nv_bfloat16 *pre16,
                         float *y, __nv_bfloat16 *y16, float *dbias, float *part) {
    if (m <= 0 || n <= 0) return;
    int fused = dbias && n % 4 == 0 && aligned(prod16, 8) && aligned(x32, 16) && aligned(pre16, 8) &&
                aligned(y, 16) && aligned(y16, 8) && aligned(part, 16);
    if (!fused) {
        if (dbias && !y)
            kcu_fail(__FILE__, __LINE__, "matmul_dgelu", "a record (no FP32 output) where dbias is summed from it");
        gelu16_launch((size_t)m * n, 1, 1, prod16, x32, NULL, const_cast<__nv_bfloat16 *>(pre16), y, y16);
        if (dbias) cu_bias_backward(m, n, y, dbias); /* after: its partials may reuse prod16's scratch */
        return;
    }
    int slices = dg_slices(m), per = (m + slices - 1) / slices;
    dim3 grid((unsigned)((n / 4 + DG_THREADS - 1) / DG_THREADS), (unsigned)slices);
    dgelu16_colsum_kernel<<<grid, DG_THREADS>>>(m, n, per, prod16, x32, pre16, y, y16, part);
    KCU_LAUNCHED();
    column_finish(n, slices, NULL, part, NULL, dbias);
}

/* ---- norms: one warp per row ---- */

/* 4 rows (warps) a block: the row-in-registers kernels take 60-190 registers a thread, and blocks
 * of 4 warps pack a multiprocessor closer to what those allow than blocks of 8 (at 150 registers,
 * 12 warps against 8). */
#define ROWS_PER_BLOCK 4

/* The elements of one row that a lane owns. V > 0: the row is 128 V floats, 16-byte aligned, and
 * the lane holds its V float4 (columns 4 (lane + 32 v) ..+3) in registers, loaded once with
 * 16-byte loads; V == 0: any width, the lane reads columns lane, lane + 32, ... from memory at
 * each pass. Why: with one 4-byte load in flight a lane, a warp's passes over a row waited on
 * memory (ncu, 12-layer step on the H200: layer norm 26 us a call, norm backward 49 us, about
 * twice their bytes at copy bandwidth). The sums run over a lane's elements in a fixed order
 * either way, so a kernel gives the same bits on every run. */
template <int V> struct lane_row {
    float4 r[V > 0 ? V : 1];
    const float *p;
    __device__ lane_row(const float *row, int lane) : p(row) {
        if constexpr (V > 0)
#pragma unroll
            for (int v = 0; v < V; v++) r[v] = reinterpret_cast<const float4 *>(row)[lane + 32 * v];
    }
    /* element slot s (column j) of the lane: from registers (V > 0, s a constant once unrolled) */
    __device__ float at(int s, int j) const {
        if constexpr (V > 0) return reinterpret_cast<const float *>(r)[s];
        else return p[j];
    }
    /* f(s, j, x_j) over the lane's elements, in order */
    template <class F> __device__ void each(int lane, int dim, F &&f) const {
        if constexpr (V > 0) {
#pragma unroll
            for (int s = 0; s < 4 * V; s++) f(s, 4 * (lane + 32 * (s / 4)) + s % 4, at(s, 0));
        } else
            for (int j = lane; j < dim; j += 32) f(0, j, p[j]);
    }
    /* out[j] = f(s, j, x_j) over the lane's elements, and its bf16 copy in out16 when not NULL
     * (16-byte stores of out, 8-byte of out16, when V > 0). MAY_SKIP: out may be NULL (not written;
     * the forward's record); a template flag so that the backward's code stays as it was (with the
     * test, ptxas spilled in norm_backward_sums_kernel<8>). */
    template <bool MAY_SKIP = false, class F>
    __device__ void store(int lane, int dim, float *out, __nv_bfloat16 *out16, F &&f) const {
        if constexpr (V > 0) {
#pragma unroll
            for (int v = 0; v < V; v++) {
                int j = 4 * (lane + 32 * v);
                float4 o = {f(4 * v, j, r[v].x), f(4 * v + 1, j + 1, r[v].y), f(4 * v + 2, j + 2, r[v].z),
                            f(4 * v + 3, j + 3, r[v].w)};
                if (!MAY_SKIP || out) reinterpret_cast<float4 *>(out)[lane + 32 * v] = o;
                if (out16) {
                    __nv_bfloat162 lo = __floats2bfloat162_rn(o.x, o.y), hi = __floats2bfloat162_rn(o.z, o.w);
                    reinterpret_cast<uint2 *>(out16)[lane + 32 * v] =
                        uint2{*reinterpret_cast<uint32_t *>(&lo), *reinterpret_cast<uint32_t *>(&hi)};
                }
            }
        } else
            for (int j = lane; j < dim; j += 32) {
                float o = f(0, j, p[j]);
                if (!MAY_SKIP || out) out[j] = o;
                if (out16) out16[j] = __float2bfloat16_rn(o);
            }
    }
};

/* The norm kernels write their output's bf16 copy too when y16 / dx16 is not NULL (row stride
 * dim): the bf16 backend keeps it for the next product (kcu_produce, matmul.cu). The forward's y
 * may be NULL: then y16 is y's record in y's own memory (backend.cu), the FP32 y not written. */
template <int V>
__global__ void layernorm_forward_kernel(int n, int dim, const float *x, const float *w, const float *b, float eps,
                                         float *y, float *mean, float *rstd, __nv_bfloat16 *y16) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= n) return;
    size_t off = (size_t)row * dim;
    lane_row<V> xi(x + off, lane);
    double mu = 0, var = 0;
    xi.each(lane, dim, [&](int, int, float e) { mu += e; });
    mu = warp_sum(mu) / dim;
    xi.each(lane, dim, [&](int, int, float e) { var += (e - mu) * (e - mu); });
    var = warp_sum(var) / dim;
    float r = (float)(1.0 / sqrt(var + eps));
    xi.template store<true>(lane, dim, y ? y + off : NULL, y16 ? y16 + off : NULL,
                            [&](int, int j, float e) { return (float)((e - mu) * r) * w[j] + (b ? b[j] : 0.f); });
    if (lane == 0) {
        mean[row] = (float)mu;
        rstd[row] = r;
    }
}
template <int V>
__global__ void rmsnorm_forward_kernel(int n, int dim, const float *x, const float *w, float eps, float *y,
                                       float *rstd, __nv_bfloat16 *y16) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= n) return;
    size_t off = (size_t)row * dim;
    lane_row<V> xi(x + off, lane);
    double ms = 0;
    xi.each(lane, dim, [&](int, int, float e) { ms += (double)e * e; });
    ms = warp_sum(ms);
    float r = (float)(1.0 / sqrt(ms / dim + eps));
    xi.template store<true>(lane, dim, y ? y + off : NULL, y16 ? y16 + off : NULL,
                            [&](int, int j, float e) { return e * r * w[j]; });
    if (lane == 0) rstd[row] = r;
}
/* dx += r (dy w - s1 - xhat s2), s1 = mean(dy w) (0 for RMSNorm), s2 = mean(dy w xhat), for one
 * row; acc(s, j, dy, xhat) sees each element of the lane (the weight gradient's terms). */
template <int V, class Acc>
__device__ __forceinline__ void norm_backward_row(int row, int lane, int dim, const float *x, const float *w,
                                                  const float *mean, const float *rstd, const float *dy, float *dx,
                                                  __nv_bfloat16 *dx16, Acc &&acc) {
    size_t off = (size_t)row * dim;
    lane_row<V> xi(x + off, lane), gi(dy + off, lane);
    float mu = mean ? mean[row] : 0.f, r = rstd[row];
    double s1 = 0, s2 = 0;
    xi.each(lane, dim, [&](int s, int j, float e) {
        double dxh = (double)gi.at(s, j) * w[j];
        s1 += dxh;
        s2 += dxh * ((e - mu) * r);
        acc(s, j, gi.at(s, j), (e - mu) * r);
    });
    s1 = mean ? warp_sum(s1) / dim : 0.0;
    s2 = warp_sum(s2) / dim;
    lane_row<V> di(dx + off, lane); /* loaded only now: fewer registers live across the sums */
    di.store(lane, dim, dx + off, dx16 ? dx16 + off : NULL, [&](int s, int j, float d) {
        float xh = (xi.at(s, j) - mu) * r;
        return d + (float)(r * ((double)gi.at(s, j) * w[j] - s1 - xh * s2));
    });
}
/* A warp a row; the weight gradient by column_sums after it (the scalar path, V == 0). */
template <int V>
__global__ void norm_backward_kernel(int n, int dim, const float *x, const float *w, const float *mean,
                                     const float *rstd, const float *dy, float *dx, __nv_bfloat16 *dx16) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= n) return;
    norm_backward_row<V>(row, lane, dim, x, w, mean, rstd, dy, dx, dx16, [](int, int, float, float) {});
}
/* With the weight and bias gradients (V > 0): a block takes a slice of `per` consecutive rows, its
 * warps a row at a time (rows warp, warp + ROWS_PER_BLOCK, ...); each lane sums dy xhat and dy for
 * its 4 V columns over its rows in registers; the warps' sums are added in warp order through
 * shared memory ([ROWS_PER_BLOCK][2][dim] floats) into the slice's partials pw, pb ([slices][dim];
 * pb NULL: no bias), which column_finish_kernel adds in slice order: the same bits every run. Why:
 * column_sums read dy and x again after the kernel had them in registers (50 MB, ~15 us a call
 * at the 12-layer model's d_model 768, two calls a layer; ncu, ninth pass). */
template <int V>
__global__ void norm_backward_sums_kernel(int n, int dim, int per, const float *x, const float *w, const float *mean,
                                          const float *rstd, const float *dy, float *dx, __nv_bfloat16 *dx16,
                                          float *pw, float *pb) {
    extern __shared__ float sums[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int r0 = blockIdx.x * per, r1 = min(n, r0 + per);
    float aw[4 * V], ab[4 * V];
#pragma unroll
    for (int s = 0; s < 4 * V; s++) aw[s] = ab[s] = 0.f;
    for (int row = r0 + warp; row < r1; row += ROWS_PER_BLOCK)
        norm_backward_row<V>(row, lane, dim, x, w, mean, rstd, dy, dx, dx16, [&](int s, int, float g, float xh) {
            aw[s] += g * xh;
            ab[s] += g;
        });
#pragma unroll
    for (int s = 0; s < 4 * V; s++) {
        int j = 4 * (lane + 32 * (s / 4)) + s % 4;
        sums[(2 * warp) * dim + j] = aw[s];
        sums[(2 * warp + 1) * dim + j] = ab[s];
    }
    __syncthreads();
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float tw = 0, tb = 0;
        for (int q = 0; q < ROWS_PER_BLOCK; q++) {
            tw += sums[(2 * q) * dim + j];
            tb += sums[(2 * q + 1) * dim + j];
        }
        pw[(size_t)blockIdx.x * dim + j] = tw;
        if (pb) pb[(size_t)blockIdx.x * dim + j] = tb;
    }
}
static unsigned norm_blocks(int n) { return (n + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK; }
/* f(std::integral_constant<int, V>) with V the float4 a lane holds of a row (lane_row): dim / 128
 * when 128 divides dim, dim <= 1024 and every row pointer is 16-byte aligned (and bf16 copies
 * 8-byte), else 0 (the scalar loop). */
template <class F>
static void by_row_width(int dim, std::initializer_list<const void *> rows, const void *copy16, F &&f) {
    int v = dim % 128 == 0 && dim <= 1024 ? dim / 128 : 0;
    for (const void *p : rows) v = aligned(p, 16) ? v : 0;
    if (!aligned(copy16, 8)) v = 0;
    switch (v) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 7: f(std::integral_constant<int, 7>{}); break;
    case 8: f(std::integral_constant<int, 8>{}); break;
    default: f(std::integral_constant<int, 0>{}); break;
    }
}
/* Both norms' backward (mean NULL: RMSNorm, whose db is NULL): with a row in registers, one
 * kernel for dx and the weight (and bias) gradients' slice partials, then column_finish_kernel;
 * else a warp a row, then column_sums. Slices of NB_ROWS rows (more when that would make over
 * NB_MAX_SLICES), so that a d_model-768 step's 8192 rows give 512 blocks. */
enum { NB_ROWS = 16, NB_MAX_SLICES = 2048 };
static void norm_backward(int n, int dim, const float *x, const float *w, const float *mean, const float *rstd,
                          const float *dy, float *dx, float *dw, float *db, __nv_bfloat16 *dx16) {
    if (n <= 0 || dim <= 0) return;
    by_row_width(dim, {x, dy, dx}, dx16, [&](auto v) {
        constexpr int V = decltype(v)::value;
        if constexpr (V > 0) {
            if (dw) {
                int per = n / NB_MAX_SLICES + 1 > NB_ROWS ? (n + NB_MAX_SLICES - 1) / NB_MAX_SLICES : NB_ROWS;
                int slices = (n + per - 1) / per;
                float *pw = kcu_partials((size_t)2 * slices * dim), *pb = db ? pw + (size_t)slices * dim : NULL;
                size_t smem = (size_t)2 * ROWS_PER_BLOCK * dim * sizeof(float);
                norm_backward_sums_kernel<V>
                    <<<slices, 32 * ROWS_PER_BLOCK, smem>>>(n, dim, per, x, w, mean, rstd, dy, dx, dx16, pw, pb);
                KCU_LAUNCHED();
                column_finish(dim, slices, pw, pb, dw, db);
                return;
            }
        }
        norm_backward_kernel<V><<<norm_blocks(n), 32 * ROWS_PER_BLOCK>>>(n, dim, x, w, mean, rstd, dy, dx, dx16);
        KCU_LAUNCHED();
        column_sums(n, dim, dy, x, mean, rstd, dw, db);
    });
}
void kcu_layernorm_forward16(int n, int dim, const float *x, const float *w, const float *b, float eps, float *y,
                             float *mean, float *rstd, __nv_bfloat16 *y16) {
    by_row_width(dim, {x, y}, y16, [&](auto v) {
        layernorm_forward_kernel<v><<<norm_blocks(n), 32 * ROWS_PER_BLOCK>>>(n, dim, x, w, b, eps, y, mean, rstd, y16);
    });
    KCU_LAUNCHED();
}
void kcu_layernorm_backward16(int n, int dim, const float *x, const float *w, const float *mean, const float *rstd,
                              const float *dy, float *dx, float *dw, float *db, __nv_bfloat16 *dx16) {
    norm_backward(n, dim, x, w, mean, rstd, dy, dx, dw, db, dx16);
}
void kcu_rmsnorm_forward16(int n, int dim, const float *x, const float *w, float eps, float *y, float *rstd,
                           __nv_bfloat16 *y16) {
    by_row_width(dim, {x, y}, y16, [&](auto v) {
        rmsnorm_forward_kernel<v><<<norm_blocks(n), 32 * ROWS_PER_BLOCK>>>(n, dim, x, w, eps, y, rstd, y16);
    });
    KCU_LAUNCHED();
}
void kcu_rmsnorm_backward16(int n, int dim, const float *x, const float *w, const float *rstd, const float *dy,
                            float *dx, float *dw, __nv_bfloat16 *dx16) {
    norm_backward(n, dim, x, w, NULL, rstd, dy, dx, dw, NULL, dx16);
}
static void cu_layernorm_forward(int n, int dim, const float *x, const float *w, const float *b, float eps,
                                 float *y, float *mean, float *rstd) {
    kcu_layernorm_forward16(n, dim, x, w, b, eps, y, mean, rstd, NULL);
}
static void cu_layernorm_backward(int n, int dim, const float *x, const float *w, const float *mean,
                                  const float *rstd, const float *dy, float *dx, float *dw, float *db) {
    kcu_layernorm_backward16(n, dim, x, w, mean, rstd, dy, dx, dw, db, NULL);
}
static void cu_rmsnorm_forward(int n, int dim, const float *x, const float *w, float eps, float *y, float *rstd) {
    kcu_rmsnorm_forward16(n, dim, x, w, eps, y, rstd, NULL);
}
static void cu_rmsnorm_backward(int n, int dim, const float *x, const float *w, const float *rstd, const float *dy,
                                float *dx, float *dw) {
    kcu_rmsnorm_backward16(n, dim, x, w, rstd, dy, dx, dw, NULL);
}

/* ---- cross-entropy: one block per row; dlogits may alias logits (each
 * element is read before it is written, by the same thread) ---- */

/* Softmax cross-entropy of row `row` by the threads j0, j0 + step, ... of a group (a block or a
 * warp) that all get the reductions' results (max_all, sum_all); lead writes the loss. loss NULL:
 * the gradient into dlogits (may alias logits: each element is read, then written, by one
 * thread). The sum of the exponentials is in double. */
template <class I, class Max, class Sum>
__device__ __forceinline__ void xent_row(I row, int vocab, const float *logits, const int32_t *targets, int j0,
                                         int step, bool lead, float scale, float *loss, float *dlogits,
                                         Max &&max_all, Sum &&sum_all) {
    const float *li = logits + (size_t)row * vocab;
    float mx = -INFINITY;
    for (int j = j0; j < vocab; j += step) mx = fmaxf(mx, li[j]);
    mx = max_all(mx);
    double s = 0;
    for (int j = j0; j < vocab; j += step) s += exp((double)(li[j] - mx));
    s = sum_all(s);
    int t = targets[row];
    if (loss) {
        if (lead) loss[row] = (float)(log(s) + mx - li[t]);
        return;
    }
    float inv = (float)(1.0 / s);
    float *di = dlogits + (size_t)row * vocab;
    for (int j = j0; j < vocab; j += step) {
        float pj = expf(li[j] - mx) * inv;
        di[j] = scale * (j == t ? pj - 1.f : pj);
    }
}
/* A block a row. */
__global__ void xent_kernel(int vocab, const float *logits, const int32_t *targets, float scale, float *loss,
                            float *dlogits) {
    __shared__ double shd[THREADS / 32];
    __shared__ float shf[THREADS / 32];
    xent_row(blockIdx.x, vocab, logits, targets, threadIdx.x, THREADS, threadIdx.x == 0, scale, loss, dlogits,
             [&](float v) { return block_max(v, shf); }, [&](double v) { return block_sum(v, shd); });
}
/* A warp a row (THREADS / 32 rows a block), for vocabularies up to XENT_WARP_VOCAB: at the
 * models' byte vocabulary (256) the block-a-row kernel kept 256 threads and two block reductions
 * for 256 values, and took 44 us a call on [16384, 256] in the H200's 4-layer d_model 512 step
 * (ncu: 4 calls, ~1% of the step) for 16 MB of reads. */
enum { XENT_WARP_VOCAB = 2048 };
__global__ void xent_warp_kernel(int n, int vocab, const float *logits, const int32_t *targets, float scale,
                                 float *loss, float *dlogits) {
    int row = blockIdx.x * (THREADS / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= n) return;
    xent_row(row, vocab, logits, targets, lane, 32, lane == 0, scale, loss, dlogits,
             [](float v) { return warp_max(v); }, [](double v) { return warp_sum(v); });
}
static void xent(int n, int vocab, const float *logits, const int32_t *targets, float scale, float *loss,
                 float *dlogits) {
    if (n <= 0) return;
    if (vocab <= XENT_WARP_VOCAB)
        xent_warp_kernel<<<(unsigned)((n + THREADS / 32 - 1) / (THREADS / 32)), THREADS>>>(n, vocab, logits, targets,
                                                                                           scale, loss, dlogits);
    else xent_kernel<<<n, THREADS>>>(vocab, logits, targets, scale, loss, dlogits);
    KCU_LAUNCHED();
}
static void cu_xent_forward(int n, int vocab, const float *logits, const int32_t *targets, float *loss) {
    xent(n, vocab, logits, targets, 0.f, loss, NULL);
}
static void cu_xent_backward(int n, int vocab, const float *logits, const int32_t *targets, float scale,
                             float *dlogits) {
    xent(n, vocab, logits, targets, scale, NULL, dlogits);
}

void kcu_fill_ops(kern_backend *be) {
    be->add_bias = cu_add_bias;
    be->bias_backward = cu_bias_backward;
    be->add = cu_add;
    be->zero = cu_zero;
    be->layernorm_forward = cu_layernorm_forward;
    be->layernorm_backward = cu_layernorm_backward;
    be->rmsnorm_forward = cu_rmsnorm_forward;
    be->rmsnorm_backward = cu_rmsnorm_backward;
    be->gelu_forward = cu_gelu_forward;
    be->gelu_backward = cu_gelu_backward;
    be->rope_forward = cu_rope_forward;
    be->rope_backward = cu_rope_backward;
    be->embedding_forward = cu_embedding_forward;
    be->embedding_backward = cu_embedding_backward;
    be->logsigmoid_forward = cu_logsigmoid_forward;
    be->logsigmoid_backward = cu_logsigmoid_backward;
    be->xent_forward = cu_xent_forward;
    be->xent_backward = cu_xent_backward;
    be->scale = cu_scale;
    be->adamw = cu_adamw;
}
