#include "data_flags.hpp"

#include <iostream>
#include <thread>

namespace digitnet::cli {

void add_data_flags(CLI::App* app, DataFlags& f, bool files) {
  auto* ds = app->add_option(
      "--dataset", f.dataset,
      "A data set's name (mnist, fashion-mnist: fetched into the cache) or a folder of your own "
      "(IDX files or train/<class>/*.png; only read). Default: the model's, else mnist");
  auto* dd = app->add_option("--data-dir", f.data_dir,
                             "A folder of your own, the same as --dataset FOLDER (only read)");
  ds->excludes(dd);
  app->add_option("--cache-dir", f.cache_dir,
                  "Where named data sets are cached (default: $DIGITNET_DATA or "
                  "~/.cache/digitnet), one subfolder each");
  if (!files) return;
  app->add_option("--train-images", f.train_images, "IDX training images with another name")
      ->check(CLI::ExistingFile);
  app->add_option("--train-labels", f.train_labels, "IDX training labels with another name")
      ->check(CLI::ExistingFile);
  app->add_option("--test-images", f.test_images, "IDX test images with another name")
      ->check(CLI::ExistingFile);
  app->add_option("--test-labels", f.test_labels, "IDX test labels with another name")
      ->check(CLI::ExistingFile);
}

std::string dataset_arg(const DataFlags& f, const Sequential* model) {
  if (!f.dataset.empty()) return f.dataset;
  if (!f.data_dir.empty()) {
    // A folder, even when its name is also a data set's.
    return f.data_dir.find('/') == std::string::npos ? "./" + f.data_dir : f.data_dir;
  }
  const bool files = !f.train_images.empty() || !f.train_labels.empty() || !f.test_images.empty() ||
                     !f.test_labels.empty();
  if (files) return "";
  if (model) {
    const auto& m = model->metadata();
    if (const auto d = m.find("dataset"); d != m.end() && d->is_object()) {
      const std::string kind = d->value("kind", "");
      if (kind == "named") return d->value("name", "mnist");
      if (!d->value("location", "").empty()) return d->value("location", "");
      // Trained on files given one by one: guessing would read the wrong data.
      throw Error(
          "the model was trained on IDX files given one by one, not a folder: name its data "
          "with --dataset FOLDER, or --test-images and --test-labels");
    }
  }
  return "mnist";
}

namespace {

std::pair<int, int> parse_size(const std::string& s) {
  int h = 0, w = 0;
  char x = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%d%c%d%c", &h, &x, &w, &extra) != 3 || (x != 'x' && x != 'X') ||
      h < 1 || w < 1 || h > 4096 || w > 4096)
    throw CLI::ValidationError("--image-size", "expected HxW such as 28x28, got '" + s + "'");
  return {h, w};
}

}  // namespace

DataOptions data_options(const DataFlags& f, const Sequential* model) {
  DataOptions o;
  o.cache_dir = f.cache_dir;
  o.train_images = f.train_images;
  o.train_labels = f.train_labels;
  o.test_images = f.test_images;
  o.test_labels = f.test_labels;
  if (!f.image_size.empty()) std::tie(o.height, o.width) = parse_size(f.image_size);
  if (model && model->input_shape().size() == 3) {
    o.height = static_cast<int>(model->input_shape()[1]);
    o.width = static_cast<int>(model->input_shape()[2]);
    o.pool = &model->thread_pool();
  }
  if (!f.quiet) o.log = [](const std::string& m) { std::cerr << m << "\n"; };
  return o;
}

Dataset load_data_split(const DataFlags& f, const std::string& split, const Sequential* model) {
  const DataOptions o = data_options(f, model);
  const DataSource src = resolve_dataset(dataset_arg(f, model), o);
  Dataset d = load_split(src, split, o);
  if (!model) return d;
  if (d.image_shape != model->input_shape())
    throw Error("the model takes " + shape_str(model->input_shape()) + " images but " +
                src.describe() + " has " + shape_str(d.image_shape) + " images");
  const int64_t k = shape_size(model->output_shape());
  if (d.num_classes > k)
    throw Error(src.describe() + " has " + std::to_string(d.num_classes) +
                " classes but the model outputs " + std::to_string(k));
  const auto names = model->class_names();
  if (!f.quiet && !d.class_names.empty() && !names.empty() && names != d.class_names)
    std::cerr << "Note: the model's classes (" << names.front() << ", ...) are not "
              << src.describe() << "'s (" << d.class_names.front() << ", ...)\n";
  return d;
}

}  // namespace digitnet::cli
