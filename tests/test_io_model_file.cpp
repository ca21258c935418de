// Model files: round trips, and every kind of damaged or foreign file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/io/model_file.hpp"
#include "digitnet/io/spec.hpp"
#include "digitnet/layers/layers.hpp"
#include "digitnet/model/loss.hpp"
#include "digitnet/model/optimizer.hpp"
#include "test_support.hpp"

using digitnet::testing::error_of;

using namespace digitnet;
namespace fs = std::filesystem;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

Tensor random_images(int64_t n, const Shape& shape, uint64_t seed) {
  Tensor x(with_batch(n, shape));
  Rng rng(seed);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform();
  return x;
}

std::vector<int32_t> random_labels(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> y(static_cast<std::size_t>(n));
  for (auto& v : y) v = static_cast<int32_t>(rng.below(10));
  return y;
}

// Writes a new file (rewriting one in place makes ext4 flush it on close, which
// is slow for the thousands of files the sweeps below write).
void write_new_file(const std::string& path, const std::string& bytes) {
  std::filesystem::remove(path);
  digitnet::testing::write_file(path, bytes);
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

// A small compiled model with batch-norm buffers, trained for two steps so that
// weights, moving statistics and the optimizer's step count differ from a fresh build.
Sequential small_trained_model() {
  const ModelSpec spec = parse_spec(
      "input 1 8 8\nconv2d 4 3 relu padding=same\nbatchnorm\nmaxpool 2\nflatten\n"
      "dense 16 relu\ndropout 0.2\ndense 10 softmax\n",
      "small.txt");
  Sequential m = build_model(spec, 11);
  m.compile(Adam(3e-3f), sparse_categorical_crossentropy(0.1f), {"accuracy"});
  const Tensor x = random_images(16, {1, 8, 8}, 1);
  const auto y = random_labels(16, 2);
  m.train_step(x, y, 3e-3f);
  m.train_step(x, y, 3e-3f);
  m.metadata()["note"] = "unit test";
  m.metadata()["final"] = {{"accuracy", 0.5}, {"epochs", 2}};
  return m;
}

uint64_t le64(const std::string& b, std::size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]))
         << (8 * i);
  return v;
}

// A saved file split into its JSON and data section, and put back together
// (with a fresh checksum) so a test can hand-edit the JSON and still get past
// the checksum — the layout is the one docs/MODEL_FORMAT.md describes.
struct Parts {
  nlohmann::json json;
  std::string data;
};

Parts split_file(const std::string& bytes) {
  const uint64_t length = le64(bytes, 16);
  const uint64_t data_start = (24 + length + 63) / 64 * 64;
  Parts p;
  p.json = nlohmann::json::parse(bytes.substr(24, length));
  p.data = bytes.substr(data_start, bytes.size() - 32 - data_start);
  return p;
}

// Magic, version 1, flags 0, JSON length.
std::string bytes_header(uint64_t json_length, uint32_t version = 1, uint32_t flags = 0) {
  std::string h = "DIGITNET";
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((version >> (8 * i)) & 0xff));
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((flags >> (8 * i)) & 0xff));
  for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>((json_length >> (8 * i)) & 0xff));
  return h;
}

std::string join_file(const Parts& p) {
  const std::string text = p.json.dump();
  std::string out = bytes_header(text.size());
  out += text;
  out.resize((out.size() + 63) / 64 * 64, '\0');
  out += p.data;
  const auto digest = sha256(out);
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

}  // namespace

class ModelFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("small.dnm");
    save_model(model_, path_);
    bytes_ = digitnet::testing::read_file(path_);
  }
  // Writes `bytes` to a new file and returns the Error message of loading it.
  std::string load_error(const std::string& bytes, const std::string& name = "bad.dnm") {
    const std::string p = dir_.file(name);
    write_new_file(p, bytes);
    std::string msg = error_of([&] { load_model(p); });
    EXPECT_CONTAINS(msg, p);  // every error names the file
    return msg;
  }

  digitnet::testing::TempDir dir_;
  Sequential model_ = small_trained_model();
  std::string path_;
  std::string bytes_;
};

