// bench/conv_shapes.cpp — times one Conv2D layer (ReLU, bias) per shape of a table,
// through the public API only; bench/torch_conv_shapes.py times the same with PyTorch
// and bench/shapes.py runs both and prints the ratios.
//
//   conv_shapes [--threads 2] [--batch 128] [--rows 0,5,7] [--min-time 0.25] [--min-iters 5]
//               [--warmup 2] [--micro-batch auto|N] [--list]
//
// Per row, two figures:
//  * training: forward, then backward with dx (dW, db and dx), of a batch of 128;
//    images/s from the median step. A layer on one input channel is a first
//    layer, whose dx no model asks for: its backward gives dW and db only. The
//    weights change between steps (an untimed ±1e-4 nudge standing in for the
//    optimizer), so that transforms a layer caches from its weights are rebuilt
//    every step, as in training. The batch runs in the micro-batches a model made
//    of this layer would use (Sequential::train_chunk, with accumulate_grads and
//    more_parts as train_step sets them); --micro-batch N forces parts of N
//    samples, 0 the whole batch in one call.
//  * latency: inference forward of one image (median, microseconds).
// x is uniform in [0, 1) (an image or a ReLU's output), dy uniform in [-1, 1).
// One JSON line per row on stdout; --list prints the table's rows only (the
// shapes torch_conv_shapes.py reads).
//
// The table (48 rows): kernels 1, 3, 5; 'same' and 'valid'; stride 1 and 2; on
// the planes such layers see in MNIST networks, 28 (the image), 14 and 7 (after
// one and two 2x2 poolings or stride-2 layers), with the channel pairs of those
// places: 1 -> 32 for a first layer, 16..64 at 28, 32..64 at 14, 64..128 at 7.
//  * 3x3 stride 1, both paddings: the most common layer, 8 pairs from (1,32) at 28
//    to (128,128) at 7;
//  * 5x5 stride 1, both paddings: the TensorFlow-tutorial and LeNet-like layers,
//    5 pairs (the widest, 64 -> 128, at 7 only);
//  * 3x3 and 5x5 stride 2, both paddings: downsampling instead of pooling, a
//    first layer and the 28 -> 14 and 14 -> 7 steps (plus 3x3 128 -> 128 at 7);
//  * 1x1: channel mixing at stride 1 on every plane size, projection shortcuts at
//    stride 2 (28 -> 14, 14 -> 7); 'same' only (for 1x1 'valid' is the same layer).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "digitnet/digitnet.hpp"

using namespace digitnet;
using Clock = std::chrono::steady_clock;

