// Reading the golden files that scripts/make_*goldens.py write into tests/data/golden.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "digitnet/core/tensor.hpp"

namespace digitnet::testing {

// tests/data/golden/<name>, parsed.
inline nlohmann::json load_golden(const std::string& name) {
  const std::string path = std::string(DIGITNET_TEST_DATA_DIR) + "/golden/" + name;
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

// {"shape": [...], "data": [...]} -> Tensor (the values rounded to float).
inline Tensor golden_tensor(const nlohmann::json& j) {
  Tensor t(j.at("shape").get<Shape>());
  const auto& data = j.at("data");
  if (static_cast<int64_t>(data.size()) != t.size()) throw std::runtime_error("bad golden tensor");
  for (int64_t i = 0; i < t.size(); ++i) t[i] = data[static_cast<std::size_t>(i)].get<float>();
  return t;
}

}  // namespace digitnet::testing
