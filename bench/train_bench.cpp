// bench/train_bench.cpp — times digitnet on the networks below.
//
//   train_bench --net K|S|L|M|T|V|D|B|N [--threads 2] [--steps 30] [--warmup 3] [--batch 128]
//               [--infer-reps 5] [--data-dir DIR] [--profile] [--memory] [--model FILE]
//               [--augment] [--elastic ALPHA,SIGMA]
//   train_bench --sgemm [--threads 2] [--size 512]
//   train_bench --net K --scaling [--threads 2] [--steps 30] [--warmup 3]
//   train_bench --bandwidth [--threads 2] [--size 4]
//
// Networks (bench/torch_bench.py builds the same):
//   the reference four: K classic Keras CNN, S tutorial CNN, L LeNet-5, M tutorial MLP;
//   beyond them, common shapes those four do not have:
//   T TensorFlow's "deep MNIST": conv 5x5 32 same, max pool, conv 5x5 64 same,
//     max pool, dense 1024, dropout 0.5, dense 10;
//   V VGG-like stack of 3x3 'same': conv 32, 32, max pool, 64, 64, max pool, dense 128, 10;
//   D downsampling by stride-2 3x3 'same' convolutions instead of pooling:
//     conv 32, conv 64 /2, conv 64, conv 128 /2 (28 -> 14 -> 7), dense 10;
//   B batch normalisation: conv 3x3 32 (no bias), BN, ReLU, max pool, conv 3x3 64
//     (no bias), BN, ReLU, max pool, dense 128, dense 10 (BN: no micro-batches);
//   N 1x1 convolutions (network-in-network style): conv 3x3 32 same, conv 1x1 32,
//     max pool, conv 3x3 64 same, conv 1x1 64, max pool, dense 10.
//   Hidden layers use ReLU except L's (tanh); every net ends in dense 10 softmax.
// Training: Adam 1e-3 on real MNIST batches (the full training set is loaded
// as bytes and converted per batch, as fit() does). Inference: predict() on the
// first 1000 test images (batch 1000) and single-image latency (batch 1).
// Prints one JSON object on stdout: images/s, FLOP counts, peak RSS.
// --profile adds the wall time of each layer's forward and backward (in the
// micro-batches train_step runs), each layer on its own: the pairs Sequential
// fuses (a convolution and the pooling after it) run apart here.
// --augment distorts every training batch as fit() does (Augmentation::mnist();
// --elastic adds an elastic distortion) and reports the distortion's share of
// the timed steps (augment_share).
// --memory prints resident memory (anonymous + file-backed) at each stage to stderr.
// --model FILE starts from a saved model (e.g. the main job's out/cnn.dnm) instead
// of a new `--net` one: with --steps 0 --warmup 0, inference figures of a
// trained model (a trained K's dense layer sees ~80 % zero inputs).
// --sgemm measures the machine's sgemm rate: every pool thread runs an
// independent single-threaded size³ product (the way the layers use BLAS), with
// OpenBLAS and with oneDNN; the rate is the faster of the two.
// --bandwidth measures the machine's memory read rate: every pool thread reads its
// own buffer of --size MB (4: in L3; 64: mostly DRAM) over and over; GB/s in
// all. Run on 1 and on N threads, it shows how far the memory system itself
// scales (on this VM, far less than the cores: see docs/PERFORMANCE.md).
// --scaling measures the thread scaling under the same machine conditions: two
// copies of the net, one on `--threads` threads and one on 1, train in the same
// process, taking turns in blocks of a few steps (which goes first alternates),
// on the same sequence of batches. This VM's speed drifts by up to 1.5x over seconds (the
// vCPUs' placement), so a one-thread run minutes apart from the N-thread run
// measures the machine as much as the code. Prints both rates and their ratio.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/kernels.hpp"
#include "digitnet/digitnet.hpp"