namespace {

struct Row {
  int k;
  Padding padding;
  int stride;
  int cin, cout;
  int h;  // input height = width
};

constexpr Padding S = Padding::same, V = Padding::valid;

const std::vector<Row>& table() {
  static const std::vector<Row> rows = [] {
    std::vector<Row> r;
    struct Pair {
      int cin, cout, h;
    };
    auto both = [&](int k, int stride, std::initializer_list<Pair> pairs) {
      for (const Pair& p : pairs)
        for (Padding pad : {S, V}) r.push_back({k, pad, stride, p.cin, p.cout, p.h});
    };
    both(3, 1,
         {{1, 32, 28},
          {16, 32, 28},
          {32, 32, 28},
          {32, 64, 28},
          {32, 64, 14},
          {64, 64, 14},
          {64, 128, 7},
          {128, 128, 7}});
    both(5, 1, {{1, 32, 28}, {32, 32, 28}, {32, 64, 14}, {64, 64, 14}, {64, 128, 7}});
    both(3, 2, {{1, 32, 28}, {32, 64, 28}, {64, 128, 14}, {128, 128, 7}});
    both(5, 2, {{1, 32, 28}, {32, 64, 28}, {64, 128, 14}});
    for (Pair p : std::initializer_list<Pair>{
             {16, 32, 28}, {32, 32, 28}, {32, 64, 14}, {64, 64, 14}, {64, 128, 7}, {128, 128, 7}})
      r.push_back({1, S, 1, p.cin, p.cout, p.h});
    for (Pair p : std::initializer_list<Pair>{{32, 64, 28}, {64, 128, 14}})
      r.push_back({1, S, 2, p.cin, p.cout, p.h});
    return r;
  }();
  return rows;
}

int out_size(const Row& r) {
  return r.padding == S ? (r.h + r.stride - 1) / r.stride : (r.h - r.k) / r.stride + 1;
}

std::string row_json(std::size_t i, const Row& r) {
  std::ostringstream o;
  o << "\"row\":" << i << ",\"k\":" << r.k << ",\"padding\":\""
    << (r.padding == S ? "same" : "valid") << "\",\"stride\":" << r.stride << ",\"cin\":" << r.cin
    << ",\"cout\":" << r.cout << ",\"h\":" << r.h << ",\"oh\":" << out_size(r);
  return o.str();
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs `once` (returning its own timed seconds) `warmup` times untimed, then
// until at least min_iters runs and min_time seconds; the median run.
template <class F>
double median_seconds(F once, int warmup, int min_iters, double min_time) {
  for (int i = 0; i < warmup; ++i) (void)once();
  std::vector<double> t;
  double total = 0.0;
  while (static_cast<int>(t.size()) < min_iters || total < min_time) {
    t.push_back(once());
    total += t.back();
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void fill_uniform(Tensor& t, Rng& rng, float lo, float hi) {
  for (float& v : t.span()) v = rng.uniform(lo, hi);
}

struct Options {
  int threads = 2, batch = 128, warmup = 2, min_iters = 5, micro_batch = -1;  // -1: auto
  double min_time = 0.25;
};

void run_row(std::size_t index, const Row& r, const Options& o) {
  // A model of this layer alone: its pool, and the micro-batch train_step would use.
  Sequential model({r.cin, r.h, r.h}, 42, o.threads);
  model.add(Conv2D(r.cout, r.k, relu, r.stride, r.padding));
  Layer& layer = *model.layers()[0];
  ThreadPool& pool = model.thread_pool();
  const int64_t chunk = o.micro_batch < 0 ? model.train_chunk(o.batch)
                                          : (o.micro_batch == 0 ? o.batch : o.micro_batch);

  Rng data_rng(1), ctx_rng(2);
  Tensor x(with_batch(o.batch, layer.input_shape()));
  fill_uniform(x, data_rng, 0.0f, 1.0f);
  Tensor dy_full(with_batch(o.batch, layer.output_shape()));
  fill_uniform(dy_full, data_rng, -1.0f, 1.0f);
  const int64_t per_x = shape_size(layer.input_shape()), per_y = shape_size(layer.output_shape());

  Context ctx{true, &pool, &ctx_rng};
  Tensor y, dx;
  int step = 0;
  auto train_step = [&] {
    // Untimed: the optimizer's stand-in (the weights differ from the last step's).
    const float nudge = (step++ % 2 == 0) ? 1e-4f : -1e-4f;
    for (Param* p : layer.params())
      for (float& v : p->value.span()) v += nudge;
    const auto t0 = Clock::now();
    for (int64_t b0 = 0; b0 < o.batch; b0 += chunk) {
      const int64_t m = std::min<int64_t>(chunk, o.batch - b0);
      const Tensor xp = Tensor::view(x.data() + b0 * per_x, with_batch(m, layer.input_shape()));
      const Tensor dyp =
          Tensor::view(dy_full.data() + b0 * per_y, with_batch(m, layer.output_shape()));
      ctx.first_sample = b0;
      ctx.accumulate_grads = b0 > 0;
      ctx.more_parts = b0 + m < o.batch;
      layer.forward(xp, y, ctx);
      layer.backward(xp, y, dyp, r.cin == 1 ? nullptr : &dx, ctx);
    }
    return seconds_since(t0);
  };
  const double train_s = median_seconds(train_step, o.warmup, o.min_iters, o.min_time);

  // Latency: one image, inference; repeated calls see the same weights.
  Context ictx{false, &pool, nullptr};
  const Tensor x1 = Tensor::view(x.data(), with_batch(1, layer.input_shape()));
  Tensor y1;
  auto infer = [&] {
    const auto t0 = Clock::now();
    layer.forward(x1, y1, ictx);
    return seconds_since(t0);
  };
  const double lat_s = median_seconds(infer, 10, 50, std::min(o.min_time, 0.1));

  // FLOPs: forward 2·MACs, dW 2·MACs, dx 2·MACs (none for a first layer).
  const double flops = 2.0 * static_cast<double>(layer.forward_macs()) * (r.cin == 1 ? 2 : 3);
  std::printf(
      "{\"framework\":\"digitnet\",%s,\"threads\":%d,\"batch\":%d,\"micro_batch\":%lld,"
      "\"train_images_per_s\":%.2f,\"train_ms\":%.4f,\"train_gflops\":%.2f,"
      "\"latency_us\":%.2f,\"latency_images_per_s\":%.2f}\n",
      row_json(index, r).c_str(), o.threads, o.batch, static_cast<long long>(chunk),
      o.batch / train_s, 1e3 * train_s, flops * o.batch / train_s / 1e9, 1e6 * lat_s, 1.0 / lat_s);
  std::fflush(stdout);
}

std::vector<std::size_t> parse_rows(const std::string& s) {
  std::vector<std::size_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    const std::size_t i = std::stoul(item);
    if (i >= table().size())
      throw Error("conv_shapes: row " + item + " out of range (0.." +
                  std::to_string(table().size() - 1) + ")");
    out.push_back(i);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  bool list = false;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < table().size(); ++i) rows.push_back(i);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw Error("conv_shapes: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--batch")
      o.batch = std::stoi(next());
    else if (a == "--warmup")
      o.warmup = std::stoi(next());
    else if (a == "--min-iters")
      o.min_iters = std::stoi(next());
    else if (a == "--min-time")
      o.min_time = std::stod(next());
    else if (a == "--micro-batch") {
      const std::string v = next();
      o.micro_batch = v == "auto" ? -1 : std::stoi(v);
    } else if (a == "--rows")
      rows = parse_rows(next());
    else if (a == "--list")
      list = true;
    else
      throw Error("conv_shapes: unknown flag " + a);
  }
  if (o.threads < 1 || o.batch < 1 || o.min_iters < 1 || o.micro_batch < -1)
    throw Error(
        "conv_shapes: --threads, --batch, --min-iters must be positive, --micro-batch >= 0");
  for (std::size_t i : rows) {
    if (list)
      std::printf("{%s}\n", row_json(i, table()[i]).c_str());
    else
      run_row(i, table()[i], o);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << e.what() << "\n";
  return 1;
}