TEST_F(ModelFile, RoundTripIsBitIdenticalWithCompileSettingsAndMetadata) {
  const Sequential loaded = load_model(path_);
  const Tensor x = random_images(32, {1, 8, 8}, 3);
  EXPECT_TRUE(bit_identical(loaded.predict(x), model_.predict(x)));
  const auto wa = model_.get_weights();
  const auto wb = loaded.get_weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (std::size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(bit_identical(wa[i], wb[i])) << i;

  // A fresh model from the same architecture and seed predicts differently, so
  // the weights (and moving statistics) really came from the file.
  const Sequential fresh = build_model(spec_from_model(model_), model_.seed());
  EXPECT_FALSE(bit_identical(fresh.predict(x), model_.predict(x)));

  EXPECT_EQ(loaded.seed(), 11u);
  EXPECT_EQ(loaded.input_shape(), model_.input_shape());
  ASSERT_EQ(loaded.layers().size(), model_.layers().size());
  for (std::size_t i = 0; i < loaded.layers().size(); ++i) {
    EXPECT_EQ(loaded.layers()[i]->name, model_.layers()[i]->name);
    EXPECT_EQ(loaded.layers()[i]->config(), model_.layers()[i]->config());
  }
  EXPECT_EQ(loaded.metadata(), model_.metadata());
  EXPECT_EQ(loaded.metadata()["note"], "unit test");
  ASSERT_TRUE(loaded.compiled());
  EXPECT_EQ(loaded.optimizer()->name(), "adam");
  EXPECT_EQ(loaded.optimizer()->config(), model_.optimizer()->config());
  EXPECT_EQ(loaded.optimizer()->learning_rate, 3e-3f);
  EXPECT_EQ(loaded.optimizer()->iterations, model_.optimizer()->iterations);
  EXPECT_EQ(loaded.loss()->name(), "sparse_categorical_crossentropy");
  EXPECT_EQ(loaded.loss()->config(), model_.loss()->config());
  EXPECT_EQ(loaded.metrics(), (std::vector<std::string>{"accuracy"}));
}

TEST_F(ModelFile, LoadedModelKeepsTraining) {
  Sequential loaded = load_model(path_, 2);
  EXPECT_EQ(loaded.threads(), 2);
  const Tensor x = random_images(16, {1, 8, 8}, 4);
  const auto y = random_labels(16, 5);
  const auto [loss, acc] = loaded.train_step(x, y, 1e-3f);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_DOUBLE_EQ(acc * 16, std::round(acc * 16));  // a share of the 16 images
  EXPECT_LE(acc, 1.0);
  EXPECT_EQ(loaded.optimizer()->iterations, model_.optimizer()->iterations + 1);
}

TEST_F(ModelFile, LayoutMatchesTheDocumentedFormat) {
  ASSERT_GT(bytes_.size(), 56u);
  EXPECT_EQ(bytes_.substr(0, 8), "DIGITNET");
  EXPECT_EQ(le64(bytes_, 8) & 0xffffffffu, 1u);  // version
  EXPECT_EQ(le64(bytes_, 8) >> 32, 0u);          // flags
  const auto digest = sha256(std::string_view(bytes_).substr(0, bytes_.size() - 32));
  EXPECT_EQ(bytes_.substr(bytes_.size() - 32), std::string(digest.begin(), digest.end()));

  const Parts parts = split_file(bytes_);
  const nlohmann::json& j = parts.json;
  EXPECT_EQ(j, read_model_json(path_));
  EXPECT_EQ(j["format"], "digitnet-model");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["architecture"]["layers"][1]["type"], "BatchNormalization");
  EXPECT_EQ(j["compile"]["optimizer"]["name"], "adam");
  EXPECT_EQ(j["compile"]["loss"]["name"], "sparse_categorical_crossentropy");
  EXPECT_EQ(j["data_bytes"], parts.data.size());
  // Parameters in model.params() order, then the buffers; each 64-byte aligned.
  std::vector<std::string> names;
  for (const auto& t : j["tensors"]) {
    names.push_back(t["name"].get<std::string>());
    EXPECT_EQ(t["offset"].get<uint64_t>() % 64, 0u);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "conv2d/kernel", "conv2d/bias", "batch_normalization/gamma",
                "batch_normalization/beta", "dense/kernel", "dense/bias", "dense_1/kernel",
                "dense_1/bias", "batch_normalization/moving_mean",
                "batch_normalization/moving_variance", "batch_normalization/moving_weight"}));
  const auto params = model_.params();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& t = j["tensors"][i];
    EXPECT_EQ(t["shape"].get<Shape>(), params[i]->value.shape());
    // The stored bytes are the little-endian floats of the parameter.
    std::vector<float> stored(static_cast<std::size_t>(params[i]->value.size()));
    std::memcpy(stored.data(), parts.data.data() + t["offset"].get<std::size_t>(),
                stored.size() * 4);
    EXPECT_EQ(std::memcmp(stored.data(), params[i]->value.data(), stored.size() * 4), 0);
  }
  // Re-assembling the parts reproduces the file exactly (the edit tests rely on it).
  EXPECT_EQ(join_file(parts), bytes_);
}

