// MNIST's convenience functions over the named data sets.
#include "digitnet/data/mnist.hpp"

namespace digitnet {
namespace {

const KnownDataset& mnist() { return *find_known_dataset("mnist"); }

}  // namespace

const std::vector<DataFile>& mnist_files() { return mnist().files; }

std::string mnist_cache_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  return dataset_cache_dir(mnist());
}

std::vector<std::string> default_mnist_mirrors() { return mnist().mirrors; }

Dataset load_mnist_split(const std::string& data_dir, const std::string& split, bool fetch) {
  return load_known_split(mnist(), mnist_cache_dir(data_dir), split, fetch);
}

Mnist load_mnist(const std::string& data_dir, bool fetch) {
  Mnist m;
  m.train = load_mnist_split(data_dir, "train", fetch);
  m.test = load_mnist_split(data_dir, "test", fetch);
  return m;
}

}  // namespace digitnet
