// The 2×2 / stride 2 fast paths of MaxPooling2D and AveragePooling2D against naive pooling written
// here (the generic path's rule): odd sizes (the last row/column is dropped),
// widths that use the 4-window SIMD loop, its scalar tail or both, ties (the
// first maximum in row-major order wins and receives the gradient; of +0 and
// -0 the first stays), -inf and NaN inputs (NaN never wins), several thread
// counts, training and inference (bit for bit); dx is pre-filled with NaN so every element
// must be written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/layers/layers.hpp"

using namespace digitnet;

namespace {

void check_against_naive(int64_t N, int64_t C, int64_t H, int64_t W) {
  SCOPED_TRACE("shape " + std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) +
               "x" + std::to_string(W));
  const int64_t OH = H / 2, OW = W / 2;
  Rng rng(static_cast<uint64_t>(21 + H * 100 + W));
  Tensor x({N, C, H, W}), dy({N, C, OH, OW});
  // Few distinct levels, so many windows hold ties; some -inf.
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.next_u64() % 4) - 1.5f;
  for (int64_t i = 0; i < x.size(); i += 7) x[i] = -std::numeric_limits<float>::infinity();
  // Signed zeros (the first of +0 / -0 stays) and NaN cells (never win).
  for (int64_t i = 3; i < x.size(); i += 11) x[i] = (i / 11) % 2 ? -0.0f : 0.0f;
  for (int64_t i = 5; i < x.size(); i += 13) x[i] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(rng.uniform()) + 0.5f;

  // Naive reference: scan the window row by row, strict '>' keeps the first maximum.
  std::vector<float> y_ref(static_cast<std::size_t>(N * C * OH * OW));
  std::vector<float> dx_ref(static_cast<std::size_t>(x.size()), 0.0f);
  int ties = 0;
  for (int64_t p = 0; p < N * C; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t at = p * H * W + 2 * oh * W + 2 * ow;  // padded or all -inf: the first cell
        int count_best = 0;
        for (int r = 2 * oh; r < 2 * oh + 2; ++r)
          for (int q = 2 * ow; q < 2 * ow + 2; ++q) {
            const float v = x[p * H * W + r * W + q];
            if (v > best) {
              best = v;
              at = p * H * W + r * W + q;
              count_best = 1;
            } else if (v == best) {
              ++count_best;
            }
          }
        ties += count_best > 1;
        const int64_t o = (p * OH + oh) * OW + ow;
        y_ref[static_cast<std::size_t>(o)] = best;
        dx_ref[static_cast<std::size_t>(at)] += dy[o];
      }
  if (N * C * OH * OW >= 12) {
    ASSERT_GT(ties, 1) << "the input should exercise ties";
  }

  for (int threads : {1, 2, 3}) {
    LayerPtr pool = MaxPooling2D(2);
    ASSERT_EQ(pool->build({C, H, W}, rng), Shape({C, OH, OW}));
    ThreadPool tp(threads);
    Context ctx{true, &tp, &rng};
    Tensor y(Shape{N, C, OH, OW}, NAN), dx(Shape{N, C, H, W}, NAN);
    pool->forward(x, y, ctx);
    pool->backward(x, y, dy, &dx, ctx);
    ASSERT_EQ(y.size(), static_cast<int64_t>(y_ref.size()));
    ASSERT_EQ(std::memcmp(y.data(), y_ref.data(), y_ref.size() * sizeof(float)), 0)
        << "training forward, threads " << threads;
    for (int64_t i = 0; i < dx.size(); ++i)
      ASSERT_EQ(dx[i], dx_ref[static_cast<std::size_t>(i)])
          << "dx[" << i << "], threads " << threads;
    // Inference (its own AVX-512 path where the CPU has it, keeping no winners):
    // the same bits.
    Context infer{false, &tp, nullptr};
    Tensor yi(Shape{N, C, OH, OW}, NAN);
    pool->forward(x, yi, infer);
    ASSERT_EQ(std::memcmp(yi.data(), y_ref.data(), y_ref.size() * sizeof(float)), 0)
        << "inference forward, threads " << threads;
  }
}

}  // namespace

