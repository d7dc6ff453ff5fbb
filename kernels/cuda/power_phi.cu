/* The state products of power retention with phi fused in (bf16 backend, the default;
 * SCALELAB_POWER_FUSED=0 opts out): no phi(U) or phi(Q~) row of width D is written to global
 * memory. Per chunk R':
 *   phiT_mm  out (D x ld1) = phi(X)^T Y (+ beta out), X: c x d, Y: c x ld1
 *            (state update: X = U, Y = [V|1]; dS': X = Q~, Y = dN')
 *   phi_mm   out (c x ld1) = phi(X) S (+ beta out), S: D x ld1
 *            (state query: X = Q~, S = S'; d[V|1]: X = U, S = dS')
 * mma.sync m16n8k16 (bf16 in, FP32 accumulate). Each phi element feeds only ~ld1 multiply-adds,
 * so it is built straight into A fragment registers: coef times P FP32 values of x read from a
 * transposed x tile in shared memory (rows: the d coordinates; columns: tokens), rounded once to
 * bf16, as phi_rows_kernel + cuBLAS FAST_16BF round it. The other operand (Y or S) is a bf16 copy
 * streamed through shared memory (cp.async, two stages) and read with ldmatrix.trans.
 *
 * The order of the k dimension inside a 16-step is free (A and B only have to agree), and is
 * chosen so that one vector load gives a thread all the x values it needs for a fragment:
 *   phiT_mm (k = tokens): logical k 2t, 2t+1, 2t+8, 2t+9 are tokens 4t .. 4t+3 (one float4);
 *   phi_mm (k = features): they are features t, t+4, t+8, t+12, and a thread's 2 MT rows
 *   (tokens) are adjacent (one float2 / float4 per feature index); adjacent features of a
 *   quad share or neighbour their indices, which keeps the loads free of bank conflicts.
 * B's rows are permuted to match through ldmatrix's per-lane row addresses.
 *
 * Copies made per call (small against the phi rows they replace: 4.4 GB per buffer at
 * T = 64k, 8 heads, d64 p2): xt (x transposed per chunk, d x cpad FP32, tokens past c zero),
 * y16 (Y as bf16, cpad x NP, zero padding) and s16 (S as bf16, Dpad x NP, zero padding).
 *
 * Implementation FLOPs (against DESIGN's 2 D (d + 1) per token and product): N runs NP = ld1
 * rounded up to 8 wide (72 at d64: 72 / 65 = 1.108x; 24/17, 40/33, 136/129 at d16, 32, 128);
 * D is padded to Dpad = D rounded up to 128 (2176 / 2080 = 1.046x at d64 p2; 896/816 d16 p3,
 * 3968/3876 d16 p4); chunks to cpad = c rounded up to 64 (plan.h; 1x at the training models'
 * c64 and at c1024, 128/96 at c96): phiT_mm's 64-token stages tile it, and phi_mm's blocks of
 * 64 MT tokens do too, with MT = 1 where 128 does not divide cpad (c64, c192, ...; a block of
 * 128 tokens there would run its last 64 on zeros, at c64 half the work). phi is recomputed by
 * every block that needs it (phiT_mm: once per feature; phi_mm: once per (token, feature)):
 * nothing twice within a kernel, but each of the two uses per pass rebuilds it.
 *
 * ptxas, sm_90, registers (p 2 / 3 / 4) and dynamic shared memory (bytes), head dims 16, 32, 64,
 * 128, no spills (launch minimums of 4 blocks spilled phi_kernel at d32 and d64):
 *   phiT_kernel      101/106/136, 128/167/168, 163/172/181, 134/130/164;  smem 16384 / 30720 / 59392 / 116736
 *   phi_kernel       80/96/123,   96/128/147,  137/136/139, 136/136/135;  smem 16896 / 29696 / 55296 / 73728
 *   phi_kernel MT 1  62/70/63,    70/77/71,    96/96/96,    (the above);  smem 12800 / 21504 / 38912 */
#include <cuda_bf16.h>

