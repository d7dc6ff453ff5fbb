/* Gated power retention on the GPU, backward: kernels/cpu/mixer_power_backward.c
 * with every chunk at once. The states S'_m are recomputed (power.cu); the
 * gradients of the states leaving each chunk, dS'_m, come from a reverse scan:
 *   dS'_{nc-1} = 0,  dS'_{m-1} = exp(Gamma_m) dS'_m + sum_heads phi(Q~_m)^T dN'_m.
 * Then per chunk (batched):
 *   update   d[V|1] = phi(U) dS'_m, dphi(U) = [V|1] dS'_m^T, dK = e_j J^T dphi(U),
 *            dGamma = sum_j dU_j.U_j / p + exp(Gamma) <dS'_m, S'_m>;
 *   query    dphi(Q~) = dN' S'_m^T, dq = s exp(G'_i/p) J^T dphi(Q~);
 *   intra    dA = dN' [V|1]^T, d[V|1] += A^T dN', d(s q.k) = dA p raw^(p-1) exp(G'_i - G'_j);
 *   gates    every exponential's term times its gradient, pushed to log g by a
 *            reverse cumulative sum per chunk.
 * All sums are in a fixed order (no atomics): the result is bit-reproducible. */
#include <cmath>

#include <cuda_bf16.h>

#include "kernels/cuda/power.h"

/* One warp per row of head r: dN' from the normalisation (sum: divide by eps + M;
 * rms: divide by the RMS, whose own gradient removes the y-parallel part). */
__global__ void dn_kernel(pw_layout L, int r, const float *y, const float *saved, const float *dy, float *dnp) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= L.rows) return;
    int pair = (int)(row / L.T), t = row % L.T, b = pair / L.nkv, g = pair % L.nkv, h = g * L.group + r;
    size_t at = ((size_t)(b * L.T + t) * L.nh + h) * L.d;
    const float *yr = y + at, *dyr = dy + at;
    float yy = 0;
    for (int f = lane; f < L.d; f += 32) yy += dyr[f] * yr[f];
    for (int o = 16; o > 0; o /= 2) yy += __shfl_xor_sync(0xffffffffu, yy, o);
    float div = saved[((size_t)b * L.nh + h) * L.T + t];
    float *dn = dnp + row * L.ld1;
    for (int f = lane; f < L.d; f += 32) dn[f] = L.rms ? (dyr[f] - yr[f] * yy / L.d) / div : dyr[f] / div;
    if (lane == 0) dn[L.d] = L.rms ? 0.f : -yy / div;
    if (lane < L.ld1 - L.d1) dn[L.d1 + lane] = 0.f; /* padding: the products run ld1 wide */
}

/* In place: slot m holds sum_heads phi(Q~_m)^T dN'_m on entry, dS'_m on exit
 * (padding columns zeroed, as in the forward scan). */
__global__ void dstate_scan_kernel(pw_layout L, const float *__restrict__ eg, float *__restrict__ dso) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (size_t)L.P * L.SZ) return;
    size_t pair = id / L.SZ, e = id % L.SZ;
    float *x = dso + pair * L.nc * L.SZ + e;
    const float *egp = eg + pair * L.nc;
    bool pad = (int)(e % L.ld1) >= L.d1;
    float carry = 0;
    /* PW_SCAN_G loads in flight at a time, as in the forward scan. */
    for (int m0 = L.nc - 1; m0 >= 0; m0 -= PW_SCAN_G) {
        float here[PW_SCAN_G];
#pragma unroll
        for (int i = 0; i < PW_SCAN_G; i++)
            if (m0 - i >= 0) here[i] = x[(size_t)(m0 - i) * L.SZ];
#pragma unroll
        for (int i = 0; i < PW_SCAN_G; i++)
            if (m0 - i >= 0) {
                x[(size_t)(m0 - i) * L.SZ] = carry;
                carry = pad ? 0.f : egp[m0 - i] * carry + here[i];
            }
    }
}

/* Fixed-order block sum (blockDim.x == PW_THREADS). */
__device__ double block_sum(double v) {
    __shared__ double sh[PW_THREADS];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int w = PW_THREADS / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    double s = sh[0];
    __syncthreads();
    return s;
}

/* Keys, backward, in three fully parallel steps (one block per chunk left 32 blocks at
 * T = 4k): one warp per row: dkc = e_j dU (overwrites) and, gated, t_j = dU_j.U_j/p with
 * dg_j = -t_j (overwrites); then PW_NB blocks per chunk sum slices of t and of <dS', S'>
 * (fixed order) into part; then one thread per chunk: dgamma = sum t + exp(Gamma) <dS', S'>. */
