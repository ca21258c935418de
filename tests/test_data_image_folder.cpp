// Image-folder data sets: both layouts, class and file order, skipped files, sizes, errors,
// a read-only root left untouched, and a parallel load equal to a serial one.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/data/image.hpp"
#include "digitnet/data/image_folder.hpp"
#include "image_files.hpp"
#include "test_support.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::make_jpeg;
using testing::make_pgm;
using testing::TempDir;

bool has(const std::string& msg, const std::string& part) {
  return msg.find(part) != std::string::npos;
}

// Writes bytes at root/rel, creating the folders on the way.
void put(const fs::path& root, const std::string& rel, const std::string& bytes) {
  const fs::path p = root / rel;
  fs::create_directories(p.parent_path());
  testing::write_file(p.string(), bytes);
}

// A flat image of one grey value, as PGM bytes (or PNG through write_png).
std::string flat_pgm(int width, int height, int value) {
  return make_pgm(width, height, 255, std::vector<int>(static_cast<size_t>(width * height), value));
}
void put_png(const fs::path& root, const std::string& rel, int width, int height, int value) {
  fs::create_directories((root / rel).parent_path());
  write_png((root / rel).string(),
            GrayImage{width, height,
                      std::vector<uint8_t>(static_cast<size_t>(width * height),
                                           static_cast<uint8_t>(value))});
}

// Each image's first pixel, in data-set order.
std::vector<int> first_pixels(const Dataset& d) {
  std::vector<int> v;
  for (int64_t i = 0; i < d.size(); ++i) v.push_back(d.image(i)[0]);
  return v;
}

// ROOT/train/{Zebra, a_cat, b_dog}, ROOT/test/{Zebra, b_dog}, with files that are skipped.
void make_split_folder(const fs::path& root) {
  put(root, "train/b_dog/2.pgm", flat_pgm(4, 4, 20));
  put(root, "train/b_dog/10.pgm", flat_pgm(4, 4, 10));  // "10" sorts before "2"
  put_png(root, "train/a_cat/x.PNG", 4, 4, 30);
  put(root, "train/a_cat/y.JpEg",
      make_jpeg(std::vector<uint8_t>(16, 40), 4, 4, TJPF_GRAY, TJSAMP_GRAY));
  put(root, "train/a_cat/notes.txt", "not an image");
  put(root, "train/a_cat/z.gif", "GIF89a");
  put_png(root, "train/a_cat/.hidden.png", 4, 4, 99);
  put(root, "train/a_cat/sub/deeper.pgm", flat_pgm(4, 4, 98));  // a class's subfolders are not read
  put(root, "train/Zebra/a.pgm", flat_pgm(4, 4, 50));
  put_png(root, "train/.cache/c.png", 4, 4, 97);  // hidden: not a class
  put(root, "train/README.md", "the classes are folders");
  put(root, "test/Zebra/q.pgm", flat_pgm(4, 4, 60));
  put(root, "test/b_dog/r.jpg",
      make_jpeg(std::vector<uint8_t>(16, 70), 4, 4, TJPF_GRAY, TJSAMP_GRAY));
  put(root, "test/b_dog/s.pgm", flat_pgm(4, 4, 80));
}

TEST(DataImageFolder, SplitLayoutClassesLabelsAndOrder) {
  TempDir dir;
  const fs::path root = dir.path() / "shapes";
  make_split_folder(root);
  EXPECT_EQ(image_folder_layout(root.string()), ImageFolderLayout::split);

  std::vector<std::string> notes;
  const Dataset train = load_image_folder(
      root.string(), "train", {.log = [&](const std::string& s) { notes.push_back(s); }});
  const std::vector<std::string> classes = {"Zebra", "a_cat", "b_dog"};  // byte order
  EXPECT_EQ(train.class_names, classes);
  EXPECT_EQ(train.num_classes, 3);
  EXPECT_EQ(train.image_shape, (Shape{1, 4, 4}));
  EXPECT_EQ(train.labels, (std::vector<int32_t>{0, 1, 1, 2, 2}));
  const std::vector<int> px = first_pixels(train);
  ASSERT_EQ(px.size(), 5u);
  EXPECT_EQ(px[0], 50);
  EXPECT_EQ(px[1], 30);
  EXPECT_NEAR(px[2], 40, 1);  // JPEG
  EXPECT_EQ(px[3], 10);
  EXPECT_EQ(px[4], 20);
  EXPECT_TRUE(notes.empty()) << notes.front();  // one size: nothing resized

  const Dataset test = load_image_folder(root.string(), "test");
  EXPECT_EQ(test.class_names, classes);
  EXPECT_EQ(test.num_classes, 3);  // the train split's classes, though test has two
  EXPECT_EQ(test.labels, (std::vector<int32_t>{0, 2, 2}));
  const std::vector<int> tp = first_pixels(test);
  ASSERT_EQ(tp.size(), 3u);
  EXPECT_EQ(tp[0], 60);
  EXPECT_NEAR(tp[1], 70, 1);
  EXPECT_EQ(tp[2], 80);
}

