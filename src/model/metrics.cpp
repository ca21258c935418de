#include "digitnet/model/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "digitnet/core/error.hpp"
#include "digitnet/io/atomic_file.hpp"

namespace digitnet {

namespace {
const std::vector<std::string> kOrder = {"epoch",        "loss", "accuracy", "val_loss",
                                         "val_accuracy", "lr",   "seconds"};
std::string num(double v) {
  if (std::isnan(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

std::vector<double> History::values(const std::string& key) const {
  std::vector<double> out;
  for (const auto& e : epochs) {
    auto it = e.find(key);
    out.push_back(it == e.end() ? std::numeric_limits<double>::quiet_NaN() : it->second);
  }
  return out;
}

std::vector<std::string> History::keys() const {
  std::vector<std::string> out;
  for (const auto& k : kOrder)
    for (const auto& e : epochs)
      if (e.count(k)) {
        out.push_back(k);
        break;
      }
  for (const auto& e : epochs)
    for (const auto& [k, v] : e)
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  return out;
}

std::string History::to_csv() const {
  const auto ks = keys();
  std::string out;
  for (size_t i = 0; i < ks.size(); ++i) {
    if (i) out += ',';
    out += ks[i];
  }
  out += '\n';
  for (const auto& e : epochs) {
    for (size_t i = 0; i < ks.size(); ++i) {
      auto it = e.find(ks[i]);
      if (i) out += ',';
      if (it != e.end()) out += num(it->second);
    }
    out += "\n";
  }
  return out;
}

nlohmann::json History::to_json() const {
  nlohmann::json j;
  j["interrupted"] = interrupted;
  j["stopped_early"] = stopped_early;
  j["epochs"] = nlohmann::json::array();
  for (const auto& e : epochs) {
    nlohmann::json row = nlohmann::json::object();
    for (const auto& [k, v] : e) row[k] = v;
    j["epochs"].push_back(row);
  }
  return j;
}

History History::from_json(const nlohmann::json& j) {
  History h;
  h.interrupted = j.value("interrupted", false);
  h.stopped_early = j.value("stopped_early", false);
  if (j.contains("epochs"))
    for (const auto& row : j.at("epochs")) {
      std::map<std::string, double> e;
      for (auto it = row.begin(); it != row.end(); ++it)
        if (it.value().is_number()) e[it.key()] = it.value().get<double>();
      h.epochs.push_back(e);
    }
  return h;
}

void History::write_csv(const std::string& path) const { write_file_atomic(path, to_csv()); }
void History::write_json(const std::string& path) const {
  write_file_atomic(path, to_json().dump(2) + "\n");
}

History History::read_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": cannot open history file");
  std::string line;
  if (!std::getline(f, line)) throw Error(path + ": line 1: empty history file");
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream ss(s);
    while (std::getline(ss, cur, ',')) out.push_back(cur);
    if (!s.empty() && s.back() == ',') out.push_back("");
    return out;
  };
  const auto header = split(line);
  if (header.empty() || header[0] != "epoch")
    throw Error(path + ": line 1: expected a header starting with 'epoch'");
  History h;
  int lineno = 1;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto cells = split(line);
    if (cells.size() != header.size())
      throw Error(path + ": line " + std::to_string(lineno) + ": expected " +
                  std::to_string(header.size()) + " fields, got " + std::to_string(cells.size()));
    std::map<std::string, double> e;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (cells[i].empty()) continue;
      try {
        size_t used = 0;
        e[header[i]] = std::stod(cells[i], &used);
        if (used != cells[i].size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        throw Error(path + ": line " + std::to_string(lineno) + ": field '" + header[i] +
                    "' is not a number: '" + cells[i] + "'");
      }
    }
    h.epochs.push_back(e);
  }
  return h;
}

void Evaluation::finish_from_confusion() {
  const size_t k = confusion.size();
  classes.assign(k, {});
  int64_t total = 0, correct = 0;
  double f1_sum = 0;
  int f1_count = 0;
  for (size_t c = 0; c < k; ++c) {
    int64_t tp = confusion[c][c], row = 0, col = 0;
    for (size_t j = 0; j < k; ++j) {
      row += confusion[c][j];
      col += confusion[j][c];
    }
    total += row;
    correct += tp;
    ClassReport& r = classes[c];
    r.support = row;
    r.precision = col ? static_cast<double>(tp) / static_cast<double>(col) : 0.0;
    r.recall = row ? static_cast<double>(tp) / static_cast<double>(row) : 0.0;
    r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
    if (row > 0) {
      f1_sum += r.f1;
      ++f1_count;
    }
  }
  samples = total;
  accuracy = total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
  macro_f1 = f1_count ? f1_sum / f1_count : 0.0;
}

nlohmann::json Evaluation::to_json() const {
  nlohmann::json j;
  j["loss"] = loss;
  j["accuracy"] = accuracy;
  j["samples"] = samples;
  j["macro_f1"] = macro_f1;
  j["confusion_matrix"] = confusion;
  j["classes"] = nlohmann::json::array();
  for (size_t c = 0; c < classes.size(); ++c)
    j["classes"].push_back({{"class", c},
                            {"precision", classes[c].precision},
                            {"recall", classes[c].recall},
                            {"f1", classes[c].f1},
                            {"support", classes[c].support}});
  return j;
}

std::string Evaluation::to_table() const {
  std::string out;
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "Test loss:     %.4f\nTest accuracy: %.4f (%lld of %lld correct)\n\n", loss,
      accuracy, static_cast<long long>(std::llround(accuracy * static_cast<double>(samples))),
      static_cast<long long>(samples));
  out += buf;
  out += "Confusion matrix (rows: true digit, columns: predicted)\n      ";
  for (size_t c = 0; c < confusion.size(); ++c) {
    std::snprintf(buf, sizeof buf, "%6zu", c);
    out += buf;
  }
  out += "\n";
  for (size_t r = 0; r < confusion.size(); ++r) {
    std::snprintf(buf, sizeof buf, "%6zu", r);
    out += buf;
    for (int64_t v : confusion[r]) {
      std::snprintf(buf, sizeof buf, "%6lld", static_cast<long long>(v));
      out += buf;
    }
    out += "\n";
  }
  out += "\nclass  precision  recall      f1  support\n";
  for (size_t c = 0; c < classes.size(); ++c) {
    std::snprintf(buf, sizeof buf, "%5zu  %9.4f  %6.4f  %6.4f  %7lld\n", c, classes[c].precision,
                  classes[c].recall, classes[c].f1, static_cast<long long>(classes[c].support));
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "macro  %26s  %6.4f  %7lld\n", "", macro_f1,
                static_cast<long long>(samples));
  out += buf;
  return out;
}

}  // namespace digitnet
