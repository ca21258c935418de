// bench/kernels_bench.cpp — Google Benchmark of the numeric kernels.
//
//   build-speed/bench/bench_kernels [--benchmark_filter=Sgemm]
//
// Shapes are those of the classic Keras CNN (K) at batch 128; counters report
// GFLOP/s so the fast kernels can be compared with the machine's sgemm rate.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "digitnet/core/kernels.hpp"
#include "digitnet/core/winograd.hpp"

namespace {

using digitnet::kernels::col2im;
using digitnet::kernels::col2im_ref;
using digitnet::kernels::im2col;
using digitnet::kernels::im2col_ref;
using digitnet::kernels::sgemm;
using digitnet::kernels::sgemm_ref;

std::vector<float> filled(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 37) % 101) / 101.0f - 0.5f;
  return v;
}

// sgemm M×N×K (no transposes), single-threaded as the layers call it.
void BM_Sgemm(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int M = static_cast<int>(state.range(0)), N = static_cast<int>(state.range(1)),
            K = static_cast<int>(state.range(2));
  auto a = filled(std::size_t(M) * K), b = filled(std::size_t(K) * N),
       c = filled(std::size_t(M) * N);
  for (auto _ : state) {
    sgemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
// Square sizes (the machine's rate), then K's per-sample conv2 GEMMs
// (forward 64×576×288, dW 64×288×576, dX 288×576×64) and tiled versions (8 samples).
BENCHMARK(BM_Sgemm)
    ->Args({256, 256, 256})
    ->Args({512, 512, 512})
    ->Args({64, 576, 288})
    ->Args({64, 288, 576})
    ->Args({288, 576, 64})
    ->Args({64, 4608, 288})
    ->Args({32, 676, 9})
    ->Args({32, 5408, 9});

void BM_SgemmRef(benchmark::State& state) {
  const int M = static_cast<int>(state.range(0)), N = static_cast<int>(state.range(1)),
            K = static_cast<int>(state.range(2));
  auto a = filled(std::size_t(M) * K), b = filled(std::size_t(K) * N),
       c = filled(std::size_t(M) * N);
  for (auto _ : state) {
    sgemm_ref(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SgemmRef)->Args({64, 576, 288});

// im2col / col2im of K's second convolution: 32×26×26 input, 3×3, output 24×24.
template <bool kRef>
void BM_Im2col(benchmark::State& state) {
  const int C = 32, H = 26, W = 26, k = 3, O = 24;
  auto x = filled(std::size_t(C) * H * W);
  std::vector<float> col(std::size_t(C) * k * k * O * O);
  for (auto _ : state) {
    (kRef ? im2col_ref : im2col)(x.data(), C, H, W, k, k, 1, 0, 0, O, O, col.data());
    benchmark::DoNotOptimize(col.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * col.size() * sizeof(float)));
}
BENCHMARK(BM_Im2col<false>);
BENCHMARK(BM_Im2col<true>);

template <bool kRef>
void BM_Col2im(benchmark::State& state) {
  const int C = 32, H = 26, W = 26, k = 3, O = 24;
  auto col = filled(std::size_t(C) * k * k * O * O);
  std::vector<float> dx(std::size_t(C) * H * W);
  for (auto _ : state) {
    std::fill(dx.begin(), dx.end(), 0.0f);
    (kRef ? col2im_ref : col2im)(col.data(), C, H, W, k, k, 1, 0, 0, O, O, dx.data());
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * col.size() * sizeof(float)));
}
BENCHMARK(BM_Col2im<false>);
BENCHMARK(BM_Col2im<true>);

// A 3x3 stride-1 'valid' convolution of nb samples C x 26 x 26 -> F x 24 x 24 (K's
// conv2 is C = 32, F = 64), im2col + sgemm per sample (the layer's general path)
// against Winograd F(4x4, 3x3); forward (with bias + relu) and backward-data
// (dy F x 24 x 24 -> dx C x 26 x 26). Args: C, F, nb, tile block. The FLOP/s
// counter counts the direct convolution's 2·MACs, so it compares the two paths.
constexpr int kHW = 26, kO = 24;

double conv_flops(int C, int F, int nb) { return 2.0 * nb * F * C * 9.0 * kO * kO; }

void BM_ConvIm2col(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int C = static_cast<int>(state.range(0)), F = static_cast<int>(state.range(1)),
            nb = static_cast<int>(state.range(2)), K = C * 9, P = kO * kO;
  auto x = filled(std::size_t(nb) * C * kHW * kHW), w = filled(std::size_t(F) * K);
  std::vector<float> col(std::size_t(K) * P), y(std::size_t(nb) * F * P);
  for (auto _ : state)
    for (int n = 0; n < nb; ++n) {
      im2col(x.data() + std::size_t(n) * C * kHW * kHW, C, kHW, kHW, 3, 3, 1, 0, 0, kO, kO,
             col.data());
      float* yn = y.data() + std::size_t(n) * F * P;
      sgemm(false, false, F, P, K, 1.0f, w.data(), K, col.data(), P, 0.0f, yn, P);
      for (int i = 0; i < F * P; ++i) yn[i] = std::max(yn[i] + 0.1f, 0.0f);
      benchmark::DoNotOptimize(yn);
    }
  state.counters["FLOP/s"] =
      benchmark::Counter(conv_flops(C, F, nb), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void BM_ConvWinograd(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int C = static_cast<int>(state.range(0)), F = static_cast<int>(state.range(1)),
            nb = static_cast<int>(state.range(2)), tb = static_cast<int>(state.range(3));
  const digitnet::kernels::Conv3x3Shape s{C, F, kHW, kHW, kO, kO, 0, 0};
  auto x = filled(std::size_t(nb) * C * kHW * kHW), w = filled(std::size_t(F) * C * 9),
       bias = filled(std::size_t(F));
  std::vector<float> U(std::size_t(36) * F * C), y(std::size_t(nb) * F * kO * kO),
      ws(std::size_t(digitnet::kernels::winograd_workspace_size(s, nb, tb)));
  // The layer transforms the filters once per batch of 128: outside the loop.
  digitnet::kernels::winograd_filter_transform(w.data(), F, C, false, U.data());
  for (auto _ : state) {
    digitnet::kernels::winograd_conv3x3(s, nb, x.data(), U.data(), bias.data(), true, y.data(),
                                        ws.data(), tb);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(conv_flops(C, F, nb), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void BM_ConvBwdDataIm2col(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int C = static_cast<int>(state.range(0)), F = static_cast<int>(state.range(1)),
            nb = static_cast<int>(state.range(2)), K = C * 9, P = kO * kO;
  auto dy = filled(std::size_t(nb) * F * P), w = filled(std::size_t(F) * K);
  std::vector<float> col(std::size_t(K) * P), dx(std::size_t(nb) * C * kHW * kHW);
  for (auto _ : state)
    for (int n = 0; n < nb; ++n) {
      sgemm(true, false, K, P, F, 1.0f, w.data(), K, dy.data() + std::size_t(n) * F * P, P, 0.0f,
            col.data(), P);
      float* dxn = dx.data() + std::size_t(n) * C * kHW * kHW;
      std::fill(dxn, dxn + C * kHW * kHW, 0.0f);
      col2im(col.data(), C, kHW, kHW, 3, 3, 1, 0, 0, kO, kO, dxn);
      benchmark::DoNotOptimize(dxn);
    }
  state.counters["FLOP/s"] =
      benchmark::Counter(conv_flops(C, F, nb), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void BM_ConvBwdDataWinograd(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int C = static_cast<int>(state.range(0)), F = static_cast<int>(state.range(1)),
            nb = static_cast<int>(state.range(2)), tb = static_cast<int>(state.range(3));
  // dy (F, 24, 24) -> dx (C, 26, 26): padding 2.
  const digitnet::kernels::Conv3x3Shape s{F, C, kO, kO, kHW, kHW, 2, 2};
  auto dy = filled(std::size_t(nb) * F * kO * kO), w = filled(std::size_t(F) * C * 9);
  std::vector<float> U(std::size_t(36) * F * C), dx(std::size_t(nb) * C * kHW * kHW),
      ws(std::size_t(digitnet::kernels::winograd_workspace_size(s, nb, tb)));
  digitnet::kernels::winograd_filter_transform(w.data(), F, C, true, U.data());
  for (auto _ : state) {
    digitnet::kernels::winograd_conv3x3(s, nb, dy.data(), U.data(), nullptr, false, dx.data(),
                                        ws.data(), tb);
    benchmark::DoNotOptimize(dx.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(conv_flops(C, F, nb), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

// K's conv2 with 4 samples, and the channel counts around the layer's threshold.
void conv_args(benchmark::internal::Benchmark* b, bool winograd) {
  for (int tb : winograd ? std::vector<int>{16, 32, 64, 128, 256} : std::vector<int>{0})
    b->Args({32, 64, 4, tb});
  for (int c : {1, 2, 4, 8, 16}) b->Args({c, 32, 4, winograd ? 64 : 0});
  b->Args({64, 32, 4, winograd ? 64 : 0});  // S's conv2
}
BENCHMARK(BM_ConvIm2col)->Apply([](auto* b) { conv_args(b, false); });
BENCHMARK(BM_ConvWinograd)->Apply([](auto* b) { conv_args(b, true); });
BENCHMARK(BM_ConvBwdDataIm2col)->Apply([](auto* b) { conv_args(b, false); });
BENCHMARK(BM_ConvBwdDataWinograd)->Apply([](auto* b) { conv_args(b, true); });

}  // namespace

BENCHMARK_MAIN();
