// Named data sets and user folders (data/datasets.hpp): how NAME|PATH
// resolves, fetching from a system package's folder, classes.txt, and the
// errors a user's files give.
#include <gtest/gtest.h>

#include <filesystem>

#include "digitnet/data/datasets.hpp"
#include "digitnet/data/idx.hpp"
#include "folder_snapshot.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::folder_snapshot;
using testing::read_file;
using testing::ScopedEnv;
using testing::TempDir;
using testing::write_file;

void write_pair(const Dataset& d, const std::string& images, const std::string& labels,
                bool gz = false) {
  IdxArray im{kIdxUbyte, {d.size(), d.image_shape[1], d.image_shape[2]}, d.pixels.unpack_all()};
  write_idx(images, im, gz);
  IdxArray lb{kIdxUbyte, {d.size()}, {}};
  for (int32_t l : d.labels) lb.bytes.push_back(static_cast<uint8_t>(l));
  write_idx(labels, lb, gz);
}

// The bytes write_idx writes for `a`.
std::string idx_bytes(const IdxArray& a, bool gz) {
  TempDir z;
  write_idx(z.file("a"), a, gz);
  return read_file(z.file("a"));
}

TEST(DataDatasets, KnownNamesAreNamedAndEverythingElseIsAPath) {
  TempDir tmp;
  const DataOptions o{.cache_dir = tmp.file("cache")};
  const DataSource m = resolve_dataset("MNIST", o);
  EXPECT_TRUE(m.is_named());
  EXPECT_EQ(m.name, "mnist");
  EXPECT_EQ(m.location, tmp.file("cache") + "/mnist");
  EXPECT_TRUE(m.has_split("train") && m.has_split("test"));
  EXPECT_EQ(resolve_dataset("fashion-mnist", o).known->class_names.at(0), "T-shirt/top");

  // A folder called "mnist" is reached as a path.
  const fs::path folder = tmp.path() / "mnist";
  fs::create_directories(folder);
  write_pair(testing::band_dataset(20, 3, 8, 8, 1), (folder / "train-images-idx3-ubyte").string(),
             (folder / "train-labels-idx1-ubyte").string());
  const DataSource p = resolve_dataset(folder.string(), o);
  EXPECT_EQ(p.kind, DataSource::Kind::idx);
  EXPECT_EQ(p.name, "mnist");
  EXPECT_TRUE(p.has_split("train"));
  EXPECT_FALSE(p.has_split("test"));
  EXPECT_NE(error_of([&] { load_split(p, "test", o); }).find("has no test split"),
            std::string::npos);

  EXPECT_NE(error_of([&] {
              resolve_dataset("kmnist", o);
            }).find("not a known data set (known: mnist, fashion-mnist)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { resolve_dataset(tmp.file("nothing/here"), o); }).find("no such folder"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.file("cache")));  // resolving fetches nothing
}

TEST(DataDatasets, CacheRootPrecedence) {
  {
    const ScopedEnv data("DIGITNET_DATA", std::string("/from/env"));
    EXPECT_EQ(cache_root("/from/flag"), "/from/flag");
    EXPECT_EQ(cache_root(), "/from/env");
    EXPECT_EQ(dataset_cache_dir(*find_known_dataset("fashion-mnist")), "/from/env/fashion-mnist");
  }
  {
    const ScopedEnv data("DIGITNET_DATA", std::nullopt);
    const ScopedEnv home("HOME", std::string("/home/someone"));
    EXPECT_EQ(cache_root(), "/home/someone/.cache/digitnet");
  }
  {
    const ScopedEnv data("DIGITNET_DATA", std::nullopt);
    const ScopedEnv home("HOME", std::nullopt);
    EXPECT_THROW(cache_root(), Error);
  }
}

TEST(DataDatasets, IdxFolderFindsGzDottedAndExplicitFiles) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "data";
  fs::create_directories(dir);
  const Dataset train = testing::band_dataset(40, 4, 10, 6, 1);
  const Dataset test = testing::band_dataset(12, 4, 10, 6, 2);
  write_pair(train, (dir / "train-images.idx3-ubyte.gz").string(),
             (dir / "train-labels.idx1-ubyte.gz").string(), true);
  write_pair(test, (dir / "my-test-images").string(), (dir / "my-test-labels").string());
  const std::string before = folder_snapshot(dir);

  DataOptions o;
  const DataSource a = resolve_dataset(dir.string(), o);
  EXPECT_FALSE(a.has_split("test"));
  const Dataset got = load_split(a, "train", o);
  EXPECT_EQ(got.image_shape, (Shape{1, 10, 6}));
  EXPECT_EQ(got.labels, train.labels);
  EXPECT_EQ(got.pixels, train.pixels);

  // Explicit names: relative to the folder.
  o.test_images = "my-test-images";
  o.test_labels = "my-test-labels";
  const DataSource b = resolve_dataset(dir.string(), o);
  ASSERT_TRUE(b.has_split("test"));
  EXPECT_EQ(load_split(b, "test", o).labels, test.labels);
  // Only one of a pair is an error saying what is missing.
  o.test_labels.clear();
  EXPECT_NE(error_of([&] { resolve_dataset(dir.string(), o); }).find("no matching labels file"),
            std::string::npos);
  // Named data sets take no file flags.
  o.test_labels = "x";
  EXPECT_NE(error_of([&] { resolve_dataset("mnist", o); }).find("files of your own"),
            std::string::npos);
  EXPECT_EQ(folder_snapshot(dir), before);
}

TEST(DataDatasets, ClassesTxtNamesTheClassesAndBoundsTheLabels) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "data";
  fs::create_directories(dir);
  const Dataset train = testing::band_dataset(30, 3, 6, 6, 3);
  write_pair(train, (dir / "train-images-idx3-ubyte").string(),
             (dir / "train-labels-idx1-ubyte").string());
  write_file((dir / "classes.txt").string(), "cat\r\ndog  \n  bird\nfish\n\n");
  const Dataset d = load_split(dir.string(), "train");
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cat", "dog", "bird", "fish"}));
  EXPECT_EQ(d.num_classes, 4);  // the names, not just the labels seen
  EXPECT_EQ(d.class_name(2), "bird");

  write_file((dir / "classes.txt").string(), "cat\ndog\n");
  const std::string e = error_of([&] { load_split(dir.string(), "train"); });
  // The first label >= 2, at its byte offset in the label file.
  int64_t first = 0;
  while (train.labels[static_cast<size_t>(first)] < 2) ++first;
  EXPECT_NE(
      e.find((dir / "train-labels-idx1-ubyte").string() + ": byte " + std::to_string(8 + first)),
      std::string::npos)
      << e;
  EXPECT_NE(e.find("classes.txt"), std::string::npos) << e;

  write_file((dir / "classes.txt").string(), "cat\ndog\ncat\n");
  EXPECT_NE(error_of([&] {
              read_class_names((dir / "classes.txt").string());
            }).find("line 3: class 'cat' is named twice"),
            std::string::npos);
  write_file((dir / "classes.txt").string(), "cat\n\ndog\n");
  EXPECT_NE(error_of([&] { read_class_names((dir / "classes.txt").string()); }).find("line 2"),
            std::string::npos);
}

