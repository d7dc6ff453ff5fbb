/* Power retention, bf16 table: the two products with phi(.) as an operand, with the
 * phi tiles computed in shared memory instead of phi rows of width D written to (and
 * read back from) global memory. bf16 operands on the tensor cores (wmma m16n16k16),
 * FP32 accumulation, as cuBLAS's 32F_FAST_16BF does with the materialised rows.
 *
 *   pw_fused_update: out[R'] = beta out[R'] + phi(X_R')^T Y_R'   (D x ld1 per chunk)
 *       forward: the state update phi(U)^T [V|1]; backward: sum_heads phi(Q~)^T dN'.
 *   pw_fused_query:  out[R'] = beta out[R'] + phi(X_R') S[R']    (c x ld1 per chunk)
 *       forward: the state query phi(Q~) S'; backward: d[V|1] = phi(U) dS'.
 *
 * X is rows x d (chunk R' = rows R'c .. R'c + c - 1), Y and out rows of ld1 floats
 * (columns >= d + 1 read as 0 and written as 0 / left alone). Each phi element is
 * computed once per product (blocks own disjoint features or disjoint rows), so the
 * only extra work is the padding: columns d + 1 -> 16 ceil((d + 1)/16) and D ->
 * 32 ceil(D/32) (query) or 64 ceil(D/64) (update), with k padded to 32 (update).
 * pw_fused_ok says which shapes they take (d + 1 <= 144); others keep cuBLAS. */
#include <cuda_bf16.h>
#include <mma.h>

#include "kernels/cuda/power.h"

using namespace nvcuda;

enum { FU_F = 64, FU_K = 32, FQ_R = 64, FQ_F = 32, F_THREADS = 128, F_MAX_NT = 9 };

int pw_fused_ok(const pw_layout &L) { return (L.d1 + 15) / 16 <= F_MAX_NT && L.p >= 1 && L.p <= KERN_POWER_P_MAX; }

__device__ __forceinline__ float phi_of(const pw_feat &ft, const float *x, int p) {
    float v = ft.coef;
    for (int r = 0; r < p; r++) v *= x[ft.idx[r]];
    return v;
}

/* Block (feature tile, chunk): features f0 .. f0 + 63, all NT*16 columns, k over the chunk's tokens. */
template <int NT>
__global__ void __launch_bounds__(F_THREADS) fused_update_kernel(pw_layout L, const float *__restrict__ x,
                                                                  const float *__restrict__ y,
                                                                  const pw_feat *__restrict__ feat, float *out,
                                                                  size_t out_stride, float beta) {
    constexpr int NC = NT * 16, LDB = NC + 8, LDA = FU_K + 8, LDS = NC + 4;
    extern __shared__ __align__(128) unsigned char smem[];
    const int d = L.d, dx = d + 1;
    float *xs = (float *)smem;                                           /* FU_K x (d + 1) */
    __nv_bfloat16 *ys = (__nv_bfloat16 *)(xs + ((FU_K * dx + 31) / 32 * 32)); /* FU_K x LDB */
    __nv_bfloat16 *ph = ys + FU_K * LDB;                                 /* FU_F x LDA (phi^T) */
    __shared__ pw_feat fs[FU_F];
    const int f0 = blockIdx.x * FU_F, warp = threadIdx.x / 32;
    const size_t ch = blockIdx.y, row0 = ch * L.c;
    for (int f = threadIdx.x; f < FU_F; f += F_THREADS) {
        pw_feat z = {{0, 0, 0, 0}, 0.f};
        fs[f] = f0 + f < L.D ? feat[f0 + f] : z;
    }
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NT];
    for (int j = 0; j < NT; j++) wmma::fill_fragment(acc[j], 0.f);
    for (int t0 = 0; t0 < L.c; t0 += FU_K) {
        __syncthreads();
        for (int id = threadIdx.x; id < FU_K * d; id += F_THREADS) {
            int t = id / d, f = id % d;
            xs[t * dx + f] = t0 + t < L.c ? x[(row0 + t0 + t) * d + f] : 0.f;
        }
        for (int id = threadIdx.x; id < FU_K * NC; id += F_THREADS) {
            int t = id / NC, col = id % NC;
            float v = t0 + t < L.c && col < L.d1 ? y[(row0 + t0 + t) * L.ld1 + col] : 0.f;
            ys[t * LDB + col] = __float2bfloat16(v);
        }
        __syncthreads();
        for (int id = threadIdx.x; id < FU_F * FU_K; id += F_THREADS) {
            int f = id / FU_K, t = id % FU_K;
            ph[f * LDA + t] = __float2bfloat16(phi_of(fs[f], xs + t * dx, L.p));
        }
        __syncthreads();
        for (int kk = 0; kk < FU_K; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
            wmma::load_matrix_sync(a, ph + warp * 16 * LDA + kk, LDA);
            for (int j = 0; j < NT; j++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
                wmma::load_matrix_sync(b, ys + kk * LDB + j * 16, LDB);
                wmma::mma_sync(acc[j], a, b, acc[j]);
            }
        }
    }
    __syncthreads();
    float *st = (float *)smem; /* FU_F x LDS */
    for (int j = 0; j < NT; j++)
        wmma::store_matrix_sync(st + warp * 16 * LDS + j * 16, acc[j], LDS, wmma::mem_row_major);
    __syncthreads();
    float *o = out + ch * out_stride;
    for (int id = threadIdx.x; id < FU_F * L.ld1; id += F_THREADS) {
        int f = id / L.ld1, col = id % L.ld1;
        if (f0 + f >= L.D) continue;
        float v = col < L.d1 ? st[f * LDS + col] : 0.f;
        float *dst = o + (size_t)(f0 + f) * L.ld1 + col;
        *dst = beta != 0.f ? beta * *dst + v : v;
    }
}

