// Dropout's mask stream as documented at the top of src/layers/dropout.cpp: one
// seed drawn from ctx.rng per training forward, then 32 bits per element from a
// counter-based SplitMix64. Checked against a scalar re-implementation here, for
// sizes that are not multiples of the 64-element mask words and several thread
// counts, and in place (y sharing x's storage).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/layers/layers.hpp"

using namespace digitnet;

namespace {

// The documented stream, one element at a time.
std::vector<bool> reference_mask(uint64_t seed, int64_t n, float rate) {
  const uint64_t t = static_cast<uint64_t>(static_cast<double>(rate) * 4294967296.0);
  std::vector<bool> keep(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = seed + static_cast<uint64_t>(i / 2 + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const uint64_t u = i % 2 == 0 ? (z & 0xFFFFFFFFull) : (z >> 32);
    keep[static_cast<std::size_t>(i)] = u >= t;
  }
  return keep;
}

Tensor ramp(const Shape& s) {
  Tensor x(s);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = 0.5f + 0.001f * static_cast<float>(i % 997);
  return x;
}

}  // namespace

TEST(DropoutStream, MatchesTheDocumentedCounterBasedStreamForAnyThreadCount) {
  const Shape per{5, 37};  // 7·185 = 1295 elements: 20 full words and a partial one
  const float rate = 0.3f;
  const Tensor x = ramp(with_batch(7, per)), g = ramp(with_batch(7, per));
  Rng init(0);
  LayerPtr d = Dropout(rate);
  d->build(per, init);
  uint64_t seed;
  {
    Rng r(99);
    seed = r.next_u64();  // the one draw a training forward makes
  }
  const std::vector<bool> keep = reference_mask(seed, x.size(), rate);
  const float scale = 1.0f / (1.0f - rate);
  int64_t kept = 0;
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    Rng rng(99);
    Tensor y, dx;
    d->forward(x, y, Context{true, &pool, &rng});
    d->backward(x, y, g, &dx, Context{true, &pool, &rng});
    kept = 0;
    for (int64_t i = 0; i < x.size(); ++i) {
      const bool k = keep[static_cast<std::size_t>(i)];
      kept += k;
      ASSERT_EQ(y[i], x[i] * (k ? scale : 0.0f)) << "y[" << i << "], threads " << threads;
      ASSERT_EQ(dx[i], g[i] * (k ? scale : 0.0f)) << "dx[" << i << "], threads " << threads;
    }
    // The generator advanced by exactly one draw.
    Rng after(99);
    after.next_u64();
    EXPECT_EQ(rng.next_u64(), after.next_u64());
  }
  EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(x.size()), 0.7, 0.04);
}

TEST(DropoutStream, InPlaceGivesTheSameOutputAndGradient) {
  const Shape per{3, 7, 7};
  Rng init(0);
  LayerPtr d = Dropout(0.5f);
  d->build(per, init);
  ASSERT_TRUE(d->supports_in_place());
  ThreadPool pool(2);
  const Tensor x = ramp(with_batch(5, per)), g = ramp(with_batch(5, per));
  Tensor y, dx;
  Rng r1(5);
  d->forward(x, y, Context{true, &pool, &r1});
  d->backward(x, y, g, &dx, Context{true, &pool, &r1});
  Tensor buf = x;
  Tensor yv = Tensor::view(buf.data(), buf.shape());
  Rng r2(5);
  d->forward(buf, yv, Context{true, &pool, &r2});
  ASSERT_EQ(std::memcmp(buf.data(), y.data(), sizeof(float) * std::size_t(y.size())), 0);
  Tensor dx2;
  d->backward(buf, yv, g, &dx2, Context{true, &pool, &r2});
  ASSERT_EQ(std::memcmp(dx2.data(), dx.data(), sizeof(float) * std::size_t(dx.size())), 0);
  // Inference in place is the identity.
  Tensor same = x;
  d->forward(same, same, Context{false, &pool, nullptr});
  ASSERT_EQ(std::memcmp(same.data(), x.data(), sizeof(float) * std::size_t(x.size())), 0);
}

TEST(DropoutStream, PartsOfABatchDrawTheWholeBatchsMask) {
  // Rows [a, b) with first_sample = a draw elements a·185 .. of the batch's
  // stream, bit for bit: even and odd offsets (185 is odd), parts of one row,
  // any thread count.
  const Shape per{5, 37};
  const float rate = 0.4f;
  const Tensor x = ramp(with_batch(7, per));
  Rng init(0);
  LayerPtr d = Dropout(rate);
  d->build(per, init);
  ThreadPool one(1);
  Tensor whole;
  Rng r0(42);
  d->forward(x, whole, Context{true, &one, &r0});
  for (int threads : {1, 3})
    for (const auto& [a, b] :
         std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {1, 4}, {2, 3}, {3, 7}, {6, 7}}) {
      ThreadPool pool(threads);
      Tensor part(with_batch(b - a, per)), y;
      std::copy(x.data() + a * 185, x.data() + b * 185, part.data());
      Rng r(42);  // each part starts from the batch's generator state
      d->forward(part, y, Context{true, &pool, &r, a, false});
      ASSERT_EQ(
          std::memcmp(y.data(), whole.data() + a * 185, sizeof(float) * std::size_t(y.size())), 0)
          << "rows " << a << ".." << b << ", threads " << threads;
    }
}
