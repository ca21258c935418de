// digitnet show | plot | inspect | report, and the pictures of train/evaluate.
#include "cmd_pictures.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace digitnet::cli {

namespace {

// The class index --class names (a name of the data set's, or a number), or
// --digit's; -1 for all classes.
int class_filter(const PictureFlags& f, const Dataset& data) {
  if (f.class_filter.empty()) return f.digit;
  for (size_t k = 0; k < data.class_names.size(); ++k)
    if (data.class_names[k] == f.class_filter) return static_cast<int>(k);
  try {
    size_t used = 0;
    const int k = std::stoi(f.class_filter, &used);
    if (used == f.class_filter.size() && k >= 0 && k < data.num_classes) return k;
  } catch (const std::exception&) {
  }
  std::string known;
  for (int k = 0; k < data.num_classes; ++k) known += (k ? ", " : "") + data.class_name(k);
  throw Error("--class " + f.class_filter + ": not a class of the data set (" + known + ")");
}

// A run's history from a history CSV or JSON, or from a model file's metadata.
History read_history(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".csv") return History::read_csv(path);
  nlohmann::json j;
  if (ext == ".dnm") {
    const nlohmann::json m = read_model_json(path);
    if (!m.contains("metadata") || !m["metadata"].contains("history"))
      throw Error(path + ": the model file has no training history (metadata.history)");
    j = m["metadata"]["history"];
  } else {
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot open");
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": not a history CSV or JSON file: " + e.what());
    }
  }
  try {
    return History::from_json(j);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not a history: " + e.what());
  }
}

// "runs/cnn.history.csv" -> "cnn"
std::string run_name(const std::string& path) {
  std::string s = fs::path(path).stem().string();
  if (s.size() > 8 && s.ends_with(".history")) s.resize(s.size() - 8);
  return s;
}

// Each tile followed by `copies` distorted versions of it (a row per image).
std::vector<DigitTile> with_augmented_copies(const std::vector<DigitTile>& tiles,
                                             const Augmentation& a, uint64_t seed, int copies) {
  std::vector<DigitTile> out;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const DigitTile& t = tiles[i];
    out.push_back(t);
    const std::size_t n = t.pixels.size();
    std::vector<float> in(n), warped(n);
    for (std::size_t k = 0; k < n; ++k) in[k] = static_cast<float>(t.pixels[k]) / 255.0f;
    for (int c = 1; c <= copies; ++c) {
      // copy c as the distortion of epoch c (the tiles' own index stands for the image's)
      augment_image(a, seed, augment_key(c, static_cast<int64_t>(i)), in.data(), warped.data(), 1,
                    t.height, t.width);
      DigitTile d = t;
      for (std::size_t k = 0; k < n; ++k)
        d.pixels[k] = static_cast<uint8_t>(std::lround(std::clamp(warped[k], 0.0f, 1.0f) * 255.0f));
      d.caption = "#" + std::to_string(c);
      out.push_back(std::move(d));
    }
  }
  return out;
}

int cmd_show(const PictureFlags& f) {
  const DataOptions opt = data_options(f.data);
  const DataSource src = resolve_dataset(dataset_arg(f.data), opt);
  const Dataset data = load_split(src, f.split, opt);
  const int only = class_filter(f, data);
  const Augmentation augment = augmentation_from_flags(f.augment);
  augment.validate();
  // With a distortion: fewer images (a row each), the original and 5 copies.
  constexpr int kCopies = 5;
  const int count = augment.active() ? std::min(f.count, 12) : f.count;
  std::vector<DigitTile> tiles = sample_tiles(data, count, only);
  if (tiles.empty())
    throw Error("no image of class " + data.class_name(only) + " in the " + f.split + " set");
  if (f.ascii) {
    for (size_t i = 0; i < tiles.size() && i < 4; ++i) std::cout << ascii_digit(tiles[i]);
    if (f.output.empty()) return 0;
  }
  const std::string out =
      f.output.empty() ? (src.is_named() && src.name == "mnist" ? "digits.png" : src.name + ".png")
                       : f.output;
  const std::string set = src.is_named() ? src.known->title : src.name;
  std::string title = set + " " + f.split + ": " + std::to_string(tiles.size());
  title += only >= 0 ? " images of " + data.class_name(only) : " images with their labels";
  int columns = f.columns;
  if (augment.active()) {
    tiles = with_augmented_copies(tiles, augment, f.seed, kCopies);
    title += ", each with " + std::to_string(kCopies) + " distortions (" + augment.describe() + ")";
    columns = kCopies + 1;
  }
  digit_grid(tiles, title, columns, f.scale).save(out);
  std::cout << "Wrote " << out << "\n";
  return 0;
}

