// Training curves (several runs overlaid), overfitting detection and the
// confusion-matrix heat map.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "digitnet/core/error.hpp"
#include "digitnet/data/dataset.hpp"
#include "report/canvas.hpp"

namespace digitnet {

using report_detail::Canvas;

namespace {

constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrey{0.45, 0.45, 0.45};
constexpr Rgb kLight{0.88, 0.88, 0.88};
constexpr Rgb kRed{0.80, 0.10, 0.10};
// Matplotlib's tab10, the colours the tutorials' plots use.
constexpr Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                            {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
                            {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
                            {0.090, 0.745, 0.812}};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Epoch numbers of a history (the "epoch" column, else 1..n).
std::vector<double> epochs_of(const History& h) {
  std::vector<double> e = h.values("epoch");
  for (size_t i = 0; i < e.size(); ++i)
    if (!std::isfinite(e[i])) e[i] = static_cast<double>(i + 1);
  if (e.size() < h.epochs.size()) e.resize(h.epochs.size());
  return e;
}

// "Nice" tick values covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string tick_label(double v, double step) {
  if (step >= 1) return fmt("%.0f", v);
  const int digits = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 1, 6);
  char f[8];
  std::snprintf(f, sizeof f, "%%.%df", digits);
  return fmt(f, v);
}

struct Panel {
  double x, y, w, h;  // plot area
  double x0, x1, y0, y1;
  double px(double v) const { return x + (v - x0) / (x1 - x0) * w; }
  double py(double v) const { return y + h - (v - y0) / (y1 - y0) * h; }
};

void draw_axes(Canvas& cv, Panel& p, const std::string& title, const std::string& ylabel,
               double xmax) {
  // x ticks: integer epochs.
  const std::vector<double> xt =
      nice_ticks(1, std::max(2.0, xmax), std::min(10, static_cast<int>(xmax) + 1));
  std::vector<double> yt = nice_ticks(p.y0, p.y1, 6);
  if (yt.size() >= 2) {
    p.y0 = std::min(p.y0, yt.front());
    p.y1 = std::max(p.y1, yt.back());
  }
  const double ystep = yt.size() >= 2 ? yt[1] - yt[0] : 1;
  for (double v : yt) {
    if (v < p.y0 - 1e-12 || v > p.y1 + 1e-12) continue;
    cv.line(p.x, p.py(v), p.x + p.w, p.py(v), kLight, 1);
    cv.text(tick_label(v, ystep), p.x - 6, p.py(v) + 4, 11, 1, kGrey);
  }
  for (double v : xt) {
    if (v < p.x0 || v > p.x1 || std::abs(v - std::round(v)) > 1e-9) continue;
    cv.line(p.px(v), p.y + p.h, p.px(v), p.y + p.h + 4, kGrey, 1);
    cv.text(fmt("%.0f", v), p.px(v), p.y + p.h + 17, 11, 0.5, kGrey);
  }
  cv.stroke_rect(p.x, p.y, p.w, p.h, kGrey, 1);
  cv.text(title, p.x + p.w / 2, p.y - 10, 14, 0.5, kBlack, true);
  cv.text("Epoch", p.x + p.w / 2, p.y + p.h + 36, 12, 0.5, kBlack);
  cv.vertical_text(ylabel, p.x - 48, p.y + p.h / 2, 12, kBlack);
}

void draw_series(Canvas& cv, const Panel& p, const std::vector<double>& xs,
                 const std::vector<double>& ys, Rgb c, bool dashed) {
  cairo_t* cr = cv.cr();
  cairo_save(cr);
  cairo_rectangle(cr, p.x, p.y, p.w, p.h);
  cairo_clip(cr);
  cv.set_color(c);
  cairo_set_line_width(cr, 2);
  if (dashed) {
    const double d[] = {7, 4};
    cairo_set_dash(cr, d, 2, 0);
  }
  bool pen = false;
  for (size_t i = 0; i < ys.size() && i < xs.size(); ++i) {
    if (!std::isfinite(ys[i])) {
      pen = false;
      continue;
    }
    if (pen)
      cairo_line_to(cr, p.px(xs[i]), p.py(ys[i]));
    else
      cairo_move_to(cr, p.px(xs[i]), p.py(ys[i]));
    pen = true;
  }
  cairo_stroke(cr);
  cairo_set_dash(cr, nullptr, 0, 0);
  for (size_t i = 0; i < ys.size() && i < xs.size(); ++i) {
    if (!std::isfinite(ys[i])) continue;
    cairo_arc(cr, p.px(xs[i]), p.py(ys[i]), dashed ? 3 : 2.5, 0, 2 * M_PI);
    if (dashed) {
      cairo_set_source_rgb(cr, 1, 1, 1);
      cairo_fill_preserve(cr);
      cv.set_color(c);
      cairo_set_line_width(cr, 1.5);
      cairo_stroke(cr);
    } else {
      cairo_fill(cr);
    }
  }
  cairo_restore(cr);
}

void range_of(const std::vector<double>& v, double& lo, double& hi) {
  for (double x : v)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
}

}  // namespace

