/* Softmax and sliding-window causal attention (GQA) on the GPU: the CPU
 * algorithm of kernels/cpu/mixer_softmax.c with every query block of every
 * (batch, head) done at once. Score blocks are cuBLAS batched SGEMMs (pointer
 * arrays built on the device, so nothing waits on the host); masking, softmax
 * and its backward are row kernels (one warp per row). Forward saves each row's
 * log-sum-exp; backward recomputes the probabilities from it.
 *
 * Blocking: queries go in blocks of Qb rows (Qb the smallest divisor of seq that
 * is >= the window; the whole sequence for softmax), each against nk = min(seq,
 * Qb + window - 1) keys ending at the block's last query, so every batched gemm
 * has one shape. Score memory: batch * n_head * seq * nk floats (twice that in
 * backward). In backward, dK and dV sum over heads and overlapping key ranges:
 * those gemms run in rounds whose outputs are disjoint (head of the group r,
 * phase ph: blocks ph, ph + nph, ...), so no two products of one call write the
 * same rows (they accumulate with beta = 1: a shared row would be a race). */
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/plan.h"

namespace {

struct attn_plan {
    int T, d, nh, nkv, group, W, qb, nk, nblk, nph;
    size_t entries;      /* batch * n_head * nblk score blocks */
    size_t score_floats; /* one score buffer */
};

attn_plan plan_of(const kern_mixer_shape *s) {
    attn_plan p;
    p.T = s->seq;
    p.d = s->head_dim;
    p.nh = s->n_head;
    p.nkv = s->n_kv_head;
    p.group = p.nh / p.nkv;
    kcu_attn_blocking(s, &p.W, &p.qb, &p.nk); /* plan.h: the FLOP count reads it too */
    p.nblk = p.T / p.qb;
    /* One more phase than the overlap needs: a block near the start has its key
     * range clamped to [0, nk), which reaches past its own last query; nk < 2 Qb
     * (Qb >= window) keeps it clear of the next block of its phase. */
    p.nph = (p.nk + p.qb - 1) / p.qb + 1;
    if (p.nph > p.nblk) p.nph = p.nblk;
    p.entries = (size_t)s->batch * p.nh * p.nblk;
    p.score_floats = p.entries * p.qb * p.nk;
    return p;
}

/* Pointer arrays in work, in this order (each `entries` long). Forward order
 * (entry ((b * nh + h) * nblk + blk)): */
enum { P_Q, P_K, P_V, P_Y, P_S, P_DS, P_DY, P_DQ, /* round order (dK, dV): */ R_DS, R_S, R_Q, R_DY, R_DK, R_DV,
       N_PTR };

size_t ptr_floats(const attn_plan &p) { return (size_t)N_PTR * p.entries * (sizeof(void *) / sizeof(float)); }

/* Callers may pass work at any float offset: pointers need 8-byte alignment,
 * and cuBLAS is fastest on 16-byte aligned matrices. The work size has 64
 * floats of slack for this. */
float *aligned(float *work) {
    uintptr_t p = (uintptr_t)work;
    return (float *)((p + 255) / 256 * 256);
}

/* First entry of round (r, ph) in round order, and the blocks of phase ph. */
__host__ __device__ int phase_blocks(const attn_plan &p, int ph) { return (p.nblk - ph + p.nph - 1) / p.nph; }
__host__ __device__ size_t round_start(const attn_plan &p, int batch, int r, int ph) {
    size_t per_r = 0, before = 0;
    for (int x = 0; x < p.nph; x++) {
        size_t n = (size_t)batch * p.nkv * phase_blocks(p, x);
        per_r += n;
        if (x < ph) before += n;
    }
    return (size_t)r * per_r + before;
}

__device__ __host__ int first_key(const attn_plan &p, int i) { return i - p.W + 1 > 0 ? i - p.W + 1 : 0; }
__device__ __host__ int block_k0(const attn_plan &p, int blk) {
    int k0 = (blk + 1) * p.qb - p.nk;
    return k0 > 0 ? k0 : 0;
}

struct attn_bufs {
    const float *q, *k, *v, *y, *dy;
    float *yw, *dq, *dk, *dv, *s, *ds;
};

__global__ void pointers_kernel(attn_plan p, int batch, attn_bufs t, void **ptr) {
    size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= p.entries) return;
    int blk = e % p.nblk, h = (e / p.nblk) % p.nh, b = (int)(e / ((size_t)p.nblk * p.nh));
    int g = h / p.group, r = h % p.group, q0 = blk * p.qb, k0 = block_k0(p, blk);
    size_t qoff = ((size_t)(b * p.T + q0) * p.nh + h) * p.d, koff = ((size_t)(b * p.T + k0) * p.nkv + g) * p.d;
    size_t soff = e * p.qb * p.nk;
    size_t E = p.entries;
    ptr[P_Q * E + e] = (void *)(t.q + qoff);
    ptr[P_K * E + e] = (void *)(t.k + koff);
    ptr[P_V * E + e] = (void *)(t.v + koff);
    ptr[P_Y * E + e] = (void *)(t.yw + qoff);
    ptr[P_S * E + e] = (void *)(t.s + soff);
    ptr[P_DS * E + e] = (void *)(t.ds + soff);
    ptr[P_DY * E + e] = (void *)(t.dy + qoff);
    ptr[P_DQ * E + e] = (void *)(t.dq + qoff);
    int ph = blk % p.nph, j = blk / p.nph;
    size_t re = round_start(p, batch, r, ph) + ((size_t)b * p.nkv + g) * phase_blocks(p, ph) + j;
    ptr[R_DS * E + re] = (void *)(t.ds + soff);
    ptr[R_S * E + re] = (void *)(t.s + soff);
    ptr[R_Q * E + re] = (void *)(t.q + qoff);
    ptr[R_DY * E + re] = (void *)(t.dy + qoff);
    ptr[R_DK * E + re] = (void *)(t.dk + koff);
    ptr[R_DV * E + re] = (void *)(t.dv + koff);
}