TEST_F(ModelFile, UncompiledCnnPresetRoundTrips) {
  Sequential cnn = build_model(preset_spec("cnn"), 5);
  const std::string p = dir_.file("cnn.dnm");
  save_model(cnn, p);
  const Sequential loaded = load_model(p);
  EXPECT_FALSE(loaded.compiled());
  EXPECT_EQ(loaded.count_params(), 1199882);
  const Tensor x = random_images(4, {1, 28, 28}, 6);
  EXPECT_TRUE(bit_identical(loaded.predict(x), cnn.predict(x)));
  EXPECT_FALSE(read_model_json(p).contains("compile"));
}

TEST_F(ModelFile, NoTemporaryFileLeftBehind) {
  // After successful saves (including overwriting an existing file).
  save_model(model_, path_);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir_.path()))
    entries.push_back(e.path().filename().string());
  EXPECT_EQ(entries, (std::vector<std::string>{"small.dnm"}));

  // A model without layers is refused (it could not be loaded back).
  const std::string empty_path = dir_.file("empty.dnm");
  EXPECT_CONTAINS(error_of([&] { save_model(Sequential({1, 28, 28}), empty_path); }), "no layers");
  EXPECT_FALSE(fs::exists(empty_path));

  // Into a directory that does not exist.
  const std::string missing = dir_.file("no/such/dir/m.dnm");
  std::string msg = error_of([&] { save_model(model_, missing); });
  EXPECT_CONTAINS(msg, missing);
  // Over a path that is a non-empty directory: the temporary file is written,
  // then the rename fails and the temporary file must be removed.
  fs::create_directory(dir_.path() / "taken");
  digitnet::testing::write_file(dir_.file("taken/x"), "x");
  msg = error_of([&] { save_model(model_, dir_.file("taken")); });
  EXPECT_CONTAINS(msg, dir_.file("taken"));
  entries.clear();
  for (const auto& e : fs::directory_iterator(dir_.path()))
    entries.push_back(e.path().filename().string());
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"small.dnm", "taken"}));
}

TEST_F(ModelFile, ForeignEmptyAndMissingFiles) {
  EXPECT_CONTAINS(load_error(""), "empty file");
  const std::string png = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(64, '\0');
  EXPECT_CONTAINS(load_error(png), "not a digitnet model file");
  EXPECT_CONTAINS(load_error("hello"), "not a digitnet model file");
  EXPECT_CONTAINS(load_error(std::string(1000, 'D')), "not a digitnet model file");
  const std::string missing = dir_.file("missing.dnm");
  EXPECT_CONTAINS(error_of([&] { load_model(missing); }), missing);
  EXPECT_CONTAINS(error_of([&] { load_model(dir_.path().string()); }), dir_.path().string());
}

TEST_F(ModelFile, EveryTruncationIsReported) {
  // All cut points (the file is a few KB: this covers the header, the JSON,
  // the padding, every tensor and the checksum).
  const std::string p = dir_.file("cut.dnm");
  for (std::size_t cut = 0; cut < bytes_.size(); ++cut) {
    write_new_file(p, bytes_.substr(0, cut));
    const std::string msg = error_of([&] { load_model(p); });
    if (cut == 0)
      EXPECT_CONTAINS(msg, "empty file");
    else
      EXPECT_NE(msg.find("truncated"), std::string::npos) << "cut at " << cut << ": " << msg;
  }
}

