// Pictures: what is drawn, read back from the PNG pixels and the SVG's XML.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "digitnet/digitnet.hpp"
#include "picture_check.hpp"

using namespace digitnet;
using digitnet::testing::decode_png;
using digitnet::testing::Png;
using digitnet::testing::svg_texts;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool contains_substr(const std::vector<std::string>& v, const std::string& s) {
  return std::any_of(v.begin(), v.end(),
                     [&](const std::string& t) { return t.find(s) != std::string::npos; });
}

DigitTile square_tile(int lo, int hi, const std::string& caption) {
  DigitTile t;
  t.pixels.assign(28 * 28, 0);
  for (int r = lo; r < hi; ++r)
    for (int c = lo; c < hi; ++c) t.pixels[static_cast<size_t>(r * 28 + c)] = 255;
  t.caption = caption;
  return t;
}

History make_history(const std::vector<double>& loss, const std::vector<double>& val_loss) {
  History h;
  for (size_t i = 0; i < loss.size(); ++i) {
    std::map<std::string, double> e = {
        {"epoch", static_cast<double>(i + 1)}, {"loss", loss[i]}, {"accuracy", 1.0 - loss[i] / 4}};
    if (i < val_loss.size()) {
      e["val_loss"] = val_loss[i];
      e["val_accuracy"] = 1.0 - val_loss[i] / 4;
    }
    h.epochs.push_back(e);
  }
  return h;
}

}  // namespace

TEST(ReportDigits, GridDrawsInkDarkWhereTheDigitIs) {
  // Two grids with the same layout: one tile holds a 12x12 ink square, the
  // other is blank. The pixels that differ are the square, scaled, and darker.
  const int scale = 4;
  const Figure ink = digit_grid({square_tile(8, 20, "1"), square_tile(0, 0, "2")}, "t", 2, scale);
  const Figure blank = digit_grid({square_tile(0, 0, "1"), square_tile(0, 0, "2")}, "t", 2, scale);
  const Png a = decode_png(ink.png()), b = decode_png(blank.png());
  ASSERT_EQ(a.width, ink.width());
  ASSERT_EQ(a.height, ink.height());
  ASSERT_EQ(b.width, a.width);
  EXPECT_GE(a.width, 2 * 28 * scale);
  EXPECT_GE(a.height, 28 * scale);
  int x0 = a.width, x1 = -1, y0 = a.height, y1 = -1, darker = 0, differ = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x)
      if (a.px[static_cast<size_t>(y * a.width + x)] !=
          b.px[static_cast<size_t>(y * a.width + x)]) {
        ++differ;
        darker += a.grey(x, y) < b.grey(x, y) - 100;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  EXPECT_EQ(x1 - x0 + 1, 12 * scale);
  EXPECT_EQ(y1 - y0 + 1, 12 * scale);
  EXPECT_EQ(differ, 12 * scale * 12 * scale);
  EXPECT_EQ(darker, differ) << "every pixel of the square is darker than the background";
  EXPECT_GT(a.grey(x0 - 2, y0 - 2), 200) << "the background around the digit is light";
  // The square is in the first (left) tile.
  EXPECT_LT(x1, a.width / 2);
  EXPECT_TRUE(contains(ink.texts(), "1"));
  EXPECT_TRUE(contains(ink.texts(), "2"));
}

TEST(ReportDigits, SampleTilesFilterByDigitAndAsciiShowsInk) {
  Dataset d;
  d.image_shape = {1, 28, 28};
  d.num_classes = 10;
  for (int i = 0; i < 6; ++i) {
    const DigitTile t = square_tile(10, 10 + 2 * (i + 1), "");
    d.add(t.pixels, i % 3);
  }
  const auto twos = sample_tiles(d, 10, 2);
  ASSERT_EQ(twos.size(), 2u);
  EXPECT_EQ(twos[0].caption, "2");
  EXPECT_EQ(twos[0].pixels, digit_tile(d, 2).pixels);
  EXPECT_EQ(sample_tiles(d, 4).size(), 4u);
  const std::string a = ascii_digit(digit_tile(d, 0));  // ink rows 10..11, cols 10..11
  EXPECT_NE(a.find("label 0"), std::string::npos);
  EXPECT_NE(a.find("\u2588\u2588"), std::string::npos) << a;
  EXPECT_THROW(digit_tile(d, 6), Error);
}

