// Shared helpers for the tests.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "digitnet/core/error.hpp"

namespace digitnet::testing {

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs f, expects it to throw digitnet::Error, and returns the message (a
// test failure, and "", when nothing is thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const digitnet::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected digitnet::Error";
  return "";
}

// Writes bytes to a file (throws on failure).
void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
// A PNG file's (width, height) from its IHDR chunk; throws if the file is no PNG.
std::pair<int, int> png_size(const std::string& path);

// Sets an environment variable for the scope, restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Result of running a shell command.
struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs `command` through /bin/sh, capturing stdout and stderr.
CommandResult run_command(const std::string& command);

}  // namespace digitnet::testing
