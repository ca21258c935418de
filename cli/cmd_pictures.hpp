// The picture verbs of the `digitnet` command (show, plot, inspect, report)
// and the pictures `train` and `evaluate` write next to the model.
#pragma once
#include <CLI/CLI.hpp>
#include <digitnet/digitnet.hpp>
#include <string>
#include <vector>

#include "augment_flags.hpp"
#include "data_flags.hpp"
#include "util.hpp"

namespace digitnet::cli {

struct PictureFlags {
  CLI::App* show = nullptr;
  CLI::App* plot = nullptr;
  CLI::App* inspect = nullptr;
  CLI::App* report = nullptr;
  DataFlags data;
  std::string split = "test";
  std::string output;
  std::string model;
  std::string model_positional;  // report's MODEL argument, the same as --model
  int count = 36;
  int digit = -1;
  std::string class_filter;  // --class NAME|INDEX
  int columns = 0;
  int scale = 3;
  bool ascii = false;
  std::vector<std::string> histories;
  std::vector<std::string> names;
  std::string title;
  int64_t index = 0;
  std::string filters_out, features_out;
  int threads = 0;
  AugmentFlags augment;  // show: distorted copies beside each image
  uint64_t seed = 42;
};

// Adds show, plot, inspect and report to the app; `flags` must outlive parsing.
void add_picture_verbs(CLI::App& app, PictureFlags& flags);
// Runs the picture verb that was given; returns -1 when none was.
int run_picture_verbs(const PictureFlags& flags);

// After training: MODEL.history.png and MODEL.history.svg next to the model;
// prints the paths and the overfitting note (to stderr when quiet is false).
std::vector<std::string> write_training_pictures(const std::string& model_path,
                                                 const History& history, bool verbose);
// After evaluating: MODEL[.train].confusion.png and MODEL[.train].mistakes.png.
std::vector<std::string> write_evaluation_pictures(const std::string& model_path,
                                                   const std::string& split,
                                                   const Sequential& model, const Dataset& data,
                                                   const Evaluation& ev);

}  // namespace digitnet::cli
