/* Gated power retention on the GPU, forward, and the stages backward shares
 * (power.h): the chunked algorithm of MATH.md as kernels/cpu/mixer_power.c
 * computes it, with every chunk of every (batch, kv head) pair at once:
 *   1. gates: G' per chunk (in double, as the CPU does), Gamma;
 *   2. keys: [V|1], U = exp((Gamma - G'_j)/p) K, phi(U);
 *   3. states: S'_{m+1} = exp(Gamma_m) S'_m + phi(U_m)^T [V|1]_m, the products
 *      for all chunks in one batched gemm, then a scan over m per element;
 *   4. per head of the group: Q~ = s exp(G'/p) q, phi(Q~), the masked intra-chunk
 *      weights A, N' = A [V|1] + phi(Q~) S'_m, then y = N / (eps + M) or N / rms,
 *      saving the divisor exactly as the CPU does.
 * With L.fused (power_phi.cu) the phi(U) and phi(Q~) rows are never written: the products
 * with them build phi in registers. */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_bf16.h>

#include "kernels/cuda/power.h"

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

pw_layout pw_plan(const kern_mixer_shape *s, int bf16) {
    pw_layout L;
    L.bf16 = bf16;
    L.B = s->batch;
    L.T = s->seq;
    L.d = s->head_dim;
    L.d1 = L.d + 1;
    L.p = s->p;
    /* Every power entry point plans first: a shape the tables below cannot hold (p past
     * KERN_POWER_P_MAX, a state past int, indices past int16) stops here with the CPU's words. */
    char why[512];
    if (kern_mixer_shape_check(s, why, sizeof why)) kcu_fail(__FILE__, __LINE__, "mixer shape", why);
    L.D = kern_mx_phi_dim(L.d, L.p);
    L.c = s->chunk;
    L.nc = L.T / L.c;
    L.nh = s->n_head;
    L.nkv = s->n_kv_head;
    L.group = L.nh / L.nkv;
    L.P = L.B * L.nkv;
    L.gated = s->gating;
    L.rms = s->normalize_rms;
    L.scale = (float)s->scale;
    L.eps = (float)s->eps;
    L.R = (size_t)L.P * L.nc;
    L.rows = (size_t)L.P * L.T;
    /* The paths and padded extents, from the one home the FLOP count reads too (plan.h). */
    kcu_power_paths w = kcu_power_paths_of(s, bf16);
    /* [V|1] rows padded to 4 floats, the padding kept zero: the FP32-storage products run
     * ld1 wide (n or k = ld1, not d + 1), so that every operand row starts 16-byte aligned
     * and cuBLAS takes its aligned kernels (the d + 1 = 65 products ran in "align1"
     * kernels, about a third of a 12-layer power step). Implementation FLOPs: ld1 / (d + 1) of
     * DESIGN's for those products (68 / 65 at head dim 64). */
    L.ld1 = w.ld1;
    L.SZ = (size_t)L.D * L.ld1;
    /* The tiled intra-chunk kernels (power_intra.cu) by default where they apply: on the
     * H200 the layer fwd+bwd took 30.1 ms at 64k against 38.0 through cuBLAS over the
     * c x c buffers (RESULTS.md); SCALELAB_POWER_INTRA=0 keeps the cuBLAS path. Read here,
     * before the work is laid out, so that the work size and the calls agree: the c x c
     * buffers (a, raw, da; 6.4 GB at T = 64k, chunk 1024, 8 heads) are reserved only
     * for the cuBLAS path. */
    L.intra = w.intra;
    /* The fused state products (power_phi.cu) and the fused dphi (power_dphi.cu) by default
     * where they apply: on the H200 they took the layer's fwd+bwd from 30.2 to 15.5 ms at 64k
     * (RESULTS.md); SCALELAB_POWER_FUSED=0 / SCALELAB_POWER_DPHI=0 keep the phi rows and
     * cuBLAS. Read here for the same reason as intra: the phi rows (pu, phibuf: 4.4 GB each
     * at T = 64k, 8 heads, d64 p2) are reserved only for the paths that write them. */
    L.Dpad = w.Dpad;
    L.cpad = w.cpad;
    L.np8 = w.np8;
    L.fused = w.fused;
    L.dphi = w.dphi;
    /* phibuf holds phi(Q~) rows (forward and the backward's dN' products, when not fused)
     * and dphi rows (backward, when not dphi); otherwise only the staged S of power_dphi.cu */
    size_t phibuf = L.fused && L.dphi ? 0 : L.rows * L.D;
    if (L.dphi && pw_dphi_scratch(L) > phibuf) phibuf = pw_dphi_scratch(L);
    size_t at = 0, rc2 = L.intra ? 0 : L.R * L.c * L.c;
#define TAKE(field, n) (L.field = at, at += round64(n))
    TAKE(gcum, 2 * L.rows);
    TAKE(gamma, 2 * L.R);
    TAKE(egamma, L.R);
    TAKE(feat, (size_t)L.D * sizeof(pw_feat) / sizeof(float));
    TAKE(kc, L.rows * L.d);
    TAKE(u, L.rows * L.d);
    TAKE(pu, L.fused ? 0 : L.rows * L.D);
    TAKE(vp, L.rows * L.ld1);
    TAKE(states, (L.R + 1) * L.SZ); /* the batched update writes one slot past the last chunk */
    TAKE(qc, L.rows * L.d);
    TAKE(qt, L.rows * L.d);
    TAKE(phibuf, phibuf);
    TAKE(a, rc2);
    TAKE(raw, rc2);
    TAKE(np, L.rows * L.ld1);
    L.forward_total = at;
    TAKE(dso, L.R * L.SZ);
    TAKE(dnp, (size_t)L.group * L.rows * L.ld1);
    TAKE(dvp, L.rows * L.ld1);
    TAKE(du, L.rows * L.d);
    TAKE(dkc, L.rows * L.d);
    TAKE(dqc, L.rows * L.d);
    TAKE(da, rc2);
    TAKE(dg, L.rows);
    TAKE(dgamma, L.R);
    TAKE(part, L.R * 16 * 2 * 2);
    if (bf16) {
        TAKE(q16, L.rows * L.d / 2 + 1);
        TAKE(k16, L.rows * L.d / 2 + 1);
        TAKE(v16, L.rows * L.d / 2 + 1);
        TAKE(dn16, L.rows * L.d / 2 + 1);
        TAKE(gl2, L.rows);
    } else {
        L.q16 = L.k16 = L.v16 = L.dn16 = L.gl2 = 0;
    }
    if (L.fused) {
        TAKE(ftab, (size_t)L.Dpad * 4);
        TAKE(xt, L.R * L.d * L.cpad);
        TAKE(y16, L.R * L.cpad * L.np8 / 2);
        TAKE(s16, L.R * L.Dpad * L.np8 / 2);
    } else {
        L.ftab = L.xt = L.y16 = L.s16 = 0;
    }
#undef TAKE
    L.total = at + 64;
    return L;
}