/* Block (row tile, chunk): rows i0 .. i0 + 63 of the chunk, all NT*16 columns, k over features. */
template <int NT>
__global__ void __launch_bounds__(F_THREADS) fused_query_kernel(pw_layout L, const float *__restrict__ x,
                                                                 const float *__restrict__ s, size_t s_stride,
                                                                 const pw_feat *__restrict__ feat, float *out,
                                                                 float beta) {
    constexpr int NC = NT * 16, LDB = NC + 8, LDA = FQ_F + 8, LDS = NC + 4;
    extern __shared__ __align__(128) unsigned char smem[];
    const int d = L.d, dx = d + 1;
    float *xs = (float *)smem;                                                   /* FQ_R x (d + 1) */
    __nv_bfloat16 *ss = (__nv_bfloat16 *)(xs + ((FQ_R * dx + 31) / 32 * 32));    /* FQ_F x LDB */
    __nv_bfloat16 *ph = ss + FQ_F * LDB;                                         /* FQ_R x LDA */
    const int i0 = blockIdx.x * FQ_R, warp = threadIdx.x / 32;
    const size_t ch = blockIdx.y, row0 = ch * L.c;
    const float *sc = s + ch * s_stride;
    for (int id = threadIdx.x; id < FQ_R * d; id += F_THREADS) {
        int r = id / d, f = id % d;
        xs[r * dx + f] = i0 + r < L.c ? x[(row0 + i0 + r) * d + f] : 0.f;
    }
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NT];
    for (int j = 0; j < NT; j++) wmma::fill_fragment(acc[j], 0.f);
    for (int f0 = 0; f0 < L.D; f0 += FQ_F) {
        __syncthreads();
        for (int id = threadIdx.x; id < FQ_F * NC; id += F_THREADS) {
            int f = id / NC, col = id % NC;
            float v = f0 + f < L.D && col < L.d1 ? sc[(size_t)(f0 + f) * L.ld1 + col] : 0.f;
            ss[f * LDB + col] = __float2bfloat16(v);
        }
        for (int id = threadIdx.x; id < FQ_R * FQ_F; id += F_THREADS) {
            int r = id / FQ_F, f = id % FQ_F;
            float v = 0.f;
            if (f0 + f < L.D) {
                pw_feat ft = feat[f0 + f];
                v = phi_of(ft, xs + r * dx, L.p);
            }
            ph[r * LDA + f] = __float2bfloat16(v);
        }
        __syncthreads();
        for (int kk = 0; kk < FQ_F; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
            wmma::load_matrix_sync(a, ph + warp * 16 * LDA + kk, LDA);
            for (int j = 0; j < NT; j++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
                wmma::load_matrix_sync(b, ss + kk * LDB + j * 16, LDB);
                wmma::mma_sync(acc[j], a, b, acc[j]);
            }
        }
    }
    __syncthreads();
    float *st = (float *)smem; /* FQ_R x LDS */
    for (int j = 0; j < NT; j++)
        wmma::store_matrix_sync(st + warp * 16 * LDS + j * 16, acc[j], LDS, wmma::mem_row_major);
    __syncthreads();
    for (int id = threadIdx.x; id < FQ_R * L.d1; id += F_THREADS) {
        int r = id / L.d1, col = id % L.d1;
        if (i0 + r >= L.c) continue;
        float *dst = out + (row0 + i0 + r) * L.ld1 + col;
        float v = st[r * LDS + col];
        *dst = beta != 0.f ? beta * *dst + v : v;
    }
}

