// Digit grids, mistakes, first-convolution filters and feature maps.
#include <algorithm>
#include <cmath>
#include <cstdio>

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

}  // namespace

DigitTile digit_tile(const Dataset& data, int64_t i) {
  if (i < 0 || i >= data.size())
    throw Error("digit " + std::to_string(i) + " is outside the dataset (0.." +
                std::to_string(data.size()) + ")");
  if (data.image_shape.size() != 3 || data.image_shape[0] != 1)
    throw Error("digit tiles need single-channel images, got " + shape_str(data.image_shape));
  DigitTile t;
  t.height = static_cast<int>(data.image_shape[1]);
  t.width = static_cast<int>(data.image_shape[2]);
  t.pixels = data.image(i);
  t.caption = std::to_string(data.labels[static_cast<size_t>(i)]);
  return t;
}

std::vector<DigitTile> sample_tiles(const Dataset& data, int count, int digit) {
  std::vector<DigitTile> out;
  for (int64_t i = 0; i < data.size() && static_cast<int>(out.size()) < count; ++i)
    if (digit < 0 || data.labels[static_cast<size_t>(i)] == digit)
      out.push_back(digit_tile(data, i));
  return out;
}

Figure digit_grid(const std::vector<DigitTile>& tiles, const std::string& title, int columns,
                  int scale) {
  if (tiles.empty()) throw Error("digit grid '" + title + "': no digits to draw");
  if (scale < 1 || scale > 32) throw Error("digit grid: scale must be 1..32");
  const int cols = columns > 0 ? std::min<int>(columns, static_cast<int>(tiles.size()))
                               : near_square_columns(tiles.size());
  const int rows =
      static_cast<int>((tiles.size() + static_cast<size_t>(cols) - 1) / static_cast<size_t>(cols));
  int tw = 0, th = 0;
  for (const auto& t : tiles) {
    if (t.pixels.size() != static_cast<size_t>(t.width) * static_cast<size_t>(t.height))
      throw Error("digit grid: a tile's pixels do not match its size");
    tw = std::max(tw, t.width);
    th = std::max(th, t.height);
  }
  const double caption_size = std::max(11.0, 4.0 * scale);
  const int cell_w = std::max(tw * scale, 40) + 8;
  const int cell_h = th * scale + static_cast<int>(caption_size) + 12;
  const int top = 40, pad = 10;
  const int width = std::max(pad * 2 + cols * cell_w, 260);
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
    cv.text(t.caption, pad + col * cell_w + cell_w / 2.0, y + t.height * scale + caption_size + 2,
            caption_size, 0.5, t.highlight ? kRed : kBlack, t.highlight);
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

Figure mistakes_figure(const Dataset& data, const std::vector<Mistake>& mistakes, int count) {
  std::vector<DigitTile> tiles;
  for (const auto& m : mistakes) {
    if (static_cast<int>(tiles.size()) >= count) break;
    DigitTile t = digit_tile(data, m.index);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%d\u2192%d %.0f%%", m.label, m.predicted, 100.0 * m.confidence);
    t.caption = buf;
    t.highlight = true;
    tiles.push_back(std::move(t));
  }
  const std::string title = "Misclassified: " + std::to_string(mistakes.size()) +
                            " (true\u2192predicted, confidence; most confident first)";
  if (tiles.empty()) {
    Canvas cv(520, 80, title);
    cv.text("No misclassified digits.", 260, 48, 16, 0.5, kBlack, true);
    return cv.finish();
  }
  return digit_grid(tiles, title, std::min<int>(static_cast<int>(tiles.size()), 9), 3);
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
  const std::string title = "Feature maps of one digit through the network";
  Canvas cv(width, height, title);
  cv.text(title, width / 2.0, 24, 16, 0.5, kBlack, true);
  // Each map is scaled to its own range: dark = strong activation.
  auto draw_map = [&](const float* v, int h, int w, double x, double y) {
    float lo = v[0], hi = v[0];
    for (int i = 0; i < h * w; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
    std::vector<uint8_t> grey(static_cast<size_t>(h * w));
    for (int i = 0; i < h * w; ++i)
      grey[static_cast<size_t>(i)] =
          hi > lo ? static_cast<uint8_t>(std::lround(255.0 * (v[i] - lo) / (hi - lo))) : 0;
    cv.image(report_detail::ink_to_rgb(grey.data(), h * w), w, h, x, y,
             static_cast<double>(cell) / std::max(h, w));
    cv.stroke_rect(x, y, cell, cell, {0.75, 0.75, 0.75});
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