std::optional<int> best_epoch(const History& h) {
  std::vector<double> v = h.values("val_loss");
  if (std::none_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }))
    v = h.values("loss");
  const std::vector<double> e = epochs_of(h);
  std::optional<size_t> best;
  for (size_t i = 0; i < v.size(); ++i)
    if (std::isfinite(v[i]) && (!best || v[i] < v[*best])) best = i;
  if (!best) return std::nullopt;
  return static_cast<int>(e[*best]);
}

std::optional<int> overfitting_epoch(const History& h, double tolerance) {
  const std::vector<double> val = h.values("val_loss"), loss = h.values("loss");
  const std::vector<double> e = epochs_of(h);
  std::optional<size_t> best;
  for (size_t i = 0; i < val.size(); ++i)
    if (std::isfinite(val[i]) && (!best || val[i] < val[*best])) best = i;
  // At least two epochs after the best: one higher epoch alone may be noise.
  if (!best || *best + 2 >= val.size()) return std::nullopt;
  const size_t b = *best, last = val.size() - 1;
  // Validation loss stays above its best after it and ends clearly above it...
  for (size_t i = b + 1; i <= last; ++i)
    if (!std::isfinite(val[i]) || val[i] <= val[b]) return std::nullopt;
  if (val[last] <= val[b] * (1 + tolerance)) return std::nullopt;
  // ...while training loss keeps falling.
  if (loss.size() <= last || !std::isfinite(loss[b]) || !std::isfinite(loss[last]) ||
      !(loss[last] < loss[b]))
    return std::nullopt;
  return static_cast<int>(e[b + 1]);
}

std::string overfitting_note(const History& h) {
  const auto from = overfitting_epoch(h);
  if (!from) return "";
  const std::vector<double> val = h.values("val_loss"), loss = h.values("loss");
  const std::vector<double> e = epochs_of(h);
  size_t b = 0;
  for (size_t i = 0; i < val.size(); ++i)
    if (std::isfinite(val[i]) && val[i] < val[b]) b = i;
  const size_t last = val.size() - 1;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "overfitting from epoch %d: validation loss rose from %.4f (epoch %.0f) to %.4f "
                "while training loss fell from %.4f to %.4f",
                *from, val[b], e[b], val[last], loss[b], loss[last]);
  return buf;
}

