// Optimizers with Keras semantics: SGD (momentum / Nesterov), Adam, AdamW, RMSprop.
//
// Each update rule lives in one small loop over floats (restrict pointers, no
// branches inside) so the compiler can vectorise it. The updates are
// elementwise: step_parallel gives every participant a contiguous chunk of each
// parameter, and since each element's update depends on that element alone
// (the vector lanes, Adam's AVX-512 body and the scalar tail compute the same
// expression; the file is built with -ffp-contract=off), the bits do not depend
// on the split.
#include "digitnet/model/optimizer.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/cpu.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/core/thread_pool.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace digitnet {
namespace {

// ---- update rules ---------------------------------------------------------

// Plain SGD: g' = g + wd·w; w -= lr·g'.
void sgd_plain_update(float* __restrict w, const float* __restrict g, int64_t n, float lr,
                      float wd) {
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);
}

// Momentum SGD (Keras form): g' = g + wd·w; v = μ·v − lr·g'; w += v.
void sgd_momentum_update(float* __restrict w, const float* __restrict g, float* __restrict v,
                         int64_t n, float lr, float mu, float wd) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + wd * w[i];
    v[i] = mu * v[i] - lr * gi;
    w[i] += v[i];
  }
}

// Nesterov SGD (Keras form): g' = g + wd·w; v = μ·v − lr·g'; w += μ·v − lr·g'.
void sgd_nesterov_update(float* __restrict w, const float* __restrict g, float* __restrict v,
                         int64_t n, float lr, float mu, float wd) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + wd * w[i];
    v[i] = mu * v[i] - lr * gi;
    w[i] += mu * v[i] - lr * gi;
  }
}

// Adam and RMSprop need a square root, which GCC will not auto-vectorise
// while sqrt may set errno. Their rules are therefore written once as a
// template over the lane type and run on 4-float SSE vectors (GCC vector
// extensions) with a scalar tail. Vector and scalar lanes perform the same
// IEEE operations in the same order, so results do not depend on the split.
#if defined(__SSE2__)
using Float4 = float __attribute__((vector_size(16)));
constexpr int64_t kLanes = 4;
inline Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, Float4 v) { std::memcpy(p, &v, sizeof v); }
inline Float4 lane_sqrt(Float4 v) { return _mm_sqrt_ps(v); }
#endif
inline float lane_sqrt(float v) { return std::sqrt(v); }

// Runs rule(w, g, s0, s1) on every element; s0/s1 are state slots (s1 may be
// null when the rule ignores it).
template <class Rule>
void for_each_lane(float* __restrict w, const float* __restrict g, float* __restrict s0,
                   float* __restrict s1, int64_t n, const Rule& rule) {
  int64_t i = 0;
#if defined(__SSE2__)
  for (; i + kLanes <= n; i += kLanes) {
    Float4 wv = load4(w + i), a = load4(s0 + i), b = s1 ? load4(s1 + i) : Float4{};
    rule(wv, load4(g + i), a, b);
    store4(w + i, wv);
    store4(s0 + i, a);
    if (s1) store4(s1 + i, b);
  }
#endif
  for (; i < n; ++i) {
    float unused = 0.0f;
    rule(w[i], g[i], s0[i], s1 ? s1[i] : unused);
  }
}

// Adam / AdamW at step t:
//   g' = g + l2·w                       (Adam's L2 weight decay)
//   m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²
//   w −= lr·wd·w                        (AdamW's decoupled decay, on the old w)
//   w −= lr · m̂ / (sqrt(v̂) + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
// written as w = keep·w − (lr/bc1) · m / (sqrt(v)·(1/sqrt(bc2)) + ε), keep = 1 − lr·wd.
struct AdamCoefficients {
  float beta1, beta2, epsilon;
  float lr_over_bc1;       // lr / (1 − β1^t)
  float inv_sqrt_bc2;      // 1 / sqrt(1 − β2^t)
  float l2;                // L2 coefficient added to the gradient
  float decoupled_factor;  // 1 − lr·wd (AdamW) or 1
};

