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

// An h x w image with ink in rows [r0, r1) and columns [c0, c1).
std::vector<uint8_t> rect_image(int h, int w, int r0, int r1, int c0, int c1) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w), 0);
  for (int r = r0; r < r1; ++r)
    for (int c = c0; c < c1; ++c) px[static_cast<size_t>(r * w + c)] = 255;
  return px;
}

DigitTile rect_tile(int h, int w, int r0, int r1, int c0, int c1, const std::string& caption) {
  DigitTile t;
  t.height = h;
  t.width = w;
  t.pixels = rect_image(h, w, r0, r1, c0, c1);
  t.caption = caption;
  return t;
}

// Dark pixels on the picture's outer two rows and columns: something (a cut-off
// label) runs over the edge.
int ink_at_border(const Png& p) {
  int n = 0;
  for (int y = 0; y < p.height; ++y)
    for (int x = 0; x < p.width; ++x)
      if ((x < 2 || y < 2 || x >= p.width - 2 || y >= p.height - 2) && p.grey(x, y) < 200) ++n;
  return n;
}

size_t count_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), s));
}

// Times the SVG's text layer draws a text upright.
size_t upright_texts(const std::string& svg) {
  size_t n = 0;
  for (size_t at = svg.find("transform=\"rotate(-90"); at != std::string::npos;
       at = svg.find("transform=\"rotate(-90", at + 1))
    ++n;
  return n;
}

const std::vector<std::string> kFashion = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                           "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                           "Bag",         "Ankle boot"};

