#include "core/kernels.hpp"

#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/cpu.hpp"
#include "core/signal_guard.hpp"
#include "core/tanh16.hpp"
#include "digitnet/core/error.hpp"

#if defined(__x86_64__) && defined(__SSE2__) && defined(__GLIBC__)
#include <immintrin.h>
// glibc's libmvec (linked through libm): tanhf on 4 floats (SSE ABI, max 4 ulp).
extern "C" __m128 _ZGVbN4v_tanhf(__m128 x);
#define DIGITNET_HAVE_LIBMVEC 1
#endif

namespace digitnet::kernels {

namespace {

GemmBackend choose_gemm_backend() {
  const char* env = std::getenv("DIGITNET_SGEMM");
  const std::string want = env ? env : "";
  if (want == "openblas") return GemmBackend::openblas;
  if (want == "dnnl") return GemmBackend::dnnl;
  if (!want.empty()) throw Error("DIGITNET_SGEMM: unknown value '" + want + "' (openblas or dnnl)");
#if defined(__x86_64__)
  // Debian's OpenBLAS 0.3.21 runs its AVX2 (Haswell) kernels on AMD CPUs with
  // AVX-512 (Zen 4/5), half of what oneDNN's AVX-512 sgemm reaches there; with
  // OpenBLAS' own AVX-512 kernels (what it picks on Intel) the two were level at
  // 512³ and oneDNN ahead on the layers' shapes (docs/PERFORMANCE.md). Without
  // AVX-512 OpenBLAS is kept: oneDNN's AVX2 sgemm is slower for A·Bᵀ (Dense dx).
  if (cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f")) return GemmBackend::dnnl;
#endif
  return GemmBackend::openblas;
}

}  // namespace

GemmBackend gemm_backend() {
  static const GemmBackend backend = choose_gemm_backend();  // a property of the machine
  return backend;
}

const char* gemm_backend_name(GemmBackend b) {
  return b == GemmBackend::dnnl ? "dnnl" : "openblas";
}

void use_single_threaded_blas() {
  openblas_set_num_threads(1);
  (void)gemm_backend();  // a bad DIGITNET_SGEMM fails here, not inside a worker
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  sgemm(gemm_backend(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm(GemmBackend backend, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
           const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // C = beta · C, beta = 0 overwriting as in sgemm_ref (BLAS's sgemv returns
    // early for an empty product and would leave C as it was).
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float& c = C[static_cast<std::ptrdiff_t>(i) * ldc + j];
        c = beta == 0.0f ? 0.0f : beta * c;
      }
    return;
  }
  if (backend == GemmBackend::dnnl) {
    omp_set_num_threads(1);  // parallelism comes from ThreadPool: this call runs on this thread
    const detail::SignalGuard no_signals;  // its JIT kernel moves rsp into the heap
    const dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                        lda, B, ldb, beta, C, ldc);
    if (st != dnnl_success)
      throw Error("sgemm: oneDNN rejected M=" + std::to_string(M) + " N=" + std::to_string(N) +
                  " K=" + std::to_string(K) + " (status " + std::to_string(int(st)) + ")");
    return;
  }
  if (M == 1) {
    // One row (a single image through a Dense layer): OpenBLAS' sgemm packs B
    // anyway and reads it 4x slower than its sgemv (K's 9216x128 dense: 400 vs
    // 108 us on one core). c = alpha · op(B)ᵀ a + beta · c, a with stride lda if
    // A is stored transposed.
    cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, trans_b ? N : K,
                trans_b ? K : N, alpha, B, ldb, A, trans_a ? lda : 1, beta, C, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

void im2col_ref(const float* x, int C, int H, int W, int KH, int KW, int stride, int pad_top,
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

void col2im_ref(const float* col, int C, int H, int W, int KH, int KW, int stride, int pad_top,
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

float sum(const float* v, int64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lane[j] += v[i + j];
  for (int j = 0; i < n; ++i, ++j) lane[j] += v[i];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

float sum_ref(const float* v, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += v[i];
  return static_cast<float>(acc);
}

#ifdef DIGITNET_HAVE_LIBMVEC
// The AVX2 variant (8 floats) where the CPU has AVX2: LeNet's tanh layers are
// ~8 % of its training step with the 4-wide one.
#pragma GCC push_options
#pragma GCC target("avx2,fma")
extern "C" __m256 _ZGVdN8v_tanhf(__m256 x);
namespace {
void tanh_avx2(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, _ZGVdN8v_tanhf(_mm256_loadu_ps(v + i)));
  if (i < n) {
    float block[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(block, v + i, sizeof(float) * static_cast<std::size_t>(n - i));
    _mm256_storeu_ps(block, _ZGVdN8v_tanhf(_mm256_loadu_ps(block)));
    std::memcpy(v + i, block, sizeof(float) * static_cast<std::size_t>(n - i));
  }
}
}  // namespace
#pragma GCC pop_options

// The AVX-512 variant (16 floats), our own rational function (core/tanh16.hpp).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2,fma")
namespace {
void tanh_avx512(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(v + i, detail::tanh16(_mm512_loadu_ps(v + i)));
  if (i < n) {
    const auto keep = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(v + i, keep, detail::tanh16(_mm512_maskz_loadu_ps(keep, v + i)));
  }
}
}  // namespace
#pragma GCC pop_options
#endif

namespace detail {
bool tanh_is_tanh16() {
#ifdef DIGITNET_HAVE_LIBMVEC
  return cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}
}  // namespace detail

void tanh(float* v, int64_t n) {
#ifdef DIGITNET_HAVE_LIBMVEC
  if (detail::tanh_is_tanh16()) return tanh_avx512(v, n);
  if (cpu::allows(cpu::Isa::avx2) && __builtin_cpu_supports("avx2")) return tanh_avx2(v, n);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(v + i, _ZGVbN4v_tanhf(_mm_loadu_ps(v + i)));
  if (i < n) {
    float block[4] = {0, 0, 0, 0};
    std::memcpy(block, v + i, sizeof(float) * static_cast<std::size_t>(n - i));
    _mm_storeu_ps(block, _ZGVbN4v_tanhf(_mm_loadu_ps(block)));
    std::memcpy(v + i, block, sizeof(float) * static_cast<std::size_t>(n - i));
  }
#else
  tanh_ref(v, n);
#endif
}

void tanh_ref(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
}

// The valid output columns [lo, hi) of one kernel tap kw: those whose input
// column ow·stride - pad_left + kw lies in [0, W).
namespace {
struct Span {
  int lo, hi;
};
Span valid_columns(int W, int stride, int pad_left, int kw, int OW) {
  const int off = kw - pad_left;  // iw = ow·stride + off
  int lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int hi = W - off <= 0 ? 0 : (W - off + stride - 1) / stride;  // first ow with iw >= W
  lo = std::min(lo, OW);
  hi = std::clamp(hi, lo, OW);
  return {lo, hi};
}
}  // namespace

// Same result as im2col_ref; the column range of each tap is computed once, so
// the inner loop is a plain copy (stride 1) or a gather without bounds tests.
void im2col(const float* x, int C, int H, int W, int KH, int KW, int stride, int pad_top,
            int pad_left, int OH, int OW, float* col) {
  for (int kw = 0; kw < KW; ++kw) {
    const Span sp = valid_columns(W, stride, pad_left, kw, OW);
    const int off = kw - pad_left;
    for (int c = 0; c < C; ++c)
      for (int kh = 0; kh < KH; ++kh) {
        float* row = col + ((c * KH + kh) * KW + kw) * (OH * OW);
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * stride - pad_top + kh;
          float* out = row + oh * OW;
          if (ih < 0 || ih >= H) {
            std::memset(out, 0, sizeof(float) * static_cast<std::size_t>(OW));
            continue;
          }
          const float* in = x + (c * H + ih) * W;
          for (int ow = 0; ow < sp.lo; ++ow) out[ow] = 0.0f;
          if (stride == 1) {
            if (sp.hi > sp.lo)
              std::memcpy(out + sp.lo, in + sp.lo + off,
                          sizeof(float) * static_cast<std::size_t>(sp.hi - sp.lo));
          } else {
            for (int ow = sp.lo; ow < sp.hi; ++ow) out[ow] = in[ow * stride + off];
          }
          for (int ow = sp.hi; ow < OW; ++ow) out[ow] = 0.0f;
        }
      }
  }
}

// Same result as col2im_ref (the same additions in the same order per element).
void col2im(const float* col, int C, int H, int W, int KH, int KW, int stride, int pad_top,
            int pad_left, int OH, int OW, float* dx) {
  for (int c = 0; c < C; ++c)
    for (int kh = 0; kh < KH; ++kh)
      for (int kw = 0; kw < KW; ++kw) {
        const Span sp = valid_columns(W, stride, pad_left, kw, OW);
        const int off = kw - pad_left;
        const float* row = col + ((c * KH + kh) * KW + kw) * (OH * OW);
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * stride - pad_top + kh;
          if (ih < 0 || ih >= H) continue;
          float* out = dx + (c * H + ih) * W;
          const float* in = row + oh * OW;
          if (stride == 1) {
            if (sp.hi > sp.lo) {
              float* o = out + sp.lo + off;
              const float* i = in + sp.lo;
              const int n = sp.hi - sp.lo;
              for (int j = 0; j < n; ++j) o[j] += i[j];
            }
          } else {
            for (int ow = sp.lo; ow < sp.hi; ++ow) out[ow * stride + off] += in[ow];
          }
        }
      }
}

}  // namespace digitnet::kernels
