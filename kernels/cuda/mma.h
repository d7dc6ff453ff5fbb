/* Warp-level tensor-core helpers shared by the tiled bf16 kernels (flash.cu, power_intra.cu,
 * power_phi.cu, power_dphi.cu): packing to bf16 pairs, mma.sync m16n8k16, ldmatrix, cp.async
 * and A fragments loaded from FP32 rows, and the host dispatch on their head dim. Private to
 * kernels/cuda/; every device function is forced inline. */
#ifndef SCALELAB_KERNELS_CUDA_MMA_H
#define SCALELAB_KERNELS_CUDA_MMA_H

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>

/* f(std::integral_constant<int, D>) for head dim d, D one of the head dims the tiled kernels are
 * built for (plan.h, kcu_tiled_head_dim: 16, 32, 64, 128; the caller has checked d), so every
 * launcher is instantiated for exactly those four. */
template <class F> void kcu_by_head_dim(int d, F &&f) {
    switch (d) {
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    default: f(std::integral_constant<int, 128>{}); break;
    }
}

/* Two floats rounded to a bf16 pair; a in the low half (the lower column). */
static __device__ __forceinline__ uint32_t pack2(float a, float b) {
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&h);
}

/* c += a b, a 16x16 (row), b 16x8 (col), bf16 in, FP32 accumulate. Fragment layout
 * (PTX ISA, mma.m16n8k16): g = lane / 4, t = lane % 4; a0 (g, 2t..2t+1), a1 (g+8, 2t..),
 * a2 (g, 2t+8..), a3 (g+8, 2t+8..); b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g);
 * c0, c1 (g, 2t..2t+1), c2, c3 (g+8, 2t..2t+1). */
static __device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}
/* Four 8x8 bf16 matrices from a 32-bit shared address (bytes); lane l gives the row
 * address of row l % 8 of matrix l / 8 (.trans: each matrix transposed). */
static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
static __device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p) { ldsm_x4(r, smem_u32(p)); }
static __device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const void *p) { ldsm_x4_t(r, smem_u32(p)); }
/* Two 8x8 bf16 matrices (an odd last n8 tile); lanes 0..15 give the row addresses. */
static __device__ __forceinline__ void ldsm_x2(uint32_t r[2], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(smem_u32(p)));
}
static __device__ __forceinline__ void ldsm_x2_t(uint32_t r[2], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(smem_u32(p)));
}

/* 16 bytes global -> shared, asynchronously; zeros when !valid (src must still be mapped). */
static __device__ __forceinline__ void cp16(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(valid ? 16 : 0));
}
/* N = 4 or 8 bytes global -> shared, asynchronously (through L1); zeros when !valid. */
template <int N> static __device__ __forceinline__ void cp_small(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(smem_u32(dst)), "l"(src), "n"(N),
                 "r"(valid ? N : 0));
}
static __device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> static __device__ __forceinline__ void cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/* A fragments (rows row0 .. row0 + 16, columns 0..D) of one warp straight from FP32 rows of
 * stride ld, rounded to bf16; rows at or past n are zeros. */
template <int D>
static __device__ __forceinline__ void load_a(const float *src, size_t ld, int row0, int n, uint32_t a[D / 16][4]) {
    int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
    int r0 = row0 + g, r1 = r0 + 8;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        int c = kk * 16 + 2 * t;
        float2 x00 = make_float2(0.f, 0.f), x01 = x00, x10 = x00, x11 = x00;
        if (r0 < n) {
            x00 = *reinterpret_cast<const float2 *>(src + (size_t)r0 * ld + c);
            x01 = *reinterpret_cast<const float2 *>(src + (size_t)r0 * ld + c + 8);
        }
        if (r1 < n) {
            x10 = *reinterpret_cast<const float2 *>(src + (size_t)r1 * ld + c);
            x11 = *reinterpret_cast<const float2 *>(src + (size_t)r1 * ld + c + 8);
        }
        a[kk][0] = pack2(x00.x, x00.y);
        a[kk][1] = pack2(x10.x, x10.y);
        a[kk][2] = pack2(x01.x, x01.y);
        a[kk][3] = pack2(x11.x, x11.y);
    }
}

#endif
