// digitnet/model/optimizer.hpp — optimizers and learning-rate schedules.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "digitnet/layers/layer.hpp"

namespace digitnet {

class ThreadPool;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;  // "adam"
  virtual nlohmann::json config() const = 0;

  // One update of every parameter from its grad, with learning rate lr (the
  // schedule's value for this step). The optimizer keeps per-parameter state
  // (moments) keyed by position in `params`, which must be the same list, in
  // the same order, on every call.
  virtual void step(const std::vector<Param*>& params, float lr) = 0;
  // The same update with the element-wise work split over `pool`'s threads
  // (Sequential's training step calls this). The built-in optimizers give the
  // same bits as step() whatever the pool size. Default: step(params, lr).
  virtual void step_parallel(const std::vector<Param*>& params, float lr, ThreadPool& pool) {
    (void)pool;
    step(params, lr);
  }

  float learning_rate = 1e-3f;  // base rate; schedules scale it
  int64_t iterations = 0;       // steps taken
};

using OptimizerPtr = std::shared_ptr<Optimizer>;

// Plain / momentum / Nesterov SGD; weight_decay adds wd·w to the gradient (L2).
OptimizerPtr SGD(float lr = 0.01f, float momentum = 0.0f, bool nesterov = false,
                 float weight_decay = 0.0f);
// Adam (Keras defaults: β1 0.9, β2 0.999, ε 1e-7); weight_decay is L2 added to the gradient.
OptimizerPtr Adam(float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-7f,
                  float weight_decay = 0.0f);
// AdamW: decoupled weight decay w -= lr·wd·w (Keras default wd 0.004).
OptimizerPtr AdamW(float lr = 1e-3f, float weight_decay = 0.004f, float beta1 = 0.9f,
                   float beta2 = 0.999f, float epsilon = 1e-7f);
// RMSprop (Keras defaults: ρ 0.9, momentum 0, ε 1e-7).
OptimizerPtr RMSprop(float lr = 1e-3f, float rho = 0.9f, float momentum = 0.0f,
                     float epsilon = 1e-7f, float weight_decay = 0.0f);
// By name ("sgd", "adam", "adamw", "rmsprop") and config (the keys of config()).
OptimizerPtr make_optimizer(const std::string& name, const nlohmann::json& config = {});

// Learning-rate schedule: the multiplier-free rate for a step.
class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json config() const = 0;
  // Learning rate at optimizer step `step` (0-based) of `total_steps`, given
  // steps_per_epoch, for base rate `base_lr`.
  virtual float lr(float base_lr, int64_t step, int64_t total_steps,
                   int64_t steps_per_epoch) const = 0;
};
using SchedulePtr = std::shared_ptr<Schedule>;

SchedulePtr constant_schedule();
// lr · gamma^floor(epoch / step_epochs)
SchedulePtr step_schedule(int step_epochs, float gamma = 0.1f);
// Cosine decay from lr to lr·min_ratio over all steps, after linear warmup.
SchedulePtr cosine_schedule(float min_ratio = 0.0f, int64_t warmup_steps = 0);
// One-cycle (Smith): warm up from lr/div_factor to lr over pct_start of the
// steps, then cosine-anneal to lr/(div_factor·final_div_factor).
SchedulePtr one_cycle_schedule(float pct_start = 0.3f, float div_factor = 25.0f,
                               float final_div_factor = 1e4f);
SchedulePtr make_schedule(const std::string& name, const nlohmann::json& config = {});

}  // namespace digitnet