#if defined(__x86_64__) && defined(__GNUC__)
// The rule below, 16 lanes at a time with AVX-512: the same IEEE operations in
// the same order (separate multiplies and adds: this file is built with
// -ffp-contract=off; correctly rounded sqrt and divide), so every element gets
// the bits the 4-lane and scalar code give it.
// Returns how many leading elements it updated (a multiple of 16). Four
// sqrt/divide lanes at a time were 13 % of the MLP's training step.
__attribute__((target("avx512f"))) int64_t adam_update_avx512(float* w, const float* g, float* m,
                                                              float* v, int64_t n,
                                                              const AdamCoefficients& c) {
  const __m512 b1 = _mm512_set1_ps(c.beta1), b2 = _mm512_set1_ps(c.beta2),
               one_b1 = _mm512_set1_ps(1.0f - c.beta1), one_b2 = _mm512_set1_ps(1.0f - c.beta2),
               eps = _mm512_set1_ps(c.epsilon), step = _mm512_set1_ps(c.lr_over_bc1),
               inv_bc2 = _mm512_set1_ps(c.inv_sqrt_bc2), l2 = _mm512_set1_ps(c.l2),
               keep = _mm512_set1_ps(c.decoupled_factor);
  // (The masked sqrt, all lanes selected: the plain one starts from
  // _mm512_undefined_ps, which GCC 12 reports as maybe uninitialised.)
  const __mmask16 all = 0xFFFF;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 wi = _mm512_loadu_ps(w + i), mi = _mm512_loadu_ps(m + i), vi = _mm512_loadu_ps(v + i);
    const __m512 gi = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(l2, wi));
    mi = _mm512_add_ps(_mm512_mul_ps(b1, mi), _mm512_mul_ps(one_b1, gi));
    vi = _mm512_add_ps(_mm512_mul_ps(b2, vi), _mm512_mul_ps(_mm512_mul_ps(one_b2, gi), gi));
    const __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_mask_sqrt_ps(vi, all, vi), inv_bc2), eps);
    wi = _mm512_sub_ps(_mm512_mul_ps(keep, wi), _mm512_div_ps(_mm512_mul_ps(step, mi), den));
    _mm512_storeu_ps(w + i, wi);
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
  }
  return i;
}
#endif

void adam_update(float* w, const float* g, float* m, float* v, int64_t n,
                 const AdamCoefficients& c) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f")) {
    const int64_t done = adam_update_avx512(w, g, m, v, n, c);
    w += done, g += done, m += done, v += done, n -= done;
  }
#endif
  const float b1 = c.beta1, b2 = c.beta2, one_b1 = 1.0f - c.beta1, one_b2 = 1.0f - c.beta2;
  const float eps = c.epsilon, step = c.lr_over_bc1, inv_bc2 = c.inv_sqrt_bc2, l2 = c.l2;
  const float keep = c.decoupled_factor;
  for_each_lane(w, g, m, v, n, [=](auto& wi, auto gi, auto& mi, auto& vi) {
    gi = gi + l2 * wi;
    mi = b1 * mi + one_b1 * gi;
    vi = b2 * vi + one_b2 * gi * gi;
    wi = keep * wi - step * mi / (lane_sqrt(vi) * inv_bc2 + eps);
  });
}

// RMSprop (Keras form): g' = g + wd·w; ms = ρ·ms + (1−ρ)·g'²; w −= lr·g'/(sqrt(ms) + ε).
void rmsprop_update(float* w, const float* g, float* ms, int64_t n, float lr, float rho, float eps,
                    float wd) {
  const float one_rho = 1.0f - rho;
  for_each_lane(w, g, ms, nullptr, n, [=](auto& wi, auto gi, auto& msi, auto&) {
    gi = gi + wd * wi;
    msi = rho * msi + one_rho * gi * gi;
    wi = wi - lr * gi / (lane_sqrt(msi) + eps);
  });
}

// RMSprop with momentum: ms as above; mom = μ·mom + lr·g'/(sqrt(ms) + ε); w −= mom.
void rmsprop_momentum_update(float* w, const float* g, float* ms, float* mom, int64_t n, float lr,
                             float rho, float mu, float eps, float wd) {
  const float one_rho = 1.0f - rho;
  for_each_lane(w, g, ms, mom, n, [=](auto& wi, auto gi, auto& msi, auto& momi) {
    gi = gi + wd * wi;
    msi = rho * msi + one_rho * gi * gi;
    momi = mu * momi + lr * gi / (lane_sqrt(msi) + eps);
    wi = wi - momi;
  });
}

// ---- hyper-parameter checks -------------------------------------------------

