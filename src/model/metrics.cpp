#include "digitnet/model/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/data/dataset.hpp"

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
  if (!class_names.empty()) j["class_names"] = class_names;
  j["confusion_matrix"] = confusion;
  j["classes"] = nlohmann::json::array();
  for (size_t c = 0; c < classes.size(); ++c)
    j["classes"].push_back({{"class", c},
                            {"name", class_name(class_names, static_cast<int64_t>(c))},
                            {"precision", classes[c].precision},
                            {"recall", classes[c].recall},
                            {"f1", classes[c].f1},
                            {"support", classes[c].support}});
  return j;
}

namespace {

// Terminal columns of UTF-8 text: one per code point (names may be non-ASCII).
size_t columns(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

// s padded with spaces to `width` columns (left-aligned), or cut to width - 1
// columns and an ellipsis.
std::string fit(const std::string& s, size_t width) {
  if (columns(s) <= width) return s + std::string(width - columns(s), ' ');
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool starts = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts && ++n == width) break;
    out += s[i];
  }
  return out + "\u2026";
}

std::string right(const std::string& s, size_t width) {
  const size_t n = columns(s);
  return n >= width ? s : std::string(width - n, ' ') + s;
}

size_t digits(int64_t v) { return std::to_string(v).size(); }

}  // namespace

std::string Evaluation::to_table() const {
  std::string out;
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "Test loss:     %.4f\nTest accuracy: %.4f (%lld of %lld correct)\n\n", loss,
      accuracy, static_cast<long long>(std::llround(accuracy * static_cast<double>(samples))),
      static_cast<long long>(samples));
  out += buf;
  const size_t k = confusion.size();
  const bool named = !class_names.empty();
  // Columns are class numbers (a name per column would not fit); with names,
  // each row says "number name", so the rows are the columns' legend.
  int64_t largest = 0;
  for (const auto& row : confusion)
    for (int64_t v : row) largest = std::max(largest, v);
  const size_t cell =
      std::max<size_t>(k > 20 ? 2 : 5,
                       std::max(digits(largest), digits(static_cast<int64_t>(k) - 1))) +
      1;
  const size_t index_w = digits(std::max<int64_t>(static_cast<int64_t>(k) - 1, 0));
  constexpr size_t kMaxName = 24;
  size_t label_w = 6;
  if (named) {
    size_t longest = 0;
    for (size_t c = 0; c < k; ++c)
      longest = std::max(longest, columns(class_name(class_names, static_cast<int64_t>(c))));
    label_w = std::max<size_t>(label_w, index_w + 1 + std::min(longest, kMaxName) + 1);
  }
  auto row_label = [&](size_t r) {
    if (!named) return right(std::to_string(r), label_w);
    return right(std::to_string(r), index_w) + " " +
           fit(class_name(class_names, static_cast<int64_t>(r)), label_w - index_w - 1);
  };
  out += named ? "Confusion matrix (rows: true class, columns: predicted class, numbered as the "
                 "rows)\n"
               : "Confusion matrix (rows: true class, columns: predicted class)\n";
  out += std::string(label_w, ' ');
  for (size_t c = 0; c < k; ++c) out += right(std::to_string(c), cell);
  out += "\n";
  for (size_t r = 0; r < k; ++r) {
    out += row_label(r);
    for (int64_t v : confusion[r]) out += right(std::to_string(v), cell);
    out += "\n";
  }

  // The per-class table shows each name in full.
  size_t class_w = 5;
  for (size_t c = 0; named && c < classes.size(); ++c)
    class_w =
        std::max(class_w, index_w + 2 + columns(class_name(class_names, static_cast<int64_t>(c))));
  out += "\n" + fit("class", class_w) + "  precision  recall      f1  support\n";
  for (size_t c = 0; c < classes.size(); ++c) {
    const std::string label = named ? fit(right(std::to_string(c), index_w) + "  " +
                                              class_name(class_names, static_cast<int64_t>(c)),
                                          class_w)
                                    : right(std::to_string(c), class_w);
    std::snprintf(buf, sizeof buf, "  %9.4f  %6.4f  %6.4f  %7lld\n", classes[c].precision,
                  classes[c].recall, classes[c].f1, static_cast<long long>(classes[c].support));
    out += label + buf;
  }
  std::snprintf(buf, sizeof buf, "  %26s  %6.4f  %7lld\n", "", macro_f1,
                static_cast<long long>(samples));
  out += fit("macro", class_w) + buf;
  return out;
}

}  // namespace digitnet
