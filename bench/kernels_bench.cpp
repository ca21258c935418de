// bench/kernels_bench.cpp — Google Benchmark of the numeric kernels.
//
//   build-speed/bench/bench_kernels [--benchmark_filter=Sgemm]
//
// Shapes are those of the classic Keras CNN (K) at batch 128; counters report
// GFLOP/s so the fast kernels can be compared with the machine's sgemm rate.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "core/direct_conv.hpp"
#include "core/dnnl_conv.hpp"
#include "core/kernels.hpp"
#include "core/winograd.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/data/augment.hpp"

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
// conv2 is C = 32, F = 64, S's C = 64, F = 32), single-threaded: im2col + sgemm per
// sample (the layer's fallback path) against oneDNN direct and Winograd F(4x4,3x3)
// (the layer's path; plain NCHW in and out, reorders included). Forward (bias +
// relu) and backward (weight gradient + input gradient). Args: C, F, nb, path
// (0 im2col, 1 oneDNN direct, 2 oneDNN Winograd, 3 digitnet's Winograd F(4x4,3x3):
// filter transforms included, as the layer pays them every step). The FLOP/s counter counts the
// direct convolution's 2·MACs per pass, so the paths compare directly.
constexpr int kHW = 26, kO = 24;

double conv_flops(int C, int F, int nb) { return 2.0 * nb * F * C * 9.0 * kO * kO; }

// The oneDNN convolution for path 1 or 2 (null for path 0, and when oneDNN has
// no kernel, which marks the benchmark as skipped).
std::unique_ptr<digitnet::kernels::DnnlConv> make_dnnl(benchmark::State& state, int C, int F,
                                                       int nb, int path) {
  if (path == 0 || path == 3) return nullptr;
  digitnet::kernels::ConvGeometry g;
  g.n = nb, g.c = C, g.h = kHW, g.w = kHW, g.f = F, g.kh = 3, g.kw = 3, g.oh = kO, g.ow = kO;
  auto conv = digitnet::kernels::DnnlConv::create(
      g, path == 2 ? digitnet::kernels::ConvAlgo::winograd : digitnet::kernels::ConvAlgo::direct,
      true, true, true);
  if (!conv) state.SkipWithError("oneDNN has no kernel for this shape on this CPU");
  return conv;
}

