// digitnet/model/sequential.hpp — a Keras-style Sequential model.
//
//   Sequential model({1, 28, 28}, /*seed=*/42);
//   model.add(Conv2D(32, 3, relu));
//   model.add(Flatten());
//   model.add(Dense(10, softmax));
//   model.compile(Adam(1e-3), sparse_categorical_crossentropy(), {accuracy});
//   History h = model.fit(train, {.epochs = 10, .batch_size = 128, .validation = test});
//   Evaluation e = model.evaluate(test);
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "digitnet/data/augment.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/layers/layer.hpp"
#include "digitnet/model/callbacks.hpp"
#include "digitnet/model/loss.hpp"
#include "digitnet/model/metrics.hpp"
#include "digitnet/model/optimizer.hpp"

namespace digitnet {

inline constexpr const char* accuracy = "accuracy";

// A reference to a dataset that converts implicitly, so `.validation = test` reads as in Keras.
struct DatasetRef {
  const Dataset* ptr = nullptr;
  DatasetRef() = default;
  DatasetRef(const Dataset& d) : ptr(&d) {}  // NOLINT(google-explicit-constructor)
};

struct FitOptions {
  int epochs = 10;
  int batch_size = 128;
  bool shuffle = true;
  DatasetRef validation;          // evaluated after every epoch
  double validation_split = 0.0;  // or: hold out the last fraction of train (Keras)
  SchedulePtr schedule;           // null: constant
  std::vector<CallbackPtr> callbacks;
  int verbose = 1;      // 0 silent, 1 progress bar, 2 one line per epoch
  int progress_fd = 2;  // where the progress goes (a bar on a terminal, plain lines otherwise)
  const std::atomic<bool>* stop_requested =
      nullptr;                    // set (e.g. by SIGINT) to stop after the current batch
  int64_t max_train_samples = 0;  // >0: use only the first n training rows (quick runs)
  Augmentation augment;           // random distortions of training batches (none by default)
};

class Sequential {
 public:
  // input_shape is per sample, channels first: {1, 28, 28} for MNIST.
  // The seed fixes weight initialisation, shuffling and dropout.
  explicit Sequential(Shape input_shape = {1, 28, 28}, uint64_t seed = 0, int threads = 1);
  ~Sequential();
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;

  // Appends and builds a layer (its input is the previous output); names it
  // Keras-style ("conv2d", "conv2d_1", ...). Throws Error if the shape does not fit.
  Sequential& add(LayerPtr layer);

  void compile(OptimizerPtr optimizer, LossPtr loss,
               std::vector<std::string> metrics = {"accuracy"});

  History fit(const Dataset& train, const FitOptions& options = {});
  // evaluate/predict reuse one inference workspace (kept between calls); concurrent
  // calls on one model are serialized. batch_size is, as in Keras, only how many
  // samples are computed together: a batch whose activations would take more
  // than 8 MB runs in smaller chunks, so inference memory stays bounded.
  Evaluation evaluate(const Dataset& data, int batch_size = 500) const;
  // Class probabilities (N, K) for images x (N, C, H, W) in [0, 1].
  Tensor predict(const Tensor& x, int batch_size = 500) const;
  // Probabilities for rows [begin, end) of a dataset.
  Tensor predict(const Dataset& data, int64_t begin, int64_t end, int batch_size = 500) const;

  // Keras' table: layer (type), output shape, params; totals.
  std::string summary() const;
  int64_t count_params() const;

  // One training step on a batch: forward, loss, backward, optimizer update.
  // Returns {loss, accuracy} of the batch. Exposed for benchmarks and tests. A
  // model without BatchNorm runs a large batch in micro-batches of the same
  // total gradient (memory bounded by the micro-batch; see sequential.cpp).
  std::pair<double, double> train_step(const Tensor& x, std::span<const int32_t> y, float lr);
  // Samples per training micro-batch for a batch of `batch` (see sequential.cpp;
  // the benchmark's profile runs the layers in the same parts).
  int64_t train_chunk(int64_t batch) const;

  const Shape& input_shape() const { return input_shape_; }
  Shape output_shape() const;
  std::vector<Layer*> layers() const;
  std::vector<Param*> params() const;
  uint64_t seed() const { return seed_; }
  int threads() const;
  void set_threads(int threads);
  // The model's thread pool, for work between its steps (e.g. Dataset::batch),
  // so that no second pool competes for the cores. Valid until set_threads.
  ThreadPool& thread_pool() const;
  const OptimizerPtr& optimizer() const { return optimizer_; }
  const LossPtr& loss() const { return loss_; }
  bool compiled() const { return optimizer_ && loss_; }
  const std::vector<std::string>& metrics() const { return metrics_; }

  // Free-form record saved with the model: training settings, final metrics.
  nlohmann::json& metadata() { return metadata_; }
  const nlohmann::json& metadata() const { return metadata_; }

  // The classes' names, index = output unit ("T-shirt/top", ...), kept in
  // metadata()["class_names"] and so saved with the model; empty when the
  // classes are just their numbers.
  std::vector<std::string> class_names() const;
  // Error unless `names` is empty or has one name per output unit.
  void set_class_names(std::vector<std::string> names);

  // Copies of all parameter values and buffers (for restore-best-weights).
  std::vector<Tensor> get_weights() const;
  void set_weights(const std::vector<Tensor>& weights);

 private:
  struct Impl;
  // How a layer's output is stored (see Impl in sequential.cpp).
  enum class Storage : uint8_t { own, reshape, in_place };
  bool outputs_are_logits() const;
  std::vector<Storage> plan(bool training) const;
  // Samples per inference forward pass for a requested batch size (see sequential.cpp).
  int64_t infer_chunk(int64_t batch_size) const;
  void check_input(const Tensor& x) const;
  // Runs every layer on x into acts. Training (bufs == nullptr): owned outputs
  // kept for backward. Inference: owned outputs are views into bufs[0..1].
  void forward(const Tensor& x, bool training, std::vector<Tensor>& acts, Tensor* bufs, Rng* rng,
               int64_t first_sample = 0) const;
  std::pair<double, int64_t> train_part(const Tensor& x, std::span<const int32_t> y, int64_t first,
                                        int64_t batch, Rng& rng);

  Shape input_shape_;
  uint64_t seed_;
  Rng init_rng_;
  std::vector<LayerPtr> layers_;
  OptimizerPtr optimizer_;
  LossPtr loss_;
  std::vector<std::string> metrics_;
  nlohmann::json metadata_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace digitnet