TEST_F(ModelFile, EveryFlippedByteIsReported) {
  const std::string p = dir_.file("flip.dnm");
  for (std::size_t at = 0; at < bytes_.size(); ++at) {
    std::string b = bytes_;
    b[at] = static_cast<char>(b[at] ^ 0x01);
    write_new_file(p, b);
    const std::string msg = error_of([&] { load_model(p); });
    const char* expected = at < 8    ? "not a digitnet model file"
                           : at < 12 ? "unsupported format version"
                           : at < 16 ? "unsupported flags"
                                     : "corrupt: checksum mismatch";
    // The JSON length's low bytes still fit in the file and fail the checksum;
    // its high bytes claim more than the file holds.
    const bool length_too_large = at >= 16 && at < 24 &&
                                  msg.find("JSON length") != std::string::npos &&
                                  msg.find("at byte 16 exceeds the file size") != std::string::npos;
    EXPECT_TRUE(length_too_large || msg.find(expected) != std::string::npos)
        << "byte " << at << ": " << msg;
  }
}

TEST_F(ModelFile, HeaderLies) {
  std::string b = bytes_;
  const uint64_t huge = uint64_t{1} << 60;
  for (int i = 0; i < 8; ++i) b[16 + i] = static_cast<char>((huge >> (8 * i)) & 0xff);
  std::string msg = load_error(b);
  EXPECT_CONTAINS(msg, "JSON length 1152921504606846976 at byte 16 exceeds the file size");

  b = bytes_;
  b[8] = 2;
  msg = load_error(b);
  EXPECT_CONTAINS(msg, "unsupported format version 2 at byte 8");

  // Appended garbage breaks the checksum.
  msg = load_error(bytes_ + "extra");
  EXPECT_CONTAINS(msg, "checksum mismatch");
}

