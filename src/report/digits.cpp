// Image grids, mistakes, first-convolution filters and feature maps.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "digitnet/core/error.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/model/sequential.hpp"
#include "report/canvas.hpp"

namespace digitnet {

using report_detail::Canvas;

namespace {

constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrey{0.4, 0.4, 0.4};
constexpr Rgb kRed{0.80, 0.10, 0.10};

int near_square_columns(size_t n) {
  int c = 1;
  while (static_cast<size_t>(c) * static_cast<size_t>(c) < n) ++c;
  return c;
}

// Diverging blue-white-red for v in [-1, 1].
void diverging(double v, uint8_t* rgb) {
  v = std::clamp(v, -1.0, 1.0);
  const double t = std::abs(v);
  const double r = v >= 0 ? 1.0 : 1.0 - 0.85 * t;
  const double g = 1.0 - 0.85 * t;
  const double b = v >= 0 ? 1.0 - 0.85 * t : 1.0;
  rgb[0] = static_cast<uint8_t>(std::lround(255 * r));
  rgb[1] = static_cast<uint8_t>(std::lround(255 * g));
  rgb[2] = static_cast<uint8_t>(std::lround(255 * b));
}

// Caption size for images drawn `scale` screen pixels per pixel.
double caption_size(int scale) { return std::max(11.0, 4.0 * scale); }

// Cells widen for long captions (class names) up to this width; longer caption
// lines are cut.
double caption_limit(int tile_px) { return std::max(tile_px, 150); }

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t nl = s.find('\n'); nl != std::string::npos; at = nl + 1, nl = s.find('\n', at))
    out.push_back(s.substr(at, nl - at));
  out.push_back(s.substr(at));
  return out;
}

}  // namespace

DigitTile digit_tile(const Dataset& data, int64_t i) {
  if (i < 0 || i >= data.size())
    throw Error("image " + std::to_string(i) + " is outside the dataset (0.." +
                std::to_string(data.size()) + ")");
  if (data.image_shape.size() != 3 || data.image_shape[0] != 1)
    throw Error("image tiles need single-channel images, got " + shape_str(data.image_shape));
  DigitTile t;
  t.height = static_cast<int>(data.image_shape[1]);
  t.width = static_cast<int>(data.image_shape[2]);
  t.pixels = data.image(i);
  t.caption = data.class_name(data.labels[static_cast<size_t>(i)]);
  return t;
}

std::vector<int64_t> sample_rows(const Dataset& data, int count, int label) {
  const auto n = static_cast<size_t>(std::max(count, 0));
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < data.size() && rows.size() < n; ++i)
    if (label < 0 || data.labels[static_cast<size_t>(i)] == label) rows.push_back(i);
  if (label >= 0) return rows;
  // The classes in turn: each class's first row, then each one's second, ...
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(std::max(data.num_classes, 0)));
  for (int64_t i = 0; i < data.size(); ++i) {
    const auto c = static_cast<size_t>(data.labels[static_cast<size_t>(i)]);
    if (c < by_class.size() && by_class[c].size() < n) by_class[c].push_back(i);
  }
  std::vector<int64_t> turns;
  for (size_t k = 0; turns.size() < n; ++k) {
    const size_t before = turns.size();
    for (const auto& v : by_class)
      if (k < v.size() && turns.size() < n) turns.push_back(v[k]);
    if (turns.size() == before) break;
  }
  auto classes_shown = [&](const std::vector<int64_t>& r) {
    std::set<int32_t> shown;
    for (int64_t i : r) shown.insert(data.labels[static_cast<size_t>(i)]);
    return shown.size();
  };
  // A data set sorted by class (an image folder) would show one class otherwise.
  return classes_shown(turns) > classes_shown(rows) ? turns : rows;
}

std::vector<DigitTile> sample_tiles(const Dataset& data, int count, int label) {
  std::vector<DigitTile> out;
  for (int64_t i : sample_rows(data, count, label)) out.push_back(digit_tile(data, i));
  return out;
}

