// picture_check.hpp — reading pictures back in tests: PNG pixels (cairo) and
// SVG text (libxml2). Header-only; used by the test_report_* files.
#pragma once
#include <cairo.h>
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace digitnet::testing {

// A decoded PNG (RGB24/ARGB32 from cairo).
struct Png {
  int width = 0, height = 0;
  std::vector<uint32_t> px;  // 0xAARRGGBB
  int r(int x, int y) const { return (px[static_cast<size_t>(y * width + x)] >> 16) & 255; }
  int g(int x, int y) const { return (px[static_cast<size_t>(y * width + x)] >> 8) & 255; }
  int b(int x, int y) const { return px[static_cast<size_t>(y * width + x)] & 255; }
  int grey(int x, int y) const { return (r(x, y) + g(x, y) + b(x, y)) / 3; }
};

struct Reader {
  const std::string* bytes;
  size_t pos = 0;
};

inline cairo_status_t read_bytes(void* closure, unsigned char* data, unsigned int length) {
  auto* rd = static_cast<Reader*>(closure);
  if (rd->pos + length > rd->bytes->size()) return CAIRO_STATUS_READ_ERROR;
  std::copy_n(rd->bytes->data() + rd->pos, length, data);
  rd->pos += length;
  return CAIRO_STATUS_SUCCESS;
}

inline Png decode_png(const std::string& bytes) {
  Reader rd{&bytes};
  cairo_surface_t* s = cairo_image_surface_create_from_png_stream(read_bytes, &rd);
  Png out;
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    ADD_FAILURE() << "the PNG does not decode";
    return out;
  }
  out.width = cairo_image_surface_get_width(s);
  out.height = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  out.px.resize(static_cast<size_t>(out.width) * static_cast<size_t>(out.height));
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      out.px[static_cast<size_t>(y * out.width + x)] =
          reinterpret_cast<const uint32_t*>(data + static_cast<ptrdiff_t>(y) * stride)[x];
  cairo_surface_destroy(s);
  return out;
}

// Parses the SVG with libxml2 and returns the text of every <text> element;
// fails the test if it is not well-formed XML with an <svg> root.
inline std::vector<std::string> svg_texts(const std::string& svg) {
  std::vector<std::string> texts;
  xmlDocPtr doc = xmlReadMemory(svg.data(), static_cast<int>(svg.size()), "figure.svg", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) {
    ADD_FAILURE() << "the SVG is not well-formed XML";
    return texts;
  }
  xmlNodePtr root = xmlDocGetRootElement(doc);
  EXPECT_TRUE(root && xmlStrcmp(root->name, BAD_CAST "svg") == 0);
  std::vector<xmlNodePtr> stack = {root};
  while (!stack.empty()) {
    xmlNodePtr n = stack.back();
    stack.pop_back();
    for (xmlNodePtr c = n ? n->children : nullptr; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      if (xmlStrcmp(c->name, BAD_CAST "text") == 0 || xmlStrcmp(c->name, BAD_CAST "title") == 0) {
        xmlChar* t = xmlNodeGetContent(c);
        texts.emplace_back(reinterpret_cast<const char*>(t));
        xmlFree(t);
      }
      stack.push_back(c);
    }
  }
  xmlFreeDoc(doc);
  return texts;
}

}  // namespace digitnet::testing
