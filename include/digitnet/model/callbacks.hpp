// digitnet/model/callbacks.hpp — things fit() calls after every epoch.
#pragma once
#include <limits>
#include <map>
#include <memory>
#include <string>

namespace digitnet {

class Sequential;

// One epoch's metrics: "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds".
using EpochLogs = std::map<std::string, double>;

// What a callback may ask of the training loop.
struct TrainControl {
  bool stop = false;           // stop after this epoch
  float lr_multiplier = 1.0f;  // scales the schedule's rate from the next epoch on
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Sequential&) {}
  virtual void on_epoch_end(Sequential& model, int epoch, const EpochLogs& logs,
                            TrainControl& control) = 0;
  virtual void on_train_end(Sequential&) {}
};
using CallbackPtr = std::shared_ptr<Callback>;

// Watches `monitor` ("val_loss", "val_accuracy", "loss", "accuracy"; *loss is
// minimised, anything else maximised). Stops when it has not improved by more
// than min_delta for `patience` epochs; optionally restores the best weights.
CallbackPtr EarlyStopping(const std::string& monitor = "val_loss", int patience = 3,
                          double min_delta = 0.0, bool restore_best_weights = true);

// Saves the model to `path` (atomically) whenever `monitor` improves (or every
// epoch when save_best_only is false).
CallbackPtr ModelCheckpoint(const std::string& path, const std::string& monitor = "val_loss",
                            bool save_best_only = true);

// Multiplies the learning rate by `factor` when `monitor` has not improved for
// `patience` epochs, never below min_lr.
CallbackPtr ReduceLROnPlateau(const std::string& monitor = "val_loss", float factor = 0.1f,
                              int patience = 2, float min_lr = 0.0f, double min_delta = 1e-4);

}  // namespace digitnet