static size_t update_smem(const pw_layout &L, int nt) {
    size_t a = (size_t)(FU_K * (L.d + 1) + 31) / 32 * 32 * 4 + (size_t)FU_K * (nt * 16 + 8) * 2 +
               (size_t)FU_F * (FU_K + 8) * 2;
    size_t b = (size_t)FU_F * (nt * 16 + 4) * 4;
    return a > b ? a : b;
}
static size_t query_smem(const pw_layout &L, int nt) {
    size_t a = (size_t)(FQ_R * (L.d + 1) + 31) / 32 * 32 * 4 + (size_t)FQ_F * (nt * 16 + 8) * 2 +
               (size_t)FQ_R * (FQ_F + 8) * 2;
    size_t b = (size_t)FQ_R * (nt * 16 + 4) * 4;
    return a > b ? a : b;
}

template <int NT>
static void launch_update(const pw_layout &L, const float *x, const float *y, const pw_feat *feat, float *out,
                          size_t out_stride, float beta) {
    size_t sh = update_smem(L, NT);
    KCU_CHECK(cudaFuncSetAttribute(fused_update_kernel<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sh));
    dim3 grid((L.D + FU_F - 1) / FU_F, (unsigned)L.R);
    fused_update_kernel<NT><<<grid, F_THREADS, sh>>>(L, x, y, feat, out, out_stride, beta);
    KCU_LAUNCHED();
}
template <int NT>
static void launch_query(const pw_layout &L, const float *x, const float *s, size_t s_stride, const pw_feat *feat,
                         float *out, float beta) {
    size_t sh = query_smem(L, NT);
    KCU_CHECK(cudaFuncSetAttribute(fused_query_kernel<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sh));
    dim3 grid((L.c + FQ_R - 1) / FQ_R, (unsigned)L.R);
    fused_query_kernel<NT><<<grid, F_THREADS, sh>>>(L, x, s, s_stride, feat, out, beta);
    KCU_LAUNCHED();
}

#define PW_DISPATCH(fn, ...)                                                                       \
    switch ((L.d1 + 15) / 16) {                                                                    \
    case 1: fn<1>(__VA_ARGS__); break;                                                             \
    case 2: fn<2>(__VA_ARGS__); break;                                                             \
    case 3: fn<3>(__VA_ARGS__); break;                                                             \
    case 4: fn<4>(__VA_ARGS__); break;                                                             \
    case 5: fn<5>(__VA_ARGS__); break;                                                             \
    case 6: fn<6>(__VA_ARGS__); break;                                                             \
    case 7: fn<7>(__VA_ARGS__); break;                                                             \
    case 8: fn<8>(__VA_ARGS__); break;                                                             \
    case 9: fn<9>(__VA_ARGS__); break;                                                             \
    default: kcu_fail(__FILE__, __LINE__, "power fused", "head dim too large");                    \
    }

void pw_fused_update(const pw_layout &L, float *base, const float *x, const float *y, float *out, size_t out_stride,
                     float beta) {
    PW_DISPATCH(launch_update, L, x, y, (const pw_feat *)(base + L.feat), out, out_stride, beta);
}

void pw_fused_query(const pw_layout &L, float *base, const float *x, const float *s, size_t s_stride, float *out,
                    float beta) {
    PW_DISPATCH(launch_query, L, x, s, s_stride, (const pw_feat *)(base + L.feat), out, beta);
}

/* Multiply-adds of the two fused products per chunk as the kernels run them (padded),
 * for the implementation-FLOP log: update D64 x NC x c32, query c64 x NC x D32. */
double pw_fused_update_macs(const pw_layout &L) {
    double nc = (L.d1 + 15) / 16 * 16.0, dp = (L.D + FU_F - 1) / FU_F * (double)FU_F,
           cp = (L.c + FU_K - 1) / FU_K * (double)FU_K;
    return dp * nc * cp;
}
double pw_fused_query_macs(const pw_layout &L) {
    double nc = (L.d1 + 15) / 16 * 16.0, dp = (L.D + FQ_F - 1) / FQ_F * (double)FQ_F,
           cp = (L.c + FQ_R - 1) / FQ_R * (double)FQ_R;
    return cp * nc * dp;
}
