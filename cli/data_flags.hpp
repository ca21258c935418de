// The data flags every verb that reads data shares (--dataset, --data-dir,
// --cache-dir, the IDX file flags, --image-size) and loading through them.
#pragma once
#include <CLI/CLI.hpp>
#include <digitnet/digitnet.hpp>
#include <string>

namespace digitnet::cli {

struct DataFlags {
  std::string dataset;   // NAME or PATH
  std::string data_dir;  // the same as a PATH --dataset
  std::string cache_dir;
  std::string train_images, train_labels, test_images, test_labels;
  std::string image_size;  // "HxW" (image folders)
  bool quiet = false;      // no notes on stderr
};

// Adds the flags to `app`. `files`: also the four IDX file flags and --image-size.
void add_data_flags(CLI::App* app, DataFlags& f, bool files = true);

// The data set to read: --dataset or --data-dir; else the one the model was
// trained on (its metadata), else MNIST.
std::string dataset_arg(const DataFlags& f, const Sequential* model = nullptr);

// Options for the library; `model` (when reading data for a trained model)
// sets the size image folders are resized to.
DataOptions data_options(const DataFlags& f, const Sequential* model = nullptr);

// Resolves the data set (dataset_arg) and loads `split`. With a model, the
// data must fit it: the same image shape (an Error otherwise) and no more
// classes than it outputs; different class names are a note.
Dataset load_data_split(const DataFlags& f, const std::string& split,
                        const Sequential* model = nullptr);

}  // namespace digitnet::cli
