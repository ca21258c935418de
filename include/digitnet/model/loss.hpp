// digitnet/model/loss.hpp — losses.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "digitnet/core/tensor.hpp"

namespace digitnet {

// What a batch should have been: integer labels (sparse), or a (N, K) tensor
// of target probabilities (one-hot). A sparse loss needs labels; a one-hot
// loss takes probs, or one-hot-encodes labels when only those are given.
struct Targets {
  std::span<const int32_t> labels;
  const Tensor* probs = nullptr;
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;  // "sparse_categorical_crossentropy"
  virtual nlohmann::json config() const = 0;

  // output is (N, K). When `logits` is true it holds pre-softmax scores and the
  // loss applies a numerically stable log-softmax itself (the fused path the
  // model uses when its last layer ends in softmax); otherwise it holds
  // probabilities. Returns the mean loss over the batch; when grad is not null
  // resizes it to (N, K) and writes dMeanLoss/doutput (w.r.t. the logits when
  // `logits` is true).
  virtual float compute(const Tensor& output, const Targets& targets, Tensor* grad,
                        bool logits) const = 0;
};

using LossPtr = std::shared_ptr<Loss>;

// Cross-entropy with integer labels. label_smoothing ε mixes the one-hot target
// with the uniform distribution: t = (1-ε)·onehot + ε/K.
LossPtr sparse_categorical_crossentropy(float label_smoothing = 0.0f);
// Cross-entropy with one-hot (or soft) target probabilities.
LossPtr categorical_crossentropy(float label_smoothing = 0.0f);
// By name ("sparse_categorical_crossentropy", "categorical_crossentropy") and config.
LossPtr make_loss(const std::string& name, const nlohmann::json& config = {});

}  // namespace digitnet
