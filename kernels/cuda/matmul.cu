/* The bf16 backend's matmul, two ways (kern_cuda_bf16_matmul_mode picks):
 *   1 (the default): A and B rounded into bf16 copies (one vectorised pass each, both in
 *     one launch; a copy kept from an earlier product serves again while it is certainly
 *     its source's, see the kept copies below), then cuBLASLt on bf16 storage with FP32
 *     accumulation and FP32 C/D, whose ceiling is ~770-797 TFLOP/s (tests/bench/RESULTS.md).
 *     On the H200 the 18 products of a d_model 768 layer took 1.01 ms against 1.61 in mode 0,
 *     and the 12-layer softmax step ran 1.22x faster (RESULTS.md, 2026-12-01).
 *   0 (SCALELAB_MM_BF16=0): FP32 storage, cuBLAS compute type 32F_FAST_16BF: cuBLAS runs
 *     it in its TF32 kernels (ncu shows sm90_xmma_gemm_..._tf32), ceiling ~400-418 TFLOP/s.
 *
 * cuBLASLt rather than cublasGemmEx on the bf16 copies: the descriptors and the
 * algorithm are chosen once per shape and cached here (no per-call host heuristics; the
 * fastest of the heuristic's first candidates, timed, lt_tune.cu), the workspace is ours and
 * explicit, and Lt's bias epilogue fuses the MLP's biases into the products (below).
 * libcublas itself loads libcublasLt, so linking it adds no runtime dependency.
 *
 * The epilogue ops (kern_ops.inc: matmul_bias, matmul_bias_gelu, matmul_dgelu) in mode 1
 * take the bias into the product: CUBLASLT_EPILOGUE_BIAS, whose bias has one entry per row
 * of Lt's D (column-major: our row-major [m, n] output is n x m, see key_slot), n of them,
 * one per column of ours, as add_bias; its type is D's (FP32) when unset, as here. The
 * GELU of matmul_bias_gelu (on the product + bias, kept as `pre`) and the GELU derivative
 * of matmul_dgelu run in ops.cu's elementwise kernels after the product. Lt has the
 * epilogues GELU_AUX_BIAS and DGELU for them, and they were the path until 2026-12-01, but
 * on the H200 at these shapes Lt ran them as a separate pass (ncu: epilogue::globalKernel,
 * 55 us forward and 157 us backward per [16384, 1024] call at d_model 256, against ~26 us
 * for the product itself) and our kernels were faster: the 4-layer d_model 256 step
 * 2.77M -> 2.90M tok/s, d_model 512 1.44M -> 1.51M, the 12-layer 319k -> 329k
 * (tests/bench/RESULTS.md). The bias's alignment, like C's, is part of the cached key:
 * Lt's heuristic reads it from the pointer set on the descriptor.
 * SCALELAB_MM_EPILOGUE=0 (kern_cuda_bf16_epilogue_mode) adds the bias in a pass too.
 *
 * This file's state is part of the backend's one process-wide context (see
 * cuda_common.h): the Lt handle, its workspace, the kept bf16 copies and the algorithm
 * table, created at the first mode-1 call and never freed (the copies' buffers are, when
 * evicted and when the backend's alloc runs out of memory: kcu_mm_release_copies). Like the context's
 * reduction buffer, the copies make the op non-reentrant across host threads (every
 * op is issued from one thread, on the default stream). */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <cublasLt.h>
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/lt_tune.h"

/* ---- rounding to bf16 ---- */

/* One operand's copy: src is row-major rows x cols, dense; dst has row stride ldd >= cols
 * (cols rounded up to 8, so every bf16 row starts 16-byte aligned, as the tensor-core
 * kernels want). vec: cols == ldd (so cols % 8 == 0) and src 16-byte aligned, the whole
 * matrix one flat run of 8-float groups. */
struct bf16_job {
    const float *src;
    __nv_bfloat16 *dst;
    long long rows, cols, ldd;
    int vec;
};

enum { CVT_THREADS = 256 };

static unsigned job_blocks(const bf16_job &j) {
    size_t n = (size_t)(j.rows * j.cols);
    return kcu_blocks(j.vec ? n / 8 : n, CVT_THREADS);
}

/* Both operands in one launch (the first blocks_a blocks do A): a launch saved per
 * matmul. Round to nearest even. */
__global__ void round_bf16_kernel(bf16_job a, bf16_job b, unsigned blocks_a) {
    const bool first = blockIdx.x < blocks_a;
    const bf16_job j = first ? a : b;
    size_t i = (size_t)(blockIdx.x - (first ? 0 : blocks_a)) * CVT_THREADS + threadIdx.x;
    size_t n = (size_t)(j.rows * j.cols);
    if (j.vec) {
        if (i >= n / 8) return;
        const float4 *src = reinterpret_cast<const float4 *>(j.src);
        float4 lo = src[2 * i], hi = src[2 * i + 1];
        __nv_bfloat162 h[4] = {__floats2bfloat162_rn(lo.x, lo.y), __floats2bfloat162_rn(lo.z, lo.w),
                               __floats2bfloat162_rn(hi.x, hi.y), __floats2bfloat162_rn(hi.z, hi.w)};
        reinterpret_cast<uint4 *>(j.dst)[i] = *reinterpret_cast<const uint4 *>(h);
    } else if (i < n) {
        size_t r = i / (size_t)j.cols, c = i % (size_t)j.cols;
        j.dst[r * (size_t)j.ldd + c] = __float2bfloat16_rn(j.src[i]);
    }
}

