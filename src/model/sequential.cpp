#include "digitnet/model/sequential.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>

#include "digitnet/core/error.hpp"
#include "layers/fusion.hpp"
#include "model/progress.hpp"

namespace digitnet {

// Buffers, all sized for one micro-batch (train_chunk) or one inference chunk
// (infer_chunk), not for the whole batch. Training keeps every layer's output
// for backward: acts[i] is the output of layer i, an owned tensor or a view of
// the storage it shares:
//  * a reshape layer (Layer::is_reshape, e.g. Flatten) is not called: its output
//    is a view of its input and, in backward, its dx a view of its dy;
//  * an in-place layer (Layer::supports_in_place, e.g. Dropout) writes over its
//    input when the layer that owns that storage does not read its output in
//    backward (e.g. MaxPooling2D); in inference always, unless the storage is
//    the caller's input.
// Gradients: only dy and dx of the layer running backward are live, so grads[i]
// = dLoss/d acts[i] are views into two ping-pong buffers, each grown to the
// largest gradient it holds (a reshape's dx stays in its dy's buffer).
// Inference (predict/evaluate, const) uses its own workspace, kept between calls
// and guarded by a mutex: outputs go to two ping-pong buffers (a layer never
// writes the buffer it reads), and the input is read in place (no copy).
struct Sequential::Impl {
  std::unique_ptr<ThreadPool> pool;
  std::vector<Tensor> acts;   // acts[i]: output of layer i (training step)
  std::vector<Tensor> grads;  // grads[i]: dLoss/d acts[i], views into grad_buf
  Tensor grad_buf[2];
  Rng train_rng{0};
  bool fused_softmax = false;  // last layer emits logits during training
  std::vector<Param*> params;  // cached parameter list (fixed order)
  std::map<std::string, int> name_counts;
  // The fusion pass's fused layers (by first layer index), and which of them
  // the last training forward ran (its backward runs the same).
  std::vector<std::unique_ptr<detail::FusedLayer>> fusions;
  std::vector<detail::FusedLayer*> train_fused;
  int64_t micro_batch = 0;   // train_chunk's model-derived size (0: not yet; add/compile reset it)
  int64_t sample_bytes = 0;  // training's activations and gradients per sample (with micro_batch)

