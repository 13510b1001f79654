/* The packed GEMM of src/matmul.c for ops that write its operands' panels
 * themselves (src/winograd.c), so no packing pass runs between them. */
#ifndef SG2_MATMUL_H
#define SG2_MATMUL_H
#include "src/tensor.h"

/* gemm_vec's columns (GV) and rows (GMR) per work-item for a batch of
 * [M, K] x [K, N] products: the tuned ones of that shape class, else 16, 16. */
void sg2_gemm_vec_tiles(sg2_ctx *ctx, int batch, int M, int N, int K, int *gv, int *gmr);

/* c[b] = A[b] B[b] for b < batch, c[batch, M, N] row-major, from A packed
 * as ap[batch][ceil(M / gmr)][K][gmr] and B as bp[batch][ceil(N / gv)][K][gv]
 * (panels k-major, zero past the matrix; see gemm_pack in cl/matmul.cl). */
sg2_status sg2_gemm_vec_packed(sg2_ctx *ctx, int batch, int M, int N, int K, int gv, int gmr, const sg2_tensor *ap,
                               const sg2_tensor *bp, sg2_tensor *c);

#endif
