// src/core/conv/algorithm.hpp (private) — the convolution algorithms, one
// object per family, behind one interface. Knows nothing of layers.
//
// An algorithm is made for one geometry (ConvParams) and keeps what it derives
// from the weights (Winograd's transformed filters, the direct kernels' packed
// layout: remade only when the weights change) and its per-participant buffers.
// Work is split over a ThreadPool statically, and per-participant sums are
// added in participant order, so results depend only on the thread count.
//
//   forward:   y = act(W ⋆ x + b)            x (n, C, H, W) -> y (n, F, OH, OW)
//   backward:  dW += Σ_n dz ⋆ x              dz = dLoss/d(pre-activation) (n, F, OH, OW)
//              dx  = Wᵀ ⋆ dz (transposed convolution)
#pragma once
#include <memory>
#include <vector>

#include "core/conv/plan.hpp"
#include "digitnet/core/thread_pool.hpp"

namespace digitnet::conv {

// Samples per sub-batch in backward (and oneDNN's forward calls): a
// participant's buffers for that many samples stay in L2 (docs/PERFORMANCE.md).
inline constexpr int kSubBatch = 8;

class ConvAlgorithm {
 public:
  explicit ConvAlgorithm(const ConvParams& p) : p_(p) {}
  virtual ~ConvAlgorithm() = default;
  ConvAlgorithm(const ConvAlgorithm&) = delete;
  ConvAlgorithm& operator=(const ConvAlgorithm&) = delete;

  virtual ConvBackend backend() const = 0;
  const ConvParams& params() const { return p_; }
  // Whether forward applies params().act itself; if not, the caller applies
  // its activation to y afterwards.
  virtual bool fuses_activation() const = 0;

  // y = W ⋆ x + b (b may be null), then the fused activation; n samples split over the pool.
  virtual void forward(ThreadPool& pool, int64_t n, const float* x, const float* w, const float* b,
                       float* y, bool training) = 0;
  // One image with the filters split over the pool (ConvPlan::split_image).
  virtual void forward_split(ThreadPool& pool, const float* x, const float* w, const float* b,
                             float* y, bool training);

  // Backward over the pool: begin_backward (serial), then backward for each
  // participant's sub-batches, then end_backward (serial).
  // accumulate: this batch part's weight gradient adds to the sum of earlier parts.
  virtual void begin_backward(ThreadPool& pool, const float* w, bool with_dx, bool accumulate);
  // Participant t's sub-batch of m samples: adds its weight gradient into the
  // participant's sum and, when dx is not null, overwrites dx. With relu_y
  // (algorithms that fold_activation_grad only) dz is dy, taken as
  // dy ⊙ [relu_y > 0], and the bias sums are added into db.
  struct Part {
    int t = 0, m = 0;
    const float* x = nullptr;
    const float* dz = nullptr;
    float* dx = nullptr;
    const float* relu_y = nullptr;
    float* db = nullptr;
  };
  virtual void backward(ThreadPool& pool, const float* w, const Part& part) = 0;
  // Only dx (the weight gradient comes from another algorithm).
  virtual void data_grad(ThreadPool& pool, int t, int m, const float* dz, const float* w,
                         float* dx) = 0;
  // Writes (add: adds) the weight gradient (F, C, k, k) summed over the
  // participants in their order. With more_parts an algorithm may keep its
  // sums for the batch's later parts and write nothing yet.
  virtual void end_backward(float* grad, bool add, bool more_parts);

 protected:
  float* dw_sum(int t) { return dw_sum_[static_cast<std::size_t>(t)].data(); }

  ConvParams p_;

 private:
  std::vector<std::vector<float>> dw_sum_;  // [participant] weight-gradient sum
  int threads_ = 0;                         // participants of the current backward
};

// The algorithm of family b for p. Every family supports every geometry except
// winograd (3x3, stride 1) and direct (stride 1), which the plan respects.
std::unique_ptr<ConvAlgorithm> make_conv_algorithm(ConvBackend b, const ConvParams& p);

// The im2col algorithm's extra entry point: the weight gradient of a
// single-channel layer's sub-batch as one GEMM (ConvPlan::batched_weight_grad_without_dx),
// with dz laid out filter-major, (F, m·OH·OW).
void im2col_batched_weight_grad(ConvAlgorithm& im2col, ThreadPool& pool, int t, int m,
                                const float* x, const float* dz_filter_major);

// The direct algorithm's one-image forward with its packed weights, into y
// (F, OH, OW); scratch holds direct_image_scratch() floats. direct_pack makes
// the packing current for w, once, before participants run images at once.
std::size_t direct_image_scratch(const ConvParams& p);
void direct_pack(ConvAlgorithm& direct, const float* w);
void direct_forward_image(const ConvAlgorithm& direct, const float* x, const float* w,
                          const float* b, float* y, float* scratch);

// Winograd's one image split by filters, each participant's planes 2x2/2
// max-pooled from its own scratch into y (F, OH/2, OW/2).
void winograd_forward_split_max_pool(ConvAlgorithm& winograd, ThreadPool& pool, const float* x,
                                     const float* w, const float* b, float* y);

}  // namespace digitnet::conv