  std::mutex infer_mu;  // guards the inference workspace below
  std::vector<Tensor> infer_acts;
  Tensor infer_buf[2];
  Tensor infer_x;  // evaluate: the batch as floats
  std::vector<int32_t> infer_y;
  std::vector<int64_t> infer_idx;
};

namespace {

// Grows an owned buffer to at least n elements, never shrinks it (a batch of
// another size must not reallocate or re-touch the pages every call).
void grow(Tensor& buf, int64_t n) {
  if (buf.size() < n) buf.resize({n});
}

std::string snake_name(const std::string& type) {
  // "Conv2D" -> "conv2d", "MaxPooling2D" -> "max_pooling2d", "BatchNormalization" ->
  // "batch_normalization"
  std::string out;
  for (size_t i = 0; i < type.size(); ++i) {
    const char c = type[i];
    const bool upper = c >= 'A' && c <= 'Z';
    if (upper && i > 0) {
      const char prev = type[i - 1];
      const bool prev_lower = prev >= 'a' && prev <= 'z';
      if (prev_lower) out += '_';
    }
    out += upper ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

// The largest sum of two consecutive per-sample sizes (input, then each
// layer's output): what a layer's input and output, or its dy and dx, hold
// together for one sample.
int64_t largest_adjacent(const std::vector<LayerPtr>& layers, const Shape& input) {
  int64_t best = 0, prev = shape_size(input);
  for (const auto& l : layers) {
    const int64_t out = shape_size(l->output_shape());
    best = std::max(best, prev + out);
    prev = out;
  }
  return best;
}

int argmax_row(const float* row, int64_t k) {
  return static_cast<int>(std::max_element(row, row + k) - row);
}

// Row-wise softmax in place (stable).
void softmax_rows(Tensor& t) {
  const int64_t n = t.dim(0), k = t.size() / n;
  for (int64_t i = 0; i < n; ++i) {
    float* r = t.data() + i * k;
    const float m = *std::max_element(r, r + k);
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += (r[j] = std::exp(r[j] - m));
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < k; ++j) r[j] *= inv;
  }
}

}  // namespace

Sequential::Sequential(Shape input_shape, uint64_t seed, int threads)
    : input_shape_(std::move(input_shape)),
      seed_(seed),
      init_rng_(seed),
      impl_(std::make_unique<Impl>()) {
  if (input_shape_.empty()) throw Error("Sequential: empty input shape");
  for (int64_t d : input_shape_)
    if (d <= 0) throw Error("Sequential: bad input shape " + shape_str(input_shape_));
  set_threads(threads);
  impl_->train_rng = Rng(seed ^ 0x7261696E5F726E67ull);
}

Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

ThreadPool& Sequential::thread_pool() const { return *impl_->pool; }

int Sequential::threads() const { return impl_->pool->size(); }

void Sequential::set_threads(int threads) {
  if (!impl_->pool || impl_->pool->size() != threads)
    impl_->pool = std::make_unique<ThreadPool>(threads);
}

Sequential& Sequential::add(LayerPtr layer) {
  if (!layer) throw Error("Sequential::add: null layer");
  const Shape in = layers_.empty() ? input_shape_ : layers_.back()->output_shape();
  const std::string base = snake_name(layer->type());
  const int n = impl_->name_counts[base]++;
  layer->name = n == 0 ? base : base + "_" + std::to_string(n);
  Rng layer_rng = init_rng_.split();
  try {
    layer->build(in, layer_rng);
  } catch (const Error& e) {
    throw Error("layer " + std::to_string(layers_.size() + 1) + " (" + layer->name +
                "): " + e.what());
  }
  layers_.push_back(std::move(layer));
  impl_->fusions = detail::plan_fusions(layers_);
  impl_->params.clear();
  impl_->micro_batch = 0;
  for (auto& l : layers_)
    for (Param* p : l->params()) impl_->params.push_back(p);
  return *this;
}

bool Sequential::outputs_are_logits() const {
  // A final softmax is fused into the loss after compile(); a model without a
  // final softmax produces logits (Keras' from_logits=True).
  return impl_->fused_softmax || layers_.empty() || !layers_.back()->has_softmax_output();
}

Shape Sequential::output_shape() const {
  return layers_.empty() ? input_shape_ : layers_.back()->output_shape();
}

std::vector<Layer*> Sequential::layers() const {
  std::vector<Layer*> out;
  for (auto& l : layers_) out.push_back(l.get());
  return out;
}

std::vector<Param*> Sequential::params() const { return impl_->params; }

int64_t Sequential::count_params() const {
  int64_t n = 0;
  for (Param* p : impl_->params) n += p->value.size();
  return n;
}

void Sequential::compile(OptimizerPtr optimizer, LossPtr loss, std::vector<std::string> metrics) {
  if (!optimizer) throw Error("compile: no optimizer");
  if (!loss) throw Error("compile: no loss");
  if (layers_.empty()) throw Error("compile: the model has no layers");
  const Shape out = output_shape();
  if (out.size() != 1)
    throw Error("compile: the last layer must output a flat vector of class scores, got " +
                shape_str(out));
  for (const auto& m : metrics)
    if (m != "accuracy" && m != "loss")
      throw Error("compile: unknown metric '" + m + "' (known: accuracy, loss)");
  optimizer_ = std::move(optimizer);
  loss_ = std::move(loss);
  metrics_ = std::move(metrics);
  // Cross-entropy losses work on logits: a final softmax is fused into the loss.
  impl_->fused_softmax = layers_.back()->has_softmax_output();
  impl_->micro_batch = 0;  // the storage plan (and so the micro-batch) depends on the logits mode
  for (auto& l : layers_) l->set_logits_output(false);
  if (impl_->fused_softmax) layers_.back()->set_logits_output(true);
}

std::vector<Sequential::Storage> Sequential::plan(bool training) const {
  std::vector<Storage> st(layers_.size(), Storage::own);
  int owner = -1;  // layer whose storage holds the current activation (-1: the input)
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    if (l.is_reshape()) {
      st[i] = Storage::reshape;
    } else if (l.supports_in_place() && owner >= 0 &&
               (!training || !layers_[static_cast<std::size_t>(owner)]->backward_reads_output())) {
      st[i] = Storage::in_place;
    } else {
      owner = static_cast<int>(i);
    }
  }
  return st;
}

void Sequential::check_input(const Tensor& x) const {
  if (layers_.empty()) throw Error("the model has no layers");
  if (x.rank() != static_cast<int>(input_shape_.size()) + 1 ||
      !std::equal(input_shape_.begin(), input_shape_.end(), x.shape().begin() + 1))
    throw Error("input of shape " + shape_str(x.shape()) + " does not match the model's input " +
                shape_str(with_batch(x.rank() > 0 ? x.dim(0) : 0, input_shape_)));
}

void Sequential::forward(const Tensor& x, bool training, std::vector<Tensor>& acts, Tensor* bufs,
                         Rng* rng, int64_t first_sample) const {
  check_input(x);
  const std::vector<Storage> st = plan(training);
  const std::size_t L = layers_.size();
  const int64_t n = x.dim(0);
  acts.resize(L);
  // Fused layers (detail::plan_fusions) run in place of the layers they stand
  // for, where they apply to this batch: fused[i] for their first layer i, whose
  // output the model then never sees (in inference the fused output takes the
  // last layer's side of the ping-pong buffers).
  std::vector<detail::FusedLayer*> fused(L, nullptr);
  for (std::size_t i = 0; i < L; ++i) {
    detail::FusedLayer* f = impl_->fusions[i].get();  // planned by add(), one per layer
    if (!f) continue;
    bool owned = true;
    for (std::size_t j = i; j < i + static_cast<std::size_t>(f->span()); ++j)
      owned = owned && st[j] == Storage::own;
    if (owned && f->runs(n, impl_->pool->size(), training)) fused[i] = f;
  }
  if (training) impl_->train_fused = fused;
  // Inference: the side (ping-pong buffer) of every owned output, and the sizes.
  std::vector<int> side;
  if (bufs) {
    side.assign(L, 0);
    int64_t cap[2] = {0, 0};
    int cur = -1;  // side of the current activation (-1: the input)
    for (std::size_t i = 0; i < L; ++i) {
      if (fused[i]) {  // its last layer's output takes the next side
        const std::size_t last = i + static_cast<std::size_t>(fused[i]->span()) - 1;
        cur = cur == 0 ? 1 : 0;
        cap[cur] = std::max(cap[cur], n * shape_size(layers_[last]->output_shape()));
        for (; i < last; ++i) side[i] = cur;
        side[i] = cur;
        continue;
      }
      if (st[i] == Storage::own) {
        cur = cur == 0 ? 1 : 0;
        cap[cur] = std::max(cap[cur], n * shape_size(layers_[i]->output_shape()));
      }
      side[i] = cur;
    }
    grow(bufs[0], cap[0]);
    grow(bufs[1], cap[1]);
  }
  Context ctx{training, impl_->pool.get(), rng, first_sample, false};
  for (std::size_t i = 0; i < L; ++i) {
    const Tensor& in = i == 0 ? x : acts[i - 1];
    Tensor& out = acts[i];
    if (fused[i]) {
      const std::size_t last = i + static_cast<std::size_t>(fused[i]->span()) - 1;
      for (std::size_t j = i; j < last; ++j) acts[j] = Tensor();  // never written
      Tensor& y = acts[last];
      if (bufs) {
        Tensor& b = bufs[side[last]];
        y = Tensor::view(b.data(), {0}, b.size());
      } else if (y.is_view()) {
        y = Tensor();
      }
      fused[i]->forward(in, y, ctx);
      i = last;
      continue;
    }
    // The input is only ever read through `in` (a const reference), also as a view.
    float* in_data = const_cast<float*>(in.data());
    switch (st[i]) {
      case Storage::reshape:
        out = Tensor::view(in_data, with_batch(n, layers_[i]->output_shape()), in.size());
        continue;
      case Storage::in_place:
        out = Tensor::view(in_data, in.shape());
        break;
      case Storage::own: {
        if (bufs) {
          Tensor& b = bufs[side[i]];
          out = Tensor::view(b.data(), {0}, b.size());
        } else if (out.is_view()) {
          out = Tensor();
        }
        break;
      }
    }
    layers_[i]->forward(in, out, ctx);
  }
}

// Training in micro-batches. When every layer is per sample (Layer::per_sample:
// no BatchNorm), a batch whose activations and gradients would take more than
// kTrainBytes runs as micro-batches of `train_chunk` samples, each a whole
// forward + backward, the parameter gradients accumulated (Context::
// accumulate_grads), then one optimizer step: the same step as the whole batch up
// to rounding (each part's loss gradient is scaled by its share of the batch,
// and Dropout draws the whole batch's mask, Context::first_sample). Every part
// but the last says more follow (Context::more_parts), so Dense takes dW from
// all parts in one product and the own Winograd maps dU back once, which is
// faster than an update per part for a few MB more. The chunk is a multiple of
// kUnit samples fixed by the model and the batch size (not the thread count),
// so the draws, and what a seed trains, do not depend on the threads. 4 MB of
// activations a part (8 Keras-CNN samples) keeps training's peak near a sixth
// of PyTorch's at little cost in speed (docs/PERFORMANCE.md, "Memory"). A batch
// of at most kWholeBytes trains whole: splitting it saves little and costs its
// per-part overheads.
int64_t Sequential::train_chunk(int64_t batch) const {
  constexpr int64_t kTrainBytes = int64_t{4} << 20, kWholeBytes = int64_t{16} << 20, kUnit = 8;
  int64_t& chunk = impl_->micro_batch;  // fixed by the layers: worked out once
  int64_t& per = impl_->sample_bytes;
  if (chunk == 0) {
    bool per_sample = true;
    for (const auto& l : layers_) per_sample = per_sample && l->per_sample();
    const std::vector<Storage> st = plan(true);
    int64_t own = 0;  // the outputs training keeps, plus the two gradient buffers
    for (std::size_t i = 0; i < layers_.size(); ++i)
      if (st[i] == Storage::own) own += shape_size(layers_[i]->output_shape());
    per = 4 * std::max<int64_t>(own + largest_adjacent(layers_, input_shape_), 1);
    chunk = per_sample ? std::max(kUnit, kTrainBytes / per / kUnit * kUnit)
                       : std::numeric_limits<int64_t>::max();
  }
  if (batch <= kWholeBytes / per) return batch;
  return std::min(batch, chunk);
}

std::pair<double, double> Sequential::train_step(const Tensor& x, std::span<const int32_t> y,
                                                 float lr) {
  if (!compiled()) throw Error("train_step: compile() the model first");
  check_input(x);
  if (x.dim(0) == 0) throw Error("train_step: empty batch");
  auto& im = *impl_;
  const int64_t n = x.dim(0), chunk = train_chunk(n), per = x.size() / n;
  if (static_cast<int64_t>(y.size()) != n)
    throw Error("train_step: " + std::to_string(y.size()) + " labels for " + std::to_string(n) +
                " samples");
  const Rng start = im.train_rng;  // every part draws as the whole batch would
  double loss = 0.0;
  int64_t correct = 0;
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t e = std::min(n, b + chunk);
    Rng rng = start;
    const Tensor xb =
        Tensor::view(const_cast<float*>(x.data()) + b * per, with_batch(e - b, input_shape_));
    const auto [l, c] = train_part(
        xb, y.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b)), b, n, rng);
    loss += l * static_cast<double>(e - b) / static_cast<double>(n);  // (exact for one part)
    correct += c;
    if (e == n) im.train_rng = rng;
  }
  optimizer_->step_parallel(im.params, lr, *im.pool);
  return {loss, static_cast<double>(correct) / static_cast<double>(n)};
}