static struct {
    int on, n;
    const char *name[64];
    cudaEvent_t ev[64];
} prof = {-1, 0, {0}, {0}};

void pw_mark(const char *stage) {
    if (prof.on < 0) {
        const char *e = getenv("SCALELAB_POWER_PROFILE");
        prof.on = e && strcmp(e, "0") != 0;
        if (prof.on)
            for (int i = 0; i < 64; i++) KCU_CHECK(cudaEventCreate(&prof.ev[i]));
    }
    if (!prof.on || prof.n >= 64) return;
    prof.name[prof.n] = stage;
    KCU_CHECK(cudaEventRecord(prof.ev[prof.n++], 0));
}

void pw_report(const char *what) {
    if (prof.on <= 0) return;
    KCU_CHECK(cudaEventSynchronize(prof.ev[prof.n - 1]));
    fprintf(stderr, "power %s:", what);
    float total = 0;
    for (int i = 1; i < prof.n; i++) {
        float ms;
        KCU_CHECK(cudaEventElapsedTime(&ms, prof.ev[i - 1], prof.ev[i]));
        total += ms;
        fprintf(stderr, " %s %.3f", prof.name[i], ms);
    }
    fprintf(stderr, " | total %.3f ms\n", total);
    prof.n = 0;
}

float *pw_base(float *work) {
    uintptr_t p = (uintptr_t)work;
    return (float *)((p + 255) / 256 * 256);
}

size_t kcu_power_work_size(const kern_mixer_shape *s) { return pw_plan(s).total; }
size_t kcu_power_work_size_prec(const kern_mixer_shape *s, int bf16) { return pw_plan(s, bf16).total; }