/* ---- state ---- */

enum { MM_SLOTS = 128 }; /* a model has ~30 keys (forward, dX, dW, lm_head; the epilogue ops) */
enum { MM_TUNE_ALGOS = 8 }; /* the heuristic's candidates timed for a new key (lt_tune.cu) */
static const size_t MM_WORKSPACE = (size_t)32 << 20; /* what cuBLAS itself reserves on Hopper */

/* The Lt epilogue of a product; EPI_NONE the plain matmul. */
enum mm_epi { EPI_NONE, EPI_BIAS };
static const cublasLtEpilogue_t LT_EPILOGUE[] = {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BIAS};

/* What a cached algorithm depends on: the shape, the epilogue and the alignments of the
 * caller's pointers (bias: 0 without the bias epilogue; r: the C that Lt reads when it is not
 * D, matmul_add's residual, 0 when C is D), and D's type (d16: bf16, the GELU ops' products,
 * else FP32). */
struct mm_key {
    int ta, tb, m, n, k, epi;
    unsigned align_c, align_bias, align_r;
    int d16;
};

/* One cached key: its descriptors and the heuristic's algorithm. ok = 0: the heuristic had
 * none for it (plain products then take the FP32-storage path, epilogue ops the separate
 * ops). */
struct mm_slot {
    int used;
    mm_key key;
    int ok;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
};

/* A bf16 copy of an operand, kept after its product: the model feeds one activation or
 * gradient to several products (x_norm to the q, k and v projections and, in the backward,
 * to their weight gradients; the MLP's hidden to W2 and later to W2's gradient; a weight to
 * its forward product and to dX's), and each rounding pass reads 4 and writes 2 bytes per
 * element: on the H200 the passes were 4.8 ms of a 25.8 ms 12-layer step. A kept copy serves
 * again only while it is certainly its source's: every device call (kcu_device_calls; every
 * op's launches, copies and cuBLAS calls count) made since it was made was either this file's
 * own (a product, which forgets the copies of what it wrote) or an op that declared what it
 * wrote (kcu_op_wrote: backend.cu's bf16 table declares every op's outputs, and the copies of
 * those ranges are forgotten); any other call forgets them all. src == NULL: empty. On the
 * H200 (bench_cuda, 2026-12-01), with every op forgetting every copy, 510 of the 2,628
 * operands of the 12-layer bench's products were served so, and the steps ran faster:
 * 12-layer softmax 328k -> 343k tok/s, 4-layer d_model 256 2.90M -> 3.01M, d_model 512 1.51M ->
 * 1.58M. The copies that outlive ops (an activation saved for the backward, a weight between
 * its forward and backward products) need more room than a few slots: up to KCU_COPIES copies,
 * together at most a quarter of the device memory free at the first copy (evicting the least
 * recently used). SCALELAB_MM_CHECK=1 (tests) rounds the source again at every reuse and fails
 * if the kept copy differs. Which copy is kept where, and what forgets it: copies.h (host code,
 * tested without a GPU). */

/* The GELU ops' outputs (kern_ops.inc: matmul_bias_gelu's and matmul_dgelu's c), held as records:
 * bf16 in the first half of c's own bytes, written by the GELU kernel instead of FP32 c and its
 * bf16 copy. In the model only products read them (the MLP's second product and the weight and
 * input gradients'), and those read bf16: the FP32 c was 4 bytes an element written and never
 * read (at the 12-layer model, [8192, 3072] twice a layer; RESULTS.md). Made only where cuBLASLt
 * wrote the bf16 product, c is 256-byte aligned (the alignment Lt's algorithms assume for the
 * operands, as for the copies) and n % 8 == 0 (dense rows, as a copy's); elsewhere c is FP32 as
 * before. A record is c's until something writes over it: a product's output, an op's declared
 * write, the backend's alloc of that memory (not an undeclared device call, which the copies
 * fear: the data is in c itself, not in a buffer that might be stale). A product reads a record
 * only as the same rows x cols (any other read of its memory by the bf16 matmul fails loudly rather
 * than take bf16 pairs for floats); one that cannot read bf16 (matmul mode 0, cuBLASLt without an
 * algorithm for its shape) reads it expanded to FP32 (as_fp32). The norms' outputs are records too
 * (backend.cu, where kcu_record_ok allows): only products read them. The table and its rules:
 * copies.h (host code, tested without a GPU). */

