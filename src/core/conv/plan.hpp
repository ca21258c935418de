// src/core/conv/plan.hpp (private) — which convolution algorithm runs where.
//
// select_conv_plan is the one place that chooses: a pure function of the
// convolution's geometry, the pool's thread count, what the CPU (and oneDNN on
// it) offers, and an optional override. The layer asks it and runs what it
// says; tests/test_core_conv_plan.cpp holds its decision table, and
// docs/PERFORMANCE.md ("Which algorithm runs where") gives the reason for
// each row. Knows nothing of layers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/direct_conv.hpp"

namespace digitnet::conv {

// The activation after the convolution, as the kernels see it: relu and tanh
// may be applied inside a kernel; any other is the caller's pass.
enum class Act { linear, relu, tanh, other };

// One convolution, per sample: x (c, h, w) -> y (f, oh, ow) with a k x k kernel.
struct ConvParams {
  int c = 1, h = 1, w = 1;
  int f = 1, k = 1, stride = 1;
  int pad_top = 0, pad_left = 0;  // bottom/right padding follows from oh, ow
  int oh = 1, ow = 1;
  Act act = Act::linear;
  bool bias = true;

  int64_t macs() const { return int64_t{oh} * ow * f * c * k * k; }
  // The activation the direct kernel applies (none for `other`).
  kernels::ConvAct direct_act() const {
    return act == Act::relu   ? kernels::ConvAct::relu
           : act == Act::tanh ? kernels::ConvAct::tanh
                              : kernels::ConvAct::linear;
  }
  kernels::DirectConvShape direct_shape() const {
    return {c, h, w, f, k, k, pad_top, pad_left, oh, ow};
  }
  // Predicates the selection is written in.
  bool use_winograd() const { return k == 3 && stride == 1 && c >= 16 && f >= 16; }
  // A first layer: one input channel (no dx is needed).
  bool single_channel() const { return c == 1; }
  // Small enough that the direct kernel's broadcasts stay in registers.
  bool small_for_direct() const { return c == 1 || (f <= 16 && c * k * k <= 160); }
};

// The algorithm families (each a ConvAlgorithm in algorithm.hpp).
enum class ConvBackend {
  winograd,       // own Winograd F(4x4,3x3) (core/winograd.hpp)
  direct,         // own direct kernels (core/direct_conv.hpp)
  dnnl_direct,    // oneDNN's direct JIT convolutions
  dnnl_winograd,  // oneDNN's Winograd (only when asked for)
  im2col,         // im2col + sgemm, the plain reference
};
const char* backend_name(ConvBackend b);

// What the machine offers, as the plan needs it.
struct ConvSupport {
  bool avx512 = false;         // the own direct kernels' AVX-512 bodies
  bool pool_avx512 = false;    // the 2x2 max pooling's AVX-512 kernel
  bool dnnl_winograd = false;  // oneDNN's Winograd for this geometry (probed only when asked for)
};
// The support for p on this CPU (probes oneDNN; dnnl_winograd only if `probe_winograd`).
ConvSupport conv_support(const ConvParams& p, bool probe_winograd);

// DIGITNET_CONV_KERNEL=winograd|direct|dnnl-direct|dnnl-winograd|im2col, read
// once per process (for tests and A/B measurements); nullopt when unset. An
// unknown value is an Error naming it.
std::optional<ConvBackend> conv_override();
std::optional<ConvBackend> parse_backend(const std::string& name);

struct ConvPlan {
  ConvBackend family = ConvBackend::dnnl_direct;  // the layer's main algorithm
  bool forced = false;                            // an override chose the family

  // Forward of a batch (n > 1).
  ConvBackend batch_forward = ConvBackend::dnnl_direct;
  // Forward of one image (latency), and whether its filters are split over the
  // pool (each participant writes its own planes).
  ConvBackend image_forward = ConvBackend::dnnl_direct;
  bool split_image = false;

  // Backward: the weight gradient and the input gradient. When both name the
  // same algorithm it runs them in one call (Winograd and oneDNN share dz's
  // transform or reorder).
  ConvBackend weight_grad = ConvBackend::dnnl_direct;
  ConvBackend data_grad = ConvBackend::dnnl_direct;
  // A layer that needs no dx (the model's first) and has one input channel
  // with >= 16 filters: its weight gradient is one GEMM per sub-batch on
  // im2col columns laid side by side.
  bool batched_weight_grad_without_dx = false;
  // The Winograd backward reads dy with relu' and the bias sum folded in.
  bool fold_activation_grad = false;
};

// The plan for p on `threads` pool participants. Pure: the same inputs give the same plan.
ConvPlan select_conv_plan(const ConvParams& p, int threads, const ConvSupport& s,
                          std::optional<ConvBackend> forced = std::nullopt);

// Thresholds the plan uses (multiply-accumulates of one image's forward).
inline constexpr int64_t kSplitImageMacs = 1 << 20;        // split one image's filters
inline constexpr int64_t kSplitImageDirectMacs = 1 << 17;  // ... on the direct kernel

}  // namespace digitnet::conv
