// src/layers/dense_plan.hpp (private) — which way Dense's forward runs: one
// pure function of the batch rows, the layer's size and the pool's threads,
// with its decision table in tests/test_layers_dense_split.cpp.
#pragma once
#include <cstdint>

namespace digitnet::detail {

enum class DenseForward {
  vecmat_one,  // one image, W small enough to stay in cache: one row times W on the calling thread
  split_inputs,  // few rows, large W: y = Σ_t x[:, K_t]·W[K_t, :], each participant its input
                 // features
  split_units,   // fewer rows than threads, large W, few inputs: each participant its output units
  rows,          // rows over the pool on sgemm
};

// Weights (1 MB) from which a few rows' product is worth splitting over the pool.
inline constexpr int64_t kDenseSplitWeights = int64_t{1} << 18;
// Rows up to which a large W is split by input features (training's micro-batches, one image).
inline constexpr int64_t kDenseFewRows = 32;

inline DenseForward select_dense_forward(int64_t rows, int64_t inputs, int64_t units, int threads) {
  const bool large = inputs * units >= kDenseSplitWeights;
  if (rows == 1 && !large) return DenseForward::vecmat_one;
  // Each participant reads only the rows of W its dx and dW use, and the inputs
  // its share of the layers before produced; worth it with >= 64 inputs each.
  if (threads > 1 && rows <= kDenseFewRows && large && inputs >= 64 * threads)
    return DenseForward::split_inputs;
  // The product outweighs waking the pool (~10 µs) only for a large W.
  if (rows < threads && units >= 2 * threads && large) return DenseForward::split_units;
  return DenseForward::rows;
}

}  // namespace digitnet::detail