// Forward, loss and backward of rows [first, first + x.dim(0)) of a batch of
// `batch` rows: the loss gradient scaled by the part's share, the parameter
// gradients added to the previous parts' (overwritten by the first part).
// Returns the part's mean loss and its count of correct predictions.
std::pair<double, int64_t> Sequential::train_part(const Tensor& x, std::span<const int32_t> y,
                                                  int64_t first, int64_t batch, Rng& rng) {
  auto& im = *impl_;
  forward(x, true, im.acts, nullptr, &rng, first);
  const std::size_t L = layers_.size();
  const int64_t n = x.dim(0);
  // The fused layers the forward ran run backward too: inner[i] for a layer i
  // inside one (not its first), whose dx is never written.
  const std::vector<detail::FusedLayer*>& fused = im.train_fused;
  std::vector<char> inner(L, 0);
  for (std::size_t i = 0; i < L; ++i)
    if (fused[i])
      for (std::size_t j = i + 1; j < i + static_cast<std::size_t>(fused[i]->span()); ++j)
        inner[j] = 1;
  // Ping-pong gradient buffers: grads[L-1] on side 0; layer i's dx on the other
  // side of its dy, except a reshape's, which is a view of its dy. An inner
  // layer's dx (unwritten) takes its dy's side, so the fused layer's dx the other.
  std::vector<int> side(L, 0);
  int64_t cap[2] = {im.acts.back().size(), 0};
  for (std::size_t i = L - 1; i > 0; --i) {
    const bool same = layers_[i]->is_reshape() || inner[i];
    side[i - 1] = same ? side[i] : 1 - side[i];
    if (!inner[i]) cap[side[i - 1]] = std::max(cap[side[i - 1]], im.acts[i - 1].size());
  }
  grow(im.grad_buf[0], cap[0]);
  grow(im.grad_buf[1], cap[1]);
  auto grad_view = [&](std::size_t i) {
    Tensor& b = im.grad_buf[side[i]];
    return Tensor::view(b.data(), im.acts[i].shape(), b.size());
  };
  im.grads.resize(L);
  im.grads[L - 1] = grad_view(L - 1);
  const Tensor& out = im.acts.back();
  const double loss = loss_->compute(out, Targets{y, nullptr}, &im.grads.back(), true);
  if (n != batch) {  // d(batch mean)/d(out) = (n / batch) · d(part mean)/d(out)
    const float share = static_cast<float>(static_cast<double>(n) / static_cast<double>(batch));
    Tensor& g = im.grads.back();
    for (int64_t i = 0; i < g.size(); ++i) g[i] *= share;
  }
  const int64_t k = out.size() / n;
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i)
    correct += argmax_row(out.data() + i * k, k) == y[static_cast<size_t>(i)];
  Context ctx{true, im.pool.get(), &rng, first, first > 0, first + n < batch};
  // Gradients flow back only as far as the first layer with parameters: nothing
  // before it learns, so its input gradient is never computed (as for layer 0)
  // and the layers before it run no backward at all (e.g. the MLP's Flatten +
  // Dense: no dz·Wᵀ).
  std::size_t first_learning = 0;
  while (first_learning + 1 < L && layers_[first_learning]->params().empty()) ++first_learning;
  for (std::size_t i = L; i-- > first_learning;) {
    if (inner[i]) {
      // The fused layer that ends at i, from its last layer's dy.
      std::size_t j = i;
      while (!fused[j]) --j;
      if (j >= first_learning) {
        const bool want_dx = j > first_learning;
        if (want_dx) im.grads[j - 1] = grad_view(j - 1);
        for (std::size_t k = j; k < i; ++k) im.grads[k] = Tensor();
        fused[j]->backward(j == 0 ? x : im.acts[j - 1], im.acts[i], im.grads[i],
                           want_dx ? &im.grads[j - 1] : nullptr, ctx);
        i = j;
        continue;
      }
    }
    const bool want_dx = i > first_learning;
    if (want_dx) im.grads[i - 1] = grad_view(i - 1);
    if (layers_[i]->is_reshape()) continue;  // dx is dy, viewed with x's shape
    layers_[i]->backward(i == 0 ? x : im.acts[i - 1], im.acts[i], im.grads[i],
                         want_dx ? &im.grads[i - 1] : nullptr, ctx);
  }
  return {loss, correct};
}