void require(bool ok, const std::string& who, const std::string& field, const std::string& rule,
             float value) {
  if (!ok)
    throw Error("optimizer " + who + ": " + field + " must be " + rule + ", got " +
                std::to_string(value));
}
void require_unit(const std::string& who, const std::string& field, float value) {
  require(value >= 0.0f && value < 1.0f, who, field, "in [0, 1)", value);
}
void require_nonneg(const std::string& who, const std::string& field, float value) {
  require(value >= 0.0f && std::isfinite(value), who, field, "finite and >= 0", value);
}
void require_positive(const std::string& who, const std::string& field, float value) {
  require(value > 0.0f && std::isfinite(value), who, field, "finite and > 0", value);
}

// ---- shared state handling ---------------------------------------------------

// Per-parameter state (moments), keyed by position in the parameter list and
// sized lazily on the first step.
class StatefulOptimizer : public Optimizer {
 public:
  void step(const std::vector<Param*>& params, float lr) final { run(params, lr, nullptr); }
  void step_parallel(const std::vector<Param*>& params, float lr, ThreadPool& pool) final {
    run(params, lr, &pool);
  }

 protected:
  // How many state slots (each the size of its parameter) the rule needs.
  virtual int num_slots() const = 0;
  // Called once per step before the per-parameter updates.
  virtual void begin_step(int64_t /*t*/, float /*lr*/) {}
  // Elements [i0, i0 + n) of parameter `index` (its value, grad and slots).
  virtual void update(std::size_t index, Param& p, float lr, int64_t i0, int64_t n) = 0;

  float* slot(int s, std::size_t index) {
    return slots_[static_cast<std::size_t>(s)][index].data();
  }

 private:
  // Below this many elements in all, waking the pool costs more than the update.
  static constexpr int64_t kParallelElements = 1 << 15;

  void run(const std::vector<Param*>& params, float lr, ThreadPool* pool) {
    if (!std::isfinite(lr) || lr < 0.0f)
      throw Error("optimizer " + name() + ": learning rate must be finite and >= 0, got " +
                  std::to_string(lr));
    prepare(params);
    const int64_t t = iterations + 1;  // 1-based step number for bias correction
    begin_step(t, lr);
    int64_t total = 0;
    for (const Param* p : params) total += p->value.size();
    if (pool && pool->size() > 1 && total >= kParallelElements) {
      // Participant k updates chunk k of every parameter: one wake-up per step.
      const int parts = pool->size();
      pool->run([&](int k) {
        for (std::size_t i = 0; i < params.size(); ++i) {
          const auto [b, e] = ThreadPool::chunk(params[i]->value.size(), parts, k);
          if (b < e) update(i, *params[i], lr, b, e - b);
        }
      });
    } else {
      for (std::size_t i = 0; i < params.size(); ++i)
        update(i, *params[i], lr, 0, params[i]->value.size());
    }
    iterations = t;
  }

  void prepare(const std::vector<Param*>& params) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Param* p = params[i];
      if (p == nullptr)
        throw Error("optimizer " + name() + ": parameter " + std::to_string(i) + " is null");
      if (p->grad.shape() != p->value.shape())
        throw Error("optimizer " + name() + ": parameter " + std::to_string(i) + " (" + p->name +
                    ") has gradient shape " + shape_str(p->grad.shape()) + " but value shape " +
                    shape_str(p->value.shape()));
    }
    if (!initialised_) {
      shapes_.clear();
      for (const Param* p : params) shapes_.push_back(p->value.shape());
      slots_.assign(static_cast<std::size_t>(num_slots()), {});
      for (auto& slot_set : slots_)
        for (const Param* p : params)
          slot_set.emplace_back(static_cast<std::size_t>(p->value.size()), 0.0f);
      initialised_ = true;
      return;
    }
    if (params.size() != shapes_.size())
      throw Error("optimizer " + name() + ": step got " + std::to_string(params.size()) +
                  " parameters but its state was built for " + std::to_string(shapes_.size()) +
                  " (the parameter list must not change between steps)");
    for (std::size_t i = 0; i < params.size(); ++i)
      if (params[i]->value.shape() != shapes_[i])
        throw Error("optimizer " + name() + ": parameter " + std::to_string(i) + " (" +
                    params[i]->name + ") changed shape from " + shape_str(shapes_[i]) + " to " +
                    shape_str(params[i]->value.shape()));
  }

  bool initialised_ = false;
  std::vector<Shape> shapes_;
  std::vector<std::vector<std::vector<float>>> slots_;  // [slot][param][element]
};

