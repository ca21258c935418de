// src/core/kernels.hpp — numeric kernels (private to the library). They know nothing of layers.
//
// Each fast kernel has a plain reference beside it (suffix _ref) that tests
// compare against on odd shapes.
#pragma once
#include <cstdint>

namespace digitnet::kernels {

// Makes the BLAS library single-threaded: parallelism comes from ThreadPool.
void use_single_threaded_blas();

// Which library computes sgemm. Chosen once per process from the CPU (oneDNN
// where AVX-512 is present, OpenBLAS otherwise) unless DIGITNET_SGEMM=openblas|dnnl
// says; fixed for the process, so results stay bit-reproducible.
enum class GemmBackend { openblas, dnnl };
GemmBackend gemm_backend();
const char* gemm_backend_name(GemmBackend b);

// Row-major GEMM: C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C.
// op(X) is X or Xᵀ; lda/ldb/ldc are the row strides of A, B, C as stored.
// Runs on the calling thread only. With OpenBLAS, M = 1 runs as a matrix-vector
// product (sgemv). The overload with a backend is for tests and benchmarks.
void sgemm(GemmBackend backend, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
           const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);
void sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc);

// One row times a matrix, for the single-image (latency) path of dense layers:
//   y[j] = (b ? b[j] : 0) + Σ_{i<k} x[i] · W[i·ldw + j],  j < n
// on the calling thread, with no library call (an sgemm call with M = 1 cost
// more in set-up than LeNet's last two dense layers: 0.8 against 0.24 us).
// AVX-512: blocks of 128 columns, each row's slice read once; a block of 64
// columns or fewer takes rows two at a time into two sets of accumulators (8
// FMA chains), added at the end. Rows whose x[i] is zero are skipped, their
// slice of W never read: after ReLU and pooling most inputs are (K's dense
// layer: 50 % of its 9216 inputs after 20 training steps, 81 % after 400; an
// MNIST image's pixels, 81 %), and at one image the product is bound by reading
// W. So a NaN or infinite weight in a row whose input is zero is not propagated
// (0 · inf = NaN would be); NaN inputs are. Without AVX-512, sgemm with M = 1
// (OpenBLAS' sgemv on AVX2 CPUs) plus the bias. vecmat_ref sums in double precision.
void vecmat(int k, int n, const float* x, const float* W, int ldw, const float* b, float* y);
void vecmat_ref(int k, int n, const float* x, const float* W, int ldw, const float* b, float* y);

// Σ v[0..n): sum keeps 8 partial sums (lane i adds v[i], v[i+8], ...) and adds
// them in a fixed order, so it vectorises and is deterministic; sum_ref adds in
// double precision, left to right.
float sum(const float* v, int64_t n);
float sum_ref(const float* v, int64_t n);

// v[i] = tanh(v[i]) in place. With AVX-512, our own 16-wide rational
// approximation (kernels.cpp: at most 2.8 ulp); otherwise on x86-64 with glibc
// libmvec's tanhf, 8-wide with AVX2, 4-wide SSE; every element the same way
// (the tail through a masked or padded block, so an element's result does not
// depend on where a chunk ends); elsewhere std::tanh.
// tanh_ref is std::tanh element by element. They agree within a few ulp.
void tanh(float* v, int64_t n);
void tanh_ref(float* v, int64_t n);

// The gradient through tanh, from its output y, for one plane of h x w cells,
// and the plane's sum (its share of a bias gradient):
//   dz = dy ⊙ (1 − y²);  returns Σ dz.
// With `pooled`, dy is the gradient of a 2x2/2 average pooling after the tanh,
// (h/2) x (w/2) values (h and w even), and each cell's dy is its window's · 1/4,
// what AveragePooling2D's backward writes: the two in one pass, the same bits as
// the pooling's backward followed by the unpooled call. 16 cells a step with
// AVX-512 (cell (r, c) summed in lane c mod 16 of one of four running sums, by
// the parities of r and c / 16; activation_grad.cpp), plain loops in the same
// order otherwise. tanh_grad_sum_ref sums in double.
float tanh_grad_sum(const float* y, const float* dy, bool pooled, int h, int w, float* dz);
float tanh_grad_sum_ref(const float* y, const float* dy, bool pooled, int h, int w, float* dz);

// 2x2 pooling, stride 2, of one plane (rows of w cells) into oh x ow windows,
// 16 windows a step where the CPU has AVX-512 (pool_2x2_avx512_available), plain
// loops otherwise. Max, for inference (no winners kept): each window's best taken
// over a0, a1, b0, b1 in that order with max(p, q) = p > q ? p : q (NaN cells
// lose, the first of equal cells stays), the MaxPooling2D training path's values
// to the bit. Average: ((((0 + a0) + a1) + b0) + b1) · 1/4, AveragePooling2D's
// sums in its order.
bool pool_2x2_avx512_available();
void max_pool_2x2_inference(const float* x, int w, int oh, int ow, float* y);
void avg_pool_2x2(const float* x, int w, int oh, int ow, float* y);

// im2col for one image: x is (C, H, W); col is (C·KH·KW, OH·OW), row-major.
// Out-of-image taps (padding) read as 0.
void im2col(const float* x, int C, int H, int W, int KH, int KW, int stride, int pad_top,
            int pad_left, int OH, int OW, float* col);
void im2col_ref(const float* x, int C, int H, int W, int KH, int KW, int stride, int pad_top,
                int pad_left, int OH, int OW, float* col);
// col2im for one image: adds col (C·KH·KW, OH·OW) back into dx (C, H, W),
// which the caller has zeroed.
void col2im(const float* col, int C, int H, int W, int KH, int KW, int stride, int pad_top,
            int pad_left, int OH, int OW, float* dx);
void col2im_ref(const float* col, int C, int H, int W, int KH, int KW, int stride, int pad_top,
                int pad_left, int OH, int OW, float* dx);

}  // namespace digitnet::kernels
