#include "digitnet/model/callbacks.hpp"

#include <cmath>
#include <limits>

#include "digitnet/core/error.hpp"
#include "digitnet/model/sequential.hpp"

namespace digitnet {

namespace {

// Tracks the best value of a monitored metric (loss-like metrics are minimised).
class Monitor {
 public:
  Monitor(std::string key, double min_delta) : key_(std::move(key)), min_delta_(min_delta) {
    if (key_.empty()) throw Error("callback: empty monitor name");
    minimise_ = key_.find("loss") != std::string::npos;
    best_ = minimise_ ? std::numeric_limits<double>::infinity()
                      : -std::numeric_limits<double>::infinity();
  }
  // Returns true if logs[key] improved on the best so far (and records it).
  bool improved(const EpochLogs& logs) {
    auto it = logs.find(key_);
    if (it == logs.end())
      throw Error(
          "callback: monitored metric '" + key_ + "' is not in this epoch's logs" +
          (key_.rfind("val_", 0) == 0 ? " (give validation data or a validation split)" : ""));
    const double v = it->second;
    const bool better = minimise_ ? v < best_ - min_delta_ : v > best_ + min_delta_;
    if (better) best_ = v;
    return better;
  }
  double best() const { return best_; }

 private:
  std::string key_;
  double min_delta_;
  bool minimise_;
  double best_;
};

class EarlyStoppingImpl : public Callback {
 public:
  EarlyStoppingImpl(std::string monitor, int patience, double min_delta, bool restore)
      : monitor_name_(std::move(monitor)),
        min_delta_(min_delta),
        monitor_(monitor_name_, min_delta),
        patience_(patience),
        restore_(restore) {
    if (patience < 0) throw Error("EarlyStopping: patience must be >= 0");
  }
  void on_train_begin(Sequential&) override {
    monitor_ = Monitor(monitor_name_, min_delta_);
    wait_ = 0;
    best_weights_.clear();
  }
  // Keras: after `patience` epochs in a row without improvement, stop.
  void on_epoch_end(Sequential& model, int, const EpochLogs& logs, TrainControl& control) override {
    if (monitor_.improved(logs)) {
      wait_ = 0;
      if (restore_) best_weights_ = model.get_weights();
      return;
    }
    if (++wait_ >= patience_) control.stop = true;
  }
  void on_train_end(Sequential& model) override {
    if (restore_ && !best_weights_.empty()) model.set_weights(best_weights_);
  }

 private:
  std::string monitor_name_;
  double min_delta_;
  Monitor monitor_;
  int patience_;
  bool restore_;
  int wait_ = 0;
  std::vector<Tensor> best_weights_;
};

class ReduceLROnPlateauImpl : public Callback {
 public:
  ReduceLROnPlateauImpl(std::string monitor, float factor, int patience, float min_lr,
                        double min_delta)
      : monitor_(std::move(monitor), min_delta),
        factor_(factor),
        patience_(patience),
        min_lr_(min_lr) {
    if (!(factor > 0 && factor < 1)) throw Error("ReduceLROnPlateau: factor must be in (0, 1)");
    if (patience < 0) throw Error("ReduceLROnPlateau: patience must be >= 0");
  }
  void on_epoch_end(Sequential& model, int, const EpochLogs& logs, TrainControl& control) override {
    if (monitor_.improved(logs)) {
      wait_ = 0;
      return;
    }
    if (++wait_ < patience_) return;
    wait_ = 0;
    const float base = model.optimizer()->learning_rate;
    const float current = base * control.lr_multiplier;
    const float next = std::max(current * factor_, min_lr_);
    if (base > 0) control.lr_multiplier = next / base;
  }

 private:
  Monitor monitor_;
  float factor_;
  int patience_;
  float min_lr_;
  int wait_ = 0;
};

}  // namespace

CallbackPtr EarlyStopping(const std::string& monitor, int patience, double min_delta,
                          bool restore_best_weights) {
  return std::make_shared<EarlyStoppingImpl>(monitor, patience, min_delta, restore_best_weights);
}

CallbackPtr ReduceLROnPlateau(const std::string& monitor, float factor, int patience, float min_lr,
                              double min_delta) {
  return std::make_shared<ReduceLROnPlateauImpl>(monitor, factor, patience, min_lr, min_delta);
}

}  // namespace digitnet