#include "kernels/cuda/mma.h"
#include "kernels/cuda/power.h"

namespace {

constexpr int NTHR = 128; /* 4 warps */
constexpr int KT = KCU_PW_PHI_KT; /* phiT_mm: tokens per stage (plan.h: cpad is whole stages) */
constexpr int KF = 64;             /* phi_mm: features per stage */

/* NP: ld1 rounded up to 8 (the n8 tiles); MT: m16 tiles per warp (accumulators MT x NP / 2),
 * phi_mm's at most (run picks 1 where 128 does not divide cpad). */
template <int DH> struct shape {
    static constexpr int LD1 = (DH + 1 + 3) / 4 * 4;
    static constexpr int NP = (LD1 + 7) / 8 * 8;
    static constexpr int NT = NP / 8;
    static constexpr int MT = NP <= 72 ? 2 : 1;
    /* bf16 row stride of the Y / S tiles: NP / 8 odd makes ldmatrix's 8 rows hit 8 distinct
     * 16-byte bank groups; otherwise pad by 8. */
    static constexpr int YS = NT % 2 ? NP : NP + 8;
};

/* B fragments of n8 tiles j (and j + 1 when two) for one k16 step: rows(k) is the shared
 * address (bf16 elements) of logical row k of the tile. */
template <int NT, class Row>
__device__ __forceinline__ void b_frags(uint32_t b[4], const __nv_bfloat16 *tile, int ys, int j, Row row) {
    const int lane = threadIdx.x % 32, q = lane / 8, k = (q & 1) * 8 + lane % 8;
    if (j + 1 < NT) ldsm_x4_t(b, tile + row(k) * ys + (j + (q >> 1)) * 8);
    else ldsm_x2_t(b, tile + row(k) * ys + j * 8);
}

/* Stage k of nk of the two-stage cp.async pipeline: issue(k + 1, other buffer) starts the next
 * (issue commits its group), then wait until stage k has landed for the whole block. */
template <class Issue> __device__ __forceinline__ void next_stage(int k, int nk, int buf, Issue &issue) {
    if (k + 1 < nk) {
        issue(k + 1, buf ^ 1);
        cp_wait<1>();
    } else {
        cp_wait<0>();
    }
    __syncthreads();
}

template <int MT, int NT> __device__ __forceinline__ void zero_acc(float (*acc)[NT][4]) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0.f;
}

/* acc[mt][nt] += A_mt B over one k16 step for every n8 tile, rows(k) as in b_frags. */
template <int MT, int NT, int YS, class Row>
__device__ __forceinline__ void mma_step(float (*acc)[NT][4], const uint32_t (*af)[4], const __nv_bfloat16 *tile,
                                         Row row) {
#pragma unroll
    for (int nt = 0; nt < NT; nt += 2) {
        uint32_t b[4];
        b_frags<NT>(b, tile, YS, nt, row);
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            mma16816(acc[mt][nt], af[mt], b[0], b[1]);
            if (nt + 1 < NT) mma16816(acc[mt][nt + 1], af[mt], b[2], b[3]);
        }
    }
}

/* The thread's row h of an m16 tile (acc[nt][2h], [2h + 1]: columns 8 nt + 2t, + 1) to orow,
 * plus beta times what is there. */
template <int NT>
__device__ __forceinline__ void store_row(float *orow, const float (*acc)[4], int h, int ld1, float beta) {
    const int t = threadIdx.x % 4;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        int col = nt * 8 + 2 * t; /* even, ld1 a multiple of 4: col + 1 < ld1 too */
        if (col >= ld1) continue;
        float2 *o = reinterpret_cast<float2 *>(orow + col);
        float2 r = make_float2(acc[nt][2 * h], acc[nt][2 * h + 1]);
        if (beta != 0.f) {
            float2 x = *o;
            r.x += beta * x.x, r.y += beta * x.y;
        }
        *o = r;
    }
}

/* Both kernels' output: the row of accumulator half h of m-tile mt is row(mt, h) (rows at or past
 * n are padding, not stored), each stored by store_row. */