// Inference runs at most this many samples through the layers at a time: the
// two ping-pong buffers hold chunk · (the two largest consecutive outputs), so
// the chunk is what fits kInferBytes, rounded down to a multiple of 16 samples
// per thread (whole sub-batches of the convolutions' blocking), and never less
// than 16 per thread. (K at batch 500 held 2 x 117 MB of buffers; at chunks of
// 32 (8 MB), 7.5 MB. 16 MB, chunks of 64, inferred no faster at batch 1000 and
// `digitnet train` peaked 8 MB higher: 144 against 136 MB.)
int64_t Sequential::infer_chunk(int64_t batch_size) const {
  constexpr int64_t kInferBytes = int64_t{8} << 20;
  const int64_t unit = 16 * int64_t{threads()};
  const int64_t per_sample = largest_adjacent(layers_, input_shape_);  // both buffers, one sample
  const int64_t fit = kInferBytes / (4 * std::max<int64_t>(per_sample, 1));
  const int64_t chunk = std::max(unit, fit / unit * unit);
  return std::min(batch_size, chunk);
}

Tensor Sequential::predict(const Tensor& x, int batch_size) const {
  if (x.rank() < 1 || x.dim(0) == 0) throw Error("predict: empty input");
  if (batch_size <= 0) throw Error("predict: batch size must be positive");
  const int64_t n = x.dim(0), per = x.size() / n;
  if (shape_size(input_shape_) != per)
    throw Error("predict: input of shape " + shape_str(x.shape()) +
                " does not match the model's input " + shape_str(input_shape_));
  auto& ws = *impl_;
  std::lock_guard<std::mutex> lock(ws.infer_mu);
  Tensor out(with_batch(n, output_shape()));
  const int64_t k = out.size() / n;
  const int64_t chunk = infer_chunk(batch_size);
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t e = std::min<int64_t>(n, b + chunk);
    // Rows [b, e) read in place, shaped as the model's input (only read).
    const Tensor xb =
        Tensor::view(const_cast<float*>(x.data()) + b * per, with_batch(e - b, input_shape_));
    forward(xb, false, ws.infer_acts, ws.infer_buf, nullptr);
    const Tensor& y = ws.infer_acts.back();
    std::copy(y.data(), y.data() + y.size(), out.data() + b * k);
  }
  if (outputs_are_logits()) softmax_rows(out);
  return out;
}

