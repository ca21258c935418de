// Cross-entropy losses (sparse and one-hot), with optional label smoothing.
//
// With logits z (the fused softmax path) the per-sample loss is
//   loss_i = Σ_k t_ik (logsumexp(z_i) − z_ik)
// (= logsumexp(z_i) − Σ_k t_ik z_ik for targets summing to one), computed with
// the row maximum subtracted so it stays finite for huge logits; its gradient
// is (Σ_k t_ik · softmax(z_i) − t_i) / N, i.e. (softmax − t)/N.
// With probabilities p (Keras from_logits=False) p is clipped to
// [1e-7, 1 − 1e-7] and loss_i = −Σ_k t_ik log p_ik; the gradient is −t/(p·N)
// where p lies inside the clip range and 0 where the clip is active.
#include "digitnet/model/loss.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"

namespace digitnet {
namespace {

constexpr float kProbEpsilon = 1e-7f;  // Keras backend.epsilon()

float check_smoothing(const std::string& who, float eps) {
  if (!(eps >= 0.0f && eps <= 1.0f))
    throw Error(who + ": label_smoothing must be in [0, 1], got " + std::to_string(eps));
  return eps;
}

class CrossEntropy final : public Loss {
 public:
  CrossEntropy(bool sparse, float label_smoothing)
      : sparse_(sparse), smoothing_(check_smoothing(loss_name(sparse), label_smoothing)) {}

  std::string name() const override { return loss_name(sparse_); }
  nlohmann::json config() const override { return {{"label_smoothing", smoothing_}}; }

  float compute(const Tensor& output, const Targets& targets, Tensor* grad,
                bool logits) const override {
    const std::string who = name();
    if (output.rank() != 2)
      throw Error(who + ": output must have shape (N, K), got " + shape_str(output.shape()));
    const int64_t n = output.dim(0);
    const int64_t k = output.dim(1);
    if (n <= 0 || k <= 0) throw Error(who + ": empty output of shape " + shape_str(output.shape()));

    // Which targets to use: labels (one-hot-encoded here) or a probability tensor.
    const Tensor* probs = nullptr;
    if (sparse_ || targets.probs == nullptr) {
      if (targets.labels.empty())
        throw Error(who + ": needs integer labels" +
                    (sparse_ ? std::string() : std::string(" or target probabilities")));
      if (static_cast<int64_t>(targets.labels.size()) != n)
        throw Error(who + ": got " + std::to_string(targets.labels.size()) + " labels for " +
                    std::to_string(n) + " samples");
      for (int64_t i = 0; i < n; ++i) {
        const int32_t y = targets.labels[static_cast<std::size_t>(i)];
        if (y < 0 || y >= k)
          throw Error(who + ": sample " + std::to_string(i) + ": label " + std::to_string(y) +
                      " out of range [0, " + std::to_string(k) + ")");
      }
    } else {
      probs = targets.probs;
      if (probs->shape() != output.shape())
        throw Error(who + ": target shape " + shape_str(probs->shape()) +
                    " does not match output shape " + shape_str(output.shape()));
    }

    if (grad != nullptr) grad->resize(output.shape());
    const double eps = smoothing_;
    const double uniform = eps / static_cast<double>(k);
    const double inv_n = 1.0 / static_cast<double>(n);
    std::vector<double> t(static_cast<std::size_t>(k));
    std::vector<double> work(static_cast<std::size_t>(k));
    double total = 0.0;

    for (int64_t i = 0; i < n; ++i) {
      // Smoothed target row t = (1-ε)·target + ε/K.
      if (probs != nullptr) {
        const float* pr = probs->sample(i);
        for (int64_t j = 0; j < k; ++j)
          t[static_cast<std::size_t>(j)] = (1.0 - eps) * static_cast<double>(pr[j]) + uniform;
      } else {
        std::fill(t.begin(), t.end(), uniform);
        t[static_cast<std::size_t>(targets.labels[static_cast<std::size_t>(i)])] += 1.0 - eps;
      }
      const float* row = output.sample(i);
      float* grow = grad != nullptr ? grad->sample(i) : nullptr;
      total += logits ? row_from_logits(row, t.data(), work.data(), k, inv_n, grow)
                      : row_from_probs(row, t.data(), k, inv_n, grow);
    }
    return static_cast<float>(total * inv_n);
  }

 private:
  static std::string loss_name(bool sparse) {
    return sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy";
  }

  // loss_i = Σ t_k (lse − z_k) with lse = m + log Σ exp(z_k − m);
  // grad_k = (Σt · softmax_k − t_k) / N.
  static double row_from_logits(const float* z, const double* t, double* shifted, int64_t k,
                                double inv_n, float* g) {
    double m = z[0];
    for (int64_t j = 1; j < k; ++j) m = std::max(m, static_cast<double>(z[j]));
    double sum_exp = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      shifted[j] = static_cast<double>(z[j]) - m;  // <= 0
      sum_exp += std::exp(shifted[j]);
    }
    const double log_sum = std::log(sum_exp);  // lse − m, in [0, log K]
    double loss = 0.0, t_sum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      loss += t[j] * (log_sum - shifted[j]);
      t_sum += t[j];
    }
    if (g != nullptr) {
      for (int64_t j = 0; j < k; ++j) {
        const double softmax = std::exp(shifted[j] - log_sum);
        g[j] = static_cast<float>((t_sum * softmax - t[j]) * inv_n);
      }
    }
    return loss;
  }

  // loss_i = −Σ t_k log clip(p_k); grad_k = −t_k / (clip(p_k)·N), 0 where clipped.
  static double row_from_probs(const float* p, const double* t, int64_t k, double inv_n, float* g) {
    constexpr float lo = kProbEpsilon;
    constexpr float hi = 1.0f - kProbEpsilon;
    double loss = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const float pc = std::clamp(p[j], lo, hi);
      loss -= t[j] * std::log(static_cast<double>(pc));
      if (g != nullptr) {
        const bool inside = p[j] > lo && p[j] < hi;
        g[j] = inside ? static_cast<float>(-t[j] / static_cast<double>(pc) * inv_n) : 0.0f;
      }
    }
    return loss;
  }

  bool sparse_;
  float smoothing_;
};

}  // namespace

LossPtr sparse_categorical_crossentropy(float label_smoothing) {
  return std::make_shared<CrossEntropy>(true, label_smoothing);
}

LossPtr categorical_crossentropy(float label_smoothing) {
  return std::make_shared<CrossEntropy>(false, label_smoothing);
}

LossPtr make_loss(const std::string& name, const nlohmann::json& config) {
  const bool sparse = name == "sparse_categorical_crossentropy";
  if (!sparse && name != "categorical_crossentropy")
    throw Error("unknown loss '" + name +
                "' (expected sparse_categorical_crossentropy or categorical_crossentropy)");
  if (!config.is_null() && !config.is_object())
    throw Error("loss " + name + ": config must be a JSON object, got " + config.dump());
  float smoothing = 0.0f;
  if (config.is_object()) {
    for (const auto& [key, value] : config.items()) {
      if (key != "label_smoothing")
        throw Error("loss " + name + ": unknown config field '" + key + "'");
      if (!value.is_number())
        throw Error("loss " + name + ": field 'label_smoothing' must be a number, got " +
                    value.dump());
      smoothing = value.get<float>();
    }
  }
  return sparse ? sparse_categorical_crossentropy(smoothing) : categorical_crossentropy(smoothing);
}

}  // namespace digitnet
