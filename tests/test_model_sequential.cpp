#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "digitnet/digitnet.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

using namespace digitnet;
using digitnet::testing::band_dataset;
using digitnet::testing::TempDir;

namespace {

Sequential small_cnn(uint64_t seed, int threads) {
  Sequential m({1, 12, 12}, seed, threads);
  m.add(Conv2D(4, 3, relu));
  m.add(MaxPooling2D(2));
  m.add(Dropout(0.2f));
  m.add(Flatten());
  m.add(Dense(16, relu));
  m.add(Dense(4, softmax));
  m.compile(Adam(3e-3f), sparse_categorical_crossentropy(), {accuracy});
  return m;
}

bool same_weights(const Sequential& a, const Sequential& b) {
  const auto wa = a.get_weights(), wb = b.get_weights();
  if (wa.size() != wb.size()) return false;
  for (size_t i = 0; i < wa.size(); ++i) {
    if (wa[i].shape() != wb[i].shape()) return false;
    if (std::memcmp(wa[i].data(), wb[i].data(),
                    sizeof(float) * static_cast<size_t>(wa[i].size())) != 0)
      return false;
  }
  return true;
}

}  // namespace

TEST(Sequential, SummaryListsLayersShapesAndKerasParamCounts) {
  Sequential m({1, 28, 28});
  m.add(Conv2D(32, 3, relu));
  m.add(Conv2D(64, 3, relu));
  m.add(MaxPooling2D(2));
  m.add(Dropout(0.25f));
  m.add(Flatten());
  m.add(Dense(128, relu));
  m.add(Dropout(0.5f));
  m.add(Dense(10, softmax));
  // conv 1·9·32+32, conv 32·9·64+64, dense 12·12·64·128+128, dense 128·10+10
  const int64_t expected =
      (9 * 32 + 32) + (32 * 9 * 64 + 64) + (12 * 12 * 64 * 128 + 128) + (128 * 10 + 10);
  EXPECT_EQ(m.count_params(), expected);
  const std::string s = m.summary();
  EXPECT_NE(s.find("conv2d (Conv2D)"), std::string::npos) << s;
  EXPECT_NE(s.find("conv2d_1 (Conv2D)"), std::string::npos) << s;
  EXPECT_NE(s.find("max_pooling2d (MaxPooling2D)"), std::string::npos) << s;
  EXPECT_NE(s.find("dropout_1 (Dropout)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 64, 12, 12)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 9216)"), std::string::npos) << s;
  EXPECT_NE(s.find("Total params: 1,199,882"), std::string::npos) << s;
  EXPECT_EQ(m.output_shape(), (Shape{10}));
}

TEST(Sequential, ShapeErrorsNameTheLayer) {
  Sequential m({1, 4, 4});
  try {
    m.add(Conv2D(2, 5, relu));
    FAIL() << "a 5x5 kernel on a 4x4 image must not build";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
  }
  Sequential flat({1, 4, 4});
  flat.add(Flatten());
  flat.add(Dense(3));
  EXPECT_THROW(flat.compile(nullptr, sparse_categorical_crossentropy()), Error);
  Sequential image_out({1, 4, 4});
  image_out.add(Conv2D(2, 3));
  EXPECT_THROW(image_out.compile(Adam(), sparse_categorical_crossentropy()), Error);
}

