// digitnet/data/mnist.hpp — MNIST, the data set the tutorials start from.
//
// The convenience layer over datasets.hpp for MNIST itself: its files, its
// cache folder, and loading it from there.
#pragma once
#include <string>
#include <vector>

#include "digitnet/data/dataset.hpp"
#include "digitnet/data/datasets.hpp"
#include "digitnet/data/fetch.hpp"

namespace digitnet {

using MnistFile = DataFile;
// The four MNIST files with their published hashes and sizes.
const std::vector<DataFile>& mnist_files();

// MNIST's cache folder: `flag` if non-empty (a folder holding the four files),
// else <cache_root()>/mnist ($DIGITNET_DATA/mnist or ~/.cache/digitnet/mnist).
std::string mnist_cache_dir(const std::string& flag = "");

// Default HTTP mirrors of MNIST (base URLs ending in '/').
std::vector<std::string> default_mnist_mirrors();

// fetch_files with MNIST's sources; options.files empty: MNIST's four files.
void fetch_mnist(const FetchOptions& options);

struct Mnist {
  Dataset train, test;
};
// Loads MNIST from its cache folder `data_dir` (empty: mnist_cache_dir()).
// With `fetch`, fetches what is missing or damaged first; without, the files
// must already be there and match their hashes (Error naming the file otherwise).
Mnist load_mnist(const std::string& data_dir, bool fetch = true);
// One split ("train" or "test") only, verified the same way: for programs that
// need just the test set, half the reading and memory of load_mnist.
Dataset load_mnist_split(const std::string& data_dir, const std::string& split, bool fetch = true);

}  // namespace digitnet