int cmd_plot(const PictureFlags& f) {
  std::vector<Run> runs;
  for (size_t i = 0; i < f.histories.size(); ++i)
    runs.push_back(
        {i < f.names.size() ? f.names[i] : run_name(f.histories[i]), read_history(f.histories[i])});
  std::string out = f.output;
  if (out.empty()) {
    fs::path p(f.histories.front());
    out = (p.parent_path() / (p.stem().string() + ".png")).string();
  }
  const std::string title = !f.title.empty() ? f.title
                            : runs.size() == 1
                                ? "Training history: " + runs[0].name
                                : "Training history: " + std::to_string(runs.size()) + " runs";
  const Figure fig = history_figure(runs, title);
  fig.save(out);
  std::cout << "Wrote " << out << "\n";
  // Without -o, also the SVG beside the PNG.
  if (f.output.empty()) {
    const std::string svg = fs::path(out).replace_extension(".svg").string();
    fig.save(svg);
    std::cout << "Wrote " << svg << "\n";
  }
  for (const auto& r : runs) {
    const std::string note = overfitting_note(r.history);
    if (!note.empty()) std::cout << r.name << ": " << note << "\n";
  }
  return 0;
}

int cmd_inspect(const PictureFlags& f) {
  const Sequential model = load_model(f.model, 1);
  const Dataset data = load_data_split(f.data, f.split, &model);
  if (f.index < 0 || f.index >= data.size())
    throw Error("--index " + std::to_string(f.index) + " is outside the " + f.split + " set (0.." +
                std::to_string(data.size() - 1) + ")");
  const std::string filters_out =
      f.filters_out.empty() ? sibling_path(f.model, ".filters.png") : f.filters_out;
  const std::string features_out =
      f.features_out.empty() ? sibling_path(f.model, ".features.png") : f.features_out;
  if (const auto kernel = first_conv_kernel(model)) {
    filters_figure(*kernel).save(filters_out);
    std::cout << "Wrote " << filters_out << "\n";
  } else {
    std::cout << "The model has no Conv2D layer: no filters to draw.\n";
  }
  const Tensor image = data.images(f.index, f.index + 1);
  const auto maps = feature_maps(model, image);
  feature_maps_figure(image, maps).save(features_out);
  std::cout << "Wrote " << features_out << " (" << f.split << " image " << f.index << ", label "
            << data.class_name(data.labels[static_cast<size_t>(f.index)]) << ", " << maps.size()
            << " layers with feature maps)\n";
  return 0;
}

int cmd_report(const PictureFlags& f) {
  const Sequential model = load_model(f.model, threads_or_default(f.threads));
  const Dataset test = load_data_split(f.data, "test", &model);
  const std::string out = f.output.empty() ? sibling_path(f.model, ".report.html") : f.output;
  write_file_atomic(out, html_report(model, f.model, test));
  std::cout << "Report: " << fs::absolute(out).string() << "\n";
  return 0;
}

}  // namespace