using namespace digitnet;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Current resident memory from /proc/self/status: "anon+file" MB (RssAnon, RssFile), for --memory.
std::string rss_now() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return "?";
  char line[256];
  long anon = 0, file = 0, hwm = 0;
  while (std::fgets(line, sizeof line, f)) {
    std::sscanf(line, "RssAnon: %ld", &anon);
    std::sscanf(line, "RssFile: %ld", &file);
    std::sscanf(line, "VmHWM: %ld", &hwm);
  }
  std::fclose(f);
  char buf[128];
  std::snprintf(buf, sizeof buf, "anon %.1f + file %.1f MB (peak %.1f)", anon / 1024.0,
                file / 1024.0, hwm / 1024.0);
  return buf;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

Sequential make_net(const std::string& net, int threads) {
  if (net == "K") return build_model(preset_spec("cnn"), 42, threads);
  if (net == "L") return build_model(preset_spec("lenet"), 42, threads);
  if (net == "M") return build_model(preset_spec("mlp"), 42, threads);
  Sequential m({1, 28, 28}, 42, threads);
  if (net == "S") {
    m.add(Conv2D(64, 3, relu));
    m.add(Conv2D(32, 3, relu));
    m.add(MaxPooling2D(2));
    m.add(Flatten());
    m.add(Dense(10, softmax));
  } else if (net == "T") {
    m.add(Conv2D(32, 5, relu, 1, same));
    m.add(MaxPooling2D(2));
    m.add(Conv2D(64, 5, relu, 1, same));
    m.add(MaxPooling2D(2));
    m.add(Flatten());
    m.add(Dense(1024, relu));
    m.add(Dropout(0.5f));
    m.add(Dense(10, softmax));
  } else if (net == "V") {
    m.add(Conv2D(32, 3, relu, 1, same));
    m.add(Conv2D(32, 3, relu, 1, same));
    m.add(MaxPooling2D(2));
    m.add(Conv2D(64, 3, relu, 1, same));
    m.add(Conv2D(64, 3, relu, 1, same));
    m.add(MaxPooling2D(2));
    m.add(Flatten());
    m.add(Dense(128, relu));
    m.add(Dense(10, softmax));
  } else if (net == "D") {
    m.add(Conv2D(32, 3, relu, 1, same));
    m.add(Conv2D(64, 3, relu, 2, same));
    m.add(Conv2D(64, 3, relu, 1, same));
    m.add(Conv2D(128, 3, relu, 2, same));
    m.add(Flatten());
    m.add(Dense(10, softmax));
  } else if (net == "B") {
    m.add(Conv2D(32, 3, linear, 1, valid, false));
    m.add(BatchNormalization());
    m.add(ActivationLayer(relu));
    m.add(MaxPooling2D(2));
    m.add(Conv2D(64, 3, linear, 1, valid, false));
    m.add(BatchNormalization());
    m.add(ActivationLayer(relu));
    m.add(MaxPooling2D(2));
    m.add(Flatten());
    m.add(Dense(128, relu));
    m.add(Dense(10, softmax));
  } else if (net == "N") {
    m.add(Conv2D(32, 3, relu, 1, same));
    m.add(Conv2D(32, 1, relu));
    m.add(MaxPooling2D(2));
    m.add(Conv2D(64, 3, relu, 1, same));
    m.add(Conv2D(64, 1, relu));
    m.add(MaxPooling2D(2));
    m.add(Flatten());
    m.add(Dense(10, softmax));
  } else {
    throw Error("train_bench: unknown --net '" + net + "' (K, S, L, M, T, V, D, B, N)");
  }
  return m;
}

// FLOPs of one training step per sample: forward 2·MACs; backward 2·MACs for
// the weight gradient plus 2·MACs for the input gradient (not for the first
// layer with parameters, whose input gradient is never computed).
double train_flops_per_sample(const Sequential& m) {
  double f = 0.0;
  const auto layers = m.layers();
  std::size_t first = 0;
  while (first + 1 < layers.size() && layers[first]->params().empty()) ++first;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const double macs = static_cast<double>(layers[i]->forward_macs());
    f += 2.0 * macs * (i <= first ? 2.0 : 3.0);
  }
  return f;
}

