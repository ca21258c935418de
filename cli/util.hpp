// Small helpers every verb of the `digitnet` command shares.
#pragma once
#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>

namespace digitnet::cli {

// --threads: the value given, else every core.
inline int threads_or_default(int threads) {
  return threads > 0 ? threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// A file written beside the model: "dir/cnn.dnm" + ".history.png" -> "dir/cnn.history.png".
inline std::string sibling_path(const std::string& model_path, const std::string& suffix) {
  const std::filesystem::path p(model_path);
  return (p.parent_path() / (p.stem().string() + suffix)).string();
}

}  // namespace digitnet::cli