template <int MT, int NT, class Row>
__device__ __forceinline__ void store_rows(float *out, const float (*acc)[NT][4], int n, int ld1, float beta, Row row) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = row(mt, h);
            if (r < n) store_row<NT>(out + (size_t)r * ld1, acc[mt], h, ld1, beta);
        }
}

/* The float4 of tokens 4t .. 4t + 3 (logical k 2t, 2t+1, 2t+8, 2t+9) in phiT_mm. */
__device__ __forceinline__ int perm_tok(int k) { return ((k & 7) >> 1) * 4 + ((k >> 3) << 1) + (k & 1); }
/* Features t, t+4 (k 2t, 2t+1), t+8, t+12 (k 2t+8, 2t+9) in phi_mm. */
__device__ __forceinline__ int perm_feat(int k) { return (k & 8) | ((k & 7) >> 1) | ((k & 1) << 2); }

struct phi_args {
    const float *xt;           /* [R][d][cpad] */
    const __nv_bfloat16 *y16;  /* phiT_mm: [R][cpad][NP] */
    const __nv_bfloat16 *s16;  /* phi_mm: [R][Dpad][NP] */
    const uint4 *ftab;         /* [Dpad]: int16 idx[4], float coef, 0 */
    float *out;
    size_t so;                 /* out stride per chunk (floats) */
    int c, cpad, D, Dpad, ld1;
    float beta;
};

/* ---- phiT_mm: one block per (64 MT features, chunk); K = tokens ---- */

template <int DH, int P> __global__ void __launch_bounds__(NTHR) phiT_kernel(phi_args a) {
    using S = shape<DH>;
    constexpr int MT = S::MT, NT = S::NT, YS = S::YS, XS = KT + 16; /* XS = 16 mod 32: see below */
    extern __shared__ __align__(16) unsigned char smem[];
    float *Xs = reinterpret_cast<float *>(smem);                                  /* [2][DH][XS] */
    __nv_bfloat16 *Ys = reinterpret_cast<__nv_bfloat16 *>(Xs + 2 * DH * XS);      /* [2][KT][YS] */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const size_t ch = blockIdx.y;
    const int f0 = blockIdx.x * (4 * MT * 16) + warp * MT * 16;
    const float *xt = a.xt + ch * DH * a.cpad;
    const __nv_bfloat16 *y16 = a.y16 + ch * a.cpad * S::NP;

    /* The thread's features (rows g, g + 8 of each m16 tile) are fixed: their x offsets
     * (index times XS) and coefficients stay in registers. */
    int off[MT][2][P];
    float coef[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            uint4 e = a.ftab[f0 + mt * 16 + h * 8 + g];
            const int16_t *ix = reinterpret_cast<const int16_t *>(&e);
#pragma unroll
            for (int k = 0; k < P; k++) off[mt][h][k] = ix[k] * XS + 4 * t;
            coef[mt][h] = __uint_as_float(e.z);
        }

    float acc[MT][NT][4];
    zero_acc<MT, NT>(acc);

    auto issue = [&](int kt, int buf) {
        float *xd = Xs + buf * DH * XS;
        for (int i = threadIdx.x; i < DH * (KT / 4); i += NTHR) {
            int r = i / (KT / 4), col = i % (KT / 4) * 4;
            cp16(xd + r * XS + col, xt + (size_t)r * a.cpad + kt * KT + col, true);
        }
        __nv_bfloat16 *yd = Ys + buf * KT * YS;
        for (int i = threadIdx.x; i < KT * NT; i += NTHR) {
            int r = i / NT, col = i % NT * 8;
            cp16(yd + r * YS + col, y16 + (size_t)(kt * KT + r) * S::NP + col, true);
        }
        cp_commit();
    };

    const int nk = a.cpad / KT;
    issue(0, 0);
    for (int kt = 0; kt < nk; kt++) {
        const int buf = kt & 1;
        next_stage(kt, nk, buf, issue);
        const float *xs = Xs + buf * DH * XS;
        const __nv_bfloat16 *ys = Ys + buf * KT * YS;
#pragma unroll
        for (int ks = 0; ks < KT / 16; ks++) {
            /* A: a quarter warp (lanes of rows g, g + 1) reads two x rows 16 words apart
             * (XS = 16 mod 32) when the rows' indices differ by an odd number, the same
             * address when equal: adjacent features of the lexicographic order do one or
             * the other at every index except at the turns of the leading indices. */
            uint32_t af[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                float4 v[2];
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    float4 x = *reinterpret_cast<const float4 *>(xs + off[mt][h][0] + ks * 16);
                    float cf = coef[mt][h];
                    v[h] = make_float4(cf * x.x, cf * x.y, cf * x.z, cf * x.w);
#pragma unroll
                    for (int k = 1; k < P; k++) {
                        x = *reinterpret_cast<const float4 *>(xs + off[mt][h][k] + ks * 16);
                        v[h].x *= x.x, v[h].y *= x.y, v[h].z *= x.z, v[h].w *= x.w;
                    }
                }
                af[mt][0] = pack2(v[0].x, v[0].y);
                af[mt][1] = pack2(v[1].x, v[1].y);
                af[mt][2] = pack2(v[0].z, v[0].w);
                af[mt][3] = pack2(v[1].z, v[1].w);
            }
            mma_step<MT, NT, YS>(acc, af, ys, [&](int k) { return ks * 16 + perm_tok(k); });
        }
        __syncthreads();
    }

    store_rows<MT, NT>(a.out + ch * a.so, acc, a.D, a.ld1, a.beta,
                       [&](int mt, int h) { return f0 + mt * 16 + h * 8 + g; });
}