void BM_ConvForward(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int C = static_cast<int>(state.range(0)), F = static_cast<int>(state.range(1)),
            nb = static_cast<int>(state.range(2)), path = static_cast<int>(state.range(3)),
            K = C * 9, P = kO * kO;
  auto x = filled(std::size_t(nb) * C * kHW * kHW), w = filled(std::size_t(F) * K),
       bias = filled(std::size_t(F));
  std::vector<float> col(std::size_t(K) * P), y(std::size_t(nb) * F * P);
  auto conv = make_dnnl(state, C, F, nb, path);
  if ((path == 1 || path == 2) && !conv) return;
  std::vector<float, digitnet::AlignedAllocator<float>> dnnl_ws(conv ? conv->workspace_floats()
                                                                     : 0);
  const digitnet::kernels::Conv3x3Shape ws{C, F, kHW, kHW, kO, kO, 0, 0};
  std::vector<float> U(std::size_t(36) * F * C),
      work(path == 3 ? std::size_t(digitnet::kernels::winograd_workspace_size(ws, nb)) : 0);
  for (auto _ : state) {
    if (conv) {
      conv->forward(x.data(), w.data(), bias.data(), y.data(), dnnl_ws.data());
    } else if (path == 3) {
      digitnet::kernels::winograd_filter_transform(w.data(), F, C, false, U.data());
      digitnet::kernels::winograd_conv3x3(ws, nb, x.data(), U.data(), bias.data(), true, y.data(),
                                          work.data());
    } else {
      for (int n = 0; n < nb; ++n) {
        im2col(x.data() + std::size_t(n) * C * kHW * kHW, C, kHW, kHW, 3, 3, 1, 0, 0, kO, kO,
               col.data());
        float* yn = y.data() + std::size_t(n) * F * P;
        sgemm(false, false, F, P, K, 1.0f, w.data(), K, col.data(), P, 0.0f, yn, P);
        for (int i = 0; i < F * P; ++i) yn[i] = std::max(yn[i] + bias[std::size_t(i / P)], 0.0f);
      }
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(conv_flops(C, F, nb), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void BM_ConvBackward(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int C = static_cast<int>(state.range(0)), F = static_cast<int>(state.range(1)),
            nb = static_cast<int>(state.range(2)), path = static_cast<int>(state.range(3)),
            K = C * 9, P = kO * kO;
  auto x = filled(std::size_t(nb) * C * kHW * kHW), dz = filled(std::size_t(nb) * F * P),
       w = filled(std::size_t(F) * K);
  std::vector<float> col(std::size_t(K) * P), dx(std::size_t(nb) * C * kHW * kHW),
      dw(std::size_t(F) * K);
  auto conv = make_dnnl(state, C, F, nb, path);
  if ((path == 1 || path == 2) && !conv) return;
  std::vector<float, digitnet::AlignedAllocator<float>> dnnl_ws(conv ? conv->workspace_floats()
                                                                     : 0);
  // Path 3: dW through the transformed domain and dx as the adjoint of the
  // forward, in one pass over the tiles (as the layer runs it).
  const digitnet::kernels::Conv3x3Shape ws{C, F, kHW, kHW, kO, kO, 0, 0};
  std::vector<float> U(std::size_t(36) * F * C), Ut(U.size()), dU(U.size()),
      work(path == 3 ? std::size_t(digitnet::kernels::winograd_workspace_size(ws, nb)) : 0);
  for (auto _ : state) {
    if (conv) {
      conv->backward(x.data(), dz.data(), w.data(), dx.data(), dw.data(), dnnl_ws.data());
    } else if (path == 3) {
      digitnet::kernels::winograd_filter_transform(w.data(), F, C, false, U.data());
      digitnet::kernels::winograd_transpose_filters(U.data(), F, C, Ut.data());
      digitnet::kernels::winograd_backward(ws, nb, x.data(), dz.data(), Ut.data(), dU.data(), false,
                                           dx.data(), work.data());
      digitnet::kernels::winograd_filter_grad_finish(dU.data(), F, C, dw.data());
    } else {
      std::fill(dw.begin(), dw.end(), 0.0f);
      for (int n = 0; n < nb; ++n) {
        const float* dzn = dz.data() + std::size_t(n) * F * P;
        im2col(x.data() + std::size_t(n) * C * kHW * kHW, C, kHW, kHW, 3, 3, 1, 0, 0, kO, kO,
               col.data());
        sgemm(false, true, F, K, P, 1.0f, dzn, P, col.data(), P, 1.0f, dw.data(), K);
        sgemm(true, false, K, P, F, 1.0f, w.data(), K, dzn, P, 0.0f, col.data(), P);
        float* dxn = dx.data() + std::size_t(n) * C * kHW * kHW;
        std::fill(dxn, dxn + C * kHW * kHW, 0.0f);
        col2im(col.data(), C, kHW, kHW, 3, 3, 1, 0, 0, kO, kO, dxn);
      }
    }
    benchmark::DoNotOptimize(dx.data());
    benchmark::DoNotOptimize(dw.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * conv_flops(C, F, nb), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

// K's and S's conv2 at the layer's sub-batch of 16 samples, and small channel counts.
void conv_args(benchmark::internal::Benchmark* b) {
  for (int path : {0, 1, 2, 3}) {
    b->Args({32, 64, 16, path});  // K's conv2
    b->Args({64, 32, 16, path});  // S's conv2
    for (int c : {1, 8}) b->Args({c, 32, 16, path});
  }
}
BENCHMARK(BM_ConvForward)->Apply(conv_args);
BENCHMARK(BM_ConvBackward)->Apply(conv_args);

// The one-image direct convolution of the batch-1 (latency) path, on the
// calling thread. Args: C, H (= W), F, k, pad ('same' when 1), then the layer:
// LeNet's conv1 (1x28x28, 6 filters 5x5 same) and conv2 (6x14x14, 16 5x5
// valid), K's conv1 (1x28x28, 32 3x3 valid).
void BM_DirectConv(benchmark::State& state) {
  const int C = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            F = static_cast<int>(state.range(2)), k = static_cast<int>(state.range(3));
  const bool same = state.range(4) != 0;
  const int pad = same ? (k - 1) / 2 : 0, O = same ? H : H - k + 1;
  const digitnet::kernels::DirectConvShape s{C, H, H, F, k, k, pad, pad, O, O};
  auto x = filled(std::size_t(C) * H * H), w = filled(std::size_t(F) * C * k * k),
       bias = filled(std::size_t(F));
  std::vector<float> y(std::size_t(F) * O * O), scratch(digitnet::kernels::direct_conv_scratch(s));
  for (auto _ : state) {
    digitnet::kernels::direct_conv(s, x.data(), w.data(), bias.data(),
                                   digitnet::kernels::ConvAct::linear, y.data(), scratch.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * F * O * O * C * k * k, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_DirectConv)->Args({1, 28, 6, 5, 1})->Args({6, 14, 16, 5, 0})->Args({1, 28, 32, 3, 0});

// One row times W (the dense layers' batch-1 path) against sgemm with M = 1.
// Args: k, n, path (0 vecmat, 1 sgemm).
void BM_Vecmat(benchmark::State& state) {
  digitnet::kernels::use_single_threaded_blas();
  const int k = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1));
  auto x = filled(std::size_t(k)), w = filled(std::size_t(k) * n), bias = filled(std::size_t(n));
  std::vector<float> y(static_cast<std::size_t>(n));
  for (auto _ : state) {
    if (state.range(2) == 0)
      digitnet::kernels::vecmat(k, n, x.data(), w.data(), n, bias.data(), y.data());
    else
      sgemm(false, false, 1, n, k, 1.0f, x.data(), k, w.data(), n, 0.0f, y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * k * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Vecmat)
    ->ArgsProduct({{400}, {120}, {0, 1}})
    ->Args({120, 84, 0})
    ->Args({120, 84, 1})
    ->Args({9216, 128, 0})
    ->Args({9216, 128, 1});

// One MNIST-sized image's distortion (draw + warp): the affine part alone
// (Augmentation::mnist()), and with an elastic field (alpha 34, sigma 4).
void BM_Augment(benchmark::State& state) {
  digitnet::Augmentation a = digitnet::Augmentation::mnist();
  if (state.range(0)) a.elastic_alpha = 34.0f, a.elastic_sigma = 4.0f;
  std::vector<float> in(784), out(784);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 29) / 29.0f;
  uint64_t key = 0;
  for (auto _ : state) {
    digitnet::augment_image(a, 42, key++, in.data(), out.data(), 1, 28, 28);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Augment)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