// The machine's sgemm rate: the faster of the two libraries digitnet can use
// (both are reported), so the efficiency target is measured against the best.
int run_sgemm(int threads, int size) {
  ThreadPool pool(threads);
  kernels::use_single_threaded_blas();
  const std::size_t n = static_cast<std::size_t>(size) * size;
  std::vector<std::vector<float>> a(static_cast<std::size_t>(threads), std::vector<float>(n, 0.5f));
  std::vector<std::vector<float>> b = a, c = a;
  auto rate = [&](kernels::GemmBackend backend) {
    auto once = [&] {
      pool.run([&](int t) {
        const std::size_t ti = static_cast<std::size_t>(t);
        kernels::sgemm(backend, false, false, size, size, size, 1.0f, a[ti].data(), size,
                       b[ti].data(), size, 0.0f, c[ti].data(), size);
      });
    };
    once();
    int reps = 0;
    const auto t0 = Clock::now();
    while (seconds_since(t0) < 1.0 || reps < 3) {
      once();
      ++reps;
    }
    return 2.0 * size * double(size) * size * threads * reps / seconds_since(t0) / 1e9;
  };
  const double ob = rate(kernels::GemmBackend::openblas);
  const double dn = rate(kernels::GemmBackend::dnnl);
  std::printf(
      "{\"sgemm_gflops\":%.2f,\"sgemm_openblas_gflops\":%.2f,\"sgemm_dnnl_gflops\":%.2f,"
      "\"sgemm_backend\":\"%s\",\"threads\":%d,\"size\":%d}\n",
      std::max(ob, dn), ob, dn, kernels::gemm_backend_name(kernels::gemm_backend()), threads, size);
  return 0;
}

// One float of every 64-byte line, four chains: the rate the lines arrive at,
// not the adds (a full float sum is bound by its additions at L3 speeds).
float line_sum(const float* p, int64_t n) {
  float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    a0 += p[i];
    a1 += p[i + 16];
    a2 += p[i + 32];
    a3 += p[i + 48];
  }
  return a0 + a1 + a2 + a3;
}

// --bandwidth: every participant reads its own `mb` MB buffer; GB/s read in all.
int run_bandwidth(int threads, int mb) {
  if (mb <= 0) throw Error("train_bench: --size must be positive");
  ThreadPool pool(threads);
  const int64_t n = int64_t{mb} << 18;  // floats
  std::vector<std::vector<float>> buf(static_cast<std::size_t>(threads),
                                      std::vector<float>(static_cast<std::size_t>(n), 1.0f));
  std::vector<float> sink(static_cast<std::size_t>(threads));
  auto once = [&] {
    pool.run([&](int t) {
      const std::size_t ti = static_cast<std::size_t>(t);
      sink[ti] += line_sum(buf[ti].data(), n);
    });
  };
  for (int i = 0; i < 3; ++i) once();
  int reps = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 0.5 || reps < 3) {
    once();
    ++reps;
  }
  const double gbs = 4.0 * static_cast<double>(n) * threads * reps / seconds_since(t0) / 1e9;
  if (sink[0] < 0.0f) std::printf("#");  // keeps the sums
  std::printf("{\"bandwidth_gbs\":%.2f,\"threads\":%d,\"size_mb\":%d}\n", gbs, threads, mb);
  return 0;
}