/* ---- phi_mm: one block per (64 MT tokens, chunk); K = features ---- */

template <int DH, int P, int MT> __global__ void __launch_bounds__(NTHR) phi_kernel(phi_args a) {
    using S = shape<DH>;
    static_assert(MT == 1 || MT == S::MT, "MT 2 only where its accumulators fit");
    constexpr int NT = S::NT, YS = S::YS, BM = 4 * 16 * MT, XS = BM + 8; /* 8 mod 32 */
    extern __shared__ __align__(16) unsigned char smem[];
    float *Xs = reinterpret_cast<float *>(smem);                              /* [DH][XS] */
    __nv_bfloat16 *Ss = reinterpret_cast<__nv_bfloat16 *>(Xs + DH * XS);      /* [2][KF][YS] */
    uint4 *Ts = reinterpret_cast<uint4 *>(Ss + 2 * KF * YS);                  /* [2][KF] */
    static_assert((DH * XS * 4 + 2 * KF * YS * 2) % 16 == 0, "feature table alignment");
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const size_t ch = blockIdx.y;
    const int tok0 = blockIdx.x * BM;
    const __nv_bfloat16 *s16 = a.s16 + ch * a.Dpad * S::NP;

    /* The block's x columns once (tokens past c are zeros in xt). */
    {
        const float *xt = a.xt + ch * DH * a.cpad + tok0;
        for (int i = threadIdx.x; i < DH * (BM / 4); i += NTHR) {
            int r = i / (BM / 4), col = i % (BM / 4) * 4;
            cp16(Xs + r * XS + col, xt + (size_t)r * a.cpad + col, true);
        }
    }
    auto issue = [&](int kf, int buf) {
        __nv_bfloat16 *sd = Ss + buf * KF * YS;
        for (int i = threadIdx.x; i < KF * NT; i += NTHR) {
            int r = i / NT, col = i % NT * 8;
            cp16(sd + r * YS + col, s16 + (size_t)(kf * KF + r) * S::NP + col, true);
        }
        for (int i = threadIdx.x; i < KF; i += NTHR) cp16(Ts + buf * KF + i, a.ftab + kf * KF + i, true);
        cp_commit();
    };

    float acc[MT][NT][4];
    zero_acc<MT, NT>(acc);

    /* The thread's tokens (rows g, g + 8 of each m16 tile) are 2 MT adjacent columns of Xs. */
    const int xcol = warp * 16 * MT + g * 2 * MT;
    const int nk = a.Dpad / KF;
    issue(0, 0); /* the x columns join the first group */
    for (int kf = 0; kf < nk; kf++) {
        const int buf = kf & 1;
        next_stage(kf, nk, buf, issue);
        const __nv_bfloat16 *ss = Ss + buf * KF * YS;
        const uint4 *ts = Ts + buf * KF;
#pragma unroll
        for (int ks = 0; ks < KF / 16; ks++) {
            /* phi of the thread's 2 MT tokens at features t + 4e (e = 0..3: logical k 2t, 2t+1,
             * 2t+8, 2t+9). A quarter warp reads x rows idx(t), t = 0..3 (XS = 8 mod 32: distinct
             * 8-bank groups when the indices differ mod 4, one address when equal). */
            float ph[4][2 * MT];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                uint4 fe = ts[ks * 16 + t + 4 * e];
                const int16_t *ix = reinterpret_cast<const int16_t *>(&fe);
                float cf = __uint_as_float(fe.z);
                if constexpr (MT == 2) {
                    float4 x = *reinterpret_cast<const float4 *>(Xs + ix[0] * XS + xcol);
                    float4 v = make_float4(cf * x.x, cf * x.y, cf * x.z, cf * x.w);
#pragma unroll
                    for (int k = 1; k < P; k++) {
                        x = *reinterpret_cast<const float4 *>(Xs + ix[k] * XS + xcol);
                        v.x *= x.x, v.y *= x.y, v.z *= x.z, v.w *= x.w;
                    }
                    ph[e][0] = v.x, ph[e][1] = v.y, ph[e][2] = v.z, ph[e][3] = v.w;
                } else {
                    float2 x = *reinterpret_cast<const float2 *>(Xs + ix[0] * XS + xcol);
                    float2 v = make_float2(cf * x.x, cf * x.y);
#pragma unroll
                    for (int k = 1; k < P; k++) {
                        x = *reinterpret_cast<const float2 *>(Xs + ix[k] * XS + xcol);
                        v.x *= x.x, v.y *= x.y;
                    }
                    ph[e][0] = v.x, ph[e][1] = v.y;
                }
            }
            uint32_t af[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) { /* rows g, g + 8 are tokens xcol + 2 mt, + 1 */
                af[mt][0] = pack2(ph[0][2 * mt], ph[1][2 * mt]);
                af[mt][1] = pack2(ph[0][2 * mt + 1], ph[1][2 * mt + 1]);
                af[mt][2] = pack2(ph[2][2 * mt], ph[3][2 * mt]);
                af[mt][3] = pack2(ph[2][2 * mt + 1], ph[3][2 * mt + 1]);
            }
            mma_step<MT, NT, YS>(acc, af, ss, [&](int k) { return ks * 16 + perm_feat(k); });
        }
        __syncthreads();
    }

    store_rows<MT, NT>(a.out + ch * a.so, acc, a.c, a.ld1, a.beta,
                       [&](int mt, int h) { return tok0 + xcol + 2 * mt + h; });
}