Figure history_figure(const std::vector<Run>& runs, const std::string& title) {
  if (runs.empty()) throw Error("history figure: no runs to draw");
  for (const auto& r : runs)
    if (r.history.epochs.empty()) throw Error("history figure: run '" + r.name + "' has no epochs");
  std::vector<std::string> notes;
  for (const auto& r : runs) {
    const std::string n = overfitting_note(r.history);
    if (!n.empty()) notes.push_back((runs.size() > 1 ? r.name + ": " : std::string()) + n);
  }
  const int panel_w = 430, panel_h = 300, left = 80, gap = 100, top = 70;
  const int legend_rows = static_cast<int>(runs.size());
  const int width = left + 2 * panel_w + gap + 30;
  const int height =
      top + panel_h + 60 + 20 * legend_rows + 22 * static_cast<int>(notes.size()) + 16;
  Canvas cv(width, height, title);
  cv.text(title, width / 2.0, 28, 18, 0.5, kBlack, true);

  double xmax = 1;
  for (const auto& r : runs) {
    const auto e = epochs_of(r.history);
    for (double v : e) xmax = std::max(xmax, v);
  }
  const double x0 = 0.5, x1 = xmax + 0.5;

  struct Metric {
    const char* key;
    const char* val_key;
    const char* title;
    const char* ylabel;
  };
  const Metric metrics[2] = {{"accuracy", "val_accuracy", "Accuracy", "Accuracy"},
                             {"loss", "val_loss", "Loss", "Loss (cross-entropy)"}};
  for (int m = 0; m < 2; ++m) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& r : runs) {
      range_of(r.history.values(metrics[m].key), lo, hi);
      range_of(r.history.values(metrics[m].val_key), lo, hi);
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    const double span = std::max(hi - lo, 1e-3);
    lo -= 0.06 * span;
    hi += 0.06 * span;
    if (m == 0) hi = std::min(hi, 1.0 + 0.02 * span);
    if (m == 1) lo = std::max(lo, 0.0);
    Panel p{static_cast<double>(left + m * (panel_w + gap)),
            static_cast<double>(top),
            panel_w,
            panel_h,
            x0,
            x1,
            lo,
            hi};
    draw_axes(cv, p, metrics[m].title, metrics[m].ylabel, xmax);
    for (size_t r = 0; r < runs.size(); ++r) {
      const Rgb c = kPalette[r % 10];
      const auto& h = runs[r].history;
      const auto e = epochs_of(h);
      // Overfitting region shaded on the loss panel.
      if (m == 1)
        if (const auto from = overfitting_epoch(h)) {
          const double xs = p.px(*from - 0.5), xe = p.px(e.back() + 0.5);
          cv.fill_rect(xs, p.y + 1, std::min(xe, p.x + p.w) - xs, p.h - 2, kRed, 0.07);
          cv.text("overfitting", p.x + p.w - 4, p.y + 14, 10, 1, kRed);
        }
      draw_series(cv, p, e, h.values(metrics[m].key), c, false);
      draw_series(cv, p, e, h.values(metrics[m].val_key), c, true);
      // Best epoch (lowest validation loss) marked on both panels.
      if (const auto b = best_epoch(h)) {
        cairo_t* cr = cv.cr();
        cairo_save(cr);
        const double d[] = {2, 3};
        cairo_set_dash(cr, d, 2, 0);
        cv.line(p.px(*b), p.y, p.px(*b), p.y + p.h, c, 1);
        cairo_restore(cr);
        std::vector<double> v = h.values(metrics[m].val_key);
        if (std::none_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }))
          v = h.values(metrics[m].key);
        for (size_t i = 0; i < e.size() && i < v.size(); ++i)
          if (static_cast<int>(e[i]) == *b && std::isfinite(v[i])) {
            cairo_t* c2 = cv.cr();
            const double cx = p.px(e[i]), cy = p.py(v[i]);
            cairo_move_to(c2, cx, cy - 7);
            cairo_line_to(c2, cx + 7, cy);
            cairo_line_to(c2, cx, cy + 7);
            cairo_line_to(c2, cx - 7, cy);
            cairo_close_path(c2);
            cv.set_color(c);
            cairo_fill_preserve(c2);
            cv.set_color(kBlack);
            cairo_set_line_width(c2, 1);
            cairo_stroke(c2);
          }
        cv.text("best " + std::to_string(*b), p.px(*b) + 3,
                p.y + p.h - 6 - 12 * static_cast<double>(r), 10, 0, c);
      }
    }
  }

  // Legend: one row per run.
  double ly = top + panel_h + 62;
  for (size_t r = 0; r < runs.size(); ++r) {
    const Rgb c = kPalette[r % 10];
    double x = left;
    if (runs.size() > 1 || !runs[r].name.empty())
      x += cv.text(runs[r].name + ":", x, ly, 12, 0, kBlack, true) + 10;
    cv.line(x, ly - 4, x + 28, ly - 4, c, 2);
    x += 34;
    x += cv.text("training", x, ly, 12, 0, kBlack) + 18;
    {
      cairo_t* cr = cv.cr();
      cairo_save(cr);
      const double d[] = {7, 4};
      cairo_set_dash(cr, d, 2, 0);
      cv.line(x, ly - 4, x + 28, ly - 4, c, 2);
      cairo_restore(cr);
    }
    x += 34;
    x += cv.text("validation", x, ly, 12, 0, kBlack) + 18;
    const auto b = best_epoch(runs[r].history);
    if (b) {
      const double cx = x + 6, cy = ly - 4;
      cairo_t* cr = cv.cr();
      cairo_move_to(cr, cx, cy - 6);
      cairo_line_to(cr, cx + 6, cy);
      cairo_line_to(cr, cx, cy + 6);
      cairo_line_to(cr, cx - 6, cy);
      cairo_close_path(cr);
      cv.set_color(c);
      cairo_fill(cr);
      cv.text("best epoch " + std::to_string(*b) + " (lowest validation loss)", x + 16, ly, 12, 0,
              kBlack);
    }
    ly += 20;
  }
  for (const auto& n : notes) {
    ly += 4;
    cv.text(n, left, ly, 12, 0, kRed, true);
    ly += 18;
  }
  return cv.finish();
}

