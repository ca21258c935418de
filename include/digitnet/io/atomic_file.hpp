// digitnet/io/atomic_file.hpp — writing files so that a reader never sees a half-written one.
#pragma once
#include <string>

namespace digitnet {

// Writes `bytes` to a temporary file next to `path`, fsyncs it and renames it
// over `path`. On failure removes the temporary file and throws Error naming path.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace digitnet