class SgdOptimizer final : public StatefulOptimizer {
 public:
  SgdOptimizer(float lr, float momentum, bool nesterov, float weight_decay)
      : momentum_(momentum), nesterov_(nesterov), weight_decay_(weight_decay) {
    require_nonneg("sgd", "learning_rate", lr);
    require_unit("sgd", "momentum", momentum);
    require_nonneg("sgd", "weight_decay", weight_decay);
    learning_rate = lr;
  }
  std::string name() const override { return "sgd"; }
  nlohmann::json config() const override {
    return {{"learning_rate", learning_rate},
            {"momentum", momentum_},
            {"nesterov", nesterov_},
            {"weight_decay", weight_decay_}};
  }

 protected:
  int num_slots() const override { return momentum_ > 0.0f ? 1 : 0; }
  void update(std::size_t index, Param& p, float lr, int64_t i0, int64_t n) override {
    const float wd = p.decay ? weight_decay_ : 0.0f;
    float* w = p.value.data() + i0;
    const float* g = p.grad.data() + i0;
    if (momentum_ == 0.0f) {
      sgd_plain_update(w, g, n, lr, wd);
    } else if (nesterov_) {
      sgd_nesterov_update(w, g, slot(0, index) + i0, n, lr, momentum_, wd);
    } else {
      sgd_momentum_update(w, g, slot(0, index) + i0, n, lr, momentum_, wd);
    }
  }

 private:
  float momentum_;
  bool nesterov_;
  float weight_decay_;
};

class AdamOptimizer final : public StatefulOptimizer {
 public:
  AdamOptimizer(bool decoupled, float lr, float beta1, float beta2, float epsilon,
                float weight_decay)
      : decoupled_(decoupled),
        beta1_(beta1),
        beta2_(beta2),
        epsilon_(epsilon),
        weight_decay_(weight_decay) {
    const std::string who = name();
    require_nonneg(who, "learning_rate", lr);
    require_unit(who, "beta_1", beta1);
    require_unit(who, "beta_2", beta2);
    require_positive(who, "epsilon", epsilon);
    require_nonneg(who, "weight_decay", weight_decay);
    learning_rate = lr;
  }
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  nlohmann::json config() const override {
    return {{"learning_rate", learning_rate},
            {"beta_1", beta1_},
            {"beta_2", beta2_},
            {"epsilon", epsilon_},
            {"weight_decay", weight_decay_}};
  }

 protected:
  int num_slots() const override { return 2; }
  void begin_step(int64_t t, float lr) override {
    const double bc1 = 1.0 - std::pow(static_cast<double>(beta1_), static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(static_cast<double>(beta2_), static_cast<double>(t));
    coeff_.beta1 = beta1_;
    coeff_.beta2 = beta2_;
    coeff_.epsilon = epsilon_;
    coeff_.lr_over_bc1 = static_cast<float>(static_cast<double>(lr) / bc1);
    coeff_.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  }
  void update(std::size_t index, Param& p, float lr, int64_t i0, int64_t n) override {
    AdamCoefficients c = coeff_;
    const float wd = p.decay ? weight_decay_ : 0.0f;
    c.l2 = decoupled_ ? 0.0f : wd;
    c.decoupled_factor = decoupled_ ? 1.0f - lr * wd : 1.0f;
    adam_update(p.value.data() + i0, p.grad.data() + i0, slot(0, index) + i0, slot(1, index) + i0,
                n, c);
  }

 private:
  bool decoupled_;
  float beta1_, beta2_, epsilon_, weight_decay_;
  AdamCoefficients coeff_{};
};

class RmspropOptimizer final : public StatefulOptimizer {
 public:
  RmspropOptimizer(float lr, float rho, float momentum, float epsilon, float weight_decay)
      : rho_(rho), momentum_(momentum), epsilon_(epsilon), weight_decay_(weight_decay) {
    require_nonneg("rmsprop", "learning_rate", lr);
    require_unit("rmsprop", "rho", rho);
    require_unit("rmsprop", "momentum", momentum);
    require_positive("rmsprop", "epsilon", epsilon);
    require_nonneg("rmsprop", "weight_decay", weight_decay);
    learning_rate = lr;
  }
  std::string name() const override { return "rmsprop"; }
  nlohmann::json config() const override {
    return {{"learning_rate", learning_rate},
            {"rho", rho_},
            {"momentum", momentum_},
            {"epsilon", epsilon_},
            {"weight_decay", weight_decay_}};
  }