TEST(Sequential, FitLearnsASmallProblemAndRecordsHistory) {
  const Dataset train = band_dataset(600, 4, 12, 12, 1), test = band_dataset(200, 4, 12, 12, 2);
  Sequential m = small_cnn(7, 2);
  const Evaluation before = m.evaluate(test);
  FitOptions fo;
  fo.epochs = 4;
  fo.batch_size = 32;
  fo.validation = test;
  fo.verbose = 0;
  const History h = m.fit(train, fo);
  ASSERT_EQ(h.epochs.size(), 4u);
  const auto loss = h.values("loss"), val = h.values("val_accuracy");
  EXPECT_LT(loss.back(), loss.front());
  EXPECT_GE(val.back(), 0.95);
  const Evaluation after = m.evaluate(test);
  EXPECT_DOUBLE_EQ(after.accuracy, val.back());
  EXPECT_LT(after.loss, before.loss);
  // confusion matrix counts every test image once
  int64_t total = 0;
  for (const auto& row : after.confusion)
    for (int64_t v : row) total += v;
  EXPECT_EQ(total, test.size());
  // predictions are probabilities
  const Tensor p = m.predict(test, 0, 10);
  ASSERT_EQ(p.shape(), (Shape{10, 4}));
  for (int i = 0; i < 10; ++i) {
    double s = 0;
    for (int k = 0; k < 4; ++k) s += p[i * 4 + k];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  EXPECT_EQ(m.metadata()["training"]["epochs"], 4);
}

TEST(Sequential, SameSeedAndThreadsGiveBitIdenticalWeightsAndMetrics) {
  const Dataset train = band_dataset(300, 4, 12, 12, 3);
  for (int threads : {1, 2}) {
    FitOptions fo;
    fo.epochs = 2;
    fo.batch_size = 16;
    fo.verbose = 0;
    fo.validation_split = 0.2;
    Sequential a = small_cnn(11, threads), b = small_cnn(11, threads);
    const History ha = a.fit(train, fo), hb = b.fit(train, fo);
    EXPECT_TRUE(same_weights(a, b)) << "threads=" << threads;
    EXPECT_EQ(ha.to_csv().substr(0, ha.to_csv().find("seconds")),
              hb.to_csv().substr(0, hb.to_csv().find("seconds")));
    EXPECT_EQ(ha.values("loss"), hb.values("loss"));
    EXPECT_EQ(ha.values("val_loss"), hb.values("val_loss"));
    Sequential c = small_cnn(12, threads);
    c.fit(train, fo);
    EXPECT_FALSE(same_weights(a, c)) << "a different seed must give different weights";
  }
}

TEST(Sequential, AugmentationIsReproducibleRecordedAndOnlyTouchesTraining) {
  const Dataset train = band_dataset(240, 4, 12, 12, 8), test = band_dataset(80, 4, 12, 12, 9);
  for (int threads : {1, 2}) {
    FitOptions fo;
    fo.epochs = 2;
    fo.batch_size = 16;
    fo.verbose = 0;
    fo.validation = test;
    fo.augment = Augmentation::mnist();
    Sequential a = small_cnn(21, threads), b = small_cnn(21, threads),
               plain = small_cnn(21, threads);
    const History ha = a.fit(train, fo), hb = b.fit(train, fo);
    EXPECT_TRUE(same_weights(a, b)) << "threads=" << threads;
    EXPECT_EQ(ha.values("val_loss"), hb.values("val_loss"));
    EXPECT_EQ(a.metadata()["training"]["augment"], fo.augment.to_json());
    fo.augment = {};
    plain.fit(train, fo);
    EXPECT_FALSE(same_weights(a, plain)) << "the distortions must change what is learnt";
    EXPECT_FALSE(plain.metadata()["training"].contains("augment"));
    // Validation images are not distorted: evaluating again gives the recorded figure.
    EXPECT_DOUBLE_EQ(a.evaluate(test).loss, ha.values("val_loss").back());
  }
  FitOptions bad;
  bad.verbose = 0;
  bad.augment.rotate = -3.0f;
  Sequential m = small_cnn(1, 1);
  EXPECT_THROW(m.fit(train, bad), Error);
}

TEST(Sequential, ValidationSplitHoldsOutTheLastFraction) {
  const Dataset train = band_dataset(100, 4, 12, 12, 4);
  Sequential m = small_cnn(1, 1);
  FitOptions fo;
  fo.epochs = 1;
  fo.verbose = 0;
  fo.validation_split = 0.25;
  const History h = m.fit(train, fo);
  EXPECT_EQ(m.metadata()["training"]["train_samples"], 75);
  EXPECT_EQ(m.metadata()["training"]["validation_samples"], 25);
  EXPECT_FALSE(std::isnan(h.values("val_loss")[0]));
}

TEST(Sequential, StopRequestEndsAfterTheCurrentBatch) {
  const Dataset train = band_dataset(256, 4, 12, 12, 5);
  Sequential m = small_cnn(1, 1);
  std::atomic<bool> stop{true};
  FitOptions fo;
  fo.epochs = 5;
  fo.batch_size = 32;
  fo.verbose = 0;
  fo.stop_requested = &stop;
  const auto w0 = m.get_weights();
  const History h = m.fit(train, fo);
  EXPECT_TRUE(h.interrupted);
  EXPECT_EQ(h.epochs.size(), 1u);
  EXPECT_EQ(m.optimizer()->iterations, 1);  // exactly one batch was trained
  const auto w1 = m.get_weights();
  bool changed = false;
  for (size_t i = 0; i < w0.size(); ++i)
    changed |= std::memcmp(w0[i].data(), w1[i].data(),
                           sizeof(float) * static_cast<size_t>(w0[i].size())) != 0;
  EXPECT_TRUE(changed) << "the one batch must have updated the weights";
}

TEST(Callbacks, EarlyStoppingStopsAndRestoresBestWeights) {
  // With min_delta so large that only the first epoch counts as an improvement,
  // patience 2 stops after epoch 3 and restores the weights of epoch 1.
  const Dataset train = band_dataset(200, 4, 12, 12, 6), val = band_dataset(100, 4, 12, 12, 7);
  Sequential m({1, 12, 12}, 3, 1);
  m.add(Flatten());
  m.add(Dense(4, softmax));
  m.compile(SGD(0.1f), sparse_categorical_crossentropy());
  struct Spy : Callback {
    std::vector<Tensor> first;
    void on_epoch_end(Sequential& model, int epoch, const EpochLogs&, TrainControl&) override {
      if (epoch == 1) first = model.get_weights();
    }
  };
  auto spy = std::make_shared<Spy>();
  FitOptions fo;
  fo.epochs = 30;
  fo.batch_size = 20;
  fo.verbose = 0;
  fo.validation = val;
  fo.callbacks = {spy, EarlyStopping("val_loss", 2, 1e9, true)};
  const History h = m.fit(train, fo);
  ASSERT_TRUE(h.stopped_early) << h.to_csv();
  EXPECT_EQ(h.epochs.size(), 3u);
  const auto w = m.get_weights();
  ASSERT_EQ(w.size(), spy->first.size());
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(std::memcmp(w[i].data(), spy->first[i].data(),
                          sizeof(float) * static_cast<size_t>(w[i].size())),
              0);
  // Without restoring, the last epoch's weights stay.
  Sequential m2({1, 12, 12}, 3, 1);
  m2.add(Flatten());
  m2.add(Dense(4, softmax));
  m2.compile(SGD(0.1f), sparse_categorical_crossentropy());
  fo.callbacks = {EarlyStopping("val_loss", 2, 1e9, false)};
  m2.fit(train, fo);
  EXPECT_NE(std::memcmp(m2.get_weights()[0].data(), spy->first[0].data(), sizeof(float) * 16), 0);
  // A monitored metric that does not exist is an error that says so.
  fo.validation = DatasetRef();
  fo.callbacks = {EarlyStopping("val_loss", 2)};
  EXPECT_THROW(m2.fit(train, fo), Error);
}

TEST(Callbacks, ReduceLROnPlateauLowersTheRate) {
  const Dataset train = band_dataset(64, 4, 12, 12, 8);
  Sequential m({1, 12, 12}, 3, 1);
  m.add(Flatten());
  m.add(Dense(4, softmax));
  m.compile(SGD(0.0f + 1e-9f), sparse_categorical_crossentropy());  // loss cannot improve
  FitOptions fo;
  fo.epochs = 5;
  fo.verbose = 0;
  fo.callbacks = {ReduceLROnPlateau("loss", 0.5f, 1, 0.0f, 1e-3)};
  const History h = m.fit(train, fo);
  const auto lr = h.values("lr");
  ASSERT_EQ(lr.size(), 5u);
  EXPECT_FLOAT_EQ(static_cast<float>(lr[0]), 1e-9f);
  EXPECT_LT(lr[4], lr[1]);
  EXPECT_THROW(ReduceLROnPlateau("loss", 1.5f), Error);
}

TEST(Callbacks, ModelCheckpointSavesALoadableModel) {
  TempDir dir;
  const Dataset train = band_dataset(100, 4, 12, 12, 9);
  Sequential m = small_cnn(2, 1);
  FitOptions fo;
  fo.epochs = 2;
  fo.verbose = 0;
  fo.callbacks = {ModelCheckpoint(dir.file("best.dnm"), "loss", true)};
  m.fit(train, fo);
  ASSERT_TRUE(std::filesystem::exists(dir.file("best.dnm")));
  Sequential loaded = load_model(dir.file("best.dnm"));
  EXPECT_EQ(loaded.count_params(), m.count_params());
  EXPECT_TRUE(loaded.metadata().contains("checkpoint"));
}

TEST(Evaluation, PerClassMetricsFromAConfusionMatrix) {
  Evaluation e;
  // true 0: 8 right, 2 called 1; true 1: 1 called 0, 9 right.
  e.confusion = {{8, 2}, {1, 9}};
  e.finish_from_confusion();
  EXPECT_DOUBLE_EQ(e.accuracy, 17.0 / 20.0);
  EXPECT_DOUBLE_EQ(e.classes[0].precision, 8.0 / 9.0);
  EXPECT_DOUBLE_EQ(e.classes[0].recall, 8.0 / 10.0);
  EXPECT_DOUBLE_EQ(e.classes[1].precision, 9.0 / 11.0);
  EXPECT_DOUBLE_EQ(e.classes[1].recall, 9.0 / 10.0);
  const double f0 = 2 * (8.0 / 9) * 0.8 / (8.0 / 9 + 0.8);
  EXPECT_NEAR(e.classes[0].f1, f0, 1e-12);
  EXPECT_EQ(e.classes[1].support, 10);
  const auto j = e.to_json();
  EXPECT_EQ(j["confusion_matrix"][1][0], 1);
  EXPECT_NE(e.to_table().find("Confusion matrix"), std::string::npos);
}

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t nl = s.find('\n'); nl != std::string::npos; at = nl + 1, nl = s.find('\n', at))
    out.push_back(s.substr(at, nl - at));
  if (at < s.size()) out.push_back(s.substr(at));
  return out;
}