void pw_gemm(const pw_layout &L, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             size_t sa, const float *b, int ldb, size_t sb, float beta, float *c, int ldc, size_t sc) {
    if (!L.bf16) {
        kcu_gemm(ta, tb, m, n, k, alpha, a, lda, (long long)sa, b, ldb, (long long)sb, beta, c, ldc, (long long)sc,
                 (int)L.R);
        return;
    }
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T (as kcu_gemm). */
    if (m <= 0 || n <= 0) return;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    KCU_BLAS(cublasGemmStridedBatchedEx(kcu_blas(), ob, oa, n, m, k, &alpha, b, CUDA_R_32F, ldb, (long long)sb, a,
                                        CUDA_R_32F, lda, (long long)sa, &beta, c, CUDA_R_32F, ldc, (long long)sc,
                                        (int)L.R, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
}

/* ---- phi ---- */

/* Feature f in lexicographic order of (i_1 <= ... <= i_p), the CPU's order, with its
 * coefficient (kernels/kern_shape.h: the one home of both). */
__global__ void phi_table_kernel(int d, int p, int D, pw_feat *feat) {
    int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= D) return;
    int idx[KERN_POWER_P_MAX] = {0};
    kern_mx_phi_unrank(f, d, p, idx);
    pw_feat out;
    for (int r = 0; r < KERN_POWER_P_MAX; r++) out.idx[r] = (int16_t)idx[r];
    out.coef = (float)sqrt(kern_mx_phi_multinomial(idx, p));
    feat[f] = out;
}

/* PHI_ROWS rows per block: the rows of x in shared memory, threads over features,
 * each feature's table entry read once for the block's rows. */
enum { PHI_ROWS = 8 };
__global__ void phi_rows_kernel(size_t rows, int d, int p, int D, const float *__restrict__ x,
                                const pw_feat *__restrict__ feat, float *__restrict__ out) {
    extern __shared__ float xs[];
    size_t row0 = (size_t)blockIdx.x * PHI_ROWS;
    int nr = rows - row0 < PHI_ROWS ? (int)(rows - row0) : PHI_ROWS;
    for (int f = threadIdx.x; f < nr * d; f += blockDim.x) xs[f] = x[row0 * d + f];
    __syncthreads();
    for (int f = threadIdx.x; f < D; f += blockDim.x) {
        pw_feat ft = feat[f];
        for (int r = 0; r < nr; r++) {
            const float *xr = xs + r * d;
            float v = ft.coef;
            for (int t = 0; t < p; t++) v *= xr[ft.idx[t]];
            out[(row0 + r) * D + f] = v;
        }
    }
}

/* dx_i = sum over features holding i of dphi_f * d(feature)/dx_i. p = 2 in
 * closed form (kern_mx_phi2_index). */
__global__ void phi_rows_backward_kernel(size_t rows, int d, int p, int D, const float *x, const float *dphi,
                                         const pw_feat *feat, float *dx) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= rows * d) return;
    size_t row = id / d;
    int i = id % d;
    const float *xr = x + row * d, *gr = dphi + row * D;
    float acc = 0;
    if (p == 1) {
        acc = gr[i];
    } else if (p == 2) {
        const float sqrt2 = kern_mx_phi2_coef(0, 1); /* off the diagonal */
        for (int j = 0; j < d; j++) {
            int a = j < i ? j : i, b = j < i ? i : j;
            float g = gr[kern_mx_phi2_index(d, a, b)];
            acc += j == i ? 2.f * xr[i] * g : sqrt2 * xr[j] * g;
        }
    } else {
        for (int f = 0; f < D; f++) {
            pw_feat ft = feat[f];
            for (int r = 0; r < p; r++) {
                if (ft.idx[r] != i) continue;
                float prod = ft.coef * gr[f];
                for (int t = 0; t < p; t++)
                    if (t != r) prod *= xr[ft.idx[t]];
                acc += prod;
            }
        }
    }
    dx[id] = acc;
}

/* p = 2, one block per row: the row's dphi (D floats, read once, coalesced) and x
 * in shared memory, then one thread per output feature. The plain kernel above
 * gathers dphi from global memory with a stride that changes along the warp. */
__global__ void phi2_rows_backward_kernel(int d, int D, const float *x, const float *dphi, float *dx) {
    extern __shared__ float sh[];
    float *g = sh, *xs = sh + D;
    size_t row = blockIdx.x;
    for (int f = threadIdx.x; f < D; f += blockDim.x) g[f] = dphi[row * D + f];
    for (int f = threadIdx.x; f < d; f += blockDim.x) xs[f] = x[row * d + f];
    __syncthreads();
    const float sqrt2 = kern_mx_phi2_coef(0, 1); /* off the diagonal */
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float acc = 0;
        for (int j = 0; j < d; j++) {
            int a = j < i ? j : i, b = j < i ? i : j;
            float gv = g[kern_mx_phi2_index(d, a, b)];
            acc += j == i ? 2.f * xs[i] * gv : sqrt2 * xs[j] * gv;
        }
        dx[row * d + i] = acc;
    }
}