/* Row-major batched C = alpha op(A) op(B) + beta C over pointer arrays. */
void gemm_batched(int ta, int tb, int m, int n, int k, float alpha, void **a, int lda, void **b, int ldb,
                  float beta, void **c, int ldc, size_t count) {
    if (!count) return;
    KCU_BLAS(cublasSgemmBatched(kcu_blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                &alpha, (const float *const *)b, ldb, (const float *const *)a, lda, &beta,
                                (float *const *)c, ldc, (int)count));
}

/* One warp per score row: mask, then forward (lse_out set): probabilities and
 * the log-sum-exp; or backward (lse_out NULL): probabilities from lse_in, and,
 * when ds is set, dS = P (dP - dy.y) in place over dP. */
__global__ void softmax_rows_kernel(attn_plan p, int batch, float *s, float *lse_out, const float *lse_in,
                                    float *ds, const float *dy, const float *y) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (size_t)batch * p.nh * p.T) return;
    int rr = row % p.qb;
    size_t e = row / p.qb;
    int blk = e % p.nblk, h = (e / p.nblk) % p.nh, b = (int)(e / ((size_t)p.nblk * p.nh));
    int i = blk * p.qb + rr, k0 = block_k0(p, blk);
    int lo = first_key(p, i) - k0, hi = i - k0; /* valid columns lo..hi */
    float *sr = s + row * p.nk;
    size_t lrow = ((size_t)b * p.nh + h) * p.T + i;
    if (lse_out) {
        float mx = -INFINITY;
        for (int j = lo + lane; j <= hi; j += 32) mx = fmaxf(mx, sr[j]);
        for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0;
        for (int j = lane; j < p.nk; j += 32) {
            float e_ = (j >= lo && j <= hi) ? expf(sr[j] - mx) : 0.f;
            sr[j] = e_;
            sum += e_;
        }
        for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        float inv = 1.f / sum;
        for (int j = lo + lane; j <= hi; j += 32) sr[j] *= inv;
        if (lane == 0) lse_out[lrow] = mx + logf(sum);
        return;
    }
    float lse = lse_in[lrow];
    for (int j = lane; j < p.nk; j += 32) sr[j] = (j >= lo && j <= hi) ? expf(sr[j] - lse) : 0.f;
    if (!ds) return;
    const float *dyr = dy + ((size_t)(b * p.T + i) * p.nh + h) * p.d, *yr = y + ((size_t)(b * p.T + i) * p.nh + h) * p.d;
    float dot = 0;
    for (int f = lane; f < p.d; f += 32) dot += dyr[f] * yr[f];
    for (int o = 16; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    float *dr = ds + row * p.nk;
    for (int j = lane; j < p.nk; j += 32) dr[j] = sr[j] * (dr[j] - dot);
}

