#include "digitnet/core/kernels.hpp"

#include <cblas.h>

namespace digitnet::kernels {

void use_single_threaded_blas() { openblas_set_num_threads(1); }

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<double>(a) * b;
      }
      float& c = C[i * ldc + j];
      c = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * c));
    }
}

void im2col(const float* x, int C, int H, int W, int KH, int KW, int stride, int pad_top,
            int pad_left, int OH, int OW, float* col) {
  for (int c = 0; c < C; ++c)
    for (int kh = 0; kh < KH; ++kh)
      for (int kw = 0; kw < KW; ++kw) {
        float* row = col + ((c * KH + kh) * KW + kw) * (OH * OW);
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * stride - pad_top + kh;
          float* out = row + oh * OW;
          if (ih < 0 || ih >= H) {
            for (int ow = 0; ow < OW; ++ow) out[ow] = 0.0f;
            continue;
          }
          const float* in = x + (c * H + ih) * W;
          for (int ow = 0; ow < OW; ++ow) {
            const int iw = ow * stride - pad_left + kw;
            out[ow] = (iw >= 0 && iw < W) ? in[iw] : 0.0f;
          }
        }
      }
}

void col2im(const float* col, int C, int H, int W, int KH, int KW, int stride, int pad_top,
            int pad_left, int OH, int OW, float* dx) {
  for (int c = 0; c < C; ++c)
    for (int kh = 0; kh < KH; ++kh)
      for (int kw = 0; kw < KW; ++kw) {
        const float* row = col + ((c * KH + kh) * KW + kw) * (OH * OW);
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * stride - pad_top + kh;
          if (ih < 0 || ih >= H) continue;
          float* out = dx + (c * H + ih) * W;
          const float* in = row + oh * OW;
          for (int ow = 0; ow < OW; ++ow) {
            const int iw = ow * stride - pad_left + kw;
            if (iw >= 0 && iw < W) out[iw] += in[ow];
          }
        }
      }
}

}  // namespace digitnet::kernels