TEST_F(ModelFile, HandEditedJsonIsValidated) {
  struct Case {
    const char* what;
    std::function<void(Parts&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"wrong tensor shape, same byte count",
       [](Parts& p) { p.json["tensors"][0]["shape"] = {36}; },
       "tensors[0] ('conv2d/kernel'): shape (36,) does not match the architecture's (4, 1, 3, 3)"},
      {"wrong tensor shape and size",
       [](Parts& p) {
         p.json["tensors"][4]["shape"] = {64, 8};
         p.json["tensors"][4]["bytes"] = 64 * 8 * 4;
       },
       "tensors[4] ('dense/kernel'): shape (64, 8) does not match the architecture's (64, 16)"},
      {"missing tensor", [](Parts& p) { p.json["tensors"].erase(5); },
       "missing tensor 'dense/bias'"},
      {"missing buffer", [](Parts& p) { p.json["tensors"].erase(9); },
       "missing tensor 'batch_normalization/moving_variance'"},
      {"extra tensor",
       [](Parts& p) {
         nlohmann::json t = p.json["tensors"][1];
         t["name"] = "ghost/bias";
         p.json["tensors"].push_back(t);
       },
       "tensors[11] ('ghost/bias'): not a parameter or buffer of the architecture"},
      {"duplicate tensor", [](Parts& p) { p.json["tensors"][1]["name"] = "conv2d/kernel"; },
       "tensors[1] ('conv2d/kernel'): duplicate tensor name"},
      {"offset out of range",
       [](Parts& p) { p.json["tensors"][3]["offset"] = p.json["data_bytes"]; },
       "tensors[3] ('batch_normalization/beta'): offset"},
      {"offset near 2^64", [](Parts& p) { p.json["tensors"][3]["offset"] = ~uint64_t{0} - 3; },
       "out of range"},
      {"negative offset", [](Parts& p) { p.json["tensors"][3]["offset"] = -64; },
       "tensors[3] ('batch_normalization/beta'): field 'offset'"},
      {"bytes do not match shape", [](Parts& p) { p.json["tensors"][2]["bytes"] = 20; },
       "tensors[2] ('batch_normalization/gamma'): field 'bytes' (20) does not match shape (4,)"},
      {"huge shape",
       [](Parts& p) {
         p.json["tensors"][0]["shape"] = {1ll << 40, 1ll << 40};
       },
       "larger than the data section"},
      {"shape not numbers", [](Parts& p) { p.json["tensors"][0]["shape"] = {"a"}; },
       "tensors[0] ('conv2d/kernel'): field 'shape'"},
      {"no tensors", [](Parts& p) { p.json.erase("tensors"); }, "JSON field 'tensors'"},
      {"wrong data_bytes", [](Parts& p) { p.json["data_bytes"] = 64; },
       "JSON field 'data_bytes' (64) does not match the file"},
      {"wrong format name", [](Parts& p) { p.json["format"] = "keras"; }, "JSON field 'format'"},
      {"wrong JSON version", [](Parts& p) { p.json["version"] = 9; }, "JSON field 'version'"},
      {"unknown layer type",
       [](Parts& p) { p.json["architecture"]["layers"][0]["type"] = "Conv3D"; },
       "architecture: layers[0] (Conv3D)"},
      {"architecture does not build",
       [](Parts& p) { p.json["architecture"]["input_shape"] = {64}; },
       "architecture: layers[0] (Conv2D)"},
      {"no architecture", [](Parts& p) { p.json.erase("architecture"); },
       "JSON field 'architecture' missing"},
      {"unknown optimizer", [](Parts& p) { p.json["compile"]["optimizer"]["name"] = "adagrad"; },
       "compile.optimizer: "},
      {"bad loss config",
       [](Parts& p) { p.json["compile"]["loss"]["config"]["label_smoothing"] = 7; },
       "compile.loss: "},
      {"unknown metric", [](Parts& p) { p.json["compile"]["metrics"] = {"auc"}; }, "compile: "},
      {"negative seed", [](Parts& p) { p.json["seed"] = -1; }, "JSON field 'seed'"},
      {"JSON is not an object",
       [](Parts& p) {
         p.json = nlohmann::json::array({1, 2});
       },
       "expected an object"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Parts parts = split_file(bytes_);
    c.edit(parts);
    const std::string msg = load_error(join_file(parts));
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "message: " << msg << "\nexpected: " << c.expected;
  }
  // Invalid JSON text (with a valid checksum) names the byte offset.
  Parts parts = split_file(bytes_);
  std::string b = bytes_header(5) + "{\"a\":";
  b.resize(64, '\0');
  b += parts.data;
  const auto digest = sha256(b);
  b.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  EXPECT_CONTAINS(load_error(b), "invalid JSON section at byte 29");
}

TEST_F(ModelFile, WithoutBatchNormMovingWeightReadsAsSettledAverages) {
  // A file written before BatchNormalization kept moving_weight: the averages it holds
  // are Keras' fixed-momentum ones, so the weight reads as 1; the rest loads as usual.
  Parts parts = split_file(bytes_);
  auto& tensors = parts.json["tensors"];
  ASSERT_EQ(tensors.back()["name"], "batch_normalization/moving_weight");
  tensors.erase(tensors.size() - 1);
  const std::string p = dir_.file("old_bn.dnm");
  write_new_file(p, join_file(parts));
  Sequential back = load_model(p);
  const auto la = back.layers(), lb = model_.layers();
  ASSERT_EQ(la.size(), lb.size());
  int weights = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    const auto ba = la[i]->buffers(), bb = lb[i]->buffers();
    for (std::size_t k = 0; k < ba.size(); ++k) {
      if (ba[k].first == "moving_weight") {
        EXPECT_EQ((*ba[k].second)[0], 1.0f);
        ++weights;
      } else {
        EXPECT_TRUE(bit_identical(*ba[k].second, *bb[k].second)) << ba[k].first;
      }
    }
  }
  EXPECT_EQ(weights, 1);
  // Inference reads the averages, not their weight: the same predictions.
  const Tensor x = random_images(16, {1, 8, 8}, 5);
  EXPECT_TRUE(bit_identical(back.predict(x), model_.predict(x)));
}