enum { PW_NB = 16 };
__global__ void keys_rows_kernel(pw_layout L, const double *gcum, const double *gamma, const float *u,
                                 const float *du, float *dkc, float *dg) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= L.rows) return;
    float e = L.gated ? (float)exp((gamma[row / L.c] - gcum[row]) / L.p) : 1.f, t = 0;
    for (int f = lane; f < L.d; f += 32) {
        float g = du[row * L.d + f];
        dkc[row * L.d + f] = e * g;
        t += g * u[row * L.d + f];
    }
    for (int o = 16; o > 0; o /= 2) t += __shfl_xor_sync(0xffffffffu, t, o);
    if (L.gated && lane == 0) dg[row] = -t / L.p;
}

__global__ void keys_sums_kernel(pw_layout L, const float *dg, const float *dso, const float *states,
                                 double *part) {
    size_t ch = blockIdx.y;
    int b = blockIdx.x;
    double acc = 0, st = 0;
    for (int j = b * PW_THREADS + threadIdx.x; j < L.c; j += PW_NB * PW_THREADS) acc -= dg[ch * L.c + j];
    const float *x = dso + ch * L.SZ, *sv = states + ch * L.SZ;
    for (size_t e = (size_t)b * PW_THREADS + threadIdx.x; e < L.SZ; e += PW_NB * PW_THREADS)
        st += (double)x[e] * sv[e]; /* padding is 0 */
    acc = block_sum(acc);
    st = block_sum(st);
    if (threadIdx.x == 0) part[(ch * PW_NB + b) * 2] = acc, part[(ch * PW_NB + b) * 2 + 1] = st;
}

__global__ void keys_final_kernel(pw_layout L, const double *gamma, const double *part, float *dgamma) {
    size_t ch = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= L.R) return;
    double acc = 0, st = 0;
    for (int b = 0; b < PW_NB; b++) acc += part[(ch * PW_NB + b) * 2], st += part[(ch * PW_NB + b) * 2 + 1];
    dgamma[ch] = (float)(acc + exp(gamma[ch]) * st);
}

/* One warp per row: dqc = s exp(G'_i/p) dQ~ (overwrites); dg_i += dQ~_i.Q~_i / p. */
__global__ void queries_backward_kernel(pw_layout L, const double *gcum, const float *qt, const float *dqt,
                                        float *dqc, float *dg) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= L.rows) return;
    float e = L.scale * (L.gated ? (float)exp(gcum[row] / L.p) : 1.f), t = 0;
    for (int f = lane; f < L.d; f += 32) {
        float g = dqt[row * L.d + f];
        dqc[row * L.d + f] = e * g;
        t += g * qt[row * L.d + f];
    }
    for (int o = 16; o > 0; o /= 2) t += __shfl_xor_sync(0xffffffffu, t, o);
    if (L.gated && lane == 0) dg[row] += t / L.p;
}

__device__ __forceinline__ float dpow(float x, int p) { /* d/dx x^p */
    float r = (float)p;
    for (int t = 1; t < p; t++) r *= x;
    return r;
}

/* Gate terms of A, split for parallelism (one block per chunk left 32 blocks at T = 4k):
 * intra_colsum_kernel: out_j = sum_{k >= j} dA_kj A_kj, one thread per column (fixed order);
 * intra_rows_kernel: one warp per row i: dg_i += sum_{j <= i} dA_ij A_ij - out_i (fixed-order
 * lane sums and shuffle tree), then dA <- dA p raw^(p-1) exp(G'_i - G'_j) below the diagonal,
 * 0 above. */
__global__ void intra_colsum_kernel(pw_layout L, const float *a, const float *da, float *colsum) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    size_t ch = blockIdx.y, cc = (size_t)L.c * L.c;
    if (j >= L.c) return;
    const float *ac = a + ch * cc, *dc = da + ch * cc;
    float out = 0;
    for (int k = j; k < L.c; k++) out += dc[(size_t)k * L.c + j] * ac[(size_t)k * L.c + j];
    colsum[ch * L.c + j] = out;
}

__global__ void intra_rows_kernel(pw_layout L, const double *gcum, const float *a, const float *raw, float *da,
                                  const float *colsum, float *dg) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= L.rows) return;
    size_t ch = row / L.c;
    int i = row % L.c;
    const float *ar = a + row * L.c, *rr = raw + row * L.c;
    float *dr = da + row * L.c;
    const double *gc = gcum + ch * L.c;
    if (L.gated) {
        float in = 0;
        for (int j = lane; j <= i; j += 32) in += dr[j] * ar[j];
        for (int o = 16; o > 0; o /= 2) in += __shfl_xor_sync(0xffffffffu, in, o);
        if (lane == 0) dg[row] += in - colsum[row];
    }
    double gi = gc[i];
    for (int j = lane; j < L.c; j += 32)
        dr[j] = j <= i ? dr[j] * dpow(rr[j], L.p) * (L.gated ? expf((float)(gi - gc[j])) : 1.f) : 0.f;
}

