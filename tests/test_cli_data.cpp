// The data a user points digitnet at: named data sets in the cache, and a
// user's own folders (IDX or images), which are only ever read.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "digitnet/data/datasets.hpp"
#include "digitnet/data/idx.hpp"
#include "digitnet/data/image.hpp"
#include "digitnet/io/model_file.hpp"
#include "folder_snapshot.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::folder_snapshot;
using testing::read_file;
using testing::run_command;
using testing::TempDir;
using testing::write_file;

CommandResult dn(const std::string& args) {
  return run_command(std::string(DIGITNET_CLI_PATH) + " " + args);
}

// A data set's images and labels as two IDX files.
void write_idx_pair(const Dataset& d, const std::string& images, const std::string& labels,
                    bool gz) {
  IdxArray im;
  im.type = kIdxUbyte;
  im.dims = {d.size(), d.image_shape[1], d.image_shape[2]};
  im.bytes = d.pixels.unpack_all();
  write_idx(images, im, gz);
  IdxArray lb;
  lb.type = kIdxUbyte;
  lb.dims = {d.size()};
  for (int32_t l : d.labels) lb.bytes.push_back(static_cast<uint8_t>(l));
  write_idx(labels, lb, gz);
}

const std::vector<std::string> kNames = {"north", "north east", "centre", "south west", "south"};

// A small learnable IDX data set of 16x12 images in 5 named classes, gzipped.
void make_idx_folder(const fs::path& dir, bool gz = true) {
  fs::create_directories(dir);
  const std::string ext = gz ? ".gz" : "";
  write_idx_pair(testing::band_dataset(1500, 5, 16, 12, 1),
                 (dir / ("train-images-idx3-ubyte" + ext)).string(),
                 (dir / ("train-labels-idx1-ubyte" + ext)).string(), gz);
  write_idx_pair(testing::band_dataset(300, 5, 16, 12, 2),
                 (dir / ("t10k-images-idx3-ubyte" + ext)).string(),
                 (dir / ("t10k-labels-idx1-ubyte" + ext)).string(), gz);
  std::string classes;
  for (const auto& n : kNames) classes += n + "\n";
  write_file((dir / "classes.txt").string(), classes);
}

// Read-only for its owner too (root ignores the bits; the snapshot still proves it).
void make_read_only(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(
        e.path(),
        e.is_directory() ? fs::perms::owner_read | fs::perms::owner_exec : fs::perms::owner_read,
        fs::perm_options::replace);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
}
void make_writable(const fs::path& dir) {
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  for (const auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::replace);
}