TEST(DataImageFolder, TreeLayoutIsTheTrainSplitOnly) {
  TempDir dir;
  const fs::path root = dir.path();
  put(root, "7/a.pgm", flat_pgm(3, 2, 7));
  put(root, "3/b.pgm", flat_pgm(3, 2, 3));
  put(root, "3/c.pgm", flat_pgm(3, 2, 4));
  put(root, "loose.pgm", flat_pgm(3, 2, 1));  // not in a class folder: skipped
  put(root, ".git/x.pgm", flat_pgm(3, 2, 1));
  EXPECT_EQ(image_folder_layout(root.string()), ImageFolderLayout::tree);
  const Dataset d = load_image_folder(root.string(), "train");
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"3", "7"}));
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 0, 1}));
  EXPECT_EQ(first_pixels(d), (std::vector<int>{3, 4, 7}));
  EXPECT_EQ(d.image_shape, (Shape{1, 2, 3}));
  const std::string msg = error_of([&] { load_image_folder(root.string(), "test"); });
  EXPECT_TRUE(has(msg, "has no test split")) << msg;
}

TEST(DataImageFolder, WhatIsNotAnImageFolder) {
  TempDir dir;
  const fs::path root = dir.path();
  EXPECT_EQ(image_folder_layout((root / "missing").string()), ImageFolderLayout::none);
  put(root, "file.pgm", flat_pgm(1, 1, 0));
  EXPECT_EQ(image_folder_layout((root / "file.pgm").string()), ImageFolderLayout::none);
  // IDX files and a subfolder without images (as an MNIST cache).
  put(root, "idx/train-images-idx3-ubyte", "....");
  put(root, "idx/tmp/readme.txt", "x");
  EXPECT_EQ(image_folder_layout((root / "idx").string()), ImageFolderLayout::none);
  EXPECT_TRUE(has(error_of([&] { load_image_folder((root / "idx").string(), "train"); }),
                  "not an image folder"));
  EXPECT_TRUE(has(error_of([&] { load_image_folder((root / "missing").string(), "train"); }),
                  "missing: no such folder"));
  EXPECT_TRUE(has(error_of([&] { load_image_folder((root / "file.pgm").string(), "train"); }),
                  "file.pgm: not a folder"));
}

TEST(DataImageFolder, MixedSizesBecome28x28WithANote) {
  TempDir dir;
  const fs::path root = dir.path();
  put(root, "a/1.pgm", flat_pgm(4, 4, 10));
  put(root, "a/2.pgm", flat_pgm(4, 4, 20));
  put(root, "b/3.pgm", flat_pgm(28, 28, 30));
  put(root, "b/4.pgm", flat_pgm(9, 5, 40));
  std::vector<std::string> notes;
  const Dataset d = load_image_folder(root.string(), "train",
                                      {.log = [&](const std::string& s) { notes.push_back(s); }});
  EXPECT_EQ(d.image_shape, (Shape{1, 28, 28}));
  for (int64_t i = 0; i < d.size(); ++i)
    EXPECT_EQ(d.image(i), std::vector<uint8_t>(784, static_cast<uint8_t>(10 * (i + 1)))) << i;
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], root.string() + ": mixed sizes: 3 of 4 images resized to 28x28");

  // A size asked for: every image of another size is resized.
  notes.clear();
  const Dataset e = load_image_folder(
      root.string(), "train",
      {.height = 4, .width = 4, .log = [&](const std::string& s) { notes.push_back(s); }});
  EXPECT_EQ(e.image_shape, (Shape{1, 4, 4}));
  EXPECT_EQ(first_pixels(e), (std::vector<int>{10, 20, 30, 40}));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], root.string() + ": 2 of 4 images resized to 4x4");

  const std::string msg =
      error_of([&] { load_image_folder(root.string(), "train", {.height = 4, .width = 0}); });
  EXPECT_TRUE(has(msg, "image size 4x0 is not valid")) << msg;
  EXPECT_TRUE(has(error_of([&] { load_image_folder(root.string(), "validation"); }),
                  "unknown split \"validation\""));
}

TEST(DataImageFolder, ErrorsNameTheFolderOrFile) {
  TempDir dir;
  const fs::path root = dir.path();
  put(root, "train/cat/a.pgm", flat_pgm(2, 2, 1));
  put(root, "train/dog/notes.txt", "no images here");
  std::string msg = error_of([&] { load_image_folder(root.string(), "train"); });
  EXPECT_TRUE(has(msg, (root / "train" / "dog").string() + ": the class folder holds no images"))
      << msg;

  put(root, "train/dog/b.png", "\x89PNG\r\n\x1a\n garbage");
  msg = error_of([&] { load_image_folder(root.string(), "train"); });
  EXPECT_TRUE(has(msg, (root / "train" / "dog" / "b.png").string() + ": PNG: ")) << msg;

  fs::remove(root / "train/dog/b.png");
  put(root, "train/dog/b.pgm", flat_pgm(2, 2, 2));
  EXPECT_EQ(load_image_folder(root.string(), "train").size(), 2);
  msg = error_of([&] { load_image_folder(root.string(), "test"); });
  EXPECT_TRUE(has(msg, "no test/ folder")) << msg;

  put(root, "test/cow/c.pgm", flat_pgm(2, 2, 3));
  msg = error_of([&] { load_image_folder(root.string(), "test"); });
  EXPECT_TRUE(has(msg, (root / "test" / "cow").string() + ": class \"cow\" is not one of the 2"))
      << msg;

  TempDir empty;
  fs::create_directories(empty.path() / "train");
  msg = error_of([&] { load_image_folder(empty.path().string(), "train"); });
  EXPECT_TRUE(has(msg, (empty.path() / "train").string() + ": no class subfolders")) << msg;
}