Figure digit_grid(const std::vector<DigitTile>& tiles, const std::string& title, int columns,
                  int scale) {
  if (tiles.empty()) throw Error("image grid '" + title + "': no images to draw");
  if (scale < 1 || scale > 32) throw Error("image grid: scale must be 1..32");
  const int cols = columns > 0 ? std::min<int>(columns, static_cast<int>(tiles.size()))
                               : near_square_columns(tiles.size());
  const int rows =
      static_cast<int>((tiles.size() + static_cast<size_t>(cols) - 1) / static_cast<size_t>(cols));
  int tw = 0, th = 0;
  for (const auto& t : tiles) {
    if (t.pixels.size() != static_cast<size_t>(t.width) * static_cast<size_t>(t.height))
      throw Error("image grid: a tile's pixels do not match its size");
    tw = std::max(tw, t.width);
    th = std::max(th, t.height);
  }
  const double text_size = caption_size(scale);
  report_detail::TextMeasure measure;
  const double max_caption = caption_limit(tw * scale);
  std::vector<std::vector<std::string>> captions;
  double caption_w = 0;
  size_t caption_lines = 1;
  for (const auto& t : tiles) {
    captions.push_back(split_lines(t.caption));
    for (auto& line : captions.back()) {
      line = measure.fit(line, text_size, max_caption, t.highlight);
      caption_w = std::max(caption_w, measure.width(line, text_size, t.highlight));
    }
    caption_lines = std::max(caption_lines, captions.back().size());
  }
  const int cell_w = std::max({tw * scale, 40, static_cast<int>(std::ceil(caption_w)) + 6}) + 8;
  const int line_h = static_cast<int>(text_size) + 2;
  const int cell_h = th * scale + static_cast<int>(caption_lines) * line_h + 10;
  const int top = 40, pad = 10;
  const int title_w = static_cast<int>(std::ceil(measure.width(title, 16, true)));
  const int width = std::max({pad * 2 + cols * cell_w, 260, title_w + 2 * pad});
  const int height = top + rows * cell_h + pad;
  Canvas cv(width, height, title);
  cv.text(title, width / 2.0, 26, 16, 0.5, kBlack, true);
  for (size_t k = 0; k < tiles.size(); ++k) {
    const auto& t = tiles[k];
    const int col = static_cast<int>(k % static_cast<size_t>(cols));
    const int row = static_cast<int>(k / static_cast<size_t>(cols));
    const double x = pad + col * cell_w + (cell_w - t.width * scale) / 2.0;
    const double y = top + row * cell_h;
    cv.image(report_detail::ink_to_rgb(t.pixels.data(), t.width * t.height), t.width, t.height, x,
             y, scale);
    cv.stroke_rect(x - 0.5, y - 0.5, t.width * scale + 1, t.height * scale + 1, {0.8, 0.8, 0.8});
    for (size_t l = 0; l < captions[k].size(); ++l)
      cv.text(captions[k][l], pad + col * cell_w + cell_w / 2.0,
              y + t.height * scale + static_cast<double>(l + 1) * line_h, text_size, 0.5,
              t.highlight ? kRed : kBlack, t.highlight);
  }
  return cv.finish();
}

std::string ascii_digit(const DigitTile& tile) {
  // Upper/lower half blocks: each character shows two pixel rows.
  auto ink = [&](int r, int c) {
    return r < tile.height && tile.pixels[static_cast<size_t>(r * tile.width + c)] >= 96;
  };
  std::string out = "label " + tile.caption + "\n";
  for (int r = 0; r < tile.height; r += 2) {
    for (int c = 0; c < tile.width; ++c) {
      const bool top = ink(r, c), bottom = ink(r + 1, c);
      out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
    }
    out += "\n";
  }
  return out;
}

std::vector<Mistake> find_mistakes(const Tensor& probs, const std::vector<int32_t>& labels) {
  if (probs.rank() != 2 || probs.dim(0) != static_cast<int64_t>(labels.size()))
    throw Error("find_mistakes: probabilities " + shape_str(probs.shape()) + " do not match " +
                std::to_string(labels.size()) + " labels");
  const int64_t k = probs.dim(1);
  std::vector<Mistake> out;
  for (int64_t i = 0; i < probs.dim(0); ++i) {
    const float* row = probs.data() + i * k;
    const auto best = static_cast<int>(std::max_element(row, row + k) - row);
    if (best != labels[static_cast<size_t>(i)])
      out.push_back({i, labels[static_cast<size_t>(i)], best, row[best]});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Mistake& a, const Mistake& b) { return a.confidence > b.confidence; });
  return out;
}

