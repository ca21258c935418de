// The picture outputs of the command line: train, evaluate, show, plot,
// inspect and report on a small MNIST subset (reads the MNIST cache).
#include <gtest/gtest.h>

#include <filesystem>

#include "picture_check.hpp"
#include "test_support.hpp"

using digitnet::testing::decode_png;
using digitnet::testing::Png;
using digitnet::testing::read_file;
using digitnet::testing::run_command;
using digitnet::testing::svg_texts;
using digitnet::testing::TempDir;

namespace {

digitnet::testing::CommandResult dn(const std::string& args) {
  return run_command(std::string(DIGITNET_CLI_PATH) + " " + args);
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Share of pixels darker than mid-grey.
double dark_share(const Png& p) {
  int64_t n = 0;
  for (int y = 0; y < p.height; ++y)
    for (int x = 0; x < p.width; ++x) n += p.grey(x, y) < 128;
  return static_cast<double>(n) / static_cast<double>(std::max(1, p.width * p.height));
}

}  // namespace

TEST(ReportCli, TrainEvaluatePlotInspectAndReport) {
  TempDir dir;
  const std::string model = dir.file("small.dnm");
  const auto t =
      dn("train --preset lenet --epochs 2 --max-train 600 --threads 2 --quiet -o " + model);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  // train: the curves next to the model, PNG and SVG.
  const Png curves = decode_png(read_file(dir.file("small.history.png")));
  EXPECT_GT(curves.width, 600);
  EXPECT_GT(curves.height, 300);
  const auto words = svg_texts(read_file(dir.file("small.history.svg")));
  EXPECT_TRUE(has(words, "Epoch"));
  EXPECT_TRUE(has(words, "Accuracy"));
  EXPECT_TRUE(has(words, "Loss (cross-entropy)"));
  EXPECT_NE(t.out.find("small.history.png"), std::string::npos) << t.out;

  // evaluate: confusion heat map and the mistakes.
  const auto e = dn("evaluate --model " + model);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const Png confusion = decode_png(read_file(dir.file("small.confusion.png")));
  EXPECT_GT(confusion.width, 400);
  const Png mistakes = decode_png(read_file(dir.file("small.mistakes.png")));
  EXPECT_GT(mistakes.width, 400);
  EXPECT_GT(dark_share(mistakes), 0.03) << "digits are drawn dark on white";
  EXPECT_LT(dark_share(mistakes), 0.5);

  // plot: two runs overlaid into one SVG, with the run names in the legend.
  std::filesystem::copy_file(dir.file("small.history.csv"), dir.file("other.history.csv"));
  const auto p = dn("plot " + dir.file("small.history.csv") + " " + dir.file("other.history.csv") +
                    " -o " + dir.file("both.svg"));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto both = svg_texts(read_file(dir.file("both.svg")));
  EXPECT_TRUE(has(both, "small:"));
  EXPECT_TRUE(has(both, "other:"));
  EXPECT_EQ(dn("plot " + dir.file("small.dnm") + " -o " + dir.file("x.gif")).exit_code, 1);

  // inspect: filters and feature maps of the first test digit.
  const auto i = dn("inspect --model " + model + " --index 3");
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_GT(decode_png(read_file(dir.file("small.filters.png"))).width, 200);
  EXPECT_GT(decode_png(read_file(dir.file("small.features.png"))).width, 400);
  EXPECT_EQ(dn("inspect --model " + model + " --index 10000").exit_code, 1);

  // report: one HTML file, its path printed.
  const auto r = dn("report " + model + " -o " + dir.file("r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(dir.file("r.html")), std::string::npos) << r.out;
  const std::string html = read_file(dir.file("r.html"));
  EXPECT_NE(html.find("<section id=\"mistakes\">"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
}

TEST(ReportCli, ShowDrawsAGridOfOneDigit) {
  TempDir dir;
  const auto s =
      dn("show --split train --count 12 --digit 1 --columns 4 -o " + dir.file("ones.png"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const Png png = decode_png(read_file(dir.file("ones.png")));
  EXPECT_GE(png.width, 4 * 28 * 3);
  EXPECT_GE(png.height, 3 * 28 * 3);
  EXPECT_GT(dark_share(png), 0.01);
  const auto a = dn("show --ascii --count 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("label 7"), std::string::npos) << "the first test digit is a 7";
  EXPECT_NE(a.out.find("\u2588"), std::string::npos);
  EXPECT_EQ(dn("show --digit 12").exit_code, 2);
}
