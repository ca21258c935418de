// bench/kernels_bench.cpp — Google Benchmark of the numeric kernels.
//
//   build-speed/bench/bench_kernels [--benchmark_filter=Sgemm]
//
// Shapes are those of the classic Keras CNN (K) at batch 128; counters report
// GFLOP/s so the fast kernels can be compared with the machine's sgemm rate.
#include <benchmark/benchmark.h>

#include <vector>

#include "digitnet/core/kernels.hpp"

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

}  // namespace

BENCHMARK_MAIN();