TEST(CliData, IdxFolderOfOtherSizeAndClassesTrainsAndIsNeverWritten) {
  TempDir tmp;
  const fs::path data = tmp.path() / "shapes";
  make_idx_folder(data);
  make_read_only(data);
  const std::string before = folder_snapshot(data);
  const std::string model = tmp.file("shapes.dnm");

  const auto t = dn("train --preset cnn --epochs 2 --batch-size 32 --threads 2 --dataset " +
                    data.string() + " -o " + model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find("1500 training and 300 test images of (1, 16, 12), 5 classes"),
            std::string::npos)
      << t.err;
  const Sequential m = load_model(model);
  EXPECT_EQ(m.input_shape(), (Shape{1, 16, 12}));
  EXPECT_EQ(m.class_names(), kNames);
  EXPECT_EQ(m.metadata()["dataset"]["kind"], "idx");

  // evaluate, predict, show, inspect and report read the model's data set by default.
  const auto e = dn("evaluate --json --model " + model);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_GE(ej["accuracy"].get<double>(), 0.9) << e.out;
  EXPECT_EQ(ej["confusion_matrix"].size(), 5u);
  const auto table = dn("evaluate --model " + model + " --no-pictures");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("south west"), std::string::npos) << table.out;

  const auto p = dn("predict --json --range 0:4 --model " + model);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto pj = nlohmann::json::parse(p.out);
  ASSERT_EQ(pj.size(), 4u);
  for (const auto& o : pj) EXPECT_EQ(o["class"], kNames[o["digit"].get<size_t>()]) << o.dump();

  EXPECT_EQ(dn("show --count 10 --dataset " + data.string() + " -o " + tmp.file("s.png")).exit_code,
            0);
  EXPECT_EQ(
      dn("show --class centre --count 4 --dataset " + data.string() + " -o " + tmp.file("c.png"))
          .exit_code,
      0);
  const auto i = dn("inspect --model " + model);
  EXPECT_EQ(i.exit_code, 0) << i.err;
  const auto r = dn("report --model " + model + " -o " + tmp.file("r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(dn("report --dataset " + data.string()).exit_code, 2);  // no model: a usage error
  EXPECT_NE(read_file(tmp.file("r.html")).find("south west"), std::string::npos);

  EXPECT_EQ(folder_snapshot(data), before);
  make_writable(data);
}

TEST(CliData, DataDirIsTheSameAsAFolderDataset) {
  TempDir tmp;
  const fs::path data = tmp.path() / "mnist";  // a folder named like a data set
  make_idx_folder(data, /*gz=*/false);
  const std::string before = folder_snapshot(data);
  const auto t =
      dn("train --preset mlp --epochs 1 --quiet --threads 1 --data-dir " + data.string() +
         " --cache-dir " + tmp.file("cache") + " -o " + tmp.file("m.dnm"));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(load_model(tmp.file("m.dnm")).class_names(), kNames);
  EXPECT_FALSE(fs::exists(tmp.file("cache")));  // nothing fetched
  EXPECT_EQ(folder_snapshot(data), before);
}

// Each damaged IDX file in a user's folder is an error naming the file; the
// folder is left exactly as it was.
TEST(CliData, DamagedUserFilesAreErrorsNamingTheFile) {
  TempDir tmp;
  const fs::path good = tmp.path() / "good";
  make_idx_folder(good, /*gz=*/false);
  const std::string model = tmp.file("m.dnm");
  ASSERT_EQ(dn("train --preset mlp --epochs 1 --quiet --threads 1 --dataset " + good.string() +
               " -o " + model)
                .exit_code,
            0);
  const std::string images = read_file((good / "t10k-images-idx3-ubyte").string());
  const std::string labels = read_file((good / "t10k-labels-idx1-ubyte").string());
  const std::string gz_images = [&] {
    TempDir z;
    IdxArray a = read_idx((good / "t10k-images-idx3-ubyte").string());
    write_idx(z.file("x.gz"), a, true);
    return read_file(z.file("x.gz"));
  }();
  auto with = [](std::string s, size_t at, char c) {
    s[at] = c;
    return s;
  };
  struct Case {
    const char* what;
    const char* file;  // which test file is damaged
    std::string bytes;
    const char* expect;  // in the message, besides the file's name
  };
  const std::vector<Case> cases = {
      {"wrong magic", "t10k-images-idx3-ubyte", with(images, 0, 1), "byte 0"},
      {"unknown type code", "t10k-images-idx3-ubyte", with(images, 2, 0x42), "byte 2"},
      {"wrong dtype", "t10k-images-idx3-ubyte", with(images, 2, 0x0D), "float"},
      {"truncated header", "t10k-images-idx3-ubyte", images.substr(0, 10), "byte"},
      {"truncated body", "t10k-images-idx3-ubyte", images.substr(0, images.size() - 7), "byte"},
      {"trailing bytes", "t10k-images-idx3-ubyte", images + "xyz", "byte"},
      {"lying count", "t10k-images-idx3-ubyte", with(images, 5, 0x7F), "byte"},
      {"zero dimension", "t10k-images-idx3-ubyte", with(with(images, 6, 0), 7, 0), "byte"},
      {"corrupt gzip", "t10k-images-idx3-ubyte.gz",
       with(with(gz_images, gz_images.size() / 2, 'x'), gz_images.size() / 2 + 1, 'y'), ""},
      {"truncated gzip", "t10k-images-idx3-ubyte.gz", gz_images.substr(0, gz_images.size() / 2),
       ""},
      {"label count", "t10k-labels-idx1-ubyte", with(labels, 7, 0x10), "byte"},
      {"label beyond classes.txt", "t10k-labels-idx1-ubyte", with(labels, 8 + 3, 9), "byte 11"},
      {"2-D labels", "t10k-labels-idx1-ubyte", with(labels, 3, 2), "byte"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const fs::path dir = tmp.path() / "bad";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "classes.txt"})
      if (std::string(c.file).rfind(f, 0) != 0) fs::copy_file(good / f, dir / f);
    write_file((dir / c.file).string(), c.bytes);
    make_read_only(dir);
    const std::string before = folder_snapshot(dir);
    for (const std::string& verb :
         {"evaluate --no-pictures --model " + model, "predict --model " + model,
          "show --split test -o " + tmp.file("s.png"),
          "report " + model + " -o " + tmp.file("r.html"),
          "train --preset mlp --epochs 1 --quiet -o " + tmp.file("t.dnm")}) {
      SCOPED_TRACE(verb);
      const auto r = dn(verb + " --dataset " + dir.string());
      EXPECT_EQ(r.exit_code, 1) << r.out;
      EXPECT_NE(r.err.find((dir / c.file).string()), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
      EXPECT_EQ(r.out.find("accuracy"), std::string::npos) << r.out;
    }
    EXPECT_FALSE(fs::exists(tmp.file("t.dnm")));
    EXPECT_EQ(folder_snapshot(dir), before);
    make_writable(dir);
  }
}

TEST(CliData, NamedCacheIsRepairedOnlyWhenItsChecksumFails) {
  TempDir tmp;
  const std::string cache = tmp.file("cache");
  const fs::path fashion = fs::path(cache) / "fashion-mnist";
  auto run = [&](const std::string& verb) { return dn(verb + " --cache-dir " + cache); };
  const auto f = run("fetch --dataset fashion-mnist --no-npm --mirror http://127.0.0.1:9/");
  ASSERT_EQ(f.exit_code, 0) << f.err;  // from Debian's dataset-fashion-mnist
  const std::string labels = (fashion / "t10k-labels-idx1-ubyte").string();
  const auto stamp = fs::last_write_time(labels);

  const std::string model = tmp.file("f.dnm");
  const auto t =
      run("train --preset mlp --epochs 1 --max-train 3000 --quiet --threads 2 "
          "--dataset fashion-mnist -o " +
          model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(fs::last_write_time(labels), stamp);  // verified, not rewritten
  EXPECT_EQ(load_model(model).class_names().at(0), "T-shirt/top");

  std::string damaged = read_file(labels);
  damaged[100] = static_cast<char>(damaged[100] ^ 1);
  write_file(labels, damaged);
  const auto e = run("evaluate --no-pictures --model " + model);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.err.find("damaged"), std::string::npos) << e.err;
  EXPECT_NE(e.err.find("fetching it again"), std::string::npos) << e.err;
  EXPECT_EQ(sha256_file(labels), find_known_dataset("fashion-mnist")->files[3].sha256);
  EXPECT_NE(e.out.find("Ankle boot"), std::string::npos) << e.out;
}

TEST(CliData, UnknownNamesAndNonDataFoldersAreClearErrors) {
  TempDir tmp;
  const auto u = dn("train --dataset no-such-set --epochs 1");
  EXPECT_EQ(u.exit_code, 1);
  EXPECT_NE(u.err.find("not a known data set (known: mnist, fashion-mnist)"), std::string::npos)
      << u.err;
  fs::create_directories(tmp.path() / "empty");
  const auto e = dn("show --dataset " + tmp.file("empty"));
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find("holds neither IDX files"), std::string::npos) << e.err;
  const auto f = dn("fetch --dataset " + tmp.file("empty"));
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_NE(f.err.find("needs no fetching"), std::string::npos) << f.err;
  EXPECT_TRUE(fs::is_empty(tmp.path() / "empty"));
}