// A fetch from a system package's folder: a gzipped copy is verified and
// stored in the cache; a damaged one is reported and not stored.
TEST(DataDatasets, FetchCopiesFromALocalFolderAfterVerifying) {
  TempDir tmp;
  const fs::path pkg = tmp.path() / "usr-share";
  fs::create_directories(pkg);
  const std::string content = "the file's bytes";
  const IdxArray arr{kIdxUbyte,
                     {static_cast<int64_t>(content.size())},
                     std::vector<uint8_t>(content.begin(), content.end())};
  write_file((pkg / "a.bin.gz").string(), idx_bytes(arr, true));
  const std::string raw = idx_bytes(arr, false);
  write_file((pkg / "b.bin").string(), "the fake b");
  const std::string before = folder_snapshot(pkg);

  FetchOptions o;
  o.data_dir = tmp.file("cache");
  o.what = "Test set";
  o.files = {{"a.bin", sha256_hex(raw), "", static_cast<int64_t>(raw.size()), 0},
             {"b.bin", sha256_hex(std::string("the real b")), "", 10, 0}};
  o.local_dirs = {pkg.string()};
  o.local_hint = "apt install test-set";
  o.use_npm = false;
  std::vector<std::string> notices;
  o.notice = [&](const std::string& m) { notices.push_back(m); };
  const std::string e = error_of([&] { fetch_files(o); });
  EXPECT_EQ(read_file(tmp.file("cache/a.bin")), raw);
  EXPECT_FALSE(fs::exists(tmp.file("cache/b.bin")));
  EXPECT_NE(e.find("could not fetch 1 of 2 Test set files"), std::string::npos) << e;
  EXPECT_NE(e.find("SHA-256 mismatch"), std::string::npos) << e;
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices.back().find("a.bin: copied from"), std::string::npos) << notices.back();
  EXPECT_EQ(folder_snapshot(pkg), before);

  // Absent from the folder: the hint says how to get it there.
  o.local_dirs = {tmp.file("nowhere")};
  o.files.resize(1);
  fs::remove_all(tmp.file("cache"));
  EXPECT_NE(error_of([&] { fetch_files(o); }).find("apt install test-set"), std::string::npos);
}

TEST(DataDatasets, NamedDataSetsWithoutFetchMustBeCachedAndIntact) {
  TempDir tmp;
  DataOptions o{.cache_dir = tmp.file("cache"), .fetch = false};
  EXPECT_NE(error_of([&] {
              load_split("fashion-mnist", "test", o);
            }).find("run `digitnet fetch --dataset fashion-mnist` first"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.file("cache")));
}

}  // namespace
}  // namespace digitnet
