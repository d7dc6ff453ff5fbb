/* kernels/cuda/lt_tune: the fastest of cuBLASLt's candidate algorithms for one product, timed
 * (lt_tune.cu says why and how). Used by matmul.cu. */
#ifndef SCALELAB_KERNELS_CUDA_LT_TUNE_H
#define SCALELAB_KERNELS_CUDA_LT_TUNE_H

#include <cublasLt.h>

/* One product as cuBLASLt runs it: the descriptor and layouts of a cached key (Lt's A, B and
 * C = D), the bytes each operand spans (bias_bytes 0: no bias epilogue; else the descriptor's bias
 * pointer is left at freed scratch, and the caller sets its own before each call, as matmul.cu
 * does) and the workspace the candidates may use. */
typedef struct kcu_lt_problem {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    size_t a_bytes, b_bytes, c_bytes, bias_bytes;
    void *workspace;
    size_t workspace_bytes;
} kcu_lt_problem;

/* The index in res[0 .. n) of the candidate that ran fastest; 0 (the heuristic's first) when
 * n < 2 or no scratch memory was left. A candidate whose call fails is skipped. */
int kcu_lt_fastest(const kcu_lt_problem *pb, const cublasLtMatmulHeuristicResult_t *res, int n);

#endif