/* ---- copies ---- */

/* x [R][c][d] -> xt [R][d][cpad] through a 32 x 32 shared tile; tokens past c are zeros. */
__global__ void transpose_kernel(int c, int d, int cpad, const float *__restrict__ x, float *__restrict__ xt) {
    __shared__ float tile[32][33];
    size_t ch = blockIdx.z;
    int t0 = blockIdx.x * 32, i0 = blockIdx.y * 32;
    const float *xc = x + ch * c * d;
    for (int r = threadIdx.y; r < 32; r += blockDim.y) {
        int tok = t0 + r, i = i0 + threadIdx.x;
        tile[r][threadIdx.x] = tok < c && i < d ? xc[(size_t)tok * d + i] : 0.f;
    }
    __syncthreads();
    float *oc = xt + ch * d * cpad;
    for (int r = threadIdx.y; r < 32; r += blockDim.y) {
        int i = i0 + r, tok = t0 + threadIdx.x;
        if (i < d) oc[(size_t)i * cpad + tok] = tile[threadIdx.x][r];
    }
}

/* src [R][rows][ld] -> dst [R][rows_pad][np] bf16 (np >= ld), zeros elsewhere; one grid row per
 * chunk (32-bit index arithmetic within it). A thread writes 8 columns (one 16-byte store) from
 * two float4 loads: ld % 4 == 0, np % 8 == 0 and 16-byte aligned rows (pad16 checks), so each
 * float4 lies wholly inside or wholly past a row's ld columns. One column a thread, a 32-bit
 * division each, took 17% of a 4-layer d256 power step at 35% of memory bandwidth (ncu, H200). */