Figure confusion_figure(const std::vector<std::vector<int64_t>>& confusion,
                        const std::string& title, const std::vector<std::string>& class_names) {
  const size_t k = confusion.size();
  if (k == 0) throw Error("confusion figure: the matrix is empty");
  for (const auto& row : confusion)
    if (row.size() != k) throw Error("confusion figure: the matrix is not square");
  // Cells shrink for many classes so that hundreds still make a picture of sane size.
  const int cell = k <= 15 ? 46 : std::max(14, 690 / static_cast<int>(std::min<size_t>(k, 690)));
  const double label_size = std::min(12.0, 0.6 * cell);
  constexpr double kMaxLabel = 180;
  report_detail::TextMeasure measure;
  std::vector<std::string> labels;
  double label_w = 0;
  for (size_t i = 0; i < k; ++i) {
    labels.push_back(
        measure.fit(class_name(class_names, static_cast<int64_t>(i)), label_size, kMaxLabel));
    label_w = std::max(label_w, measure.width(labels.back(), label_size));
  }
  // Column labels wider than a cell are drawn upright, reading upwards.
  const bool upright = label_w > cell - 4;
  const int lw = static_cast<int>(std::ceil(label_w));
  const int left = std::max(90, lw + 58), top = 64;
  const double true_x = left - std::max(40, lw + 18);
  const int bottom = upright ? lw + 64 : 64;
  const double side = static_cast<double>(k) * cell;
  int64_t total = 0, correct = 0;
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < k; ++j)
      total += confusion[i][j], correct += i == j ? confusion[i][j] : 0;
  const std::string note =
      fmt("%.2f%% correct; colour: share of each true class",
          total ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0.0);
  const int width = std::max({left + static_cast<int>(k) * cell + 40,
                              static_cast<int>(std::ceil(std::max(measure.width(title, 16, true),
                                                                  measure.width(note, 11)))) +
                                  20});
  const int height = top + static_cast<int>(k) * cell + bottom;
  Canvas cv(width, height, title);
  cv.text(title, width / 2.0, 24, 16, 0.5, kBlack, true);
  cv.text(note, width / 2.0, 42, 11, 0.5, kGrey);
  for (size_t i = 0; i < k; ++i) {
    int64_t row_sum = 0;
    for (size_t j = 0; j < k; ++j) row_sum += confusion[i][j];
    for (size_t j = 0; j < k; ++j) {
      const double share =
          row_sum > 0 ? static_cast<double>(confusion[i][j]) / static_cast<double>(row_sum) : 0.0;
      // White to dark blue; small off-diagonal shares are made visible with a sqrt.
      const double t = std::sqrt(share);
      const Rgb c{1.0 - 0.92 * t, 1.0 - 0.72 * t, 1.0 - 0.45 * t};
      const double x = left + static_cast<double>(j) * cell,
                   y = top + static_cast<double>(i) * cell;
      cv.fill_rect(x, y, cell, cell, c);
      cv.stroke_rect(x, y, cell, cell, {0.85, 0.85, 0.85}, 0.5);
      // Small cells leave zeros out (an empty light cell says it) and shrink
      // the other counts to fit, or leave them out when they cannot be read.
      if (cell < 30 && confusion[i][j] == 0) continue;
      const std::string count = std::to_string(confusion[i][j]);
      double size = std::min(confusion[i][j] >= 1000 ? 11.0 : 12.0, 0.6 * cell);
      const double w = cv.text_width(count, size, i == j);
      if (w > cell - 4) size *= (cell - 4) / w;
      if (size < 6) continue;
      const Rgb tc = t > 0.55 ? Rgb{1, 1, 1} : (i != j && confusion[i][j] > 0 ? kRed : kBlack);
      cv.text(count, x + cell / 2.0, y + cell / 2.0 + size / 3, size, 0.5, tc, i == j);
    }
    const double centre = (static_cast<double>(i) + 0.5) * cell;
    cv.text(labels[i], left - 8, top + centre + label_size / 3, label_size, 1, kBlack);
    if (upright)
      cv.vertical_text(labels[i], left + centre + label_size / 3,
                       top + side + 6 + measure.width(labels[i], label_size) / 2, label_size,
                       kBlack);
    else
      cv.text(labels[i], left + centre, top + side + 18, label_size, 0.5, kBlack);
  }
  cv.stroke_rect(left, top, side, side, kGrey);
  cv.text("Predicted label", left + side / 2.0, top + side + bottom - 22, 13, 0.5, kBlack, true);
  cv.vertical_text("True label", true_x, top + side / 2.0, 13, kBlack, true);
  return cv.finish();
}

}  // namespace digitnet