void add_picture_verbs(CLI::App& app, PictureFlags& f) {
  auto data_dir = [&](CLI::App* a) { add_data_flags(a, f.data); };
  f.show = app.add_subcommand("show", "Draw a grid of a data set's images with their labels");
  data_dir(f.show);
  f.show->add_option("--split", f.split, "train or test (default)")
      ->check(CLI::IsMember({"test", "train"}));
  f.show->add_option("--count", f.count, "How many digits (default 36)")
      ->check(CLI::Range(1, 2000));
  f.show->add_option("--digit", f.digit, "Only this digit (MNIST)")->check(CLI::Range(0, 9));
  f.show->add_option("--class", f.class_filter, "Only this class (its name or number)");
  f.show->add_option("--columns", f.columns, "Columns (default: a near-square grid)")
      ->check(CLI::Range(1, 200));
  f.show->add_option("--scale", f.scale, "Screen pixels per image pixel (default 3)")
      ->check(CLI::Range(1, 32));
  f.show->add_option("-o,--output", f.output,
                     "Picture to write: .png, .svg or .pdf (default digits.png)");
  add_augment_flags(f.show, f.augment, "copies of each image", false);
  f.show->add_option("--seed", f.seed, "The distortions' seed (default 42)");
  f.show->add_flag("--ascii", f.ascii,
                   "Print the first digits as block characters (writes a picture only with -o)");

  f.plot = app.add_subcommand(
      "plot", "Draw training curves from history files (several files: overlaid runs)");
  f.plot->add_option("histories", f.histories, "History CSV/JSON files or model files (.dnm)")
      ->required()
      ->check(CLI::ExistingFile);
  f.plot->add_option("--name", f.names, "Name of each run in the legend (repeat, in order)");
  f.plot->add_option("--title", f.title, "Picture title");
  f.plot->add_option("-o,--output", f.output,
                     "Picture to write: .png, .svg or .pdf (default: FIRST.png and FIRST.svg)");

  f.inspect = app.add_subcommand(
      "inspect", "Draw the first convolution's filters and one digit's feature maps");
  data_dir(f.inspect);
  f.inspect->add_option("--model", f.model, "Model file")->required()->check(CLI::ExistingFile);
  f.inspect->add_option("--index", f.index, "Which image of the set (default 0)");
  f.inspect->add_option("--split", f.split, "test (default) or train")
      ->check(CLI::IsMember({"test", "train"}));
  f.inspect->add_option("--filters-out", f.filters_out, "Default MODEL.filters.png");
  f.inspect->add_option("--features-out", f.features_out, "Default MODEL.features.png");

  f.report = app.add_subcommand(
      "report", "Write one self-contained HTML report of a model (curves, metrics, mistakes)");
  data_dir(f.report);
  auto* report_model =
      f.report->add_option("--model", f.model, "Model file")->check(CLI::ExistingFile);
  f.report->add_option("model", f.model_positional, "Model file (the same as --model)")
      ->check(CLI::ExistingFile)
      ->excludes(report_model);
  f.report->add_option("-o,--output", f.output, "HTML file to write (default MODEL.report.html)");
  f.report->add_option("--threads", f.threads, "Worker threads (default: all cores)")
      ->check(CLI::Range(1, 256));
}

int run_picture_verbs(const PictureFlags& f) {
  if (*f.show) return cmd_show(f);
  if (*f.plot) return cmd_plot(f);
  if (*f.inspect) return cmd_inspect(f);
  if (*f.report) {
    PictureFlags r = f;
    if (r.model.empty()) r.model = r.model_positional;
    if (r.model.empty())
      throw CLI::ValidationError("report", "a model file is required (--model FILE)");
    return cmd_report(r);
  }
  return -1;
}

std::vector<std::string> write_training_pictures(const std::string& model_path,
                                                 const History& history, bool verbose) {
  std::vector<std::string> written;
  if (history.epochs.empty()) return written;
  const std::string name = fs::path(model_path).stem().string();
  const Figure fig = history_figure({{name, history}}, "Training history: " + name);
  for (const char* ext : {".history.png", ".history.svg"}) {
    written.push_back(sibling_path(model_path, ext));
    fig.save(written.back());
  }
  if (verbose) {
    const std::string note = overfitting_note(history);
    if (!note.empty()) std::cerr << "Note: " << note << "\n";
  }
  return written;
}

std::vector<std::string> write_evaluation_pictures(const std::string& model_path,
                                                   const std::string& split,
                                                   const Sequential& model, const Dataset& data,
                                                   const Evaluation& ev) {
  const std::string prefix = split == "test" ? "" : "." + split;
  std::vector<std::string> written = {sibling_path(model_path, prefix + ".confusion.png"),
                                      sibling_path(model_path, prefix + ".mistakes.png")};
  confusion_figure(ev.confusion, "Confusion matrix (" + split + " set)", ev.class_names)
      .save(written[0]);
  const Tensor probs = model.predict(data, 0, data.size());
  mistakes_figure(data, find_mistakes(probs, data.labels), 36, ev.class_names).save(written[1]);
  return written;
}

}  // namespace digitnet::cli
