// The Figure (a cairo recording surface replayed into PNG, SVG or PDF) and the
// Canvas the drawings use.
#include "report/canvas.hpp"

#include <cairo-pdf.h>
#include <cairo-svg.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>

#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/report/html.hpp"

namespace digitnet {

namespace {

constexpr const char* kFont = "DejaVu Sans";

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t s, const char* what) {
  if (s != CAIRO_STATUS_SUCCESS)
    throw Error(std::string("cairo: ") + what + ": " + cairo_status_to_string(s));
}

// Replays the recording onto a target surface and finishes it.
void replay(const Figure::Impl& f, cairo_surface_t* target, bool finish = true) {
  check(cairo_surface_status(target), "creating the output surface");
  cairo_t* cr = cairo_create(target);
  cairo_set_source_surface(cr, f.recording, 0, 0);
  cairo_paint(cr);
  const cairo_status_t s = cairo_status(cr);
  cairo_destroy(cr);
  if (finish)
    cairo_surface_finish(target);
  else
    cairo_surface_flush(target);
  check(s, "drawing the figure");
}

std::string fmt_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

Figure::Impl::~Impl() {
  if (recording) cairo_surface_destroy(recording);
}

Figure::Figure(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Figure::~Figure() = default;
Figure::Figure(Figure&&) noexcept = default;
Figure& Figure::operator=(Figure&&) noexcept = default;
int Figure::width() const { return impl_->width; }
int Figure::height() const { return impl_->height; }
const std::vector<std::string>& Figure::texts() const { return impl_->texts; }

namespace {
// Owns a cairo surface: destroyed on every path out of scope.
using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
SurfacePtr own(cairo_surface_t* s) { return SurfacePtr(s, &cairo_surface_destroy); }
}  // namespace

std::string Figure::png() const {
  std::string out;
  {
    SurfacePtr s = own(cairo_image_surface_create(CAIRO_FORMAT_RGB24, impl_->width, impl_->height));
    replay(*impl_, s.get(), false);
    check(cairo_surface_write_to_png_stream(s.get(), append_bytes, &out), "writing PNG");
  }
  return out;
}

std::string Figure::svg() const {
  std::string out;
  {
    SurfacePtr s =
        own(cairo_svg_surface_create_for_stream(append_bytes, &out, impl_->width, impl_->height));
    replay(*impl_, s.get());
  }  // destroying the surface flushes the last bytes into `out`
  // cairo draws text as glyph outlines; add the words themselves as an
  // accessible title and an invisible, selectable text layer on top.
  std::string layer = "<g id=\"text-layer\" fill-opacity=\"0\" font-family=\"DejaVu Sans\">\n";
  for (const TextItem& t : impl_->items) {
    layer += "<text x=\"" + fmt_num(t.x) + "\" y=\"" + fmt_num(t.y) + "\" font-size=\"" +
             fmt_num(t.size) + "\"";
    if (t.bold) layer += " font-weight=\"bold\"";
    if (t.vertical) layer += " transform=\"rotate(-90 " + fmt_num(t.x) + " " + fmt_num(t.y) + ")\"";
    layer += ">" + html_escape(t.text) + "</text>\n";
  }
  layer += "</g>\n";
  const auto end = out.rfind("</svg>");
  const auto open = out.find("<svg");
  const auto open_end = open == std::string::npos ? open : out.find('>', open);
  if (end == std::string::npos || open_end == std::string::npos || open_end > end)
    throw Error("cairo: the SVG output has no <svg> element");
  out.insert(end, layer);
  out.insert(open_end + 1, "\n<title>" + html_escape(impl_->title) + "</title>");
  return out;
}

std::string Figure::pdf() const {
  std::string out;
  {
    SurfacePtr s =
        own(cairo_pdf_surface_create_for_stream(append_bytes, &out, impl_->width, impl_->height));
    replay(*impl_, s.get());
  }
  return out;
}

void Figure::save(const std::string& path) const {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (ext == ".png")
    write_file_atomic(path, png());
  else if (ext == ".svg")
    write_file_atomic(path, svg());
  else if (ext == ".pdf")
    write_file_atomic(path, pdf());
  else
    throw Error(path + ": unknown picture format '" + ext + "' (use .png, .svg or .pdf)");
}

namespace report_detail {

Canvas::Canvas(int width, int height, const std::string& title)
    : impl_(std::make_unique<Figure::Impl>()) {
  if (width <= 0 || height <= 0 || width > 32767 || height > 32767)
    throw Error("figure '" + title + "': size " + std::to_string(width) + "x" +
                std::to_string(height) + " is out of range");
  impl_->width = width;
  impl_->height = height;
  impl_->title = title;
  const cairo_rectangle_t extents{0, 0, static_cast<double>(width), static_cast<double>(height)};
  impl_->recording = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
  check(cairo_surface_status(impl_->recording), "creating a recording surface");
  cr_ = cairo_create(impl_->recording);
  check(cairo_status(cr_), "creating a drawing context");
  cairo_set_source_rgb(cr_, 1, 1, 1);
  cairo_paint(cr_);
}

namespace {

// How far `s` advances the pen in digitnet's font.
double text_advance(cairo_t* cr, const std::string& s, double size, bool bold) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

}  // namespace

Canvas::~Canvas() {
  if (cr_) cairo_destroy(cr_);
}

double Canvas::text_width(const std::string& s, double size, bool bold) {
  return text_advance(cr_, s, size, bold);
}

double Canvas::text(const std::string& s, double x, double y, double size, double align, Rgb color,
                    bool bold) {
  const double w = text_width(s, size, bold);
  const double x0 = x - align * w;
  set_color(color);
  cairo_move_to(cr_, x0, y);
  cairo_show_text(cr_, s.c_str());
  cairo_new_path(cr_);
  impl_->items.push_back({s, x0, y, size, bold, false});
  impl_->texts.push_back(s);
  return w;
}

void Canvas::vertical_text(const std::string& s, double x, double y, double size, Rgb color,
                           bool bold) {
  const double w = text_width(s, size, bold);
  cairo_save(cr_);
  cairo_translate(cr_, x, y);
  cairo_rotate(cr_, -M_PI / 2);
  set_color(color);
  cairo_move_to(cr_, -w / 2, 0);
  cairo_show_text(cr_, s.c_str());
  cairo_new_path(cr_);
  cairo_restore(cr_);
  // In unrotated coordinates the start of the baseline is (x, y + w/2).
  impl_->items.push_back({s, x, y + w / 2, size, bold, true});
  impl_->texts.push_back(s);
}

void Canvas::set_color(Rgb c, double alpha) { cairo_set_source_rgba(cr_, c.r, c.g, c.b, alpha); }

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, double width) {
  set_color(c);
  cairo_set_line_width(cr_, width);
  cairo_move_to(cr_, x0, y0);
  cairo_line_to(cr_, x1, y1);
  cairo_stroke(cr_);
}

void Canvas::fill_rect(double x, double y, double w, double h, Rgb c, double alpha) {
  set_color(c, alpha);
  cairo_rectangle(cr_, x, y, w, h);
  cairo_fill(cr_);
}

void Canvas::stroke_rect(double x, double y, double w, double h, Rgb c, double width) {
  set_color(c);
  cairo_set_line_width(cr_, width);
  cairo_rectangle(cr_, x, y, w, h);
  cairo_stroke(cr_);
}

void Canvas::image(const std::vector<uint8_t>& rgb, int w, int h, double x, double y,
                   double scale) {
  if (rgb.size() != static_cast<size_t>(w) * static_cast<size_t>(h) * 3)
    throw Error("figure image: expected " + std::to_string(w * h * 3) + " bytes, got " +
                std::to_string(rgb.size()));
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  check(cairo_surface_status(img), "creating an image");
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  const int stride = cairo_image_surface_get_stride(img);
  for (int r = 0; r < h; ++r) {
    auto* row = reinterpret_cast<uint32_t*>(data + static_cast<ptrdiff_t>(r) * stride);
    for (int c = 0; c < w; ++c) {
      const uint8_t* p =
          &rgb[(static_cast<size_t>(r) * static_cast<size_t>(w) + static_cast<size_t>(c)) * 3];
      row[c] = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[2]};
    }
  }
  cairo_surface_mark_dirty(img);
  cairo_save(cr_);
  cairo_translate(cr_, x, y);
  cairo_scale(cr_, scale, scale);
  cairo_set_source_surface(cr_, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr_), CAIRO_FILTER_NEAREST);
  cairo_rectangle(cr_, 0, 0, w, h);
  cairo_fill(cr_);
  cairo_restore(cr_);
  cairo_surface_destroy(img);  // the recording keeps its own reference
}