// A k x k confusion matrix: class c has 20 + c samples, c % 4 of them called c + 1.
std::vector<std::vector<int64_t>> k_confusion(size_t k) {
  std::vector<std::vector<int64_t>> m(k, std::vector<int64_t>(k, 0));
  for (size_t c = 0; c < k; ++c) {
    const auto wrong = static_cast<int64_t>(c % 4);
    m[c][c] = 20 + static_cast<int64_t>(c) - wrong;
    m[c][(c + 1) % k] += wrong;
  }
  return m;
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

TEST(ReportDigits, SampleRowsTakeTheClassesInTurnWhenTheDataIsSorted) {
  Dataset d;
  d.image_shape = {1, 2, 2};
  const std::vector<uint8_t> px(4, 9);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 5; ++i) d.add(px, c);  // sorted by class: 0 0 0 0 0 1 1 ...
  EXPECT_EQ(sample_rows(d, 7), (std::vector<int64_t>{0, 5, 10, 1, 6, 11, 2}));
  EXPECT_EQ(sample_rows(d, 2), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(sample_rows(d, 3, 1), (std::vector<int64_t>{5, 6, 7}));
  // Mixed data keeps its order.
  Dataset m;
  m.image_shape = {1, 2, 2};
  for (int i = 0; i < 9; ++i) m.add(px, i % 3);
  EXPECT_EQ(sample_rows(m, 4), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(ReportDigits, GridDrawsImagesThatAreNot28x28) {
  // As above, for other sizes: the ink rectangle lands scaled and whole.
  struct Case {
    int h, w, r0, r1, c0, c1;
  };
  for (const Case c : {Case{32, 32, 0, 32, 4, 9}, Case{20, 24, 4, 14, 6, 20}}) {
    SCOPED_TRACE(std::to_string(c.h) + "x" + std::to_string(c.w));
    const int scale = 3;
    const Figure ink = digit_grid(
        {rect_tile(c.h, c.w, c.r0, c.r1, c.c0, c.c1, "a"), rect_tile(c.h, c.w, 0, 0, 0, 0, "b")},
        "t", 2, scale);
    const Figure blank =
        digit_grid({rect_tile(c.h, c.w, 0, 0, 0, 0, "a"), rect_tile(c.h, c.w, 0, 0, 0, 0, "b")},
                   "t", 2, scale);
    const Png a = decode_png(ink.png()), b = decode_png(blank.png());
    ASSERT_EQ(a.width, b.width);
    ASSERT_EQ(a.height, b.height);
    EXPECT_GE(a.width, 2 * c.w * scale);
    EXPECT_GE(a.height, c.h * scale);
    int x0 = a.width, x1 = -1, y0 = a.height, y1 = -1, darker = 0, differ = 0;
    for (int y = 0; y < a.height; ++y)
      for (int x = 0; x < a.width; ++x)
        if (a.px[static_cast<size_t>(y * a.width + x)] !=
            b.px[static_cast<size_t>(y * a.width + x)]) {
          ++differ;
          darker += a.grey(x, y) < b.grey(x, y) - 100;
          x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    EXPECT_EQ(x1 - x0 + 1, (c.c1 - c.c0) * scale);
    EXPECT_EQ(y1 - y0 + 1, (c.r1 - c.r0) * scale);
    EXPECT_EQ(differ, (c.c1 - c.c0) * scale * (c.r1 - c.r0) * scale);
    EXPECT_EQ(darker, differ);
    EXPECT_LT(x1, a.width / 2) << "in the first tile";
    EXPECT_EQ(ink_at_border(a), 0);
    // Two pixel rows a line, every line as wide as the image.
    const std::string art = ascii_digit(rect_tile(c.h, c.w, c.r0, c.r1, c.c0, c.c1, "a"));
    size_t lines = 0;
    for (size_t at = art.find('\n'); at != std::string::npos; at = art.find('\n', at + 1)) ++lines;
    EXPECT_EQ(lines, 1 + static_cast<size_t>((c.h + 1) / 2));
  }
}

TEST(ReportDigits, TilesAreCaptionedWithTheClassNames) {
  Dataset d;
  d.image_shape = {1, 20, 24};
  d.class_names = {"T-shirt/top", "Trouser", "Ankle boot"};
  for (int i = 0; i < 7; ++i) d.add(rect_image(20, 24, 2, 4 + 2 * i, 3, 20), i % 3);
  EXPECT_EQ(digit_tile(d, 1).caption, "Trouser");
  EXPECT_EQ(digit_tile(d, 1).height, 20);
  EXPECT_EQ(digit_tile(d, 1).width, 24);
  const auto boots = sample_tiles(d, 10, 2);  // filtered by class index
  ASSERT_EQ(boots.size(), 2u);
  EXPECT_EQ(boots[0].caption, "Ankle boot");
  EXPECT_EQ(boots[1].pixels, digit_tile(d, 5).pixels);
  EXPECT_NE(ascii_digit(boots[0]).find("label Ankle boot"), std::string::npos);

  const Figure f = digit_grid(sample_tiles(d, 7), "Fashion test: first 7 images");
  EXPECT_EQ(count_of(f.texts(), "T-shirt/top"), 3u);
  EXPECT_EQ(count_of(f.texts(), "Trouser"), 2u);
  EXPECT_EQ(count_of(f.texts(), "Ankle boot"), 2u);
  const auto svg = svg_texts(f.svg());
  EXPECT_TRUE(contains(svg, "Ankle boot"));
  EXPECT_EQ(ink_at_border(decode_png(f.png())), 0);

  // A caption too long for any cell is cut with an ellipsis and stays inside.
  const std::string long_name(120, 'x');
  const Figure cut = digit_grid(
      {rect_tile(20, 24, 2, 8, 2, 8, long_name), rect_tile(20, 24, 2, 8, 2, 8, "Bag")}, "cut");
  EXPECT_FALSE(contains(cut.texts(), long_name));
  EXPECT_TRUE(contains_substr(cut.texts(), "xxxx\u2026"));
  EXPECT_TRUE(contains(cut.texts(), "Bag"));
  EXPECT_LT(cut.width(), 600);
  EXPECT_EQ(ink_at_border(decode_png(cut.png())), 0);

  // Without names the captions are the labels' numbers.
  d.class_names.clear();
  EXPECT_EQ(digit_tile(d, 2).caption, "2");
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

TEST(ReportConfusion, AxesNamedByTheClassNames) {
  std::vector<std::vector<int64_t>> m(3, std::vector<int64_t>(3, 0));
  m[0][0] = 50, m[1][1] = 40, m[2][2] = 30, m[2][1] = 7;
  // Numbers without names: each class number twice (row and column label).
  const Figure numbered = confusion_figure(m);
  EXPECT_EQ(count_of(numbered.texts(), "1"), 2u);
  EXPECT_EQ(count_of(numbered.texts(), "2"), 2u);
  EXPECT_EQ(upright_texts(numbered.svg()), 1u) << "only the axis title 'True label'";

  // Names wider than a cell: the column labels are turned upright.
  const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Ankle boot"};
  const Figure named = confusion_figure(m, "Confusion matrix", names);
  for (const auto& n : names) EXPECT_EQ(count_of(named.texts(), n), 2u) << n;
  EXPECT_EQ(count_of(named.texts(), "1"), 0u);
  EXPECT_EQ(count_of(named.texts(), "2"), 0u);
  for (const char* s : {"50", "40", "30", "7", "Predicted label", "True label"})
    EXPECT_TRUE(contains(named.texts(), s)) << s;
  const std::string svg = named.svg();
  EXPECT_EQ(upright_texts(svg), 1u + names.size());
  for (const auto& n : names) EXPECT_TRUE(contains(svg_texts(svg), n)) << n;
  const Png png = decode_png(named.png());
  EXPECT_EQ(png.width, named.width());
  EXPECT_EQ(ink_at_border(png), 0) << "the labels fit";
  EXPECT_GT(named.height(), numbered.height()) << "room under the matrix for upright labels";
  EXPECT_GT(named.width(), numbered.width()) << "room left of the matrix for the row labels";

  // Names as short as numbers stay level.
  const Figure level = confusion_figure(m, "Confusion matrix", {"a", "b", "c"});
  EXPECT_EQ(upright_texts(level.svg()), 1u);
  EXPECT_EQ(count_of(level.texts(), "b"), 2u);
  EXPECT_EQ(ink_at_border(decode_png(level.png())), 0);
}

TEST(ReportConfusion, AnyNumberOfClassesAndLongNames) {
  // Twelve named classes, one with a name too long for any margin.
  std::vector<std::string> names = kFashion;
  names.push_back("Handbag");
  names.push_back("A class whose name goes on and on well past any sensible label width");
  const Figure f12 = confusion_figure(k_confusion(12), "Confusion matrix", names);
  for (size_t c = 0; c < 11; ++c) EXPECT_EQ(count_of(f12.texts(), names[c]), 2u) << names[c];
  EXPECT_FALSE(contains(f12.texts(), names[11]));
  EXPECT_EQ(std::count_if(f12.texts().begin(), f12.texts().end(),
                          [](const std::string& t) { return t.rfind("A class whose", 0) == 0; }),
            2);
  EXPECT_TRUE(contains(f12.texts(), "28")) << "counts are drawn: class 11 has 31, 3 wrong";
  EXPECT_EQ(ink_at_border(decode_png(f12.png())), 0);
  EXPECT_LT(f12.width(), 12 * 46 + 400);

  // Two hundred classes: smaller cells, every name, a picture of sane size.
  std::vector<std::string> many;
  for (int c = 0; c < 200; ++c) many.push_back("class-" + std::to_string(c));
  const Figure f200 = confusion_figure(k_confusion(200), "Confusion matrix", many);
  EXPECT_EQ(count_of(f200.texts(), "class-0"), 2u);
  EXPECT_EQ(count_of(f200.texts(), "class-199"), 2u);
  EXPECT_LT(f200.width(), 4000);
  EXPECT_LT(f200.height(), 4000);
  const Png png = decode_png(f200.png());
  EXPECT_EQ(png.height, f200.height());
  EXPECT_EQ(ink_at_border(png), 0);
  // Two classes, numbered.
  const Figure f2 = confusion_figure(k_confusion(2));
  EXPECT_TRUE(contains(f2.texts(), "0"));
  EXPECT_TRUE(contains(f2.texts(), "1"));
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

TEST(ReportMistakes, CaptionsUseTheClassNames) {
  Tensor p({3, 3});
  const float rows[3][3] = {{0.1f, 0.8f, 0.1f}, {0.6f, 0.3f, 0.1f}, {0.2f, 0.2f, 0.6f}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) p[i * 3 + j] = rows[i][j];
  const auto m = find_mistakes(p, {0, 0, 1});  // rows 0 and 2 are wrong
  ASSERT_EQ(m.size(), 2u);
  Dataset d;
  d.image_shape = {1, 20, 24};
  d.class_names = {"Shirt", "Coat", "Ankle boot"};
  for (int label : {0, 0, 1}) d.add(rect_image(20, 24, 3, 17, 4, 20), label);
  const Figure f = mistakes_figure(d, m);
  EXPECT_TRUE(contains(f.texts(), "Shirt\u2192Coat 80%"));
  EXPECT_TRUE(contains(f.texts(), "Coat\u2192Ankle boot 60%"));
  EXPECT_FALSE(contains_substr(f.texts(), "digit"));
  EXPECT_EQ(ink_at_border(decode_png(f.png())), 0);
  // Names too long for one line: "true→" over "predicted 60%", the confidence kept.
  d.class_names[2] = "A very long name for a class of boots, longer than any cell";
  const Figure two = mistakes_figure(d, m);
  EXPECT_TRUE(contains(two.texts(), "Shirt\u2192Coat 80%"));
  EXPECT_TRUE(contains(two.texts(), "Coat\u2192"));
  EXPECT_TRUE(std::any_of(two.texts().begin(), two.texts().end(), [](const std::string& t) {
    return t.rfind("A very long", 0) == 0 && t.ends_with("\u2026 60%");
  }));
  EXPECT_EQ(ink_at_border(decode_png(two.png())), 0);
  // A model's names win over the data's.
  const Figure g = mistakes_figure(d, m, 36, {"a", "b", "c"});
  EXPECT_TRUE(contains(g.texts(), "a\u2192b 80%"));
  // No mistakes: said in words.
  EXPECT_TRUE(contains(mistakes_figure(d, {}).texts(), "No misclassified images."));
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

TEST(ReportNetwork, FiltersAndFeatureMapsOfImagesThatAreNot28x28) {
  for (const Shape& in : {Shape{1, 32, 32}, Shape{1, 20, 24}}) {
    SCOPED_TRACE(shape_str(in));
    Sequential model(in, 5, 1);
    model.add(Conv2D(3, 3, relu));
    model.add(MaxPooling2D(2));
    model.add(Flatten());
    model.add(Dense(4, softmax));
    const auto kernel = first_conv_kernel(model);
    ASSERT_TRUE(kernel);
    const Figure filters = filters_figure(*kernel);
    EXPECT_EQ(decode_png(filters.png()).width, filters.width());
    Dataset d;
    d.image_shape = in;
    d.class_names = {"w", "x", "y", "z"};
    d.add(rect_image(static_cast<int>(in[1]), static_cast<int>(in[2]), 2, 12, 3, 15), 1);
    const Tensor image = d.images(0, 1);
    const auto maps = feature_maps(model, image);
    ASSERT_EQ(maps.size(), 2u);
    EXPECT_EQ(maps[0].maps.shape(), (Shape{3, in[1] - 2, in[2] - 2}));
    EXPECT_EQ(maps[1].maps.shape(), (Shape{3, (in[1] - 2) / 2, (in[2] - 2) / 2}));
    const Figure fm = feature_maps_figure(image, maps);
    EXPECT_TRUE(
        contains(fm.texts(), "input " + std::to_string(in[1]) + "x" + std::to_string(in[2])));
    EXPECT_FALSE(contains_substr(fm.texts(), "digit"));
    const Png png = decode_png(fm.png());
    EXPECT_EQ(png.width, fm.width());
    EXPECT_EQ(ink_at_border(png), 0);
    // A mistake on the image (whatever the untrained model says, the label is
    // another class) draws the image at its size.
    const Tensor probs = model.predict(d, 0, 1);
    const auto best =
        static_cast<int>(std::max_element(probs.data(), probs.data() + 4) - probs.data());
    const auto mistakes = find_mistakes(probs, {(best + 1) % 4});
    ASSERT_EQ(mistakes.size(), 1u);
    const Figure mf = mistakes_figure(d, mistakes);
    EXPECT_TRUE(contains_substr(mf.texts(), d.class_names[static_cast<size_t>((best + 1) % 4)] +
                                                "\u2192" +
                                                d.class_names[static_cast<size_t>(best)]));
    const Png mp = decode_png(mf.png());
    EXPECT_EQ(mp.width, mf.width());
    EXPECT_EQ(ink_at_border(mp), 0);
  }
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