void pw_phi_backward(const pw_layout &L, float *base, int rows, const float *x, const float *dphi, float *dx) {
    size_t shared = (size_t)(L.D + L.d) * sizeof(float);
    if (L.p == 2 && shared <= 48 * 1024) {
        int threads = (L.d + 31) / 32 * 32;
        phi2_rows_backward_kernel<<<rows, threads > 256 ? 256 : threads, shared>>>(L.d, L.D, x, dphi, dx);
        KCU_LAUNCHED();
        return;
    }
    size_t n = (size_t)rows * L.d;
    phi_rows_backward_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(rows, L.d, L.p, L.D, x, dphi,
                                                                        (const pw_feat *)(base + L.feat), dx);
    KCU_LAUNCHED();
}

__global__ void to_bf16_kernel(size_t n, int rows_per, int ld, int cols, const float *src, __nv_bfloat16 *dst,
                               int ldh) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= n) return;
    int col = id % cols;
    size_t r = id / cols; /* global row: matrix r / rows_per, row r % rows_per */
    dst[r * ldh + col] = __float2bfloat16(src[r * ld + col]);
}

void pw_to_bf16(const pw_layout &L, const float *src, int rows_per, int ld, int cols, void *dst, int ldh,
                size_t n_mat) {
    (void)L;
    size_t n = n_mat * rows_per * cols;
    to_bf16_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(n, rows_per, ld, cols, src, (__nv_bfloat16 *)dst, ldh);
    KCU_LAUNCHED();
}

static void phi_rows(const pw_layout &L, float *base, const float *x, float *out) {
    phi_rows_kernel<<<kcu_blocks(L.rows, PHI_ROWS), PW_THREADS, PHI_ROWS * L.d * sizeof(float)>>>(
        L.rows, L.d, L.p, L.D, x, (const pw_feat *)(base + L.feat), out);
    KCU_LAUNCHED();
}

/* ---- keys, gates, states ---- */

/* One block per chunk: G' (cumulative log gates from the chunk's start, in double, as
 * the CPU) and Gamma. Each thread sums a contiguous segment, thread 0 scans the
 * segment totals, then each thread writes its segment (one thread per chunk left 32
 * threads at T = 4k, each walking 1024 tokens). */
enum { PW_SCAN = 128 };
__global__ void gates_kernel(pw_layout L, const float *log_g, double *gcum, double *gamma, float *egamma) {
    __shared__ double part[PW_SCAN + 1];
    size_t ch = blockIdx.x;
    int pair = (int)(ch / L.nc), m = ch % L.nc, b = pair / L.nkv, g = pair % L.nkv;
    int seg = (L.c + PW_SCAN - 1) / PW_SCAN, i0 = threadIdx.x * seg, i1 = min(i0 + seg, L.c);
    const float *lg = log_g ? log_g + ((size_t)b * L.T + m * L.c) * L.nkv + g : NULL;
    double acc = 0;
    for (int i = i0; i < i1; i++) acc += lg ? lg[(size_t)i * L.nkv] : 0.0;
    part[threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        double run = 0;
        for (int t = 0; t < PW_SCAN; t++) {
            double x = part[t];
            part[t] = run;
            run += x;
        }
        part[PW_SCAN] = run;
        gamma[ch] = run;
        egamma[ch] = (float)exp(run);
    }
    __syncthreads();
    acc = part[threadIdx.x];
    for (int i = i0; i < i1; i++) {
        acc += lg ? lg[(size_t)i * L.nkv] : 0.0;
        gcum[ch * L.c + i] = acc;
    }
}

__global__ void load_keys_kernel(pw_layout L, const float *k, const float *v, const double *gcum,
                                 const double *gamma, float *kc, float *u, float *vp) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= L.rows * L.d) return;
    size_t row = id / L.d;
    int f = id % L.d, pair = (int)(row / L.T), t = row % L.T, b = pair / L.nkv, g = pair % L.nkv;
    size_t src = ((size_t)(b * L.T + t) * L.nkv + g) * L.d + f;
    float e = L.gated ? (float)exp((gamma[row / L.c] - gcum[row]) / L.p) : 1.f;
    float kv = k[src];
    kc[id] = kv;
    u[id] = e * kv;
    vp[row * L.ld1 + f] = v[src];
    if (f == 0) { /* the ones column, and zeros in the padding: the products run ld1 wide */
        vp[row * L.ld1 + L.d] = 1.f;
        for (int x = L.d1; x < L.ld1; x++) vp[row * L.ld1 + x] = 0.f;
    }
}

