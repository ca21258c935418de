// ModelCheckpoint lives with the model file code it uses.
#include <limits>

#include "digitnet/core/error.hpp"
#include "digitnet/io/model_file.hpp"
#include "digitnet/model/callbacks.hpp"

namespace digitnet {

namespace {

class ModelCheckpointImpl : public Callback {
 public:
  ModelCheckpointImpl(std::string path, std::string monitor, bool best_only)
      : path_(std::move(path)), monitor_(std::move(monitor)), best_only_(best_only) {
    if (path_.empty()) throw Error("ModelCheckpoint: empty path");
  }
  void on_train_begin(Sequential&) override {
    minimise_ = monitor_.find("loss") != std::string::npos;
    best_ = minimise_ ? std::numeric_limits<double>::infinity()
                      : -std::numeric_limits<double>::infinity();
  }
  void on_epoch_end(Sequential& model, int epoch, const EpochLogs& logs, TrainControl&) override {
    if (best_only_) {
      auto it = logs.find(monitor_);
      if (it == logs.end())
        throw Error("ModelCheckpoint: monitored metric '" + monitor_ +
                    "' is not in this epoch's logs");
      const bool better = minimise_ ? it->second < best_ : it->second > best_;
      if (!better) return;
      best_ = it->second;
    }
    model.metadata()["checkpoint"] = {{"epoch", epoch}, {"monitor", monitor_}, {"logs", logs}};
    save_model(model, path_);
  }

 private:
  std::string path_, monitor_;
  bool best_only_;
  bool minimise_ = true;
  double best_ = 0;
};

}  // namespace

CallbackPtr ModelCheckpoint(const std::string& path, const std::string& monitor,
                            bool save_best_only) {
  return std::make_shared<ModelCheckpointImpl>(path, monitor, save_best_only);
}

}  // namespace digitnet
