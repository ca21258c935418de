// The command line: exit codes, messages and outputs a script can rely on.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "digitnet/io/model_file.hpp"
#include "test_support.hpp"

using digitnet::testing::CommandResult;
using digitnet::testing::run_command;
using digitnet::testing::TempDir;

namespace {
CommandResult dn(const std::string& args) {
  return run_command(std::string(DIGITNET_CLI_PATH) + " " + args);
}
}  // namespace

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(dn("").exit_code, 2);
  EXPECT_EQ(dn("frobnicate").exit_code, 2);
  const auto r = dn("train --epochs zero");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--epochs"), std::string::npos) << r.err;
  EXPECT_EQ(dn("train --optimizer adagrad").exit_code, 2);
  EXPECT_EQ(dn("summary --preset cnn --spec /nonexistent.txt").exit_code, 2);
  EXPECT_EQ(dn("evaluate").exit_code, 2);  // --model is required
  for (const char* bad : {"--elastic 34", "--elastic 34,x", "--elastic 0,4", "--rotate -5",
                          "--scale 1.5", "--shear 90"}) {
    const auto r = dn(std::string("train --preset mlp ") + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find(std::string(bad).substr(0, std::string(bad).find(' '))), std::string::npos)
        << bad << ": " << r.err;
  }
}