Tensor Sequential::predict(const Dataset& data, int64_t begin, int64_t end, int batch_size) const {
  if (begin < 0 || end > data.size() || begin >= end)
    throw Error("predict: range " + std::to_string(begin) + ":" + std::to_string(end) +
                " is outside the dataset's " + std::to_string(data.size()) + " images");
  return predict(data.images(begin, end), batch_size);
}

Evaluation Sequential::evaluate(const Dataset& data, int batch_size) const {
  if (data.size() == 0) throw Error("evaluate: empty dataset");
  if (batch_size <= 0) throw Error("evaluate: batch size must be positive");
  const LossPtr loss = loss_ ? loss_ : sparse_categorical_crossentropy();
  const int64_t k = shape_size(output_shape());
  if (data.num_classes > k)
    throw Error("evaluate: the data has " + std::to_string(data.num_classes) +
                " classes but the model outputs " + std::to_string(k));
  Evaluation ev;
  ev.class_names = class_names();
  if (ev.class_names.empty()) ev.class_names = data.class_names;
  ev.confusion.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k), 0));
  auto& ws = *impl_;
  std::lock_guard<std::mutex> lock(ws.infer_mu);
  Tensor& xb = ws.infer_x;
  std::vector<int32_t>& yb = ws.infer_y;
  std::vector<int64_t>& idx = ws.infer_idx;
  double loss_sum = 0;
  const bool logits = outputs_are_logits();
  const int64_t chunk = infer_chunk(batch_size);
  for (int64_t b = 0; b < data.size(); b += chunk) {
    const int64_t e = std::min<int64_t>(data.size(), b + chunk);
    idx.resize(static_cast<size_t>(e - b));
    std::iota(idx.begin(), idx.end(), b);
    data.batch(idx, xb, yb, impl_->pool.get());
    forward(xb, false, ws.infer_acts, ws.infer_buf, nullptr);
    const Tensor& out = ws.infer_acts.back();
    loss_sum +=
        loss->compute(out, Targets{yb, nullptr}, nullptr, logits) * static_cast<double>(e - b);
    for (int64_t i = 0; i < e - b; ++i) {
      const int pred = argmax_row(out.data() + i * k, k);
      ev.confusion[static_cast<size_t>(yb[static_cast<size_t>(i)])][static_cast<size_t>(pred)]++;
    }
  }
  ev.samples = data.size();
  ev.loss = loss_sum / static_cast<double>(data.size());
  ev.finish_from_confusion();
  return ev;
}