// Consecutive batches of one shuffled epoch of the training set (seed 7),
// starting over at its end; assembled as fit() does (bytes -> floats, on the
// model's pool).
struct Batches {
  Batches(const Dataset& d, int batch, ThreadPool* p)
      : data(d), size(batch), pool(p), order(epoch(d.size())) {}
  static std::vector<int64_t> epoch(int64_t n) {
    Rng rng(7);
    return shuffled_indices(n, rng);
  }
  void next(Tensor& x, std::vector<int32_t>& y) {
    if (cursor + size > data.size()) cursor = 0;
    data.batch(std::span<const int64_t>(order).subspan(static_cast<std::size_t>(cursor),
                                                       static_cast<std::size_t>(size)),
               x, y, pool);
    if (augment.active()) {  // as fit() does: each image's key is its epoch and index
      const auto t0 = Clock::now();
      keys.resize(static_cast<std::size_t>(size));
      for (int i = 0; i < size; ++i)
        keys[static_cast<std::size_t>(i)] =
            augment_key(1, order[static_cast<std::size_t>(cursor + i)]);
      augment_batch(augment, 7, keys, x, pool);
      augment_s += seconds_since(t0);
    }
    cursor += size;
  }
  const Dataset& data;
  int size;
  ThreadPool* pool;  // the model's
  std::vector<int64_t> order;
  int64_t cursor = 0;
  Augmentation augment;  // --augment / --elastic
  std::vector<uint64_t> keys;
  double augment_s = 0.0;  // time spent distorting
};