// Terminal columns of a UTF-8 line (one per code point).
size_t columns_of(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

// The lines of the table's confusion matrix: its column header and k rows.
std::vector<std::string> confusion_lines(const std::string& table, size_t k) {
  const auto all = lines_of(table);
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i].rfind("Confusion matrix", 0) == 0 && i + 1 + k <= all.size())
      return {all.begin() + static_cast<std::ptrdiff_t>(i + 1),
              all.begin() + static_cast<std::ptrdiff_t>(i + 2 + k)};
  ADD_FAILURE() << "no confusion matrix in\n" << table;
  return {};
}

// A k-class evaluation: class c has 10 + c samples, c % 3 of them called c + 1.
Evaluation k_class_evaluation(size_t k, std::vector<std::string> names) {
  Evaluation e;
  e.confusion.assign(k, std::vector<int64_t>(k, 0));
  for (size_t c = 0; c < k; ++c) {
    const auto wrong = static_cast<int64_t>(c % 3);
    e.confusion[c][c] = 10 + static_cast<int64_t>(c) - wrong;
    e.confusion[c][(c + 1) % k] += wrong;
  }
  e.class_names = std::move(names);
  e.finish_from_confusion();
  return e;
}

}  // namespace

TEST(Evaluation, TableWithoutNamesKeepsTheNumberedLayout) {
  Evaluation e = k_class_evaluation(10, {});
  e.confusion[3][3] = 1135;
  e.finish_from_confusion();
  const std::string t = e.to_table();
  EXPECT_NE(t.find("rows: true class"), std::string::npos) << t;
  EXPECT_EQ(t.find("digit"), std::string::npos) << t;
  const auto m = confusion_lines(t, 10);
  ASSERT_EQ(m.size(), 11u);
  EXPECT_EQ(m[0], "           0     1     2     3     4     5     6     7     8     9");
  EXPECT_EQ(m[4], "     3     0     0     0  1135     0     0     0     0     0     0");
  EXPECT_NE(t.find("\nclass  precision  recall      f1  support\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\n    0     1.0000  1.0000  1.0000       10\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nmacro  "), std::string::npos) << t;
  const auto j = e.to_json();
  EXPECT_FALSE(j.contains("class_names"));
  EXPECT_EQ(j["classes"][3]["name"], "3");
}

