// src/report/canvas.hpp — a thin RAII layer over cairo used by the drawings.
#pragma once
#include <cairo.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "digitnet/report/figure.hpp"

namespace digitnet {

struct Rgb {
  double r = 0, g = 0, b = 0;
};

// One piece of text as drawn, for the SVG text layer.
struct TextItem {
  std::string text;
  double x = 0, y = 0;  // baseline start, in figure units (before rotation)
  double size = 12;
  bool bold = false;
  bool vertical = false;  // rotated 90° counter-clockwise about (x, y)
};

struct Figure::Impl {
  int width = 0, height = 0;
  std::string title;
  cairo_surface_t* recording = nullptr;  // owned
  std::vector<TextItem> items;
  std::vector<std::string> texts;
  ~Impl();
};

namespace report_detail {

// Draws into a new Figure of w x h on a white background.
class Canvas {
 public:
  Canvas(int width, int height, const std::string& title);
  ~Canvas();
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;

  cairo_t* cr() { return cr_; }
  // align: 0 left, 0.5 centre, 1 right of x; y is the baseline.
  // Returns the text's width.
  double text(const std::string& s, double x, double y, double size, double align = 0,
              Rgb color = {}, bool bold = false);
  // Rotated 90° counter-clockwise, centred vertically on y, x is the baseline.
  void vertical_text(const std::string& s, double x, double y, double size, Rgb color = {},
                     bool bold = false);
  double text_width(const std::string& s, double size, bool bold = false);
  void set_color(Rgb c, double alpha = 1.0);
  void line(double x0, double y0, double x1, double y1, Rgb c, double width = 1.0);
  void fill_rect(double x, double y, double w, double h, Rgb c, double alpha = 1.0);
  void stroke_rect(double x, double y, double w, double h, Rgb c, double width = 1.0);
  // An image of w x h RGB pixels (3 bytes each) drawn at (x, y), each pixel `scale` wide.
  void image(const std::vector<uint8_t>& rgb, int w, int h, double x, double y, double scale);

  Figure finish();

 private:
  std::unique_ptr<Figure::Impl> impl_;
  cairo_t* cr_ = nullptr;
};

// Measures text in the figures' font before a Canvas exists, so that a figure
// can be sized from its labels.
class TextMeasure {
 public:
  TextMeasure();
  ~TextMeasure();
  TextMeasure(const TextMeasure&) = delete;
  TextMeasure& operator=(const TextMeasure&) = delete;

  double width(const std::string& s, double size, bool bold = false);
  // s itself if it is at most max_width wide, else its longest prefix (whole
  // UTF-8 characters) that fits with an ellipsis after it.
  std::string fit(const std::string& s, double size, double max_width, bool bold = false);

 private:
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

// Grey levels (0 = background) to RGB, ink dark on white.
std::vector<uint8_t> ink_to_rgb(const uint8_t* grey, int n);

}  // namespace report_detail
}  // namespace digitnet
