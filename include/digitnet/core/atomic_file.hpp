// digitnet/core/atomic_file.hpp — writing files so that a reader never sees a half-written one.
#pragma once
#include <string>
#include <string_view>

namespace digitnet {

// Writes `bytes` to a uniquely named temporary file next to `path` (mode
// 0644), fsyncs it, renames it over `path` and fsyncs the directory. On
// failure removes the temporary file and throws Error naming `path`.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace digitnet
