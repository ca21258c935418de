// digitnet/layers/layer.hpp — the contract every layer keeps.
//
// A layer is built once from its per-sample input shape (no batch dimension),
// which creates its parameters with Keras' default initialisers and returns
// its per-sample output shape. Tensors passed to forward/backward carry the
// batch as dimension 0.
//
// Contract (checked for every layer by the generic harness in
// tests/support/layer_check.hpp, which pre-fills outputs with NaN sentinels):
//  * forward(x, y, ctx) resizes y to with_batch(N, output_shape) and writes
//    every element of y. It may cache what backward needs inside the layer.
//  * backward(x, y, dy, dx, ctx) is called after forward on the same x in the
//    same mode. It OVERWRITES every element of every Param::grad with
//    dLoss/dParam for this batch (ADDS it when ctx.accumulate_grads; with
//    ctx.more_parts it may defer that to a later part of the batch), and, when
//    dx is not null, resizes dx like x and OVERWRITES every element with dLoss/dx. (The first layer
//    of a model gets dx == nullptr and may skip that work.)
//  * Layers never touch the CLI, files or global state; randomness comes only
//    from ctx.rng, threads only from ctx.pool.
//  * Memory hooks (is_reshape, backward_reads_output, supports_in_place) let a
//    model share buffers between layers. The defaults are always safe; a layer
//    that overrides one keeps the promise written at the hook, and the harness
//    checks it (reshape: y and dx bit-equal to x and dy; output not read: the
//    same gradients with y replaced by NaN; in place: the same y, dx and
//    gradients with y sharing x's storage; per sample: the batch in two parts
//    gives the whole batch's y, dx and gradients).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"

namespace digitnet {

// A trainable parameter and its gradient (same shape).
struct Param {
  std::string name;  // "kernel", "bias", "gamma", "beta"
  Tensor value;
  Tensor grad;
  bool decay = true;  // weight decay applies (false for biases and BatchNorm gamma/beta)
};

struct Context {
  bool training = false;       // dropout active, batch-norm uses batch statistics
  ThreadPool* pool = nullptr;  // never null when passed to a layer
  Rng* rng = nullptr;          // never null when training
  // Training a batch in parts (a model's micro-batches; only for layers whose
  // per_sample() is true): the index of x's first row within the whole batch,
  // so per-element random draws (Dropout's mask) do not depend on the split, and
  // whether backward ADDS this part's gradient into every Param::grad instead of
  // overwriting it (the first part overwrites, the others add).
  int64_t first_sample = 0;
  bool accumulate_grads = false;
  // More parts of this batch follow (a model's micro-batches): backward may keep
  // this part's parameter gradient privately and add it in on a later part (one
  // large product instead of one per part). After a backward with more_parts
  // false, every Param::grad holds the gradient of the parts since the last part
  // with accumulate_grads false (added to what it held, if that part accumulated).
  bool more_parts = false;
};

class Layer {
 public:
  virtual ~Layer() = default;

  // Keras class name: "Dense", "Conv2D", "MaxPooling2D", ...
  virtual std::string type() const = 0;

  // Creates parameters for the per-sample input shape and returns the per-sample
  // output shape. Throws digitnet::Error naming the layer if the shape does not fit.
  virtual Shape build(const Shape& input_shape, Rng& rng) = 0;

  virtual void forward(const Tensor& x, Tensor& y, const Context& ctx) = 0;
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                        const Context& ctx) = 0;

  // Trainable parameters (in a fixed order, with stable names).
  virtual std::vector<Param*> params() { return {}; }
  virtual std::vector<const Param*> params() const { return {}; }
  // Non-trainable state saved with the model (BatchNorm moving mean/variance).
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }
  virtual std::vector<std::pair<std::string, const Tensor*>> buffers() const { return {}; }

  // The layer's settings as JSON, e.g. {"units":128,"activation":"relu"};
  // make_layer(type(), config()) rebuilds an equivalent (unbuilt) layer.
  virtual nlohmann::json config() const = 0;

  // Multiply-accumulates of forward for one sample (for summaries and benchmarks).
  virtual int64_t forward_macs() const { return 0; }

  // ---- Memory hooks (see the contract above) ----

  // True if the layer only reinterprets its input: it has no parameters and no
  // state, forward's y holds x's elements in the same order with shape
  // (N, output_shape), and backward's dx holds dy's elements with x's shape.
  // A model may then skip forward and backward and make y a view of x's storage
  // and dx a view of dy's.
  virtual bool is_reshape() const { return false; }
  // Whether backward reads the VALUES of y (it may always read y's shape). When
  // false, the next layer may run in place and overwrite y after forward.
  virtual bool backward_reads_output() const { return true; }
  // True if forward(x, y) is also correct when y is a view of x's storage with
  // x's shape (every element read before it is written), and backward reads no
  // values of x or y (only their shapes: they hold the output by then). A model
  // may then run the layer in place when the layer that produced x does not
  // read its output in backward.
  virtual bool supports_in_place() const { return false; }

  // True if, in training, rows are independent: forward on rows [a, b) of a
  // batch (first_sample = a, the same rng state) gives rows [a, b) of the whole
  // batch's y, backward gives those rows of dx, and the parts' parameter
  // gradients (accumulate_grads) add up to the batch's. A model may then train a
  // batch in micro-batches, which bounds its activation memory. BatchNorm (batch
  // statistics) is not per sample.
  virtual bool per_sample() const { return false; }

  // Final-layer softmax fused with cross-entropy: when set, a layer whose
  // activation is softmax outputs logits instead of probabilities and its
  // backward takes dLoss/dlogits. Layers without a softmax activation ignore it.
  virtual bool has_softmax_output() const { return false; }
  virtual void set_logits_output(bool) {}

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  std::string name;  // "conv2d", "dense_1", ... set by the model

 protected:
  Shape input_shape_, output_shape_;  // set by build()
};

using LayerPtr = std::unique_ptr<Layer>;

// Builds a layer from its Keras class name and config (the inverse of
// Layer::type()/config()). Throws digitnet::Error for an unknown type or a bad field.
LayerPtr make_layer(const std::string& type, const nlohmann::json& config);

}  // namespace digitnet
