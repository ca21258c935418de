// Learning-rate schedules: constant, step decay, cosine (with linear warmup)
// and one-cycle (PyTorch OneCycleLR, anneal_strategy='cos', three_phase=False).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>
#include <set>
#include <string>

#include "digitnet/core/error.hpp"
#include "digitnet/model/optimizer.hpp"

namespace digitnet {
namespace {

// Cosine interpolation from `start` (pct 0) to `end` (pct 1).
double cosine_anneal(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

void check_step(const std::string& who, int64_t step) {
  if (step < 0) throw Error("schedule " + who + ": negative step " + std::to_string(step));
}

void check_total(const std::string& who, int64_t total_steps) {
  if (total_steps <= 0)
    throw Error("schedule " + who + ": total_steps must be > 0, got " +
                std::to_string(total_steps));
}

class ConstantSchedule final : public Schedule {
 public:
  std::string name() const override { return "constant"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  float lr(float base_lr, int64_t step, int64_t, int64_t) const override {
    check_step(name(), step);
    return base_lr;
  }
};

// lr · γ^floor(epoch / step_epochs), epoch = floor(step / steps_per_epoch).
class StepSchedule final : public Schedule {
 public:
  StepSchedule(int step_epochs, float gamma) : step_epochs_(step_epochs), gamma_(gamma) {
    if (step_epochs <= 0)
      throw Error("schedule step: step_epochs must be > 0, got " + std::to_string(step_epochs));
    if (!(gamma > 0.0f) || !std::isfinite(gamma))
      throw Error("schedule step: gamma must be finite and > 0, got " + std::to_string(gamma));
  }
  std::string name() const override { return "step"; }
  nlohmann::json config() const override {
    return {{"step_epochs", step_epochs_}, {"gamma", gamma_}};
  }
  float lr(float base_lr, int64_t step, int64_t, int64_t steps_per_epoch) const override {
    check_step(name(), step);
    if (steps_per_epoch <= 0)
      throw Error("schedule step: steps_per_epoch must be > 0, got " +
                  std::to_string(steps_per_epoch));
    const int64_t epoch = step / steps_per_epoch;
    const int64_t drops = epoch / step_epochs_;
    return static_cast<float>(static_cast<double>(base_lr) *
                              std::pow(static_cast<double>(gamma_), static_cast<double>(drops)));
  }

 private:
  int step_epochs_;
  float gamma_;
};

// Warmup: lr·(step+1)/W for step < W. Then, with s = step − W and D = total − W,
// lr·(r + (1 − r)·(1 + cos(π·min(s, D)/D))/2), r = min_ratio.
class CosineSchedule final : public Schedule {
 public:
  CosineSchedule(float min_ratio, int64_t warmup_steps)
      : min_ratio_(min_ratio), warmup_steps_(warmup_steps) {
    if (!(min_ratio >= 0.0f && min_ratio <= 1.0f))
      throw Error("schedule cosine: min_ratio must be in [0, 1], got " + std::to_string(min_ratio));
    if (warmup_steps < 0)
      throw Error("schedule cosine: warmup_steps must be >= 0, got " +
                  std::to_string(warmup_steps));
  }
  std::string name() const override { return "cosine"; }
  nlohmann::json config() const override {
    return {{"min_ratio", min_ratio_}, {"warmup_steps", warmup_steps_}};
  }
  float lr(float base_lr, int64_t step, int64_t total_steps, int64_t) const override {
    check_step(name(), step);
    check_total(name(), total_steps);
    const double base = base_lr;
    if (step < warmup_steps_)
      return static_cast<float>(base * static_cast<double>(step + 1) /
                                static_cast<double>(warmup_steps_));
    const int64_t decay_steps = total_steps - warmup_steps_;
    const double pct =
        decay_steps <= 0
            ? 1.0
            : static_cast<double>(std::min(step - warmup_steps_, decay_steps)) / decay_steps;
    return static_cast<float>(base * cosine_anneal(1.0, min_ratio_, pct));
  }

 private:
  float min_ratio_;
  int64_t warmup_steps_;
};

// PyTorch OneCycleLR (two phases, cosine annealing):
//   initial = lr/div_factor, final = initial/final_div_factor,
//   phase 1 ends at e1 = pct_start·total − 1 (initial → lr),
//   phase 2 ends at e2 = total − 1 (lr → final);
//   within a phase, pct = (step − start)/(end − start) and the rate is
//   end_lr + (start_lr − end_lr)·(1 + cos(π·pct))/2. Steps past the end clamp.
class OneCycleSchedule final : public Schedule {
 public:
  OneCycleSchedule(float pct_start, float div_factor, float final_div_factor)
      : pct_start_(pct_start), div_factor_(div_factor), final_div_factor_(final_div_factor) {
    if (!(pct_start > 0.0f && pct_start < 1.0f))
      throw Error("schedule one_cycle: pct_start must be in (0, 1), got " +
                  std::to_string(pct_start));
    if (!(div_factor > 0.0f) || !std::isfinite(div_factor))
      throw Error("schedule one_cycle: div_factor must be finite and > 0, got " +
                  std::to_string(div_factor));
    if (!(final_div_factor > 0.0f) || !std::isfinite(final_div_factor))
      throw Error("schedule one_cycle: final_div_factor must be finite and > 0, got " +
                  std::to_string(final_div_factor));
  }
  std::string name() const override { return "one_cycle"; }
  nlohmann::json config() const override {
    return {{"pct_start", pct_start_},
            {"div_factor", div_factor_},
            {"final_div_factor", final_div_factor_}};
  }
  float lr(float base_lr, int64_t step, int64_t total_steps, int64_t) const override {
    check_step(name(), step);
    check_total(name(), total_steps);
    const double max_lr = base_lr;
    const double initial = max_lr / div_factor_;
    const double final_lr = initial / final_div_factor_;
    const double s = static_cast<double>(std::min(step, total_steps - 1));
    const double end1 = static_cast<double>(pct_start_) * static_cast<double>(total_steps) - 1.0;
    const double end2 = static_cast<double>(total_steps) - 1.0;
    const auto pct = [](double x, double start, double end) {
      return end > start ? (x - start) / (end - start) : 1.0;
    };
    if (s <= end1) return static_cast<float>(cosine_anneal(initial, max_lr, pct(s, 0.0, end1)));
    return static_cast<float>(cosine_anneal(max_lr, final_lr, pct(s, end1, end2)));
  }

 private:
  float pct_start_, div_factor_, final_div_factor_;
};

// Reads typed fields from a schedule config, rejecting unknown ones.
class FieldReader {
 public:
  FieldReader(std::string who, const nlohmann::json& config,
              std::initializer_list<const char*> allowed)
      : who_(std::move(who)), config_(config) {
    if (!config.is_null() && !config.is_object())
      throw Error("schedule " + who_ + ": config must be a JSON object, got " + config.dump());
    const std::set<std::string> known(allowed.begin(), allowed.end());
    if (config.is_object())
      for (const auto& item : config.items())
        if (!known.count(item.key()))
          throw Error("schedule " + who_ + ": unknown config field '" + item.key() + "'");
  }
  float number(const char* key, float fallback) const {
    const nlohmann::json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number())
      throw Error("schedule " + who_ + ": field '" + key + "' must be a number, got " + v->dump());
    return v->get<float>();
  }
  int64_t integer(const char* key, int64_t fallback) const {
    const nlohmann::json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number_integer())
      throw Error("schedule " + who_ + ": field '" + key + "' must be an integer, got " +
                  v->dump());
    return v->get<int64_t>();
  }
  bool has(const char* key) const { return find(key) != nullptr; }

 private:
  const nlohmann::json* find(const char* key) const {
    if (!config_.is_object()) return nullptr;
    const auto it = config_.find(key);
    return it == config_.end() ? nullptr : &*it;
  }
  std::string who_;
  const nlohmann::json& config_;
};

}  // namespace

SchedulePtr constant_schedule() { return std::make_shared<ConstantSchedule>(); }

SchedulePtr step_schedule(int step_epochs, float gamma) {
  return std::make_shared<StepSchedule>(step_epochs, gamma);
}

SchedulePtr cosine_schedule(float min_ratio, int64_t warmup_steps) {
  return std::make_shared<CosineSchedule>(min_ratio, warmup_steps);
}

SchedulePtr one_cycle_schedule(float pct_start, float div_factor, float final_div_factor) {
  return std::make_shared<OneCycleSchedule>(pct_start, div_factor, final_div_factor);
}

SchedulePtr make_schedule(const std::string& name, const nlohmann::json& config) {
  std::string key = name;
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (key == "constant") {
    const FieldReader r(key, config, {});
    return constant_schedule();
  }
  if (key == "step") {
    const FieldReader r(key, config, {"step_epochs", "gamma"});
    if (!r.has("step_epochs")) throw Error("schedule step: missing config field 'step_epochs'");
    const int64_t step_epochs = r.integer("step_epochs", 1);
    if (step_epochs <= 0 || step_epochs > 1'000'000'000)
      throw Error("schedule step: step_epochs must be in [1, 1e9], got " +
                  std::to_string(step_epochs));
    return step_schedule(static_cast<int>(step_epochs), r.number("gamma", 0.1f));
  }
  if (key == "cosine") {
    const FieldReader r(key, config, {"min_ratio", "warmup_steps"});
    return cosine_schedule(r.number("min_ratio", 0.0f), r.integer("warmup_steps", 0));
  }
  if (key == "one_cycle" || key == "onecycle") {
    const FieldReader r("one_cycle", config, {"pct_start", "div_factor", "final_div_factor"});
    return one_cycle_schedule(r.number("pct_start", 0.3f), r.number("div_factor", 25.0f),
                              r.number("final_div_factor", 1e4f));
  }
  throw Error("unknown schedule '" + name + "' (expected constant, step, cosine or one_cycle)");
}

}  // namespace digitnet