TEST(Evaluation, TableAndJsonNameTheClasses) {
  const Evaluation e = k_class_evaluation(3, {"cat", "dog", "T-shirt/top"});
  const std::string t = e.to_table();
  EXPECT_EQ(t.find("digit"), std::string::npos) << t;
  const auto m = confusion_lines(t, 3);
  ASSERT_EQ(m.size(), 4u);
  // Rows "number name", columns numbered; every line as wide as the others.
  EXPECT_EQ(m[1].rfind("0 cat ", 0), 0u) << t;
  EXPECT_EQ(m[2].rfind("1 dog ", 0), 0u) << t;
  EXPECT_EQ(m[3].rfind("2 T-shirt/top ", 0), 0u) << t;
  for (const auto& line : m) EXPECT_EQ(columns_of(line), columns_of(m[0])) << t;
  EXPECT_EQ(m[3].substr(m[3].size() - 18), "     2     0    10") << t;
  // The per-class table names each class in full.
  for (const char* row : {"\n0  cat           ", "\n1  dog           ", "\n2  T-shirt/top   "})
    EXPECT_NE(t.find(row), std::string::npos) << row << "\n" << t;

  const auto j = e.to_json();
  EXPECT_EQ(j["class_names"], nlohmann::json({"cat", "dog", "T-shirt/top"}));
  ASSERT_EQ(j["classes"].size(), 3u);
  EXPECT_EQ(j["classes"][2]["name"], "T-shirt/top");
  EXPECT_EQ(j["classes"][2]["class"], 2);
  EXPECT_EQ(j["classes"][2]["support"], 12);
}