static struct {
    std::once_flag env_once, epi_env_once, lt_once;
    int mode, epilogue;
    cublasLtHandle_t lt;
    void *workspace;
    size_t workspace_bytes;
    kcu_copies cp; /* the kept copies (copies.h) */
    std::once_flag budget_once, check_once;
    int check; /* SCALELAB_MM_CHECK=1: every reuse checked against its source */
    int *bad;  /* the check's device flag */
    mm_slot slot[MM_SLOTS];
    int next_evict;
    long long copies, fallbacks; /* products in mode 1: on bf16 copies, or not */
    long long reused;            /* operands whose kept copy served again */
    long long fused, composed;   /* bias ops (alone or under GELU): one Lt call, or the separate ops */
    kcu_records rec;             /* the GELU ops' and norms' outputs held as bf16 records (above; copies.h) */
    float *expand[2];            /* records expanded to FP32 for the FP32-storage product (as_fp32) */
    size_t expand_cap[2];        /* their floats */
    long long expanded;          /* how many times */
} mm;

/* A path that is on unless the environment variable env is "0" (read once); mode 0 or 1
 * sets it, any other value only asks. Returns the state before the call. */
static int switch_mode(std::once_flag &once, int &state, const char *env, int mode) {
    std::call_once(once, [&] { state = !kcu_opted_out(env); });
    int before = state;
    if (mode == 0 || mode == 1) state = mode;
    return before;
}

extern "C" int kern_cuda_bf16_matmul_mode(int mode) {
    return switch_mode(mm.env_once, mm.mode, "SCALELAB_MM_BF16", mode);
}

extern "C" void kern_cuda_bf16_matmul_counts(long long *copies, long long *fallbacks, long long *reused) {
    *copies = mm.copies, *fallbacks = mm.fallbacks, *reused = mm.reused;
}

extern "C" int kern_cuda_bf16_epilogue_mode(int mode) {
    return switch_mode(mm.epi_env_once, mm.epilogue, "SCALELAB_MM_EPILOGUE", mode);
}

extern "C" void kern_cuda_bf16_epilogue_counts(long long *fused, long long *composed) {
    *fused = mm.fused, *composed = mm.composed;
}

static void lt_init(void) {
    KCU_BLAS(cublasLtCreate(&mm.lt));
    /* Without a workspace Lt still runs, with fewer algorithms (no split-k). */
    if (cudaMalloc(&mm.workspace, MM_WORKSPACE) == cudaSuccess) mm.workspace_bytes = MM_WORKSPACE;
    else cudaGetLastError(), mm.workspace = NULL;
}

/* Forget every copy if device calls were made that nobody accounted for. */
static void copies_check(void) { kcu_copies_check(&mm.cp, kcu_device_calls()); }
/* This file's own calls since the check are accounted for. */
static void copies_account(void) { kcu_copies_account(&mm.cp, kcu_device_calls()); }
void kcu_records_allocated(const void *p, size_t bytes) { kcu_records_written(&mm.rec, p, bytes); }
/* The copies and records of [p, p + bytes) forgotten: a product (or this file's kernel) wrote there. */
static void copies_written(const void *p, size_t bytes) {
    kcu_copies_written(&mm.cp, p, bytes);
    kcu_records_written(&mm.rec, p, bytes);
}
/* The record that is src as a rows x cols operand, or -1; fails when src's rows x cols overlap a
 * record otherwise (bf16 pairs would be read as floats). */
static int record_of(const void *src, long long rows, long long cols) {
    int i = kcu_records_find(&mm.rec, src, rows, cols);
    if (i == -2)
        kcu_fail(__FILE__, __LINE__, "bf16 matmul",
                 "an operand overlaps a bf16 record as another shape (kern_ops.inc: only the "
                 "bf16 table's products read it, as the op wrote it)");
    return i;
}
/* A record as FP32 storage, for a product that cannot read it in bf16 (matmul mode 0, or cuBLASLt
 * without an algorithm for the shape): its values expanded into this file's buffer for that
 * operand side (0: A, 1: B), grown as needed; src itself when it is no record. The launch is this
 * file's: the caller accounts for it with its product. */
__global__ void expand_kernel(size_t n, const __nv_bfloat16 *src, float *dst) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}
static const float *as_fp32(const float *src, long long rows, long long cols, int side) {
    if (record_of(src, rows, cols) < 0) return src;
    size_t n = (size_t)(rows * cols);
    if (mm.expand_cap[side] < n) {
        if (mm.expand[side]) {
            KCU_CHECK(cudaDeviceSynchronize()); /* products issued earlier may still read it */
            KCU_CHECK(cudaFree(mm.expand[side]));
        }
        mm.expand[side] = NULL, mm.expand_cap[side] = 0;
        KCU_CHECK(cudaMalloc(&mm.expand[side], n * sizeof(float)));
        mm.expand_cap[side] = n;
    }
    unsigned blocks = kcu_blocks(n, CVT_THREADS);
    expand_kernel<<<blocks < 4096 ? blocks : 4096, CVT_THREADS>>>(n, reinterpret_cast<const __nv_bfloat16 *>(src),
                                                                  mm.expand[side]);
    KCU_LAUNCHED();
    mm.expanded++;
    return mm.expand[side];
}
/* A and B of op(A) op(B) (m x k times k x n) as FP32 storage, each through as_fp32. */
static void operands_fp32(int trans_a, int trans_b, int m, int n, int k, const float **a, const float **b) {
    *a = as_fp32(*a, trans_a ? k : m, trans_a ? m : k, 0);
    *b = as_fp32(*b, trans_b ? n : k, trans_b ? k : n, 1);
}
static __nv_bfloat16 *buf_of(int i) { return static_cast<__nv_bfloat16 *>(mm.cp.slot[i].buf); }