Figure mistakes_figure(const Dataset& data, const std::vector<Mistake>& mistakes, int count,
                       const std::vector<std::string>& class_names) {
  const std::vector<std::string>& names = class_names.empty() ? data.class_names : class_names;
  constexpr int kScale = 3;
  const double size = caption_size(kScale);
  report_detail::TextMeasure measure;
  std::vector<DigitTile> tiles;
  for (const auto& m : mistakes) {
    if (static_cast<int>(tiles.size()) >= count) break;
    DigitTile t = digit_tile(data, m.index);
    char buf[16];
    std::snprintf(buf, sizeof buf, " %.0f%%", 100.0 * m.confidence);
    const std::string truth = class_name(names, m.label) + "\u2192";
    const std::string predicted = class_name(names, m.predicted);
    t.caption = truth + predicted + buf;
    // Too wide for one line: "true→" over "predicted 98%", the names cut so that
    // the arrow and the confidence stay.
    const double limit = caption_limit(t.width * kScale);
    if (measure.width(t.caption, size, true) > limit)
      t.caption = measure.fit(class_name(names, m.label), size,
                              limit - measure.width("\u2192", size, true), true) +
                  "\u2192\n" +
                  measure.fit(predicted, size, limit - measure.width(buf, size, true), true) + buf;
    t.highlight = true;
    tiles.push_back(std::move(t));
  }
  const std::string title = "Misclassified: " + std::to_string(mistakes.size()) +
                            " (true\u2192predicted, confidence; most confident first)";
  if (tiles.empty()) {
    Canvas cv(520, 80, title);
    cv.text("No misclassified images.", 260, 48, 16, 0.5, kBlack, true);
    return cv.finish();
  }
  return digit_grid(tiles, title, std::min<int>(static_cast<int>(tiles.size()), 9), kScale);
}

std::optional<Tensor> first_conv_kernel(const Sequential& model) {
  for (Layer* l : model.layers()) {
    if (l->type() != "Conv2D") continue;
    for (Param* p : l->params())
      if (p->name == "kernel") return p->value;
  }
  return std::nullopt;
}

Figure filters_figure(const Tensor& kernel, const std::string& title) {
  if (kernel.rank() != 4)
    throw Error("filters: expected a kernel (filters, channels, h, w), got " +
                shape_str(kernel.shape()));
  const int f = static_cast<int>(kernel.dim(0));
  const int kh = static_cast<int>(kernel.dim(2)), kw = static_cast<int>(kernel.dim(3));
  float amax = 1e-12f;
  for (int64_t i = 0; i < kernel.size(); ++i) amax = std::max(amax, std::abs(kernel[i]));
  const int scale = std::max(4, 48 / std::max(kh, kw));
  const int cols = std::min(f, 8);
  const int rows = (f + cols - 1) / cols;
  const int cell_w = std::max(kw * scale, 36) + 12, cell_h = kh * scale + 24;
  const int top = 46, pad = 12;
  const int width = std::max(pad * 2 + cols * cell_w, 420);
  const int height = top + rows * cell_h + 30;
  Canvas cv(width, height, title);
  cv.text(title, width / 2.0, 24, 16, 0.5, kBlack, true);
  char note[160];
  std::snprintf(
      note, sizeof note,
      "%d filters %dx%d, input channel 1 of %lld; blue negative, red positive, |w| up to %.3f", f,
      kh, kw, static_cast<long long>(kernel.dim(1)), static_cast<double>(amax));
  cv.text(note, width / 2.0, 40, 11, 0.5, kGrey);
  const int64_t per_filter = kernel.size() / kernel.dim(0);
  for (int i = 0; i < f; ++i) {
    std::vector<uint8_t> rgb(static_cast<size_t>(kh * kw) * 3);
    for (int p = 0; p < kh * kw; ++p)
      diverging(kernel[i * per_filter + p] / amax, &rgb[static_cast<size_t>(p) * 3]);
    const double x = pad + (i % cols) * cell_w + (cell_w - kw * scale) / 2.0;
    const double y = top + (i / cols) * cell_h;
    cv.image(rgb, kw, kh, x, y, scale);
    cv.stroke_rect(x, y, kw * scale, kh * scale, {0.6, 0.6, 0.6});
    cv.text(std::to_string(i), x + kw * scale / 2.0, y + kh * scale + 14, 10, 0.5, kGrey);
  }
  return cv.finish();
}

