// MNIST's convenience functions over the named data sets.
#include "digitnet/data/mnist.hpp"

#include <filesystem>

#include "digitnet/core/error.hpp"
#include "digitnet/data/idx.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;

const KnownDataset& mnist() { return *find_known_dataset("mnist"); }

}  // namespace

const std::vector<DataFile>& mnist_files() { return mnist().files; }

std::string mnist_cache_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  return dataset_cache_dir(mnist());
}

std::vector<std::string> default_mnist_mirrors() { return mnist().mirrors; }

Dataset load_mnist_split(const std::string& data_dir, const std::string& split, bool fetch) {
  if (split != "train" && split != "test")
    throw Error("MNIST split must be 'train' or 'test', got '" + split + "'");
  const std::string dir = mnist_cache_dir(data_dir);
  const auto& files = mnist_files();  // train-images, train-labels, t10k-images, t10k-labels
  const size_t first = split == "train" ? 0 : 2;
  FetchOptions o = fetch_options(mnist());
  o.data_dir = dir;
  o.files = {files[first], files[first + 1]};
  if (fetch) {
    fetch_files(o);
  } else {
    for (const auto& f : o.files) {
      const std::string p = (fs::path(dir) / f.name).string();
      if (!fs::exists(p)) throw Error(p + ": not in the MNIST cache; fetch MNIST first");
      const std::string got = sha256_file(p);
      if (got != f.sha256)
        throw Error(p + ": SHA-256 mismatch for " + f.name + ": got " + got + ", expected " +
                    f.sha256);
    }
  }
  return load_idx_dataset((fs::path(dir) / files[first].name).string(),
                          (fs::path(dir) / files[first + 1].name).string());
}

Mnist load_mnist(const std::string& data_dir, bool fetch) {
  Mnist m;
  m.train = load_mnist_split(data_dir, "train", fetch);
  m.test = load_mnist_split(data_dir, "test", fetch);
  return m;
}

}  // namespace digitnet