void kcu_op_wrote(unsigned long long before, const kcu_span *w, int n) {
    kcu_copies_op_wrote(&mm.cp, before, kcu_device_calls(), w, n);
    for (int i = 0; i < n; i++)
        if (w[i].p && w[i].bytes) kcu_records_written(&mm.rec, w[i].p, w[i].bytes);
}

/* The copies' memory limit: a quarter of what the device has free at the first copy. */
static void budget_init(void) {
    size_t free_b = 0, total = 0;
    KCU_CHECK(cudaMemGetInfo(&free_b, &total));
    mm.cp.budget = free_b / 4;
}

/* Free slot i's buffer (waits for the device: products issued earlier may still read it). */
static void release(int i) {
    if (!mm.cp.slot[i].buf) return;
    KCU_CHECK(cudaDeviceSynchronize());
    KCU_CHECK(cudaFree(mm.cp.slot[i].buf));
    kcu_copies_freed(&mm.cp, i);
}

void kcu_mm_release_copies(void) {
    for (int i = 0; i < KCU_COPIES; i++) release(i);
}

/* The slot for a new copy of `bytes`, not slot keep (-1: none), as kcu_copies_claim picks it,
 * its buffer grown if need be; -1 when out of memory (the caller takes the FP32-storage path). */
static int copy_slot(size_t bytes, int keep) {
    std::call_once(mm.budget_once, budget_init);
    int grow, n_release, rel[KCU_COPIES];
    int i = kcu_copies_claim(&mm.cp, bytes, keep, &grow, rel, &n_release);
    if (!grow) return i;
    release(i);
    for (int j = 0; j < n_release; j++) release(rel[j]);
    void *buf = NULL;
    cudaError_t e = cudaMalloc(&buf, bytes);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return -1;
    }
    KCU_CHECK(e);
    kcu_copies_grown(&mm.cp, i, buf, bytes);
    return i;
}

/* A caller's pointer's alignment in the key (C's is also told to the heuristic; the bias's
 * it reads from the descriptor): counted up to 16 bytes (what the vectorised epilogues
 * need), so that the accidents of where each gradient tensor starts do not multiply the
 * table's entries. */
static unsigned alignment_of(const void *p) {
    unsigned a = 16;
    while (a > 4 && (uintptr_t)p % a) a /= 2;
    return a;
}

static long long pad8(long long x) { return (x + 7) / 8 * 8; }

static void layout(cublasLtMatrixLayout_t *l, cudaDataType t, long long rows, long long cols, long long ld) {
    KCU_BLAS(cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, ld));
}

static bool same_key(const mm_key &x, const mm_key &y) {
    return x.ta == y.ta && x.tb == y.tb && x.m == y.m && x.n == y.n && x.k == y.k && x.epi == y.epi &&
           x.align_c == y.align_c && x.align_bias == y.align_bias && x.align_r == y.align_r && x.d16 == y.d16;
}

/* The bias pointer on a slot's descriptor: Lt reads it at each cublasLtMatmul (and the
 * heuristic its alignment), so each call sets its own. */