void softmax_rows(const attn_plan &p, int batch, float *s, float *lse_out, const float *lse_in, float *ds,
                  const float *dy, const float *y) {
    size_t rows = (size_t)batch * p.nh * p.T;
    softmax_rows_kernel<<<kcu_blocks(rows, 8), 256>>>(p, batch, s, lse_out, lse_in, ds, dy, y);
    KCU_LAUNCHED();
}

void build_pointers(const attn_plan &p, int batch, const attn_bufs &t, float *work) {
    pointers_kernel<<<kcu_blocks(p.entries, 128), 128>>>(p, batch, t, (void **)work);
    KCU_LAUNCHED();
}

} // namespace

size_t kcu_attn_work_size(const kern_mixer_shape *s) {
    attn_plan p = plan_of(s);
    return ptr_floats(p) + 2 * p.score_floats + 64;
}

void kcu_attn_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, float *y,
                      float *saved, float *work) {
    attn_plan p = plan_of(s);
    work = aligned(work);
    float *sc = work + ptr_floats(p);
    attn_bufs t = {q, k, v, NULL, NULL, y, NULL, NULL, NULL, sc, NULL};
    build_pointers(p, s->batch, t, work);
    void **ptr = (void **)work;
    size_t E = p.entries;
    int ldq = p.nh * p.d, ldk = p.nkv * p.d;
    gemm_batched(0, 1, p.qb, p.nk, p.d, (float)s->scale, ptr + P_Q * E, ldq, ptr + P_K * E, ldk, 0.f, ptr + P_S * E,
                 p.nk, E);
    softmax_rows(p, s->batch, sc, saved, NULL, NULL, NULL, NULL);
    gemm_batched(0, 0, p.qb, p.d, p.nk, 1.f, ptr + P_S * E, p.nk, ptr + P_V * E, ldk, 0.f, ptr + P_Y * E, ldq, E);
}

void kcu_attn_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, const float *y,
                       const float *saved, const float *dy, float *dq, float *dk, float *dv, float *work) {
    attn_plan p = plan_of(s);
    work = aligned(work);
    float *sc = work + ptr_floats(p), *dsc = sc + p.score_floats;
    attn_bufs t = {q, k, v, y, dy, NULL, dq, dk, dv, sc, dsc};
    build_pointers(p, s->batch, t, work);
    void **ptr = (void **)work;
    size_t E = p.entries;
    int ldq = p.nh * p.d, ldk = p.nkv * p.d;
    float scale = (float)s->scale;
    size_t kv_floats = (size_t)s->batch * p.T * ldk;
    KCU_CHECK(cudaMemsetAsync(dk, 0, kv_floats * sizeof(float)));
    KCU_CHECK(cudaMemsetAsync(dv, 0, kv_floats * sizeof(float)));
    gemm_batched(0, 1, p.qb, p.nk, p.d, scale, ptr + P_Q * E, ldq, ptr + P_K * E, ldk, 0.f, ptr + P_S * E, p.nk, E);
    gemm_batched(0, 1, p.qb, p.nk, p.d, 1.f, ptr + P_DY * E, ldq, ptr + P_V * E, ldk, 0.f, ptr + P_DS * E, p.nk, E);
    softmax_rows(p, s->batch, sc, NULL, saved, dsc, dy, y);
    gemm_batched(0, 0, p.qb, p.d, p.nk, scale, ptr + P_DS * E, p.nk, ptr + P_K * E, ldk, 0.f, ptr + P_DQ * E, ldq, E);
    for (int r = 0; r < p.group; r++)
        for (int ph = 0; ph < p.nph; ph++) {
            size_t at = round_start(p, s->batch, r, ph), n = (size_t)s->batch * p.nkv * phase_blocks(p, ph);
            gemm_batched(1, 0, p.nk, p.d, p.qb, scale, ptr + R_DS * E + at, p.nk, ptr + R_Q * E + at, ldq, 1.f,
                         ptr + R_DK * E + at, ldk, n);
            gemm_batched(1, 0, p.nk, p.d, p.qb, 1.f, ptr + R_S * E + at, p.nk, ptr + R_DY * E + at, ldq, 1.f,
                         ptr + R_DV * E + at, ldk, n);
        }
}