__global__ void pad16_kernel(int rows, int ld, int rows_pad, int np, size_t src_stride,
                             const float *__restrict__ src, __nv_bfloat16 *__restrict__ dst) {
    const int groups = np / 8, id = blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= rows_pad * groups) return;
    const int r = id / groups, col = (id - r * groups) * 8;
    const float *row = src + blockIdx.y * src_stride + (size_t)r * ld;
    float4 x[2];
#pragma unroll
    for (int k = 0; k < 2; k++)
        x[k] = r < rows && col + 4 * k < ld ? *reinterpret_cast<const float4 *>(row + col + 4 * k)
                                            : make_float4(0.f, 0.f, 0.f, 0.f);
    const uint4 o = make_uint4(pack2(x[0].x, x[0].y), pack2(x[0].z, x[0].w), pack2(x[1].x, x[1].y),
                               pack2(x[1].z, x[1].w));
    *reinterpret_cast<uint4 *>(dst + blockIdx.y * (size_t)rows_pad * np + (size_t)id * 8) = o;
}

/* ftab [Dpad]: the phi table as 16-byte entries (one vector load), zero past D. */
__global__ void ftab_kernel(int D, int Dpad, const pw_feat *feat, uint4 *ftab) {
    int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= Dpad) return;
    uint4 e = make_uint4(0, 0, 0, 0);
    if (f < D) {
        pw_feat ft = feat[f];
        int16_t *ix = reinterpret_cast<int16_t *>(&e);
        for (int k = 0; k < KERN_POWER_P_MAX; k++) ix[k] = ft.idx[k];
        e.z = __float_as_uint(ft.coef);
    }
    ftab[f] = e;
}

template <int DH> size_t phiT_smem() { return 2 * ((size_t)DH * (KT + 16) * 4 + (size_t)KT * shape<DH>::YS * 2); }
template <int DH, int MT> size_t phi_smem() {
    return (size_t)DH * (4 * 16 * MT + 8) * 4 + 2 * ((size_t)KF * shape<DH>::YS * 2 + KF * 16);
}