std::vector<FeatureMaps> feature_maps(const Sequential& model, const Tensor& image) {
  const Shape& in = model.input_shape();
  if (image.size() != shape_size(in))
    throw Error("feature maps: the image has " + std::to_string(image.size()) +
                " values, the model expects " + shape_str(in));
  ThreadPool pool(1);
  Context ctx;
  ctx.training = false;
  ctx.pool = &pool;
  Tensor x = image;
  x.reshape(with_batch(1, in));
  std::vector<FeatureMaps> out;
  Tensor y;
  for (Layer* l : model.layers()) {
    if (l->input_shape().size() != 3) break;  // past the image part of the network
    if (l->type() == "Dropout") continue;     // the identity at inference
    l->forward(x, y, ctx);
    if (y.rank() == 4) {
      Tensor m = y;
      m.reshape({y.dim(1), y.dim(2), y.dim(3)});
      out.push_back({l->name + " (" + l->type() + ")", std::move(m)});
    }
    std::swap(x, y);
  }
  return out;
}

Figure feature_maps_figure(const Tensor& image, const std::vector<FeatureMaps>& maps,
                           int max_channels) {
  const int cell = 56, label_w = 215, top = 40, pad = 10, row_h = cell + 22;
  const int cols = std::max(1, max_channels);
  const int width = label_w + pad + cols * (cell + 6) + pad;
  const int height = top + static_cast<int>(maps.size() + 1) * row_h + pad;
  const std::string title = "Feature maps of one image through the network";
  Canvas cv(width, height, title);
  cv.text(title, width / 2.0, 24, 16, 0.5, kBlack, true);
  // Each map is scaled to its own range: dark = strong activation. A map that
  // is not square keeps its aspect, its longer side `cell` wide.
  auto draw_map = [&](const float* v, int h, int w, double x, double y) {
    float lo = v[0], hi = v[0];
    for (int i = 0; i < h * w; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
    std::vector<uint8_t> grey(static_cast<size_t>(h * w));
    for (int i = 0; i < h * w; ++i)
      grey[static_cast<size_t>(i)] =
          hi > lo ? static_cast<uint8_t>(std::lround(255.0 * (v[i] - lo) / (hi - lo))) : 0;
    const double s = static_cast<double>(cell) / std::max(h, w);
    cv.image(report_detail::ink_to_rgb(grey.data(), h * w), w, h, x, y, s);
    cv.stroke_rect(x, y, w * s, h * s, {0.75, 0.75, 0.75});
  };
  if (image.size() > 0) {
    const int h = image.rank() >= 2 ? static_cast<int>(image.dim(image.rank() - 2)) : 1;
    const int w = static_cast<int>(image.dim(image.rank() - 1));
    cv.text("input " + std::to_string(h) + "x" + std::to_string(w), pad, top + cell / 2.0 + 4, 12,
            0, kBlack, true);
    draw_map(image.data(), h, w, label_w + pad, top);
  }
  for (size_t r = 0; r < maps.size(); ++r) {
    const Tensor& m = maps[r].maps;
    const int c = static_cast<int>(m.dim(0)), h = static_cast<int>(m.dim(1)),
              w = static_cast<int>(m.dim(2));
    const double y = top + static_cast<double>(r + 1) * row_h;
    cv.text(maps[r].layer, pad, y + cell / 2.0 - 2, 12, 0, kBlack, true);
    cv.text(shape_str(m.shape()), pad, y + cell / 2.0 + 14, 11, 0, kGrey);
    for (int ch = 0; ch < std::min(c, cols); ++ch)
      draw_map(m.data() + static_cast<int64_t>(ch) * h * w, h, w, label_w + pad + ch * (cell + 6),
               y);
  }
  return cv.finish();
}

}  // namespace digitnet