TEST(CliData, ASpecFileMustFitTheData) {
  TempDir tmp;
  make_idx_folder(tmp.path() / "d");
  write_file(tmp.file("net.txt"), "input 1 28 28\nflatten\ndense 10 softmax\n");
  const auto r = dn("train --epochs 1 --spec " + tmp.file("net.txt") + " --dataset " +
                    tmp.file("d") + " -o " + tmp.file("m.dnm"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("net.txt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(1, 16, 12)"), std::string::npos) << r.err;
}

TEST(CliData, DatasetsListsWhatIsKnownAndWhereItIsCached) {
  TempDir tmp;
  const auto r = dn("datasets --json --cache-dir " + tmp.file("c"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "mnist");
  EXPECT_EQ(j[1]["name"], "fashion-mnist");
  EXPECT_EQ(j[1]["cache_dir"], tmp.file("c") + "/fashion-mnist");
  EXPECT_EQ(j[1]["status"], "not cached");
  EXPECT_EQ(j[1]["classes"][9], "Ankle boot");
  EXPECT_EQ(j[0]["files"][0]["sha256"],
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db");
  EXPECT_FALSE(fs::exists(tmp.file("c")));  // listing writes nothing
}

// A tree of PNG and JPEG files in three classes, some of another size.
void make_image_folder(const fs::path& root) {
  const std::vector<std::string> classes = {"bottom", "middle", "top"};
  for (const char* split : {"train", "test"}) {
    const Dataset d =
        testing::band_dataset(split[1] == 'r' ? 450 : 90, 3, 20, 20, split[1] == 'r' ? 7 : 8);
    for (int64_t i = 0; i < d.size(); ++i) {
      const std::string& cls = classes[static_cast<size_t>(d.labels[static_cast<size_t>(i)])];
      const fs::path dir = root / split / cls;
      fs::create_directories(dir);
      GrayImage img{20, 20, d.image(i)};
      if (i % 10 == 3) img = resize_image(img, 30, 30);  // mixed sizes: resized on loading
      char name[32];
      std::snprintf(name, sizeof name, "%04lld.png", static_cast<long long>(i));
      write_png((dir / name).string(), img);
    }
  }
  write_file((root / "train" / "README.txt").string(), "not an image");
}

TEST(CliData, ImageFolderTrainsEndToEndAndIsNeverWritten) {
  TempDir tmp;
  const fs::path data = tmp.path() / "bands";
  make_image_folder(data);
  make_read_only(data);
  const std::string before = folder_snapshot(data);
  const std::string model = tmp.file("bands.dnm");
  const auto t =
      dn("train --preset lenet --epochs 3 --batch-size 32 --threads 2 --image-size "
         "20x20 --dataset " +
         data.string() + " -o " + model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find("resized"), std::string::npos) << t.err;  // the note on mixed sizes
  const Sequential m = load_model(model);
  EXPECT_EQ(m.class_names(), (std::vector<std::string>{"bottom", "middle", "top"}));
  EXPECT_EQ(m.input_shape(), (Shape{1, 20, 20}));
  const auto e = dn("evaluate --json --model " + model);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_GE(nlohmann::json::parse(e.out)["accuracy"].get<double>(), 0.9) << e.out;
  EXPECT_EQ(dn("report " + model + " -o " + tmp.file("r.html")).exit_code, 0);
  EXPECT_NE(read_file(tmp.file("r.html")).find("middle"), std::string::npos);
  EXPECT_EQ(folder_snapshot(data), before);
  make_writable(data);
}

// One <class>/ tree: no test split, so training holds out a validation share
// and evaluation reads the train split when asked.
TEST(CliData, OneClassTreeTrainsWithAValidationSplit) {
  TempDir tmp;
  const fs::path data = tmp.path() / "tree";
  make_image_folder(tmp.path() / "made");
  fs::rename(tmp.path() / "made" / "train", data);
  fs::remove(data / "README.txt");
  const std::string before = folder_snapshot(data);
  const std::string model = tmp.file("tree.dnm");
  const auto t =
      dn("train --preset mlp --epochs 3 --quiet --threads 2 --validation-split 0.2 "
         "--image-size 20x20 --dataset " +
         data.string() + " -o " + model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("has no test split: no test evaluation"), std::string::npos) << t.out;
  const auto h = nlohmann::json::parse(read_file(tmp.file("tree.history.json")));
  EXPECT_TRUE(h.dump().find("val_accuracy") != std::string::npos);
  const auto e = dn("evaluate --no-pictures --model " + model);
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find("has no test split"), std::string::npos) << e.err;
  const auto tr = dn("evaluate --json --no-pictures --split train --model " + model);
  ASSERT_EQ(tr.exit_code, 0) << tr.err;
  EXPECT_EQ(nlohmann::json::parse(tr.out)["samples"], 450);
  // Without a validation split there is nothing to watch for early stopping.
  EXPECT_EQ(dn("train --preset mlp --epochs 1 --early-stopping 2 --dataset " + data.string() +
               " -o " + tmp.file("x.dnm"))
                .exit_code,
            1);
  EXPECT_EQ(folder_snapshot(data), before);
}

// IDX files given one by one: no folder to remember, so evaluation asks for them.
TEST(CliData, FilesGivenOneByOneAreNamedAgainToEvaluate) {
  TempDir tmp;
  make_idx_folder(tmp.path() / "d", /*gz=*/false);
  const std::string d = tmp.file("d") + "/";
  const std::string model = tmp.file("m.dnm");
  const auto t =
      dn("train --preset mlp --epochs 2 --quiet --threads 2 --train-images " + d +
         "train-images-idx3-ubyte --train-labels " + d + "train-labels-idx1-ubyte -o " + model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("has no test split"), std::string::npos) << t.out;
  const auto e = dn("evaluate --no-pictures --model " + model);
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find("given one by one"), std::string::npos) << e.err;
  const auto ok = dn("evaluate --json --no-pictures --model " + model + " --test-images " + d +
                     "t10k-images-idx3-ubyte --test-labels " + d + "t10k-labels-idx1-ubyte");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["samples"], 300);
}

}  // namespace
}  // namespace digitnet