std::vector<Tensor> Sequential::get_weights() const {
  std::vector<Tensor> out;
  for (auto& l : layers_) {
    for (Param* p : l->params()) out.push_back(p->value);
    for (auto& [name, t] : l->buffers()) out.push_back(*t);
  }
  return out;
}

void Sequential::set_weights(const std::vector<Tensor>& weights) {
  size_t i = 0;
  auto take = [&](Tensor& dst, const std::string& what) {
    if (i >= weights.size()) throw Error("set_weights: too few tensors (missing " + what + ")");
    if (weights[i].shape() != dst.shape())
      throw Error("set_weights: " + what + " has shape " + shape_str(dst.shape()) + ", got " +
                  shape_str(weights[i].shape()));
    dst = weights[i++];
  };
  for (auto& l : layers_) {
    for (Param* p : l->params()) take(p->value, l->name + "/" + p->name);
    for (auto& [name, t] : l->buffers()) take(*t, l->name + "/" + name);
  }
  if (i != weights.size()) throw Error("set_weights: too many tensors");
}

std::vector<std::string> Sequential::class_names() const {
  std::vector<std::string> names;
  if (const auto it = metadata_.find("class_names"); it != metadata_.end() && it->is_array())
    for (const auto& n : *it) names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  return names;
}

void Sequential::set_class_names(std::vector<std::string> names) {
  if (names.empty()) {
    if (metadata_.is_object()) metadata_.erase("class_names");
    return;
  }
  const int64_t k = layers_.empty() ? 0 : shape_size(output_shape());
  if (static_cast<int64_t>(names.size()) != k)
    throw Error("set_class_names: " + std::to_string(names.size()) +
                " class names for a model with " + std::to_string(k) + " outputs");
  metadata_["class_names"] = std::move(names);
}

