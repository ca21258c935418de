// A folder's complete state, to prove that a command left a user's folder alone.
#pragma once
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "digitnet/data/fetch.hpp"

namespace digitnet::testing {

// Every entry under root, sorted: relative path, type, permissions, and for
// files their size, modification time and SHA-256. Equal snapshots: nothing
// was written, renamed, created or deleted.
inline std::string folder_snapshot(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<std::string> lines;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const auto st = e.symlink_status();
    std::string line = fs::relative(e.path(), root).string() + " type " +
                       std::to_string(static_cast<int>(st.type())) + " perms " +
                       std::to_string(static_cast<int>(st.permissions()));
    if (e.is_regular_file())
      line += " size " + std::to_string(e.file_size()) + " mtime " +
              std::to_string(e.last_write_time().time_since_epoch().count()) + " sha256 " +
              sha256_file(e.path().string());
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace digitnet::testing