TEST(ReportHistory, OverfittingFromTheEpochAfterTheBestValidationLoss) {
  // Validation loss is best at epoch 3 and then rises; training loss keeps falling.
  const History over =
      make_history({1.0, 0.6, 0.4, 0.3, 0.2, 0.1}, {0.8, 0.6, 0.5, 0.55, 0.6, 0.7});
  EXPECT_EQ(overfitting_epoch(over), 4);
  EXPECT_EQ(best_epoch(over), 3);
  EXPECT_NE(overfitting_note(over).find("overfitting from epoch 4"), std::string::npos);
  // Both falling: no overfitting.
  const History good = make_history({1.0, 0.6, 0.4, 0.3}, {0.8, 0.6, 0.5, 0.45});
  EXPECT_FALSE(overfitting_epoch(good));
  EXPECT_EQ(overfitting_note(good), "");
  // Validation loss up but training loss up too: not overfitting (e.g. too high a rate).
  EXPECT_FALSE(overfitting_epoch(make_history({0.5, 0.4, 0.6, 0.7}, {0.5, 0.4, 0.6, 0.8})));
  // A wiggle below the tolerance, or a dip back to the best, is not a turn.
  EXPECT_FALSE(overfitting_epoch(make_history({1.0, 0.6, 0.4, 0.3}, {0.8, 0.5, 0.501, 0.502})));
  EXPECT_FALSE(overfitting_epoch(make_history({1.0, 0.6, 0.4, 0.3}, {0.8, 0.5, 0.7, 0.5})));
  // One higher epoch at the end is not yet a turn; two are.
  EXPECT_FALSE(overfitting_epoch(make_history({1.0, 0.6, 0.4, 0.3}, {0.8, 0.6, 0.5, 0.6})));
  EXPECT_EQ(overfitting_epoch(make_history({1.0, 0.6, 0.4, 0.3}, {0.8, 0.5, 0.6, 0.62})), 3);
  // No validation.
  EXPECT_FALSE(overfitting_epoch(make_history({1.0, 0.6, 0.4}, {})));
  EXPECT_EQ(best_epoch(make_history({1.0, 0.6, 0.7}, {})), 2);
}

TEST(ReportHistory, PngAndSvgShowAxesLegendAndTheOverfittingNote) {
  const History over =
      make_history({1.0, 0.6, 0.4, 0.3, 0.2, 0.1}, {0.8, 0.6, 0.5, 0.55, 0.6, 0.7});
  const Figure f = history_figure({{"cnn", over}}, "Training history: cnn");
  const Png png = decode_png(f.png());
  EXPECT_EQ(png.width, f.width());
  EXPECT_EQ(png.height, f.height());
  EXPECT_GT(png.width, 600);
  EXPECT_EQ(png.grey(1, 1), 255) << "white background";
  // The curves are drawn in colour (not only grey axes and black text).
  int coloured = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) coloured += std::abs(png.r(x, y) - png.b(x, y)) > 60;
  EXPECT_GT(coloured, 500);

  const std::vector<std::string> t = svg_texts(f.svg());
  EXPECT_TRUE(contains(t, "Epoch"));
  EXPECT_TRUE(contains(t, "Accuracy"));
  EXPECT_TRUE(contains(t, "Loss (cross-entropy)"));
  EXPECT_TRUE(contains(t, "training"));
  EXPECT_TRUE(contains(t, "validation"));
  EXPECT_TRUE(contains(t, "Training history: cnn"));
  EXPECT_TRUE(contains_substr(t, "best epoch 3"));
  EXPECT_TRUE(contains_substr(t, "overfitting from epoch 4"));

  const History good = make_history({1.0, 0.6, 0.4}, {0.8, 0.6, 0.5});
  EXPECT_FALSE(contains_substr(svg_texts(history_figure({{"a", good}}).svg()), "overfitting"));
  const std::string pdf = f.pdf();
  EXPECT_EQ(pdf.substr(0, 5), "%PDF-");
}

TEST(ReportHistory, OverlaysRunsInDifferentColours) {
  const History a = make_history({1.0, 0.6, 0.4}, {0.8, 0.6, 0.5});
  const History b = make_history({0.9, 0.5, 0.3, 0.2}, {0.7, 0.5, 0.45, 0.44});
  const Figure one = history_figure({{"kernel3", a}});
  const Figure two = history_figure({{"kernel3", a}, {"kernel5", b}});
  const auto t = svg_texts(two.svg());
  EXPECT_TRUE(contains(t, "kernel3:"));
  EXPECT_TRUE(contains(t, "kernel5:"));
  // The second run adds pixels of a second hue (orange: red well above blue).
  auto orange = [](const Png& p) {
    int n = 0;
    for (int y = 0; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x) n += p.r(x, y) > 200 && p.b(x, y) < 100 && p.g(x, y) > 80;
    return n;
  };
  EXPECT_EQ(orange(decode_png(one.png())), 0);
  EXPECT_GT(orange(decode_png(two.png())), 200);
  EXPECT_THROW(history_figure({}), Error);
}

