// MaxPooling2D's 2×2 / stride 2 fast path against a naive max pooling written
// here: odd sizes (the last row/column is dropped), ties (the first maximum in
// row-major order wins and receives the gradient), several thread counts.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/layers/layers.hpp"

using namespace digitnet;

TEST(MaxPoolFast, TwoByTwoMatchesNaivePoolingWithTies) {
  const int64_t N = 3, C = 2, H = 7, W = 9, OH = 3, OW = 4;
  Rng rng(21);
  Tensor x({N, C, H, W}), dy({N, C, OH, OW});
  // Few distinct levels, so many windows hold ties.
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.next_u64() % 4) - 1.5f;
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(rng.uniform()) + 0.5f;

  // Naive reference: scan the window row by row, strict '>' keeps the first maximum.
  std::vector<float> y_ref(static_cast<std::size_t>(N * C * OH * OW));
  std::vector<float> dx_ref(static_cast<std::size_t>(x.size()), 0.0f);
  int ties = 0;
  for (int64_t p = 0; p < N * C; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t at = -1;
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
  ASSERT_GT(ties, 5) << "the input should exercise ties";

  for (int threads : {1, 2, 3}) {
    LayerPtr pool = MaxPooling2D(2);
    ASSERT_EQ(pool->build({C, H, W}, rng), Shape({C, OH, OW}));
    ThreadPool tp(threads);
    Context ctx{true, &tp, &rng};
    Tensor y, dx;
    pool->forward(x, y, ctx);
    pool->backward(x, y, dy, &dx, ctx);
    ASSERT_EQ(y.size(), static_cast<int64_t>(y_ref.size()));
    for (int64_t i = 0; i < y.size(); ++i)
      ASSERT_EQ(y[i], y_ref[static_cast<std::size_t>(i)]) << "y[" << i << "], threads " << threads;
    for (int64_t i = 0; i < dx.size(); ++i)
      ASSERT_EQ(dx[i], dx_ref[static_cast<std::size_t>(i)])
          << "dx[" << i << "], threads " << threads;
  }
}
