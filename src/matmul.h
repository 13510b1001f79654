/* The packed GEMM of src/matmul.c for ops that write its operands' panels
 * themselves (src/winograd.c), so no packing pass runs between them. */
#ifndef SG2_MATMUL_H
#define SG2_MATMUL_H
#include "src/tensor.h"

/* C[b] = A[b] B[b] for b < batch, C[b] row-major [M, N] at c + b * c_sb,
 * from A packed as panels [ceil(M / gmr)][K][gmr] at ap + b * a_sb and B as
 * [ceil(N / gv)][K][gv] at bp + b * b_sb (k-major; see gemm_pack in
 * cl/matmul.cl), gvn panels of B per work-item. Rows and columns of the panels past M and N may hold
 * anything: they meet only outputs that are not stored. */
sg2_status sg2_gemm_vec_packed(sg2_ctx *ctx, int batch, int M, int N, int K, int gv, int gmr, int gvn,
                               const sg2_tensor *ap, int a_sb, const sg2_tensor *bp, int b_sb, sg2_tensor *c, int c_sb);

#endif