std::string Sequential::summary() const {
  auto group = [](int64_t v) {
    std::string s = std::to_string(v), out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (i && (s.size() - i) % 3 == 0) out += ',';
      out += s[i];
    }
    return out;
  };
  auto pad = [](std::string s, size_t w) {
    if (s.size() < w) s += std::string(w - s.size(), ' ');
    return s + " ";
  };
  const std::string line(75, '_'), dline(75, '=');
  std::string out = "Model: \"sequential\"\n" + line + "\n";
  out += pad(" Layer (type)", 34) + pad("Output Shape", 26) + "Param #\n" + dline + "\n";
  int64_t trainable = 0, non_trainable = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    int64_t p = 0;
    for (const Param* q : l.params()) p += q->value.size();
    int64_t b = 0;
    for (const auto& [n, t] : l.buffers()) b += t->size();
    trainable += p;
    non_trainable += b;
    std::string shape = "(None";
    for (int64_t d : l.output_shape()) shape += ", " + std::to_string(d);
    shape += ")";
    out += pad(" " + l.name + " (" + l.type() + ")", 34) + pad(shape, 26) + group(p + b) + "\n";
    out += (i + 1 < layers_.size() ? "\n" : "");
  }
  out += dline + "\n";
  out += "Total params: " + group(trainable + non_trainable) + "\n";
  out += "Trainable params: " + group(trainable) + "\n";
  out += "Non-trainable params: " + group(non_trainable) + "\n" + line + "\n";
  return out;
}