TEST(Evaluation, TableCutsLongNamesInTheMatrixOnly) {
  std::vector<std::string> names;
  for (int c = 0; c < 12; ++c)
    names.push_back("a rather long class name, number " + std::to_string(c));
  names[5] = "Äpfel und Birnen";  // non-ASCII names are counted by characters
  const Evaluation e = k_class_evaluation(12, names);
  const std::string t = e.to_table();
  const auto m = confusion_lines(t, 12);
  ASSERT_EQ(m.size(), 13u);
  for (const auto& line : m) EXPECT_EQ(columns_of(line), columns_of(m[0])) << t;
  EXPECT_LE(columns_of(m[0]), 30 + 12 * 6u) << "names are cut in the matrix";
  EXPECT_NE(m[8].find("\u2026"), std::string::npos) << t;
  EXPECT_EQ(m[6].rfind(" 5 Äpfel und Birnen ", 0), 0u) << t;
  EXPECT_NE(m[12].find("11 a rather long"), std::string::npos) << t;
  for (const auto& n : names) EXPECT_NE(t.find("  " + n + " "), std::string::npos) << n;
  EXPECT_EQ(e.to_json()["classes"][11]["name"], names[11]);
}

TEST(Evaluation, TableForHundredsOfClasses) {
  std::vector<std::string> names;
  for (int c = 0; c < 250; ++c) names.push_back("class-" + std::to_string(c));
  const Evaluation e = k_class_evaluation(250, names);
  const std::string t = e.to_table();
  const auto m = confusion_lines(t, 250);
  ASSERT_EQ(m.size(), 251u);
  EXPECT_NE(m[250].find("249 class-249"), std::string::npos);
  // Narrow columns: the widest number (259) and a space.
  EXPECT_EQ(columns_of(m[0]), columns_of(m[250]));
  EXPECT_LE(columns_of(m[0]), 20 + 250 * 4u);
  EXPECT_NE(t.find("249  class-249"), std::string::npos);
}