 protected:
  int num_slots() const override { return momentum_ > 0.0f ? 2 : 1; }
  void update(std::size_t index, Param& p, float lr, int64_t i0, int64_t n) override {
    const float wd = p.decay ? weight_decay_ : 0.0f;
    if (momentum_ > 0.0f) {
      rmsprop_momentum_update(p.value.data() + i0, p.grad.data() + i0, slot(0, index) + i0,
                              slot(1, index) + i0, n, lr, rho_, momentum_, epsilon_, wd);
    } else {
      rmsprop_update(p.value.data() + i0, p.grad.data() + i0, slot(0, index) + i0, n, lr, rho_,
                     epsilon_, wd);
    }
  }

 private:
  float rho_, momentum_, epsilon_, weight_decay_;
};

// ---- config parsing ------------------------------------------------------------

// Reads typed fields from an optimizer config, rejecting unknown ones.
class ConfigReader {
 public:
  ConfigReader(std::string who, const nlohmann::json& config,
               std::initializer_list<const char*> allowed)
      : who_(std::move(who)), config_(config) {
    if (!config.is_null() && !config.is_object())
      throw Error("optimizer " + who_ + ": config must be a JSON object, got " + config.dump());
    const std::set<std::string> known(allowed.begin(), allowed.end());
    if (config.is_object())
      for (const auto& item : config.items())
        if (!known.count(item.key()))
          throw Error("optimizer " + who_ + ": unknown config field '" + item.key() + "'");
  }
  float number(const char* key, float fallback) const {
    if (!config_.is_object() || !config_.contains(key)) return fallback;
    const auto& v = config_.at(key);
    if (!v.is_number())
      throw Error("optimizer " + who_ + ": field '" + key + "' must be a number, got " + v.dump());
    return v.get<float>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!config_.is_object() || !config_.contains(key)) return fallback;
    const auto& v = config_.at(key);
    if (!v.is_boolean())
      throw Error("optimizer " + who_ + ": field '" + key + "' must be true or false, got " +
                  v.dump());
    return v.get<bool>();
  }

 private:
  std::string who_;
  const nlohmann::json& config_;
};

}  // namespace

OptimizerPtr SGD(float lr, float momentum, bool nesterov, float weight_decay) {
  return std::make_shared<SgdOptimizer>(lr, momentum, nesterov, weight_decay);
}

OptimizerPtr Adam(float lr, float beta1, float beta2, float epsilon, float weight_decay) {
  return std::make_shared<AdamOptimizer>(false, lr, beta1, beta2, epsilon, weight_decay);
}

OptimizerPtr AdamW(float lr, float weight_decay, float beta1, float beta2, float epsilon) {
  return std::make_shared<AdamOptimizer>(true, lr, beta1, beta2, epsilon, weight_decay);
}

OptimizerPtr RMSprop(float lr, float rho, float momentum, float epsilon, float weight_decay) {
  return std::make_shared<RmspropOptimizer>(lr, rho, momentum, epsilon, weight_decay);
}

OptimizerPtr make_optimizer(const std::string& name, const nlohmann::json& config) {
  std::string key = name;
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (key == "sgd") {
    const ConfigReader r(key, config, {"learning_rate", "momentum", "nesterov", "weight_decay"});
    return SGD(r.number("learning_rate", 0.01f), r.number("momentum", 0.0f),
               r.boolean("nesterov", false), r.number("weight_decay", 0.0f));
  }
  if (key == "adam" || key == "adamw") {
    const ConfigReader r(key, config,
                         {"learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay"});
    const float lr = r.number("learning_rate", 1e-3f);
    const float b1 = r.number("beta_1", 0.9f), b2 = r.number("beta_2", 0.999f);
    const float eps = r.number("epsilon", 1e-7f);
    if (key == "adam") return Adam(lr, b1, b2, eps, r.number("weight_decay", 0.0f));
    return AdamW(lr, r.number("weight_decay", 0.004f), b1, b2, eps);
  }
  if (key == "rmsprop") {
    const ConfigReader r(key, config,
                         {"learning_rate", "rho", "momentum", "epsilon", "weight_decay"});
    return RMSprop(r.number("learning_rate", 1e-3f), r.number("rho", 0.9f),
                   r.number("momentum", 0.0f), r.number("epsilon", 1e-7f),
                   r.number("weight_decay", 0.0f));
  }
  throw Error("unknown optimizer '" + name + "' (expected sgd, adam, adamw or rmsprop)");
}

}  // namespace digitnet