// --scaling: alternating steps of an N-thread and a one-thread copy of `net`.
int run_scaling(const Mnist& mnist, const std::string& net, int threads, int steps, int warmup,
                int batch) {
  if (threads < 2) throw Error("train_bench: --scaling needs --threads of at least 2");
  Sequential many = make_net(net, threads), one = make_net(net, 1);
  Sequential* models[2] = {&many, &one};
  for (Sequential* m : models)
    m->compile(Adam(1e-3f), sparse_categorical_crossentropy(), {accuracy});
  Batches batches[2] = {{mnist.train, batch, &many.thread_pool()},
                        {mnist.train, batch, &one.thread_pool()}};  // the same sequence each
  Tensor xb;
  std::vector<int32_t> yb;
  double secs[2] = {0.0, 0.0};
  int timed[2] = {0, 0};
  auto step = [&](int m, bool time_it) {
    const auto t0 = Clock::now();
    batches[m].next(xb, yb);
    (void)models[m]->train_step(xb, yb, 1e-3f);
    if (time_it) secs[m] += seconds_since(t0), ++timed[m];
  };
  for (int s = 0; s < warmup; ++s)
    for (int m = 0; m < 2; ++m) step(m, false);
  // Blocks of kBlock timed steps per copy, each after one untimed step that
  // brings the copy's weights and optimizer state back into cache (two copies
  // of K's ~28 MB do not fit the 32 MB L3 together); the copies take turns,
  // and which goes first alternates.
  constexpr int kBlock = 4;
  for (int b = 0; timed[0] < steps; ++b)
    for (int k = 0; k < 2; ++k) {
      const int m = (b + k) % 2;
      step(m, false);
      for (int i = 0; i < kBlock && timed[m] < steps; ++i) step(m, true);
    }
  const double images = static_cast<double>(steps) * batch;
  const double ips_many = images / secs[0], ips_one = images / secs[1];
  std::printf(
      "{\"framework\":\"digitnet\",\"net\":\"%s\",\"threads\":%d,\"batch\":%d,\"steps\":%d,"
      "\"train_images_per_s\":%.2f,\"one_thread_images_per_s\":%.2f,\"scaling\":%.3f}\n",
      net.c_str(), threads, batch, steps, ips_many, ips_one, ips_many / ips_one);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string net = "K", data_dir, model_path;
  int threads = 2, steps = 30, warmup = 3, batch = 128, infer_reps = 5, size = 512;
  bool sgemm = false, profile = false, memory = false, scaling = false, bandwidth = false;
  Augmentation augment;
  bool size_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw Error("train_bench: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--net")
      net = next();
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--steps")
      steps = std::stoi(next());
    else if (a == "--warmup")
      warmup = std::stoi(next());
    else if (a == "--batch")
      batch = std::stoi(next());
    else if (a == "--infer-reps")
      infer_reps = std::stoi(next());
    else if (a == "--size")
      size = std::stoi(next()), size_given = true;
    else if (a == "--data-dir")
      data_dir = next();
    else if (a == "--sgemm")
      sgemm = true;
    else if (a == "--bandwidth")
      bandwidth = true;
    else if (a == "--scaling")
      scaling = true;
    else if (a == "--profile")
      profile = true;
    else if (a == "--memory")
      memory = true;
    else if (a == "--model")
      model_path = next();
    else if (a == "--augment")
      augment = Augmentation::mnist();
    else if (a == "--elastic") {
      const std::string v = next();
      augment.elastic_alpha = std::stof(v.substr(0, v.find(',')));
      augment.elastic_sigma = std::stof(v.substr(v.find(',') + 1));
    } else
      throw Error("train_bench: unknown flag " + a);
  }
  if (sgemm) return run_sgemm(threads, size);
  if (bandwidth) return run_bandwidth(threads, size_given ? size : 4);

  auto mem = [&](const char* stage) {
    if (memory) std::fprintf(stderr, "memory %-22s %s\n", stage, rss_now().c_str());
  };
  mem("start");
  const Mnist mnist = load_mnist(data_dir.empty() ? mnist_cache_dir() : data_dir, false);
  mem("MNIST loaded");
  if (scaling) return run_scaling(mnist, net, threads, steps, warmup, batch);
  Sequential model = model_path.empty() ? make_net(net, threads) : load_model(model_path, threads);
  model.compile(Adam(1e-3f), sparse_categorical_crossentropy(), {accuracy});
  mem("model compiled");

  // Training on consecutive real batches of a shuffled epoch.
  Batches batches(mnist.train, batch, &model.thread_pool());
  augment.validate();
  batches.augment = augment;
  Tensor xb;
  std::vector<int32_t> yb;
  auto next_batch = [&] { batches.next(xb, yb); };
  double last_loss = 0.0;
  for (int s = 0; s < warmup; ++s) {
    next_batch();
    last_loss = model.train_step(xb, yb, 1e-3f).first;
    if (s == 0) mem("first step");
  }
  double train_s = 0.0;
  batches.augment_s = 0.0;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = Clock::now();
    next_batch();  // batch assembly (bytes -> floats) counts, as in fit()
    last_loss = model.train_step(xb, yb, 1e-3f).first;
    train_s += seconds_since(t0);
  }
  const double train_ips = steps > 0 ? static_cast<double>(steps) * batch / train_s : 0.0;
  // The distortion's share of the timed steps (0 without --augment).
  const double augment_share = train_s > 0 ? batches.augment_s / train_s : 0.0;
  const double train_rss_mb = peak_rss_mb();  // peak while training (before inference)
  mem("trained");

  // Per-layer profile: forward and backward of each layer, timed separately.
  std::string prof;
  if (profile) {
    ThreadPool pool(threads);
    Rng prng(3);
    Context ctx{true, &pool, &prng};
    const auto layers = model.layers();
    const std::size_t L = layers.size();
    std::vector<Tensor> acts(L), grads(L);
    std::vector<double> tf(L, 0.0), tb(L, 0.0);
    const int reps = std::max(steps / 2, 3);
    // In the micro-batches train_step uses (Sequential::train_chunk).
    const int64_t chunk = model.train_chunk(batch), per = xb.size() / std::max<int64_t>(batch, 1);
    for (int r = 0; r < reps + 1; ++r) {
      next_batch();
      for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
        const int64_t m = std::min(chunk, batch - b0);
        Shape part_shape = xb.shape();
        part_shape[0] = m;
        const Tensor xp = Tensor::view(xb.data() + b0 * per, part_shape);
        ctx.first_sample = b0;
        ctx.accumulate_grads = b0 > 0;
        ctx.more_parts = b0 + m < batch;
        for (std::size_t i = 0; i < L; ++i) {
          const auto t0 = Clock::now();
          layers[i]->forward(i == 0 ? xp : acts[i - 1], acts[i], ctx);
          if (r > 0) tf[i] += seconds_since(t0);
        }
        grads[L - 1] = acts[L - 1];  // any dy of the right shape
        for (std::size_t i = L; i-- > 0;) {
          const auto t0 = Clock::now();
          layers[i]->backward(i == 0 ? xp : acts[i - 1], acts[i], grads[i],
                              i == 0 ? nullptr : &grads[i - 1], ctx);
          if (r > 0) tb[i] += seconds_since(t0);
        }
      }
    }
    prof = ",\"profile_ms_per_step\":[";
    for (std::size_t i = 0; i < L; ++i) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s{\"layer\":\"%s\",\"forward\":%.3f,\"backward\":%.3f}",
                    i ? "," : "", layers[i]->name.c_str(), 1e3 * tf[i] / reps, 1e3 * tb[i] / reps);
      prof += buf;
    }
    prof += "]";
    // Single-image latency per layer (inference mode, median of 200 calls).
    Context ictx{false, &pool, nullptr};
    const Tensor x1 = mnist.test.images(0, 1);
    std::vector<Tensor> a1(L);
    prof += ",\"latency1_us_per_layer\":[";
    for (std::size_t i = 0; i < L; ++i) {
      const Tensor& in = i == 0 ? x1 : a1[i - 1];
      std::vector<double> ts;
      for (int r = 0; r < 210; ++r) {
        const auto t0 = Clock::now();
        layers[i]->forward(in, a1[i], ictx);
        if (r >= 10) ts.push_back(seconds_since(t0));
      }
      std::sort(ts.begin(), ts.end());
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s{\"layer\":\"%s\",\"us\":%.1f}", i ? "," : "",
                    layers[i]->name.c_str(), 1e6 * ts[ts.size() / 2]);
      prof += buf;
    }
    prof += "]";
  }

  // Inference at batch 1000 and batch 1.
  const Tensor x1000 = mnist.test.images(0, 1000);
  const Tensor x1 = mnist.test.images(0, 1);
  if (infer_reps > 0) (void)model.predict(x1000, 1000);
  std::vector<double> t1000, t1;
  for (int r = 0; r < infer_reps; ++r) {
    const auto t0 = Clock::now();
    const Tensor p = model.predict(x1000, 1000);
    t1000.push_back(seconds_since(t0));
    if (p.dim(0) != 1000) throw Error("train_bench: predict returned the wrong batch");
  }
  for (int r = 0; r < (infer_reps > 0 ? 5 : 0); ++r) (void)model.predict(x1, 1);
  const auto lat_start = Clock::now();  // up to 100 calls or 3 s, at least 5 calls
  while (infer_reps > 0 && (t1.size() < 5 || (t1.size() < 100 && seconds_since(lat_start) < 3.0))) {
    const auto t0 = Clock::now();
    (void)model.predict(x1, 1);
    t1.push_back(seconds_since(t0));
  }
  std::sort(t1000.begin(), t1000.end());
  std::sort(t1.begin(), t1.end());
  const double ips1000 = t1000.empty() ? 0.0 : 1000.0 / t1000[t1000.size() / 2];
  const double lat1 = t1.empty() ? 0.0 : 1e3 * t1[t1.size() / 2];

  std::printf(
      "{\"framework\":\"digitnet\",\"net\":\"%s\",\"threads\":%d,\"batch\":%d,\"steps\":%d,"
      "\"train_images_per_s\":%.2f,\"train_gflop_per_image\":%.6f,\"train_gflops\":%.2f,"
      "\"infer1000_images_per_s\":%.2f,\"latency1_ms\":%.4f,\"peak_rss_mb\":%.1f,"
      "\"final_loss\":%.4f,\"augment\":\"%s\",\"augment_share\":%.4f%s}\n",
      net.c_str(), threads, batch, steps, train_ips, train_flops_per_sample(model) / 1e9,
      train_ips * train_flops_per_sample(model) / 1e9, ips1000, lat1, train_rss_mb, last_loss,
      augment.describe().c_str(), augment_share, prof.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << e.what() << "\n";
  return 1;
}