Figure Canvas::finish() {
  cairo_surface_flush(impl_->recording);
  check(cairo_status(cr_), "drawing");
  cairo_destroy(cr_);
  cr_ = nullptr;
  return Figure(std::move(impl_));
}

TextMeasure::TextMeasure() {
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
  cr_ = cairo_create(surface_);
  if (cairo_status(cr_) != CAIRO_STATUS_SUCCESS) {
    const cairo_status_t s = cairo_status(cr_);
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
    check(s, "creating a context to measure text");
  }
}

TextMeasure::~TextMeasure() {
  cairo_destroy(cr_);
  cairo_surface_destroy(surface_);
}

double TextMeasure::width(const std::string& s, double size, bool bold) {
  return text_advance(cr_, s, size, bold);
}

std::string TextMeasure::fit(const std::string& s, double size, double max_width, bool bold) {
  if (width(s, size, bold) <= max_width) return s;
  const std::string ellipsis = "\u2026";
  // Cut points at the starts of UTF-8 characters; binary search for the longest that fits.
  std::vector<size_t> cuts;
  for (size_t i = 1; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) cuts.push_back(i);
  size_t lo = 0, hi = cuts.size();  // prefixes cuts[0..lo) fit
  while (lo < hi) {
    const size_t mid = (lo + hi + 1) / 2;
    if (width(s.substr(0, cuts[mid - 1]) + ellipsis, size, bold) <= max_width)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo == 0 ? ellipsis : s.substr(0, cuts[lo - 1]) + ellipsis;
}

std::vector<uint8_t> ink_to_rgb(const uint8_t* grey, int n) {
  std::vector<uint8_t> rgb(static_cast<size_t>(n) * 3);
  for (int i = 0; i < n; ++i) {
    const auto v = static_cast<uint8_t>(255 - grey[i]);
    rgb[static_cast<size_t>(i) * 3] = rgb[static_cast<size_t>(i) * 3 + 1] =
        rgb[static_cast<size_t>(i) * 3 + 2] = v;
  }
  return rgb;
}

}  // namespace report_detail
}  // namespace digitnet
