/* Which of cuBLASLt's candidate algorithms runs a product fastest on this GPU. matmul.cu asks once
 * per cached key, at its first call, unless SCALELAB_MM_TUNE=0. Why: the heuristic ranks its
 * candidates by a model of the GPU, not by a run. At the training shapes it picks split-K kernels
 * for the weight gradients (K = the tokens of a step, 8k-16k), with a separate reduce after them.
 * In the tenth pass's ncu of the 4-layer d_model 512 step those were ~0.5 ms of its ~2.8 ms of
 * products (split-K kernels of 15 and 45 us, ~20 reduce launches of 6 us). Timing the candidates
 * made that step x1.028 (RESULTS.md, eleventh pass; the 12-layer x1.006). Here each candidate is
 * timed on scratch operands of the key's layouts.
 * Every value is a small constant, so timing does not depend on the caller's data. Each candidate
 * runs once to warm up, then the least of three timed runs counts. It is the cuBLASLt sample's way
 * (LtSgemmSimpleAutoTuning) and what frameworks call autotuning.
 *
 * The choice is this process's. Another process may time differently and pick another algorithm,
 * and the products' summation order, so their low bits, may then differ between processes. That
 * is already true of this backend's runs: flash's dQ sums with atomics. Within a process a key
 * keeps its algorithm. The scratch lives only during the timing. The timed calls are not device
 * calls of the backend's count (kcu_device_calls), and they write only the scratch, so the kept
 * copies stay valid. */
#include <cfloat>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/lt_tune.h"

namespace {
struct scratch {
    void *p[4] = {NULL, NULL, NULL, NULL};
    bool take(int i, size_t bytes) {
        if (!bytes) return true;
        if (cudaMalloc(&p[i], bytes) != cudaSuccess) {
            cudaGetLastError(); /* not sticky: the caller keeps the heuristic's first */
            p[i] = NULL;
            return false;
        }
        return cudaMemset(p[i], 0x3c, bytes) == cudaSuccess; /* bf16 0x3c3c, FP32 0x3c3c3c3c: ~0.0115 */
    }
    ~scratch() {
        for (void *q : p)
            if (q) cudaFree(q);
    }
};
} // namespace

int kcu_lt_fastest(const kcu_lt_problem *pb, const cublasLtMatmulHeuristicResult_t *res, int n) {
    if (n < 2) return 0;
    scratch s;
    if (!s.take(0, pb->a_bytes) || !s.take(1, pb->b_bytes) || !s.take(2, pb->c_bytes) || !s.take(3, pb->bias_bytes))
        return 0;
    if (pb->bias_bytes &&
        cublasLtMatmulDescSetAttribute(pb->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &s.p[3], sizeof s.p[3]) !=
            CUBLAS_STATUS_SUCCESS)
        return 0;
    cudaEvent_t e0, e1;
    KCU_CHECK(cudaEventCreate(&e0));
    KCU_CHECK(cudaEventCreate(&e1));
    const float alpha = 1.f, beta = 1.f; /* beta 1: C read, as the accumulating and residual products do */
    int best = 0;
    float best_ms = FLT_MAX;
    for (int i = 0; i < n; i++) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS || res[i].workspaceSize > pb->workspace_bytes) continue;
        auto run = [&] {
            return cublasLtMatmul(pb->lt, pb->desc, &alpha, s.p[0], pb->la, s.p[1], pb->lb, &beta, s.p[2], pb->lc,
                                  s.p[2], pb->lc, &res[i].algo, pb->workspace, pb->workspace_bytes, 0);
        };
        if (run() != CUBLAS_STATUS_SUCCESS) continue; /* the warm-up; a candidate that fails is skipped */
        float t = FLT_MAX;
        for (int r = 0; r < 3; r++) {
            KCU_CHECK(cudaEventRecord(e0));
            KCU_BLAS(run());
            KCU_CHECK(cudaEventRecord(e1));
            KCU_CHECK(cudaEventSynchronize(e1));
            float ms = 0;
            KCU_CHECK(cudaEventElapsedTime(&ms, e0, e1));
            t = ms < t ? ms : t;
        }
        if (t < best_ms) best = i, best_ms = t;
    }
    KCU_CHECK(cudaEventDestroy(e0));
    KCU_CHECK(cudaEventDestroy(e1));
    return best;
}