void pw_prepare_keys(const pw_layout &L, float *base, const float *k, const float *v, const float *log_g) {
    pw_feat *feat = (pw_feat *)(base + L.feat);
    double *gcum = pw_doubles(base, L.gcum), *gamma = pw_doubles(base, L.gamma);
    phi_table_kernel<<<kcu_blocks(L.D, 128), 128>>>(L.d, L.p, L.D, feat);
    KCU_LAUNCHED();
    gates_kernel<<<(unsigned)L.R, PW_SCAN>>>(L, L.gated ? log_g : NULL, gcum, gamma, base + L.egamma);
    KCU_LAUNCHED();
    size_t n = L.rows * L.d;
    load_keys_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(L, k, v, gcum, gamma, base + L.kc, base + L.u,
                                                                base + L.vp);
    KCU_LAUNCHED();
    if (L.fused) pw_fused_table(L, base);
    else phi_rows(L, base, base + L.u, base + L.pu);
}

/* In place: slot m holds phi(U_{m-1})^T [V|1]_{m-1} on entry (slot 0 of the next
 * pair got the last chunk's product, which nothing needs: it is zeroed). Padding
 * columns are zeroed too, so sums over whole states need no masks. */
__global__ void state_scan_kernel(pw_layout L, const float *__restrict__ eg, float *__restrict__ states) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (size_t)L.P * L.SZ) return;
    size_t pair = id / L.SZ, e = id % L.SZ;
    float *s = states + pair * L.nc * L.SZ + e;
    const float *egp = eg + pair * L.nc;
    bool pad = (int)(e % L.ld1) >= L.d1;
    float carry = 0;
    s[0] = 0;
    /* PW_SCAN_G loads in flight before the serial chain uses them: one at a time, each
     * chunk waited a memory round trip (the backward twin measured 2.5 ms at 12 layers'
     * shape, 5x its bytes at copy bandwidth). */
    for (int m0 = 1; m0 < L.nc; m0 += PW_SCAN_G) {
        float x[PW_SCAN_G];
#pragma unroll
        for (int i = 0; i < PW_SCAN_G; i++)
            if (m0 + i < L.nc) x[i] = s[(size_t)(m0 + i) * L.SZ];
#pragma unroll
        for (int i = 0; i < PW_SCAN_G; i++)
            if (m0 + i < L.nc) {
                carry = pad ? 0.f : egp[m0 + i - 1] * carry + x[i];
                s[(size_t)(m0 + i) * L.SZ] = carry;
            }
    }
}

void pw_states(const pw_layout &L, float *base) {
    float *states = base + L.states;
    if (L.fused)
        pw_phiT_mm(L, base, base + L.u, base + L.vp, states + L.SZ, 0.f);
    else
        pw_gemm(L, 1, 0, L.D, L.ld1, L.c, 1.f, base + L.pu, L.D, (size_t)L.c * L.D, base + L.vp, L.ld1,
                (size_t)L.c * L.ld1, 0.f, states + L.SZ, L.ld1, L.SZ);
    size_t n = (size_t)L.P * L.SZ;
    state_scan_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(L, base + L.egamma, states);
    KCU_LAUNCHED();
}

/* ---- queries ---- */

__global__ void load_queries_kernel(pw_layout L, int r, const float *q, const double *gcum, float *qc, float *qt) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= L.rows * L.d) return;
    size_t row = id / L.d;
    int f = id % L.d, pair = (int)(row / L.T), t = row % L.T, b = pair / L.nkv, g = pair % L.nkv;
    int h = g * L.group + r;
    float qv = q[((size_t)(b * L.T + t) * L.nh + h) * L.d + f];
    float e = L.scale * (L.gated ? (float)exp(gcum[row] / L.p) : 1.f);
    qc[id] = qv;
    qt[id] = e * qv;
}

void pw_prepare_queries(const pw_layout &L, float *base, const float *q, int r, int with_phi) {
    size_t n = L.rows * L.d;
    load_queries_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(L, r, q, pw_doubles(base, L.gcum), base + L.qc,
                                                                   base + L.qt);
    KCU_LAUNCHED();
    if (with_phi && !L.fused) phi_rows(L, base, base + L.qt, base + L.phibuf);
}