template <void (*K)(phi_args)> void launch(dim3 grid, size_t sm, const phi_args &a) {
    static bool set = [&] {
        KCU_CHECK(cudaFuncSetAttribute(K, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        return true;
    }();
    (void)set;
    K<<<grid, NTHR, sm>>>(a);
    KCU_LAUNCHED();
}

template <int DH, int P> void run(bool transposed, const pw_layout &L, const phi_args &a) {
    constexpr int MT = shape<DH>::MT;
    /* The tiles of one chunk are adjacent in the launch order, so the blocks running at once
     * share a few chunks' operands in L2 (one chunk per block would stream 400 KB per block
     * from memory at d64: 3.6 GB per phiT_mm at T = 64k, 8 heads). */
    if (transposed)
        launch<phiT_kernel<DH, P>>(dim3((unsigned)(L.Dpad / (64 * MT)), (unsigned)L.R), phiT_smem<DH>(), a);
    else if (L.cpad % (64 * MT) == 0)
        launch<phi_kernel<DH, P, MT>>(dim3((unsigned)(L.cpad / (64 * MT)), (unsigned)L.R), phi_smem<DH, MT>(), a);
    else /* cpad an odd multiple of 64 (chunk 64, 192, ...): blocks of 64 tokens, none on padding */
        launch<phi_kernel<DH, P, 1>>(dim3((unsigned)(L.cpad / 64), (unsigned)L.R), phi_smem<DH, 1>(), a);
}
template <int DH> void run_p(bool transposed, const pw_layout &L, const phi_args &a) {
    switch (L.p) {
    case 2: run<DH, 2>(transposed, L, a); break;
    case 3: run<DH, 3>(transposed, L, a); break;
    default:
        /* d128 p4 is not built: kcu_power_paths_of refuses it (Dpad np8 past 2^30) */
        if constexpr (DH < 128) run<DH, 4>(transposed, L, a);
        else kcu_fail(__FILE__, __LINE__, "power_phi", "head dim 128 with p = 4 has no fused kernel");
        break;
    }
}
void run_d(bool transposed, const pw_layout &L, const phi_args &a) {
    kcu_by_head_dim(L.d, [&](auto D) { run_p<decltype(D)::value>(transposed, L, a); });
}

/* x's chunks transposed into xt. */
void transpose(const pw_layout &L, float *base, const float *x) {
    dim3 grid((unsigned)(L.cpad / 32), (unsigned)((L.d + 31) / 32), (unsigned)L.R);
    transpose_kernel<<<grid, dim3(32, 8)>>>(L.c, L.d, L.cpad, x, base + L.xt);
    KCU_LAUNCHED();
}

void pad16(const pw_layout &L, const float *src, int rows, size_t src_stride, int rows_pad, void *dst) {
    if (L.ld1 % 4 || L.np8 % 8 || src_stride % 4 || (uintptr_t)src % 16 || (uintptr_t)dst % 16)
        kcu_fail(__FILE__, __LINE__, "power_phi pad16", "needs 16-byte aligned rows of 4k floats and 8k bf16");
    dim3 grid(kcu_blocks((size_t)rows_pad * L.np8 / 8, PW_THREADS), (unsigned)L.R);
    pad16_kernel<<<grid, PW_THREADS>>>(rows, L.ld1, rows_pad, L.np8, src_stride, src, (__nv_bfloat16 *)dst);
    KCU_LAUNCHED();
}

phi_args args_of(const pw_layout &L, float *base, float *out, size_t so, float beta) {
    phi_args a = {};
    a.xt = base + L.xt;
    a.y16 = (const __nv_bfloat16 *)pw_h(base, L.y16);
    a.s16 = (const __nv_bfloat16 *)pw_h(base, L.s16);
    a.ftab = (const uint4 *)pw_h(base, L.ftab);
    a.out = out, a.so = so;
    a.c = L.c, a.cpad = L.cpad, a.D = L.D, a.Dpad = L.Dpad, a.ld1 = L.ld1;
    a.beta = beta;
    return a;
}

} // namespace

void pw_fused_table(const pw_layout &L, float *base) {
    ftab_kernel<<<kcu_blocks(L.Dpad, 128), 128>>>(L.D, L.Dpad, (const pw_feat *)(base + L.feat),
                                                  (uint4 *)pw_h(base, L.ftab));
    KCU_LAUNCHED();
}

void pw_phiT_mm(const pw_layout &L, float *base, const float *x, const float *y, float *out, float beta) {
    transpose(L, base, x);
    pad16(L, y, L.c, (size_t)L.c * L.ld1, L.cpad, pw_h(base, L.y16));
    run_d(true, L, args_of(L, base, out, L.SZ, beta));
}

void pw_fused_state16(const pw_layout &L, float *base, const float *s) {
    pad16(L, s, L.D, L.SZ, L.Dpad, pw_h(base, L.s16));
}

void pw_phi_mm(const pw_layout &L, float *base, const float *x, float *out, float beta) {
    transpose(L, base, x);
    run_d(false, L, args_of(L, base, out, (size_t)L.c * L.ld1, beta));
}