TEST(Cli, HelpAndVersionExitWithZero) {
  for (const char* verb : {"", "fetch ", "train ", "evaluate ", "predict ", "summary "}) {
    const auto r = dn(std::string(verb) + "--help");
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_NE(r.out.find("--"), std::string::npos) << verb;
  }
  const auto v = dn("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("digitnet"), std::string::npos);
}

TEST(Cli, SummaryOfPresetsWithoutTraining) {
  const auto r = dn("summary --preset cnn");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Total params: 1,199,882"), std::string::npos) << r.out;
  const auto m = dn("summary --preset mlp --json");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const auto j = nlohmann::json::parse(m.out);
  EXPECT_EQ(j["total_params"], 101770);
  const auto bad = dn("summary --preset resnet");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("resnet"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("cnn"), std::string::npos) << "the message lists the presets: " << bad.err;
}

TEST(Cli, SpecFileErrorsNameTheLine) {
  TempDir dir;
  digitnet::testing::write_file(dir.file("net.txt"), "input 1 28 28\nflatten\ndense ten relu\n");
  const auto r = dn("summary --spec " + dir.file("net.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("net.txt:3"), std::string::npos) << r.err;
}

TEST(Cli, BadModelFilesAreClearErrors) {
  TempDir dir;
  digitnet::testing::write_file(dir.file("junk.dnm"), "this is not a model");
  const auto r = dn("evaluate --model " + dir.file("junk.dnm"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("junk.dnm"), std::string::npos) << r.err;
  const auto p = dn("predict --model " + dir.file("missing.dnm"));
  EXPECT_EQ(p.exit_code, 2);
}

TEST(Cli, FetchFailureNamesEachSource) {
  TempDir dir;
  const auto r = dn("fetch --no-npm --mirror http://127.0.0.1:9/ --cache-dir " + dir.file("cache"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("127.0.0.1"), std::string::npos) << r.err;
}

TEST(Cli, TrainEvaluatePredictOnASubset) {
  TempDir dir;
  const std::string model = dir.file("mlp.dnm");
  const auto t =
      dn("train --preset mlp --epochs 1 --max-train 2000 --batch-size 32 --threads 2 --quiet -o " +
         model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_TRUE(std::filesystem::exists(model));
  EXPECT_TRUE(std::filesystem::exists(dir.file("mlp.history.csv")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("mlp.history.json")));
  EXPECT_NE(t.out.find("test accuracy"), std::string::npos) << t.out;

  const auto e = dn("evaluate --json --tta --model " + model + " -o " + dir.file("eval.json"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  // --tta: the averaged predictions' figures beside the plain ones, on the same images.
  ASSERT_TRUE(ej.contains("tta")) << e.out;
  EXPECT_EQ(ej["tta"]["samples"], ej["samples"]);
  EXPECT_GT(ej["tta"]["accuracy"].get<double>(), 0.7);
  EXPECT_NE(ej["tta"]["loss"], ej["loss"]);
  const auto tp = dn("predict --json --tta --range 0:2 --model " + model);
  ASSERT_EQ(tp.exit_code, 0) << tp.err;
  EXPECT_EQ(nlohmann::json::parse(tp.out).size(), 2u);
  EXPECT_GT(ej["accuracy"].get<double>(), 0.7);
  EXPECT_EQ(ej["confusion_matrix"].size(), 10u);
  EXPECT_EQ(ej["classes"].size(), 10u);
  EXPECT_TRUE(std::filesystem::exists(dir.file("eval.json")));

  const auto p = dn("predict --json --range 0:5 --model " + model);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto pj = nlohmann::json::parse(p.out);
  ASSERT_TRUE(pj.is_array());
  ASSERT_EQ(pj.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(pj[i]["index"], i);
    EXPECT_EQ(pj[i]["probabilities"].size(), 10u);
    const int d = pj[i]["digit"];
    EXPECT_FLOAT_EQ(pj[i]["probability"].get<float>(),
                    pj[i]["probabilities"][static_cast<size_t>(d)].get<float>());
  }
  const auto text = dn("predict --range 10:13 --model " + model);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("    10  digit"), std::string::npos) << text.out;
  // A bad range is a usage error, as README says.
  for (const char* r : {"5:2", "0:99999", "3:3", "1x:3", "0:2y", "-1:4"}) {
    const auto bad = dn(std::string("predict --range ") + r + " --model " + model);
    EXPECT_EQ(bad.exit_code, 2) << r;
    EXPECT_NE(bad.err.find("--range"), std::string::npos) << bad.err;
  }
}

TEST(Cli, AugmentedTrainingIsRecordedAndShowDrawsTheDistortions) {
  TempDir dir;
  const std::string model = dir.file("aug.dnm");
  const auto t =
      dn("train --preset mlp --epochs 1 --max-train 600 --threads 2 --augment --rotate 15 "
         "--elastic 30,4 --quiet -o " +
         model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const auto j = digitnet::read_model_json(model);
  const auto& aug = j["metadata"]["training"]["augment"];
  EXPECT_EQ(aug["rotate"], 15.0);  // the part flag overrides --augment's 10
  EXPECT_EQ(aug["shift"], 2.0);
  EXPECT_EQ(aug["elastic_alpha"], 30.0);
  const std::string png = dir.file("aug.png");
  const auto s = dn("show --augment --count 3 --split train -o " + png);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const auto plain = dn("show --count 3 --columns 3 --split train -o " + dir.file("plain.png"));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  // Three rows of an original and five distortions, against the three originals in a row.
  const auto size = digitnet::testing::png_size(png),
             plain_size = digitnet::testing::png_size(dir.file("plain.png"));
  EXPECT_GT(size.first, 3 * plain_size.first / 2);
  EXPECT_GT(size.second, 2 * plain_size.second);
}

TEST(Cli, APresetTrainsWithItsRecipeAndFlagsReplaceItsParts) {
  TempDir dir;
  auto training = [&](const std::string& flags) {
    const std::string model = dir.file("fast.dnm");
    const auto t =
        dn("train --preset fast --max-train 640 --threads 2 --quiet -o " + model + " " + flags);
    EXPECT_EQ(t.exit_code, 0) << t.err;
    return digitnet::read_model_json(model)["metadata"]["training"];
  };
  const auto r = training("");
  EXPECT_EQ(r["epochs"], 2);
  EXPECT_EQ(r["batch_size"], 64);
  EXPECT_EQ(r["schedule"]["name"], "one_cycle");
  EXPECT_NEAR(r["optimizer"]["config"]["learning_rate"].get<double>(), 2e-2, 1e-9);
  const auto f = training("--epochs 1 --batch-size 32 --lr 1e-3");
  EXPECT_EQ(f["epochs"], 1);
  EXPECT_EQ(f["batch_size"], 32);
  EXPECT_EQ(f["schedule"]["name"], "one_cycle");
  EXPECT_NEAR(f["optimizer"]["config"]["learning_rate"].get<double>(), 1e-3, 1e-9);
}

TEST(Cli, EnsembleOfTrainedModelsWorksWhereAModelDoes) {
  TempDir dir;
  for (const char* seed : {"1", "2"}) {
    const auto t = dn(std::string("train --preset mlp --epochs 1 --max-train 2000 --batch-size 32 "
                                  "--threads 2 --quiet --seed ") +
                      seed + " -o " + dir.file(std::string("m") + seed + ".dnm"));
    ASSERT_EQ(t.exit_code, 0) << t.err;
  }
  const std::string e = dir.file("e.dnm");
  const auto r =
      dn("ensemble --json " + dir.file("m1.dnm") + " " + dir.file("m2.dnm") + " -o " + e);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(nlohmann::json::parse(r.out)["test"]["accuracy"].get<double>(), 0.7);
  const auto j = digitnet::read_model_json(e);
  EXPECT_EQ(j["metadata"]["ensemble"]["members"].size(), 2u);
  for (const char* verb :
       {"evaluate --no-pictures --model ", "predict --range 0:3 --model ", "summary --model "}) {
    const auto v = dn(std::string(verb) + e);
    EXPECT_EQ(v.exit_code, 0) << verb << v.err;
  }
  EXPECT_EQ(dn("ensemble " + dir.file("m1.dnm") + " -o " + dir.file("one.dnm")).exit_code, 2);
}

TEST(Cli, CallbacksFromFlags) {
  TempDir dir;
  const auto t =
      dn("train --preset mlp --epochs 3 --max-train 600 --validation-split 0.5 --early-stopping 1 "
         "--checkpoint " +
         dir.file("best.dnm") + " --schedule cosine --optimizer sgd --nesterov --quiet -o " +
         dir.file("m.dnm"));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("best.dnm")));
  const auto h = nlohmann::json::parse(digitnet::testing::read_file(dir.file("m.history.json")));
  ASSERT_GE(h["epochs"].size(), 1u);
  EXPECT_TRUE(h["epochs"][0].contains("val_loss"));
  const auto s = dn("summary --json --model " + dir.file("best.dnm"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
}

// The model files differ only in the epoch times they record: the weights are
// the same bits.
TEST(Cli, SameSeedSameWeightsBitForBit) {
  TempDir dir;
  const std::string args =
      "train --preset mlp --epochs 1 --max-train 500 --threads 2 --quiet --seed 5 -o ";
  ASSERT_EQ(dn(args + dir.file("a.dnm")).exit_code, 0);
  ASSERT_EQ(dn(args + dir.file("b.dnm")).exit_code, 0);
  ASSERT_EQ(dn("train --preset mlp --epochs 1 --max-train 500 --threads 2 --quiet --seed 6 -o " +
               dir.file("c.dnm"))
                .exit_code,
            0);
  const auto weights = [&](const std::string& name) {
    return digitnet::load_model(dir.file(name)).get_weights();
  };
  const auto a = weights("a.dnm"), b = weights("b.dnm"), c = weights("c.dnm");
  ASSERT_EQ(a.size(), b.size());
  bool same_as_c = true;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), sizeof(float) * a[i].size()), 0) << i;
    same_as_c =
        same_as_c && std::memcmp(a[i].data(), c[i].data(), sizeof(float) * a[i].size()) == 0;
  }
  EXPECT_FALSE(same_as_c);  // another seed, other weights
}