__device__ __forceinline__ float ipow(float x, int p) {
    float r = x;
    for (int t = 1; t < p; t++) r *= x;
    return r;
}

/* One warp per row i of a chunk (no 64-bit division per element): a_ij = raw_ij^p
 * exp(G'_i - G'_j) for j <= i, 0 above. */
__global__ void intra_mask_kernel(pw_layout L, const double *gcum, const float *raw, float *a) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= L.rows) return;
    int i = row % L.c;
    const double *gc = gcum + (row - i);
    const float *rr = raw + row * L.c;
    float *ar = a + row * L.c;
    double gi = gc[i];
    for (int j = lane; j < L.c; j += 32) ar[j] = j <= i ? ipow(rr[j], L.p) * expf((float)(gi - gc[j])) : 0.f;
}

void pw_intra_weights(const pw_layout &L, float *base) {
    size_t cd = (size_t)L.c * L.d, cc = (size_t)L.c * L.c;
    pw_gemm(L, 0, 1, L.c, L.c, L.d, L.scale, base + L.qc, L.d, cd, base + L.kc, L.d, cd, 0.f, base + L.raw, L.c, cc);
    intra_mask_kernel<<<kcu_blocks(L.rows, 8), 256>>>(L, pw_doubles(base, L.gcum), base + L.raw, base + L.a);
    KCU_LAUNCHED();
}

/* ---- forward ---- */

/* One warp per row of head r: divide N' by eps + M or by the RMS of N. */
__global__ void normalize_kernel(pw_layout L, int r, const float *np, float *y, float *saved) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= L.rows) return;
    int pair = (int)(row / L.T), t = row % L.T, b = pair / L.nkv, g = pair % L.nkv, h = g * L.group + r;
    const float *nr = np + row * L.ld1;
    float div;
    if (L.rms) {
        float ms = 0;
        for (int f = lane; f < L.d; f += 32) ms += nr[f] * nr[f];
        for (int o = 16; o > 0; o /= 2) ms += __shfl_xor_sync(0xffffffffu, ms, o);
        div = sqrtf(ms / L.d + L.eps);
    } else {
        div = L.eps + nr[L.d];
    }
    float *yr = y + ((size_t)(b * L.T + t) * L.nh + h) * L.d;
    for (int f = lane; f < L.d; f += 32) yr[f] = nr[f] / div;
    if (lane == 0) saved[((size_t)b * L.nh + h) * L.T + t] = div;
}

void kcu_power_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                       const float *log_g, float *y, float *saved, float *work) {
    kcu_power_forward_prec(s, q, k, v, log_g, y, saved, work, 0);
}

void kcu_power_forward_prec(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                            const float *log_g, float *y, float *saved, float *work, int bf16) {
    pw_layout L = pw_plan(s, bf16);
    float *base = pw_base(work);
    size_t cd1 = (size_t)L.c * L.ld1, cD = (size_t)L.c * L.D, cc = (size_t)L.c * L.c;
    pw_mark("start");
    pw_prepare_keys(L, base, k, v, log_g);
    if (L.intra) pw_intra_keys(L, base);
    pw_mark("keys");
    pw_states(L, base);
    if (L.fused) pw_fused_state16(L, base, base + L.states);
    pw_mark("states");
    for (int r = 0; r < L.group; r++) {
        pw_prepare_queries(L, base, q, r, 1);
        pw_mark("queries");
        if (L.intra) {
            pw_intra_forward(L, base);
            pw_mark("intra_tiled");
        } else {
            pw_intra_weights(L, base);
            pw_mark("intra_weights");
            pw_gemm(L, 0, 0, L.c, L.ld1, L.c, 1.f, base + L.a, L.c, cc, base + L.vp, L.ld1, cd1, 0.f, base + L.np,
                    L.ld1, cd1);
            pw_mark("intra_AV");
        }
        if (L.fused)
            pw_phi_mm(L, base, base + L.qt, base + L.np, 1.f);
        else
            pw_gemm(L, 0, 0, L.c, L.ld1, L.D, 1.f, base + L.phibuf, L.D, cD, base + L.states, L.ld1, L.SZ, 1.f,
                    base + L.np, L.ld1, cd1);
        pw_mark("state_query");
        normalize_kernel<<<kcu_blocks(L.rows, 8), 256>>>(L, r, base + L.np, y, saved);
        KCU_LAUNCHED();
        pw_mark("normalize");
    }
    pw_report(L.bf16 ? "forward (bf16)" : "forward (fp32)");
}