// Every entry under root: its relative path, type, permissions and contents.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> s;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = fs::relative(e.path(), root).string();
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                    std::to_string(st.st_mtim.tv_nsec) + " ";
    if (e.is_regular_file()) v += testing::read_file(e.path().string());
    s[rel] = v;
  }
  return s;
}

TEST(DataImageFolder, ReadOnlyRootIsReadAndLeftUnchanged) {
  TempDir dir;
  const fs::path root = dir.path() / "ro";
  make_split_folder(root);
  put(root, "train/b_dog/odd-size.pgm", flat_pgm(7, 3, 5));  // so the load resizes
  std::vector<fs::path> paths = {root};
  for (const auto& e : fs::recursive_directory_iterator(root)) paths.push_back(e.path());
  for (const auto& p : paths)
    fs::permissions(p, fs::is_directory(p) ? fs::perms::owner_read | fs::perms::owner_exec
                                           : fs::perms::owner_read);
  const auto before = snapshot(root);
  ASSERT_GT(before.size(), 15u);
  const Dataset train = load_image_folder(root.string(), "train");
  const Dataset test = load_image_folder(root.string(), "test");
  EXPECT_EQ(train.size(), 6);
  EXPECT_EQ(train.image_shape, (Shape{1, 28, 28}));
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(snapshot(root), before);
  for (const auto& p : paths) fs::permissions(p, fs::perms::owner_all);
}

bool same(const Dataset& a, const Dataset& b) {
  return a.image_shape == b.image_shape && a.pixels == b.pixels && a.labels == b.labels &&
         a.num_classes == b.num_classes && a.class_names == b.class_names;
}

TEST(DataImageFolder, ParallelLoadEqualsSerial) {
  TempDir dir;
  const fs::path root = dir.path();
  // Over two decoding rounds, the sizes turning mixed in the second.
  for (int i = 0; i < 600; ++i) {
    const int cls = i % 5;
    const int w = i == 454 ? 12 : 10, h = i == 454 ? 9 : 10;
    std::vector<int> px(static_cast<size_t>(w * h));
    for (size_t k = 0; k < px.size(); ++k)
      px[k] = static_cast<int>((k * 31 + static_cast<size_t>(i) * 7) % 256);
    put(root, "c" + std::to_string(cls) + "/" + std::to_string(i) + ".pgm",
        make_pgm(w, h, 255, px));
  }
  std::vector<std::string> serial_notes, parallel_notes;
  const Dataset serial = load_image_folder(
      root.string(), "train", {.log = [&](const std::string& s) { serial_notes.push_back(s); }});
  ThreadPool pool(3);
  const Dataset parallel = load_image_folder(
      root.string(), "train",
      {.pool = &pool, .log = [&](const std::string& s) { parallel_notes.push_back(s); }});
  EXPECT_EQ(serial.size(), 600);
  EXPECT_EQ(serial.image_shape, (Shape{1, 28, 28}));
  EXPECT_TRUE(same(serial, parallel));
  EXPECT_EQ(serial_notes, parallel_notes);
  ASSERT_EQ(serial_notes.size(), 1u);
  EXPECT_TRUE(has(serial_notes[0], "mixed sizes: 600 of 600 images resized to 28x28"));

  // With a size asked for, resized in the workers.
  const Dataset s8 = load_image_folder(root.string(), "train", {.height = 8, .width = 8});
  const Dataset p8 =
      load_image_folder(root.string(), "train", {.height = 8, .width = 8, .pool = &pool});
  EXPECT_TRUE(same(s8, p8));
  EXPECT_EQ(s8.image_shape, (Shape{1, 8, 8}));

  // Two broken files: the first in file order is reported, as serially.
  put(root, "c2/300x.pgm", "P5 broken");
  put(root, "c3/400x.pgm", "P5 broken too");
  const std::string serial_error = error_of([&] { load_image_folder(root.string(), "train"); });
  const std::string parallel_error =
      error_of([&] { load_image_folder(root.string(), "train", {.pool = &pool}); });
  EXPECT_TRUE(has(serial_error, "300x.pgm")) << serial_error;
  EXPECT_EQ(serial_error, parallel_error);
}

}  // namespace
}  // namespace digitnet