History Sequential::fit(const Dataset& train_in, const FitOptions& opt) {
  if (!compiled()) throw Error("fit: compile() the model first");
  if (opt.epochs <= 0)
    throw Error("fit: epochs must be positive, got " + std::to_string(opt.epochs));
  if (opt.batch_size <= 0)
    throw Error("fit: batch_size must be positive, got " + std::to_string(opt.batch_size));
  if (opt.validation_split < 0 || opt.validation_split >= 1)
    throw Error("fit: validation_split must be in [0, 1)");
  if (train_in.size() == 0) throw Error("fit: empty training set");
  opt.augment.validate();
  if (train_in.image_shape != input_shape_)
    throw Error("fit: training images have shape " + shape_str(train_in.image_shape) +
                " but the model expects " + shape_str(input_shape_));

  Dataset limited, split_train, split_val;
  const Dataset* train = &train_in;
  if (opt.max_train_samples > 0 && opt.max_train_samples < train->size()) {
    limited = train->slice(0, opt.max_train_samples);
    train = &limited;
  }
  const Dataset* val = opt.validation.ptr;
  if (opt.validation_split > 0) {
    std::tie(split_train, split_val) = train->split_validation(opt.validation_split);
    train = &split_train;
    if (!val) val = &split_val;
  }
  const int64_t n = train->size();
  const int64_t steps = (n + opt.batch_size - 1) / opt.batch_size;
  const int64_t total_steps = steps * opt.epochs;
  const SchedulePtr schedule = opt.schedule ? opt.schedule : constant_schedule();
  const float base_lr = optimizer_->learning_rate;

  metadata_["training"] = {
      {"epochs", opt.epochs},
      {"batch_size", opt.batch_size},
      {"shuffle", opt.shuffle},
      {"validation_split", opt.validation_split},
      {"train_samples", n},
      {"validation_samples", val ? val->size() : 0},
      {"seed", seed_},
      {"threads", threads()},
      {"optimizer", {{"name", optimizer_->name()}, {"config", optimizer_->config()}}},
      {"loss", {{"name", loss_->name()}, {"config", loss_->config()}}},
      {"schedule", {{"name", schedule->name()}, {"config", schedule->config()}}}};
  if (opt.augment.active()) metadata_["training"]["augment"] = opt.augment.to_json();

  History history;
  detail::Progress progress(opt.progress_fd, opt.verbose);
  for (auto& cb : opt.callbacks) cb->on_train_begin(*this);
  Rng shuffle_rng(seed_ ^ 0x73687566666C65ull);
  float lr_mult = 1.0f;
  Tensor xb;
  std::vector<int32_t> yb;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<uint64_t> keys;  // each image's distortion: its epoch and index
  const uint64_t augment_seed = seed_ ^ 0x61756720ull;
  int64_t global_step = 0;
  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    if (opt.shuffle)
      order = shuffled_indices(n, shuffle_rng);
    else
      std::iota(order.begin(), order.end(), 0);
    progress.begin_epoch(epoch, opt.epochs, steps);
    double loss_sum = 0, correct = 0;
    int64_t seen = 0;
    float lr = base_lr;
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t b = s * opt.batch_size, e = std::min<int64_t>(n, b + opt.batch_size);
      train->batch(std::span<const int64_t>(order).subspan(static_cast<size_t>(b),
                                                           static_cast<size_t>(e - b)),
                   xb, yb, impl_->pool.get());
      if (opt.augment.active()) {
        keys.resize(static_cast<size_t>(e - b));
        for (int64_t i = b; i < e; ++i)
          keys[static_cast<size_t>(i - b)] = augment_key(epoch, order[static_cast<size_t>(i)]);
        augment_batch(opt.augment, augment_seed, keys, xb, impl_->pool.get());
      }
      lr = schedule->lr(base_lr, global_step, total_steps, steps) * lr_mult;
      const auto [l, a] = train_step(xb, yb, lr);
      ++global_step;
      if (!std::isfinite(l))
        throw Error("fit: the loss became " + std::to_string(l) + " at epoch " +
                    std::to_string(epoch) + ", step " + std::to_string(s + 1) +
                    " (learning rate too high?)");
      loss_sum += l * static_cast<double>(e - b);
      correct += a * static_cast<double>(e - b);
      seen += e - b;
      const bool stop_now = opt.stop_requested && opt.stop_requested->load();
      progress.update(s + 1, seen, loss_sum / static_cast<double>(seen),
                      correct / static_cast<double>(seen), s + 1 == steps || stop_now);
      if (stop_now) {
        history.interrupted = true;
        break;
      }
    }
    EpochLogs logs;
    logs["epoch"] = epoch;
    logs["loss"] = loss_sum / static_cast<double>(std::max<int64_t>(seen, 1));
    logs["accuracy"] = correct / static_cast<double>(std::max<int64_t>(seen, 1));
    if (val && !history.interrupted) {
      const Evaluation ve = evaluate(*val);
      logs["val_loss"] = ve.loss;
      logs["val_accuracy"] = ve.accuracy;
    }
    logs["lr"] = lr;
    logs["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char buf[256];
    std::string line;
    for (const char* key : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
      auto it = logs.find(key);
      if (it == logs.end()) continue;
      std::snprintf(buf, sizeof buf, "%s%s: %.4f", line.empty() ? "" : " - ", key, it->second);
      line += buf;
    }
    std::snprintf(buf, sizeof buf, " - lr: %.3g - %.0f img/s", static_cast<double>(lr),
                  static_cast<double>(seen) / logs["seconds"]);
    line += buf;
    progress.end_epoch(line);
    history.epochs.push_back(logs);
    if (history.interrupted) {
      progress.message("Interrupted: stopped after the current batch (epoch " +
                       std::to_string(epoch) + ").");
      break;
    }
    TrainControl control;
    control.lr_multiplier = lr_mult;
    for (auto& cb : opt.callbacks) cb->on_epoch_end(*this, epoch, logs, control);
    lr_mult = control.lr_multiplier;
    if (control.stop) {
      history.stopped_early = true;
      progress.message("Early stopping after epoch " + std::to_string(epoch) + ".");
      break;
    }
  }
  for (auto& cb : opt.callbacks) cb->on_train_end(*this);
  metadata_["history"] = history.to_json();
  return history;
}

}  // namespace digitnet