TEST(ReportConfusion, HeatMapHasCountsAndDarkerDiagonal) {
  std::vector<std::vector<int64_t>> m(3, std::vector<int64_t>(3, 0));
  m[0][0] = 50, m[1][1] = 40, m[2][2] = 30, m[2][1] = 7;
  const Figure f = confusion_figure(m);
  const auto t = svg_texts(f.svg());
  for (const char* s : {"50", "40", "30", "7", "Predicted label", "True label"})
    EXPECT_TRUE(contains(t, s)) << s;
  // Same matrix without the diagonal: the diagonal cells become light, so the
  // first picture has many more dark pixels.
  std::vector<std::vector<int64_t>> off = m;
  off[0][0] = off[1][1] = off[2][2] = 0;
  auto dark = [](const Png& p) {
    int n = 0;
    for (int y = 0; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x) n += p.b(x, y) > 90 && p.r(x, y) < 80;
    return n;
  };
  const Png full = decode_png(f.png()), light = decode_png(confusion_figure(off).png());
  EXPECT_EQ(full.width, f.width());
  EXPECT_GT(dark(full), dark(light) + 3 * 30 * 30);
  EXPECT_THROW(confusion_figure({{1, 2}}), Error);
}

TEST(ReportMistakes, MostConfidentFirst) {
  Tensor p({4, 3});
  const float rows[4][3] = {
      {0.1f, 0.8f, 0.1f}, {0.6f, 0.3f, 0.1f}, {0.2f, 0.2f, 0.6f}, {0.05f, 0.05f, 0.9f}};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) p[i * 3 + j] = rows[i][j];
  const auto m = find_mistakes(p, {0, 0, 1, 2});  // rows 0 and 2 are wrong
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].index, 0);
  EXPECT_EQ(m[0].predicted, 1);
  EXPECT_FLOAT_EQ(m[0].confidence, 0.8f);
  EXPECT_EQ(m[1].index, 2);
  EXPECT_EQ(m[1].label, 1);
  EXPECT_THROW(find_mistakes(p, {0, 1}), Error);

  Dataset d;
  d.image_shape = {1, 28, 28};
  d.num_classes = 3;
  for (int label : {0, 0, 1, 2}) d.add(square_tile(5, 20, "").pixels, label);
  const Figure f = mistakes_figure(d, m);
  EXPECT_TRUE(contains(f.texts(), "0\u21921 80%"));
  EXPECT_TRUE(contains(f.texts(), "1\u21922 60%"));
  // Captions are in order: the most confident first.
  const auto& tx = f.texts();
  EXPECT_LT(std::find(tx.begin(), tx.end(), "0\u21921 80%"),
            std::find(tx.begin(), tx.end(), "1\u21922 60%"));
}

TEST(ReportNetwork, FiltersRedPositiveBlueNegativeAndFeatureMapsPerLayer) {
  Sequential model({1, 8, 8}, 3, 1);
  model.add(Conv2D(2, 3, relu));
  model.add(MaxPooling2D(2));
  model.add(Dropout(0.5f));
  model.add(Flatten());
  model.add(Dense(3, softmax));
  auto kernel = first_conv_kernel(model);
  ASSERT_TRUE(kernel);
  ASSERT_EQ(kernel->shape(), (Shape{2, 1, 3, 3}));
  for (int i = 0; i < 9; ++i) (*kernel)[i] = 1.0f, (*kernel)[9 + i] = -1.0f;
  const Png png = decode_png(filters_figure(*kernel).png());
  int red = 0, blue = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) {
      red += png.r(x, y) > 200 && png.b(x, y) < 80;
      blue += png.b(x, y) > 200 && png.r(x, y) < 80;
    }
  EXPECT_GT(red, 9 * 16);
  EXPECT_GT(blue, 9 * 16);

  Tensor image({1, 1, 8, 8});
  for (int i = 0; i < 64; ++i) image[i] = static_cast<float>(i % 8) / 8.0f;
  const auto maps = feature_maps(model, image);
  ASSERT_EQ(maps.size(), 2u) << "conv and pooling; dropout is skipped, flatten is not an image";
  EXPECT_EQ(maps[0].maps.shape(), (Shape{2, 6, 6}));
  EXPECT_EQ(maps[1].maps.shape(), (Shape{2, 3, 3}));
  EXPECT_NE(maps[0].layer.find("Conv2D"), std::string::npos);
  // Pooling of the conv maps: each pooled value is the max of its 2x2 window.
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) {
        float mx = -1e9f;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx)
            mx = std::max(mx, maps[0].maps[c * 36 + (2 * y + dy) * 6 + 2 * x + dx]);
        EXPECT_FLOAT_EQ(maps[1].maps[c * 9 + y * 3 + x], mx);
      }
  const Figure fm = feature_maps_figure(image, maps);
  EXPECT_EQ(decode_png(fm.png()).width, fm.width());
  EXPECT_THROW(feature_maps(model, Tensor({1, 1, 4, 4})), Error);
}

TEST(ReportFigure, SaveChoosesTheFormatByExtension) {
  const Figure f = digit_grid({square_tile(8, 20, "3")}, "one");
  const std::string dir = ::testing::TempDir();
  f.save(dir + "/one.svg");
  f.save(dir + "/one.png");
  EXPECT_THROW(f.save(dir + "/one.gif"), Error);
  EXPECT_EQ(f.png().substr(1, 3), "PNG");
  EXPECT_TRUE(contains(svg_texts(f.svg()), "one"));
}