TEST(MaxPoolFast, TwoByTwoMatchesNaivePoolingWithTies) {
  check_against_naive(3, 2, 7, 9);    // odd sizes, scalar tail only
  check_against_naive(2, 3, 8, 8);    // one SIMD group per row, no tail
  check_against_naive(2, 2, 11, 19);  // SIMD groups + tail + dropped column
  check_against_naive(1, 4, 24, 24);  // K's shape per plane
  check_against_naive(2, 1, 2, 2);    // one window
  check_against_naive(2, 2, 6, 35);   // 17 windows: 16 + 1 with AVX-512, dropped column
  check_against_naive(1, 3, 4, 64);   // 32 windows, two full AVX-512 groups
  check_against_naive(1, 2, 5, 30);   // 15 windows: one masked AVX-512 group
}

// AveragePooling2D's 2×2 / stride 2 fast path against a naive average: the same
// bits (sum in row-major order from 0, divided by 4), dx = dy / 4 in every cell
// of a window and 0 in a dropped odd last row or column; NaN sentinels in y and
// dx catch unwritten elements.
TEST(AvgPoolFast, TwoByTwoMatchesNaiveAverageBitForBit) {
  // Widths giving 4..32 windows a row (the AVX-512 path takes 16 at a time:
  // one partial step, exactly one, one and a part, two), odd widths included.
  for (const auto& [H, W] : std::vector<std::pair<int64_t, int64_t>>{
           {7, 9}, {28, 28}, {10, 17}, {4, 33}, {6, 40}, {3, 64}}) {
    SCOPED_TRACE("H " + std::to_string(H) + " W " + std::to_string(W));
    const int64_t N = 3, C = 2, OH = H / 2, OW = W / 2;
    Rng rng(static_cast<uint64_t>(5 + H * 100 + W));
    Tensor x({N, C, H, W}), dy({N, C, OH, OW});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
    for (int64_t i = 0; i < x.size(); i += 5) x[i] = -0.0f;  // signed zeros stay as in the sum
    for (int64_t i = 0; i < dy.size(); ++i) dy[i] = rng.uniform(-1.0f, 1.0f);
    std::vector<float> y_ref(static_cast<std::size_t>(N * C * OH * OW));
    std::vector<float> dx_ref(static_cast<std::size_t>(x.size()), 0.0f);
    for (int64_t p = 0; p < N * C; ++p)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          float sum = 0.0f;
          for (int r = 2 * oh; r < 2 * oh + 2; ++r)
            for (int q = 2 * ow; q < 2 * ow + 2; ++q) sum += x[p * H * W + r * W + q];
          const int64_t o = (p * OH + oh) * OW + ow;
          y_ref[static_cast<std::size_t>(o)] = sum / 4.0f;
          for (int r = 2 * oh; r < 2 * oh + 2; ++r)
            for (int q = 2 * ow; q < 2 * ow + 2; ++q)
              dx_ref[static_cast<std::size_t>(p * H * W + r * W + q)] = dy[o] / 4.0f;
        }
    for (int threads : {1, 3}) {
      LayerPtr pool = AveragePooling2D(2);
      ASSERT_EQ(pool->build({C, H, W}, rng), Shape({C, OH, OW}));
      ThreadPool tp(threads);
      Context ctx{true, &tp, &rng};
      Tensor y(Shape{N, C, OH, OW}, NAN), dx(Shape{N, C, H, W}, NAN);
      pool->forward(x, y, ctx);
      pool->backward(x, y, dy, &dx, ctx);
      for (int64_t i = 0; i < y.size(); ++i) {
        const float want = y_ref[static_cast<std::size_t>(i)];
        ASSERT_EQ(std::memcmp(&y[i], &want, sizeof want), 0) << "y[" << i << "] " << y[i];
      }
      for (int64_t i = 0; i < dx.size(); ++i)
        ASSERT_EQ(dx[i], dx_ref[static_cast<std::size_t>(i)]) << "dx[" << i << "]";
    }
  }
}