/* Contiguous [pair][token] rows back to the strided [batch, seq, heads, head_dim]. */
__global__ void scatter_kernel(pw_layout L, int heads, int h_of_group, const float *src, int ld_src, float *dst) {
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= L.rows * L.d) return;
    size_t row = id / L.d;
    int f = id % L.d, pair = (int)(row / L.T), t = row % L.T, b = pair / L.nkv, g = pair % L.nkv;
    int h = heads == L.nkv ? g : g * L.group + h_of_group;
    dst[((size_t)(b * L.T + t) * heads + h) * L.d + f] = src[row * ld_src + f];
}

/* dlog_g: reverse cumulative sum of dg per chunk, dgamma joining at the last token.
 * One block per chunk: segment sums (double), thread 0 scans them, each thread writes its segment. */
enum { PW_SCAN = 128 };
__global__ void gate_grad_kernel(pw_layout L, const float *dg, const float *dgamma, float *dlog_g) {
    __shared__ double part[PW_SCAN];
    size_t ch = blockIdx.x;
    int pair = (int)(ch / L.nc), m = ch % L.nc, b = pair / L.nkv, g = pair % L.nkv;
    int seg = (L.c + PW_SCAN - 1) / PW_SCAN, i0 = threadIdx.x * seg, i1 = min(i0 + seg, L.c);
    const float *dgc = dg + ch * L.c;
    double acc = 0;
    for (int i = i0; i < i1; i++) acc += dgc[i];
    part[threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.x == 0) { /* part[t] <- dgamma + sum of the segments after t */
        double run = dgamma[ch];
        for (int t = PW_SCAN - 1; t >= 0; t--) {
            double x = part[t];
            part[t] = run;
            run += x;
        }
    }
    __syncthreads();
    acc = part[threadIdx.x];
    for (int i = i1 - 1; i >= i0; i--) {
        acc += dgc[i];
        dlog_g[((size_t)b * L.T + m * L.c + i) * L.nkv + g] = (float)acc;
    }
}

static void scatter(const pw_layout &L, int heads, int r, const float *src, int ld_src, float *dst) {
    size_t n = L.rows * L.d;
    scatter_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(L, heads, r, src, ld_src, dst);
    KCU_LAUNCHED();
}

void kcu_power_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                        const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                        float *dk, float *dv, float *dlog_g, float *work) {
    kcu_power_backward_prec(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work, 0);
}

