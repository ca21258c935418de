// digitnet/model/metrics.hpp — training history and evaluation results.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace digitnet {

// Every epoch's metrics, in order. Keys: "epoch" (1-based), "loss", "accuracy",
// "val_loss", "val_accuracy" (when validating), "lr", "seconds".
struct History {
  std::vector<std::map<std::string, double>> epochs;
  bool interrupted = false;  // stopped by a stop request (Ctrl-C)
  bool stopped_early = false;

  // The values of one metric over the epochs (NaN where absent).
  std::vector<double> values(const std::string& key) const;
  // The column names, "epoch" first, in a stable order.
  std::vector<std::string> keys() const;
  std::string to_csv() const;
  nlohmann::json to_json() const;
  static History from_json(const nlohmann::json& j);
  // Written atomically (temp file + rename).
  void write_csv(const std::string& path) const;
  void write_json(const std::string& path) const;
  // Parses a CSV written by to_csv; Error names the file and line.
  static History read_csv(const std::string& path);
};

struct ClassReport {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  int64_t samples = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<ClassReport> classes;
  double macro_f1 = 0;
  // The classes' names (index = class); empty: the classes are their numbers.
  std::vector<std::string> class_names;

  // Fills accuracy, classes and macro_f1 from the confusion matrix.
  void finish_from_confusion();
  nlohmann::json to_json() const;
  // Human tables: metrics, confusion matrix, per-class precision/recall/F1.
  std::string to_table() const;
};

}  // namespace digitnet
