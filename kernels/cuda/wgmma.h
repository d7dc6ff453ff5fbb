/* Hopper's warpgroup MMA (wgmma, sm_90a) for the flash kernels (flash_wg.cu, flash_wg_bwd.cu):
 * the 128-byte-swizzled shared tiles its descriptors read, the descriptors, the fences, and the
 * m64nNk16 bf16 products with FP32 accumulators. Private to kernels/cuda/; include only from
 * files the Makefile builds for sm_90a.
 *
 * Shared tiles: rows of a matrix (tokens) x columns (head dims or tokens), as panels of 64 rows x
 * 64 bf16 columns (128 bytes a row), 16-byte chunk c of row r at chunk c ^ (r % 8), every tile
 * 1024-byte aligned: the canonical layout of swizzle mode 128B. Read K-major (the reduction runs
 * along a row): 8-row groups 1024 bytes apart (SBO), a k16 step 32 bytes within a panel, the next
 * 64 columns the next panel. Read MN-major (transposed: the reduction runs down the rows): 8-row
 * groups 1024 bytes apart (SBO), 64-column panels 8192 bytes apart (LBO), a k16 step 16 rows =
 * 2048 bytes. So one tile serves as either, as the kernels need (K is read K-major by S and
 * MN-major by dQ). */
#ifndef SCALELAB_KERNELS_CUDA_WGMMA_H
#define SCALELAB_KERNELS_CUDA_WGMMA_H

#include <cstdint>

#include <cuda_bf16.h>

#include "kernels/cuda/mma.h"

constexpr uint32_t WG_PANEL = 64 * 128; /* bytes: 64 rows x 64 bf16 */

/* Byte offset of 16-byte chunk c (columns 8c .. 8c + 7) of row r in a swizzled tile. */
static __device__ __forceinline__ uint32_t swz(int r, int c) {
    return (uint32_t)(c / 8) * WG_PANEL + (uint32_t)r * 128 + ((uint32_t)((c % 8) ^ (r % 8)) << 4);
}

/* A wgmma shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start
 * address, leading and stride byte offsets (each >> 4), swizzle mode 1 = 128B (bits 62-63);
 * base offset 0 (every tile is 1024-byte aligned). */
static __device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32 | 1ull << 62;
}

static __device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
static __device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
static __device__ __forceinline__ void wgmma_wait0() {
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
/* The writes of this thread's generic proxy (st.shared, cp.async) made visible to the async
 * proxy that wgmma reads shared memory through; a barrier after it covers the other threads. */
static __device__ __forceinline__ void fence_async_shared() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
/* A register the compiler must treat as read and rewritten here: after a wait, so that no use
 * of a wgmma's accumulators moves above it and no register operand is reused before it. */
template <int N> static __device__ __forceinline__ void fence_operand(float (&d)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) asm volatile("" : "+f"(d[i][e])::"memory");
}
template <int N> static __device__ __forceinline__ void fence_operand(uint32_t (&a)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) asm volatile("" : "+r"(a[i][e])::"memory");
}

/* The operands of an m64nNk16 product's FP32 accumulators: N / 2 a thread, d[j][0..3] for n8
 * tile j (mma.sync's C layout), as asm output operands and as the register list they fill. */
#define WG_ACC4(d, j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define WG_ACC32(d) WG_ACC4(d, 0), WG_ACC4(d, 1), WG_ACC4(d, 2), WG_ACC4(d, 3), WG_ACC4(d, 4), WG_ACC4(d, 5), \
    WG_ACC4(d, 6), WG_ACC4(d, 7)
#define WG_ACC64(d) WG_ACC32(d), WG_ACC4(d, 8), WG_ACC4(d, 9), WG_ACC4(d, 10), WG_ACC4(d, 11), WG_ACC4(d, 12), \
    WG_ACC4(d, 13), WG_ACC4(d, 14), WG_ACC4(d, 15)
#define WG_REGS32                                                                                  \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                      \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define WG_REGS64                                                                                  \
    WG_REGS32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
              "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"

/* d (+)= A B, m64n64k16: A and B by descriptor, K-major, or MN-major (transposed) where TA / TB
 * is 1; accumulate 0 overwrites d. */
template <int TA = 0, int TB = 0>
static __device__ __forceinline__ void wgmma_ss_n64(float (&d)[8][4], uint64_t da, uint64_t db, int accumulate) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" WG_REGS32
                 "}, %32, %33, p, 1, 1, %35, %36;\n}\n"
                 : WG_ACC32(d)
                 : "l"(da), "l"(db), "r"(accumulate), "n"(TA), "n"(TB));
}

/* d += A B, m64nNk16 (N = 64 or 128): A from registers (mma.sync's A fragment layout), B by
 * descriptor, MN-major (transposed). */
static __device__ __forceinline__ void wgmma_rs_n64(float (&d)[8][4], const uint32_t (&a)[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" WG_REGS32
                 "}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : WG_ACC32(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
static __device__ __forceinline__ void wgmma_rs_n128(float (&d)[16][4], const uint32_t (&a)[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" WG_REGS64
                 "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : WG_ACC64(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

template <int N>
static __device__ __forceinline__ void wgmma_rs(float (&d)[N / 8][4], const uint32_t (&a)[4], uint64_t db) {
    if constexpr (N == 64) wgmma_rs_n64(d, a, db);
    else wgmma_rs_n128(d, a, db);
}

/* Rows [r0, r0 + ROWS) of a bf16 [T, ld] matrix (columns 0..D) into a swizzled tile at shared
 * address dst, asynchronously, by NT threads (tid 0..NT - 1 of them); rows past T are zeros.
 * Eight consecutive threads read one row's first 128 bytes. */
template <int D, int ROWS, int NT>
static __device__ __forceinline__ void load_rows(uint32_t dst, const __nv_bfloat16 *src, size_t ld, int r0, int T,
                                                 int tid) {
    constexpr int CH = D / 8, N = ROWS * CH / NT;
    static_assert(ROWS * CH % NT == 0, "load_rows: whole chunks a thread");
#pragma unroll
    for (int u = 0; u < N; u++) {
        const int idx = tid + u * NT, r = idx / CH, c = idx % CH;
        const bool ok = r0 + r < T;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst + swz(r, c)),
                     "l"(src + (size_t)(ok ? r0 + r : 0) * ld + c * 8), "r"(ok ? 16 : 0));
    }
}

/* Rows [r0, r0 + ROWS) of an FP32 [T, ld] matrix (columns 0..D), rounded to bf16, into a
 * swizzled tile, by NT threads (tid 0..NT - 1); rows past T are zeros. */
template <int D, int ROWS, int NT>
static __device__ __forceinline__ void store_rows(uint32_t dst, const float *x, size_t ld, int r0, int T, int tid) {
    constexpr int CH = D / 8;
    for (int idx = tid; idx < ROWS * CH; idx += NT) {
        const int r = idx / CH, c = idx % CH;
        uint32_t u[4] = {0u, 0u, 0u, 0u};
        if (r0 + r < T) {
            const float4 x0 = *reinterpret_cast<const float4 *>(x + (size_t)(r0 + r) * ld + c * 8);
            const float4 x1 = *reinterpret_cast<const float4 *>(x + (size_t)(r0 + r) * ld + c * 8 + 4);
            u[0] = pack2(x0.x, x0.y), u[1] = pack2(x0.z, x0.w), u[2] = pack2(x1.x, x1.y), u[3] = pack2(x1.z, x1.w);
        }
        asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(dst + swz(r, c)), "r"(u[0]), "r"(u[1]),
                     "r"(u[2]), "r"(u[3])
                     : "memory");
    }
}

#endif