void kcu_power_backward_prec(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                             float *dk, float *dv, float *dlog_g, float *work, int bf16) {
    pw_layout L = pw_plan(s, bf16);
    float *base = pw_base(work);
    size_t cd = (size_t)L.c * L.d, cd1 = (size_t)L.c * L.ld1, cD = (size_t)L.c * L.D, cc = (size_t)L.c * L.c;
    double *gcum = pw_doubles(base, L.gcum), *gamma = pw_doubles(base, L.gamma);
    float *dso = base + L.dso, *dvp = base + L.dvp, *dphi = base + L.phibuf, *dg = base + L.dg;
    pw_mark("start");
    pw_prepare_keys(L, base, k, v, log_g);
    if (L.intra) pw_intra_keys(L, base);
    pw_states(L, base);
    pw_mark("keys+states");

    /* dN' of every head, and the query side of the state gradients. */
    for (int r = 0; r < L.group; r++) {
        float *dnp = base + L.dnp + (size_t)r * L.rows * L.ld1;
        dn_kernel<<<kcu_blocks(L.rows, 8), 256>>>(L, r, y, saved, dy, dnp);
        KCU_LAUNCHED();
        pw_prepare_queries(L, base, q, r, 1);
        if (L.fused)
            pw_phiT_mm(L, base, base + L.qt, dnp, dso, r ? 1.f : 0.f);
        else
            pw_gemm(L, 1, 0, L.D, L.ld1, L.c, 1.f, base + L.phibuf, L.D, cD, dnp, L.ld1, cd1, r ? 1.f : 0.f, dso,
                    L.ld1, L.SZ);
    }
    pw_mark("dn+dso_products");
    size_t n = (size_t)L.P * L.SZ;
    dstate_scan_kernel<<<kcu_blocks(n, PW_THREADS), PW_THREADS>>>(L, base + L.egamma, dso);
    KCU_LAUNCHED();
    pw_mark("dstate_scan");

    /* State update, backward. */
    if (L.fused) {
        pw_fused_state16(L, base, dso);
        pw_phi_mm(L, base, base + L.u, dvp, 0.f);
    } else {
        pw_gemm(L, 0, 0, L.c, L.ld1, L.D, 1.f, base + L.pu, L.D, cD, dso, L.ld1, L.SZ, 0.f, dvp, L.ld1, cd1);
    }
    pw_mark("dvp_state");
    if (L.dphi) {
        pw_dphi_backward(L, base, base + L.vp, dso, base + L.u, base + L.du);
        pw_mark("dphi_u_fused");
    } else {
        pw_gemm(L, 0, 1, L.c, L.D, L.ld1, 1.f, base + L.vp, L.ld1, cd1, dso, L.ld1, L.SZ, 0.f, dphi, L.D, cD);
        pw_mark("dphi_u_gemm");
        pw_phi_backward(L, base, (int)L.rows, base + L.u, dphi, base + L.du);
        pw_mark("dphi_u_jacobian");
    }
    keys_rows_kernel<<<kcu_blocks(L.rows, 8), 256>>>(L, gcum, gamma, base + L.u, base + L.du, base + L.dkc, dg);
    KCU_LAUNCHED();
    if (L.gated) {
        double *part = pw_doubles(base, L.part);
        keys_sums_kernel<<<dim3(PW_NB, (unsigned)L.R), PW_THREADS>>>(L, dg, dso, base + L.states, part);
        KCU_LAUNCHED();
        keys_final_kernel<<<kcu_blocks(L.R, 128), 128>>>(L, gamma, part, base + L.dgamma);
        KCU_LAUNCHED();
    }

    for (int r = 0; r < L.group; r++) {
        const float *dnp = base + L.dnp + (size_t)r * L.rows * L.ld1;
        pw_prepare_queries(L, base, q, r, 0);
        pw_mark("keys_bwd+queries");
        /* state query, backward */
        if (L.dphi) {
            pw_dphi_backward(L, base, dnp, base + L.states, base + L.qt, base + L.du);
            pw_mark("dphi_q_fused");
        } else {
            pw_gemm(L, 0, 1, L.c, L.D, L.ld1, 1.f, dnp, L.ld1, cd1, base + L.states, L.ld1, L.SZ, 0.f, dphi, L.D,
                    cD);
            pw_mark("dphi_q_gemm");
            pw_phi_backward(L, base, (int)L.rows, base + L.qt, dphi, base + L.du);
            pw_mark("dphi_q_jacobian");
        }
        queries_backward_kernel<<<kcu_blocks(L.rows, 8), 256>>>(L, gcum, base + L.qt, base + L.du, base + L.dqc,
                                                                  dg);
        KCU_LAUNCHED();
        /* intra-chunk, backward */
        if (L.intra) {
            pw_intra_backward(L, base, dnp);
            pw_mark("q_bwd+intra_tiled");
        } else {
            pw_intra_weights(L, base);
            pw_mark("q_bwd+intra_weights");
            pw_gemm(L, 0, 1, L.c, L.c, L.ld1, 1.f, dnp, L.ld1, cd1, base + L.vp, L.ld1, cd1, 0.f, base + L.da, L.c,
                    cc);
            pw_gemm(L, 1, 0, L.c, L.ld1, L.c, 1.f, base + L.a, L.c, cc, dnp, L.ld1, cd1, 1.f, dvp, L.ld1, cd1);
            pw_mark("dA+dvp_intra_gemms");
            /* base + L.np (forward only) holds the column sums */
            if (L.gated) {
                dim3 grid(kcu_blocks(L.c, 128), (unsigned)L.R);
                intra_colsum_kernel<<<grid, 128>>>(L, base + L.a, base + L.da, base + L.np);
                KCU_LAUNCHED();
            }
            intra_rows_kernel<<<kcu_blocks(L.rows, 8), 256>>>(L, gcum, base + L.a, base + L.raw, base + L.da,
                                                               base + L.np, dg);
            KCU_LAUNCHED();
            pw_mark("intra_backward");
            pw_gemm(L, 0, 0, L.c, L.d, L.c, L.scale, base + L.da, L.c, cc, base + L.kc, L.d, cd, 1.f, base + L.dqc,
                    L.d, cd);
            pw_gemm(L, 1, 0, L.c, L.d, L.c, L.scale, base + L.da, L.c, cc, base + L.qc, L.d, cd, 1.f, base + L.dkc,
                    L.d, cd);
            pw_mark("dq_dk_intra_gemms");
        }
        scatter(L, L.nh, r, base + L.dqc, L.d, dq);
    }
    scatter(L, L.nkv, 0, base + L.dkc, L.d, dk);
    scatter(L, L.nkv, 0, dvp, L.ld1, dv);
    if (L.gated) {
        gate_grad_kernel<<<(unsigned)L.R, PW_SCAN>>>(L, dg, base + L.dgamma, dlog_g);
        KCU_LAUNCHED();
    }
    pw_mark("scatter+gates");
    pw_report(L.bf16 ? "backward (bf16)" : "backward (fp32)");
}