static void set_bias(const mm_slot &s, const float *bias) {
    if (s.key.epi == EPI_BIAS)
        KCU_BLAS(cublasLtMatmulDescSetAttribute(s.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
}

/* The cached descriptors and algorithm of a key, built on its first call (bias: that call's
 * pointer). Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: Lt's A
 * is our B, Lt's B our A, each keeping its own transpose flag; a row-major R x S copy with
 * row stride ld is the column-major S x R matrix with leading dimension ld. */
static const mm_slot *key_slot(const mm_key &key, const float *bias) {
    for (int i = 0; i < MM_SLOTS; i++)
        if (mm.slot[i].used && same_key(mm.slot[i].key, key)) return &mm.slot[i];
    int at = -1;
    for (int i = 0; i < MM_SLOTS && at < 0; i++)
        if (!mm.slot[i].used) at = i;
    mm_slot &s = mm.slot[at >= 0 ? at : mm.next_evict];
    if (at < 0) { /* full (more keys than a model has): replace round-robin */
        mm.next_evict = (mm.next_evict + 1) % MM_SLOTS;
        cublasLtMatmulDescDestroy(s.desc);
        cublasLtMatrixLayoutDestroy(s.la), cublasLtMatrixLayoutDestroy(s.lb), cublasLtMatrixLayoutDestroy(s.lc);
    }
    s = mm_slot{1, key, 0, NULL, NULL, NULL, NULL, {}};
    int ta = key.ta, tb = key.tb, m = key.m, n = key.n, k = key.k;
    KCU_BLAS(cublasLtMatmulDescCreate(&s.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    KCU_BLAS(cublasLtMatmulDescSetAttribute(s.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    KCU_BLAS(cublasLtMatmulDescSetAttribute(s.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    cublasLtEpilogue_t epi = LT_EPILOGUE[key.epi];
    KCU_BLAS(cublasLtMatmulDescSetAttribute(s.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    set_bias(s, bias);
    long long rows_b = tb ? n : k, cols_b = tb ? k : n, rows_a = ta ? k : m, cols_a = ta ? m : k;
    layout(&s.la, CUDA_R_16BF, cols_b, rows_b, pad8(cols_b));
    layout(&s.lb, CUDA_R_16BF, cols_a, rows_a, pad8(cols_a));
    layout(&s.lc, key.d16 ? CUDA_R_16BF : CUDA_R_32F, n, m, n);
    cublasLtMatmulPreference_t pref;
    KCU_BLAS(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = mm.workspace_bytes;
    KCU_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    /* The copies are cudaMalloc's, 256-byte aligned (the default assumption); C is the caller's. */
    uint32_t ac = key.align_c, ar = key.align_r ? key.align_r : key.align_c;
    KCU_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ar, sizeof ar));
    KCU_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac, sizeof ac));
    /* The heuristic's candidates: its first, or (SCALELAB_MM_TUNE, on unless "0") the fastest of its
     * first MM_TUNE_ALGOS as timed here (lt_tune.cu). */
    cublasLtMatmulHeuristicResult_t res[MM_TUNE_ALGOS];
    int found = 0, want = kcu_opted_out("SCALELAB_MM_TUNE") ? 1 : MM_TUNE_ALGOS;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(mm.lt, s.desc, s.la, s.lb, s.lc, s.lc, pref, want, res, &found);
    KCU_BLAS(cublasLtMatmulPreferenceDestroy(pref));
    if (st == CUBLAS_STATUS_SUCCESS && found > 0 && res[0].state == CUBLAS_STATUS_SUCCESS) {
        kcu_lt_problem pb = {mm.lt, s.desc, s.la, s.lb, s.lc};
        pb.a_bytes = (size_t)(pad8(cols_b) * rows_b) * 2; /* Lt's A is our B, its B our A (row-major) */
        pb.b_bytes = (size_t)(pad8(cols_a) * rows_a) * 2;
        pb.c_bytes = (size_t)m * n * (key.d16 ? 2 : sizeof(float));
        pb.bias_bytes = key.epi == EPI_BIAS ? (size_t)n * sizeof(float) : 0;
        pb.workspace = mm.workspace, pb.workspace_bytes = mm.workspace_bytes;
        s.ok = 1, s.algo = res[kcu_lt_fastest(&pb, res, found)].algo;
    } else if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED)
        kcu_fail(__FILE__, __LINE__, "cublasLtMatmulAlgoGetHeuristic", cublasGetStatusString(st));
    return &s;
}

/* ---- the op ---- */

static void matmul_fast16bf(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                            const float *b, float beta, float *c) {
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    KCU_BLAS(cublasGemmEx(kcu_blas(), tb, ta, n, m, k, &alpha, b, CUDA_R_32F, trans_b ? k : n, a, CUDA_R_32F,
                          trans_a ? m : k, &beta, c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
}

static bf16_job job(const float *src, long long rows, long long cols, __nv_bfloat16 *dst) {
    long long ldd = pad8(cols);
    return bf16_job{src, dst, rows, cols, ldd, ldd == cols && (uintptr_t)src % 16 == 0};
}

/* SCALELAB_MM_CHECK=1: a reused copy against its source rounded again (bit for bit). */
__global__ void check_copy_kernel(bf16_job j, int *bad) {
    size_t n = (size_t)(j.rows * j.cols);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / (size_t)j.cols, c = i % (size_t)j.cols;
        __nv_bfloat16 want = __float2bfloat16_rn(j.src[i]), got = j.dst[r * (size_t)j.ldd + c];
        if (__bfloat16_as_ushort(want) != __bfloat16_as_ushort(got)) atomicOr(bad, 1);
    }
}
static void check_copy(int i) {
    std::call_once(mm.check_once, [] {
        mm.check = getenv("SCALELAB_MM_CHECK") && !strcmp(getenv("SCALELAB_MM_CHECK"), "1");
        if (mm.check) KCU_CHECK(cudaMalloc(&mm.bad, sizeof(int)));
    });
    if (!mm.check) return;
    const kcu_copy &c = mm.cp.slot[i];
    int bad = 0;
    KCU_CHECK(cudaMemset(mm.bad, 0, sizeof(int)));
    bf16_job j = job(static_cast<const float *>(c.src), c.rows, c.cols, buf_of(i));
    unsigned blocks = kcu_blocks((size_t)(c.rows * c.cols), CVT_THREADS);
    check_copy_kernel<<<blocks < 1024 ? blocks : 1024, CVT_THREADS>>>(j, mm.bad);
    KCU_LAUNCHED();
    KCU_CHECK(cudaMemcpy(&bad, mm.bad, sizeof(int), cudaMemcpyDeviceToHost));
    if (bad) kcu_fail(__FILE__, __LINE__, "SCALELAB_MM_CHECK", "a kept bf16 copy is not its source's (stale)");
}

/* An operand's bf16 matrix for this product: a GELU op's record of it (*p = its memory; slot
 * -1), the kept copy if it is still its source's (the caller checked the device calls), else a
 * copy rounded now into a slot other than keep (-1: none); *slot is the copy's slot, *job the
 * rounding to launch (rows 0: none). 0 when no memory was left for a copy. */
static int operand(const float *src, long long rows, long long cols, int keep, bf16_job *jb,
                   const __nv_bfloat16 **p, int *slot) {
    jb->rows = 0;
    *slot = -1;
    if (record_of(src, rows, cols) >= 0) {
        mm.reused++;
        *p = reinterpret_cast<const __nv_bfloat16 *>(src);
        return 1;
    }
    int i = kcu_copies_find(&mm.cp, src, rows, cols);
    if (i >= 0 && i != keep) {
        mm.reused++;
        check_copy(i);
        kcu_copies_touch(&mm.cp, i);
    } else {
        if ((i = copy_slot((size_t)(rows * pad8(cols)) * 2, keep)) < 0) return 0;
        *jb = job(src, rows, cols, buf_of(i));
        kcu_copies_set(&mm.cp, i, src, rows, cols);
    }
    *slot = i;
    *p = buf_of(i);
    return 1;
}

/* After calls made since the copies were last checked that wrote only c (a product outside Lt,
 * a bias added after one): the copies of c are forgotten, the others stay. */
static void only_c_written(const void *c, size_t bytes) {
    copies_written(c, bytes);
    copies_account();
}

/* One product on bf16 copies through Lt, with the key's epilogue: 0 (nothing issued) when the
 * heuristic had no algorithm for it or no memory was left for the copies. */
static int lt_product(const mm_key &key, float alpha, const float *a, const float *b, float beta, void *c,
                      const float *bias, const float *r = NULL) {
    /* Checked first: a new key's descriptors below are host-side calls, counted all the same. */
    copies_check();
    std::call_once(mm.lt_once, lt_init);
    const mm_slot *s = key_slot(key, bias);
    int trans_a = key.ta, trans_b = key.tb, m = key.m, n = key.n, k = key.k;
    long long rows_a = trans_a ? k : m, cols_a = trans_a ? m : k, rows_b = trans_b ? n : k, cols_b = trans_b ? k : n;
    if (!s->ok) return 0; /* the caller falls back to FP32 storage (a record expanded: as_fp32) */
    bf16_job ja = {}, jb = {};
    const __nv_bfloat16 *pa = NULL, *pb = NULL;
    int ca, cb;
    if (!operand(a, rows_a, cols_a, -1, &ja, &pa, &ca) || !operand(b, rows_b, cols_b, ca, &jb, &pb, &cb)) {
        kcu_copies_forget(&mm.cp);
        return 0;
    }
    mm.copies++;
    /* both roundings in one launch; a kept copy has none (a job of 0 rows) */
    unsigned blocks_a = ja.rows ? job_blocks(ja) : 0, blocks_b = jb.rows ? job_blocks(jb) : 0;
    if (blocks_a + blocks_b) {
        round_bf16_kernel<<<blocks_a + blocks_b, CVT_THREADS>>>(ja, jb, blocks_a);
        KCU_LAUNCHED();
    }
    set_bias(*s, bias);
    /* D = alpha op(A) op(B) + beta C (+ bias); C is r when given (matmul_add), else D itself */
    KCU_BLAS(cublasLtMatmul(mm.lt, s->desc, &alpha, pb, s->la, pa, s->lb, &beta, r ? r : c, s->lc, c,
                            s->lc, &s->algo, mm.workspace, mm.workspace_bytes, 0));
    only_c_written(c, (size_t)m * n * (key.d16 ? 2 : sizeof(float)));
    return 1;
}

void kcu_matmul_bf16(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, const float *b,
                     float beta, float *c) {
    if (m <= 0 || n <= 0) return;
    /* k == 0 only scales C: the GEMM path does that without copies. */
    if (kern_cuda_bf16_matmul_mode(-1) == 0 || k <= 0) {
        copies_check();
        if (k > 0) operands_fp32(trans_a, trans_b, m, n, k, &a, &b);
        matmul_fast16bf(trans_a, trans_b, m, n, k, alpha, a, b, beta, c);
        return only_c_written(c, (size_t)m * n * sizeof(float));
    }
    mm_key key = {trans_a, trans_b, m, n, k, EPI_NONE, alignment_of(c), 0};
    if (!lt_product(key, alpha, a, b, beta, c, NULL)) { /* lt_product checked the copies */
        mm.fallbacks++;
        operands_fp32(trans_a, trans_b, m, n, k, &a, &b);
        matmul_fast16bf(trans_a, trans_b, m, n, k, alpha, a, b, beta, c);
        only_c_written(c, (size_t)m * n * sizeof(float));
    }
}

/* c = op(A) op(B) [+ bias] [+ r] as one Lt call when the epilogue is on, the matmul is in mode 1
 * and the product is not empty: the bias by Lt's bias epilogue, r read as Lt's C with beta 1 (no
 * pass over c after the product). Otherwise the product, then add_bias and add (ops.cu's composed
 * ops). The fused and composed counts are of biases. matmul_bias is this without r, matmul_add
 * with it. */
/* Whether the epilogue ops run their product and epilogue in cuBLASLt: both modes on and the
 * product not empty (else the composed ops, or the FP32 product for the GELU ops). */
static bool lt_epilogue(int m, int n, int k) {
    return kern_cuda_bf16_epilogue_mode(-1) && kern_cuda_bf16_matmul_mode(-1) && m > 0 && n > 0 && k > 0;
}
static void epilogue_product(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                             const float *bias, const float *r, float *c) {
    if (lt_epilogue(m, n, k)) {
        unsigned align_bias = bias ? alignment_of(bias) : 0, align_r = r ? alignment_of(r) : 0;
        mm_key key = {trans_a, trans_b, m, n, k, bias ? EPI_BIAS : EPI_NONE, alignment_of(c), align_bias, align_r};
        if (lt_product(key, 1.f, a, b, r ? 1.f : 0.f, c, bias, r)) {
            mm.fused += bias != NULL;
            return;
        }
    }
    mm.composed += bias != NULL;
    if (r) kcu_matmul_add_composed(kcu_matmul_bf16, trans_a, trans_b, m, n, k, a, b, bias, r, c);
    else kcu_matmul_bias_composed(kcu_matmul_bf16, trans_a, trans_b, m, n, k, a, b, bias, c);
    only_c_written(c, (size_t)m * n * sizeof(float)); /* the product accounted for its calls; add_bias and add wrote c */
}
void kcu_matmul_bias_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                          const float *bias, float *c) {
    epilogue_product(trans_a, trans_b, m, n, k, a, b, bias, NULL, c);
}
void kcu_matmul_add_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                         const float *bias, const float *r, float *c) {
    epilogue_product(trans_a, trans_b, m, n, k, a, b, bias, r, c);
}

/* A slot for the bf16 copy of c (m x n) that the elementwise kernel writing c writes beside it
 * (ops.cu's GELU kernels): the next product that reads c takes it as a kept copy instead of
 * rounding c again (on the H200 the MLP activations' rounding passes were 57 us each at
 * [16384, 2048], 8 a 4-layer d_model 512 step: RESULTS.md). -1: no copy (mode 0, rows that
 * a copy pads (n % 8), no memory), and the product rounds c as before. Forgets any copy of c. */
static int produced_slot(const float *c, long long m, long long n) {
    copies_check();
    copies_written(c, (size_t)(m * n) * sizeof(float));
    if (!kern_cuda_bf16_matmul_mode(-1) || n % 8) return -1;
    return copy_slot((size_t)(m * n) * 2, -1);
}

/* After that kernel's launch: its copy is c's, and the launch is this file's own, so the
 * copies kept before it (which it does not write) stay valid. */
static void produced(int i, const float *c, long long m, long long n) {
    if (i < 0) return;
    kcu_copies_set(&mm.cp, i, c, m, n);
    copies_account();
}

__nv_bfloat16 *kcu_produce(const float *c, long long m, long long n) {
    int i = produced_slot(c, m, n);
    copies_account(); /* a buffer grown here is this file's call */
    return i >= 0 ? buf_of(i) : NULL;
}

const __nv_bfloat16 *kcu_kept(const float *src, long long m, long long n) {
    copies_check();
    int i = kern_cuda_bf16_matmul_mode(-1) && n % 8 == 0 ? kcu_copies_find(&mm.cp, src, m, n) : -1;
    if (i < 0) return NULL;
    mm.reused++;
    check_copy(i);
    kcu_copies_touch(&mm.cp, i);
    copies_account(); /* check_copy's calls, if any, are this file's */
    return buf_of(i);
}

void kcu_produced(const float *c, long long m, long long n, __nv_bfloat16 *buf) {
    if (!buf) return;
    for (int i = 0; i < KCU_COPIES; i++)
        if (buf_of(i) == buf) return produced(i, c, m, n);
}

/* The GELU ops keep pre in bf16 (kern_ops.inc allows it: pre is the op's record for
 * matmul_dgelu), and their products come out of cuBLASLt in bf16: the forward's D is pre itself
 * (its first m n bf16), the backward's a scratch buffer (the context's partials). ops.cu's
 * kernel then adds the bias, rounds pre and writes the GELU (forward), or multiplies by
 * gelu'(pre) (backward), each also writing its output's bf16 copy for the next product. Why:
 * at d_model 768 (F = 3072, 8192 tokens) the MLP's FP32 pre and products were ~450 MB a layer of
 * the two passes' traffic; this way ~200 MB less (RESULTS.md). The bias goes in the kernel, not
 * Lt's epilogue, because that epilogue's bias must be D's type (bf16) here. Where Lt cannot (mode
 * 0, the epilogue off, no algorithm, an empty product) the FP32 product goes into c and the
 * kernel reads it there, rounded to bf16 as Lt rounds its D: both paths give the same numbers
 * up to the products' summation order (test_model_gradients_epilogue compares them). */
static int lt_product16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                        __nv_bfloat16 *d) {
    if (!lt_epilogue(m, n, k)) return 0;
    mm_key key = {trans_a, trans_b, m, n, k, EPI_NONE, alignment_of(d), 0, 0, 1};
    return lt_product(key, 1.f, a, b, 0.f, d, NULL);
}

/* Whether an op's output c (m x n) can be its record (above): its kernel can write it (for the
 * GELU ops: Lt wrote the bf16 product), c is 256-byte aligned, its rows dense. */
static bool record_ok(bool can, const float *c, long long m, long long n) {
    return can && m > 0 && n % 8 == 0 && (uintptr_t)c % 256 == 0;
}
/* After the kernel wrote c's record (the caller accounted for its launch): the copies and records
 * of c forgotten before it, c's record now. */
static void record_made(const float *c, long long m, long long n) {
    if (kcu_records_add(&mm.rec, c, m, n))
        kcu_fail(__FILE__, __LINE__, "bf16 matmul", "more records than KCU_RECORDS at once");
}
/* Where a GELU op's kernel writes c (m x n): its record in c's own memory (y NULL, y16 = c), or
 * FP32 y = c and, where a slot was free, c's bf16 copy y16 beside it (slot h). out_begin before the
 * launch (the caller checked the device calls), out_end after it. */
struct gelu_out {
    bool rec;
    int h;
    float *y;
    __nv_bfloat16 *y16;
};
static gelu_out out_begin(bool can_record, float *c, long long m, long long n) {
    if (record_ok(can_record, c, m, n)) {
        copies_written(c, (size_t)(m * n) * sizeof(float));
        return gelu_out{true, -1, NULL, reinterpret_cast<__nv_bfloat16 *>(c)};
    }
    int h = produced_slot(c, m, n);
    return gelu_out{false, h, c, h >= 0 ? buf_of(h) : NULL};
}
static void out_end(const gelu_out &o, const float *c, long long m, long long n) {
    if (!o.rec) return produced(o.h, c, m, n);
    record_made(c, m, n);
    copies_account();
}
/* An op outside this file (the norms' forward): c's record where matmul mode 1 and record_ok allow,
 * else FP32 c and its copy (kcu_produce); kcu_out_end after the op declared its writes, which forgot
 * what overlapped c. */
kcu_out kcu_out_begin(float *c, long long m, long long n) {
    if (record_ok(kern_cuda_bf16_matmul_mode(-1) == 1, c, m, n))
        return kcu_out{NULL, reinterpret_cast<__nv_bfloat16 *>(c)};
    return kcu_out{c, kcu_produce(c, m, n)};
}
void kcu_out_end(kcu_out o, const float *c, long long m, long long n) {
    if (o.y) return kcu_produced(c, m, n, o.y16);
    record_made(c, m, n);
}

void kcu_matmul_bias_gelu_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                               const float *bias, float *pre, float *c) {
    __nv_bfloat16 *pre16 = reinterpret_cast<__nv_bfloat16 *>(pre);
    int fused = lt_product16(trans_a, trans_b, m, n, k, a, b, pre16);
    /* The bias is added in the GELU kernel either way (no pass of its own); counted fused when
     * Lt wrote the bf16 product, composed when the FP32 fallback did. */
    if (fused) mm.fused++;
    else {
        mm.composed++;
        kcu_matmul_bf16(trans_a, trans_b, m, n, k, 1.f, a, b, 0.f, c);
    }
    gelu_out o = out_begin(fused, c, m, n);
    kcu_gelu_forward16((size_t)m * n, n, fused ? pre16 : NULL, fused ? NULL : c, bias, pre16, o.y, o.y16);
    copies_written(pre, (size_t)m * n * 2);
    out_end(o, c, m, n);
}

void kcu_matmul_dgelu_bf16(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
                           const float *pre, float *c, float *dbias) {
    copies_check();
    /* grown here if need be: this file's call, and it writes no buffer a copy is of. The bf16
     * product first, then (16-byte aligned) the column partials of the bias gradient. */
    size_t prod_floats = ((size_t)m * n + 1) / 2 + 4;
    float *scratch = kcu_partials(prod_floats + (dbias ? kcu_dgelu16_part_floats(m, n) : 0) + 4);
    __nv_bfloat16 *prod16 = reinterpret_cast<__nv_bfloat16 *>(scratch);
    float *part = reinterpret_cast<float *>(((uintptr_t)(scratch + prod_floats) + 15) / 16 * 16);
    copies_account();
    if (!lt_product16(trans_a, trans_b, m, n, k, a, b, prod16)) {
        prod16 = NULL;
        kcu_matmul_bf16(trans_a, trans_b, m, n, k, 1.f, a, b, 0.f, c);
    }
    /* a record only where ops.cu takes the fused dbias path, which needs pre 8-byte aligned */
    gelu_out o = out_begin(prod16 != NULL && (uintptr_t)pre % 8 == 0, c, m, n);
    if (dbias) copies_written(dbias, (size_t)n * sizeof(float));
    kcu_gelu_backward16(m, n, prod16, prod16 ? NULL : c, reinterpret_cast<const __nv_bfloat16 *>(pre), o.y, o.y16,
                        dbias, part);
    out_end(o, c, m, n);
}