TEST(History, CsvRoundTripAndLineNumberedErrors) {
  TempDir dir;
  History h;
  h.epochs.push_back({{"epoch", 1}, {"loss", 0.5}, {"accuracy", 0.8}, {"val_loss", 0.4}});
  h.epochs.push_back({{"epoch", 2}, {"loss", 0.25}, {"accuracy", 0.9}, {"val_loss", 0.3}});
  h.write_csv(dir.file("h.csv"));
  const History r = History::read_csv(dir.file("h.csv"));
  EXPECT_EQ(r.values("loss"), h.values("loss"));
  EXPECT_EQ(r.values("val_loss"), h.values("val_loss"));
  EXPECT_EQ(r.keys().front(), "epoch");
  digitnet::testing::write_file(dir.file("bad.csv"), "epoch,loss\n1,0.5\n2,zebra\n");
  try {
    History::read_csv(dir.file("bad.csv"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.csv"), std::string::npos) << e.what();
  }
  EXPECT_EQ(History::from_json(h.to_json()).values("accuracy"), h.values("accuracy"));
}

// At one image on two threads, a Winograd Conv2D followed by MaxPooling2D(2)
// runs as one (each participant pools the planes it computed): predict must
// give the bits of the layers run one by one, for relu and linear convolutions
// (negative values, signed zeros), even and odd conv outputs, with and without
// dropout after the pooling; on one thread nothing is fused.
// A tanh Conv2D followed by AveragePooling2D(2) runs forward as one (each
// image pooled right after its convolution) and, in training, backward as one
// (the pooling's dy unpooled inside the convolution's tanh gradient): the
// losses and weights after a few Adam steps, and predictions at batch 1 and 12,
// must be the bits of the same model with a linear Activation layer between the
// two, which keeps them apart. LeNet's shape of net (a padded 5x5 on one
// channel, a valid 5x5 on six), 1 and 2 threads.
TEST(Sequential, FusedConvAvgPoolGivesTheLayersBits) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    auto make = [&](bool apart) {
      Sequential m({1, 16, 16}, 11, threads);
      m.add(Conv2D(6, 5, Activation::tanh, 1, Padding::same));
      if (apart) m.add(ActivationLayer(linear));
      m.add(AveragePooling2D(2));
      m.add(Conv2D(16, 5, Activation::tanh));
      if (apart) m.add(ActivationLayer(linear));
      m.add(AveragePooling2D(2));
      m.add(Flatten());
      m.add(Dense(4, softmax));
      m.compile(Adam(3e-3f), sparse_categorical_crossentropy(), {accuracy});
      return m;
    };
    Sequential fused = make(false), apart = make(true);
    apart.set_weights(fused.get_weights());
    Rng rng(3);
    Tensor x({12, 1, 16, 16});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(0.0f, 1.0f);
    std::vector<int32_t> y(12);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int32_t>(i % 4);
    for (int step = 0; step < 3; ++step) {
      const auto a = fused.train_step(x, y, 3e-3f), b = apart.train_step(x, y, 3e-3f);
      EXPECT_EQ(a, b);
    }
    EXPECT_TRUE(same_weights(fused, apart));
    for (int64_t n : {12, 1, 12, 12}) {  // (repeated: a race between the participants showed
                                         // as a difference in some calls, not all)
      const Tensor xs = Tensor::view(x.data(), {n, 1, 16, 16});
      const Tensor pf = fused.predict(xs, static_cast<int>(n)),
                   pa = apart.predict(xs, static_cast<int>(n));
      ASSERT_EQ(pf.size(), pa.size());
      EXPECT_EQ(std::memcmp(pf.data(), pa.data(), sizeof(float) * std::size_t(pf.size())), 0)
          << "predict at batch " << n;
    }
    // ... and the steps did train: the first layer's weights moved.
    EXPECT_NE(std::memcmp(fused.get_weights()[0].data(), make(false).get_weights()[0].data(),
                          sizeof(float) * 150),
              0);
  }
}

TEST(Sequential, FusedConvPoolPredictGivesTheLayersBits) {
  for (Activation act : {relu, linear})
    for (int h : {28, 27})
      for (bool dropout : {true, false})
        for (int threads : {2, 1}) {
          SCOPED_TRACE("h " + std::to_string(h) + (act == relu ? " relu" : " linear") +
                       (dropout ? " dropout" : "") + " threads " + std::to_string(threads));
          Sequential m({1, h, h}, 7, threads);
          m.add(Conv2D(32, 3, relu));
          m.add(Conv2D(64, 3, act));
          m.add(MaxPooling2D(2));
          if (dropout) m.add(Dropout(0.25f));
          m.add(Flatten());
          m.add(Dense(10, softmax));
          Rng rng(5);
          Tensor x({1, 1, h, h});
          for (int64_t i = 0; i < x.size(); ++i) x[i] = i % 5 == 0 ? 0.0f : rng.uniform(0.0f, 1.0f);
          // A few negative-zero products: one filter of the second layer all zero.
          Param* k2 = m.layers()[1]->params()[0];
          for (int64_t i = 0; i < 32 * 9; ++i) k2->value[i] = -0.0f;
          const Tensor p = m.predict(x, 1);
          ThreadPool pool(threads);
          Context ctx{false, &pool, nullptr};
          Tensor a, b;
          const Tensor* in = &x;
          for (Layer* l : m.layers()) {
            l->forward(*in, a, ctx);
            std::swap(a, b);
            in = &b;
          }
          ASSERT_EQ(in->size(), p.size());
          EXPECT_EQ(std::memcmp(in->data(), p.data(), sizeof(float) * std::size_t(p.size())), 0);
        }
}
