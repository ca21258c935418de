#include "digitnet/data/image.hpp"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string_view>

#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet {
namespace {

// Deflate expands at most ~1032:1, and a PNG row holds at least 8 pixels a byte
// (1-bit samples): a PNG of n bytes cannot hold more pixels than this bound.
constexpr int64_t kMaxDeflateRatio = 1032;
constexpr int64_t kPngPixelsPerByte = 8 * kMaxDeflateRatio;

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

// "HxW (height x width)", as the library orders sizes.
std::string dims_str(int64_t width, int64_t height) {
  return std::to_string(height) + "x" + std::to_string(width) + " (height x width)";
}

// Rejects a header's size before its pixels are allocated.
void check_pixels(const std::string& name, const char* format, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0)
    throw Error(name + ": " + format + ": image size " + dims_str(width, height) + " is empty");
  if (width > kMaxImagePixels / height)
    throw Error(name + ": " + format + ": image size " + dims_str(width, height) + " exceeds " +
                std::to_string(kMaxImagePixels) + " pixels");
}

// ---- PNG ----

// Frees libpng's state whatever happens (a no-op once png_image_finish_read has).
struct PngImage {
  png_image image{};
  PngImage() { image.version = PNG_IMAGE_VERSION; }
  ~PngImage() { png_image_free(&image); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

std::string png_message(const png_image& image) {
  return image.message[0] != '\0' ? std::string(image.message) : "unknown libpng error";
}

GrayImage decode_png(std::span<const uint8_t> bytes, const std::string& name) {
  PngImage png;
  if (!png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size()))
    throw Error(name + ": PNG: " + png_message(png.image));
  const int64_t width = png.image.width, height = png.image.height;
  check_pixels(name, "PNG", width, height);
  if (width * height / kPngPixelsPerByte > static_cast<int64_t>(bytes.size()))
    throw Error(name + ": PNG: header says " + dims_str(width, height) +
                ", more pixels than a file of " + std::to_string(bytes.size()) + " bytes can hold");
  // 16-bit files without gamma are written by tools that mean sRGB values, not linear light.
  png.image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  // 8-bit RGBA: sRGB-encoded, not premultiplied; grey and alpha are computed
  // below as JPEG's luma and an image viewer's blend, so both formats agree.
  png.image.format = PNG_FORMAT_RGBA;
  std::vector<uint8_t> rgba(static_cast<size_t>(width * height * 4));
  if (!png_image_finish_read(&png.image, nullptr, rgba.data(), 0, nullptr))
    throw Error(name + ": PNG: " + png_message(png.image));
  GrayImage out;
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.pixels.resize(static_cast<size_t>(width * height));
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const uint8_t* p = rgba.data() + 4 * i;
    // Rec. 601 luma in thousandths (the Y of a JPEG, Pillow's "L"), then over white.
    const uint32_t y = (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u;
    const uint32_t a = p[3];
    out.pixels[i] = static_cast<uint8_t>((y * a + 255u * (255u - a) + 127u) / 255u);
  }
  return out;
}

// ---- JPEG ----

struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
  TjHandle() = default;
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
};

GrayImage decode_jpeg(std::span<const uint8_t> bytes, const std::string& name) {
  TjHandle tj;
  if (!tj.h) throw Error(name + ": JPEG: " + tjGetErrorStr2(nullptr));
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.h, bytes.data(), size, &width, &height, &subsamp, &colorspace) != 0)
    throw Error(name + ": JPEG: " + tjGetErrorStr2(tj.h));
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    throw Error(name + ": JPEG: CMYK images are not supported (convert it to RGB or grey)");
  check_pixels(name, "JPEG", width, height);
  GrayImage out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<size_t>(int64_t{width} * height));
  // A warning (a truncated or corrupt stream) stops the decode: no half-grey images.
  if (tjDecompress2(tj.h, bytes.data(), size, out.pixels.data(), width, 0, height, TJPF_GRAY,
                    TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    throw Error(name + ": JPEG: " + tjGetErrorStr2(tj.h));
  return out;
}

// ---- PGM ----

bool pnm_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

class PgmParser {
 public:
  PgmParser(std::span<const uint8_t> bytes, const std::string& name) : b_(bytes), name_(name) {}

  GrayImage parse() {
    pos_ = 2;  // "P5", checked by the caller
    if (pos_ >= size() || !(pnm_space(b_[pos_]) || b_[pos_] == '#'))
      fail(pos_, "expected whitespace after the magic P5");
    const int64_t width = number("width", 1, std::numeric_limits<int>::max());
    const int64_t width_at = token_at_;
    const int64_t height = number("height", 1, std::numeric_limits<int>::max());
    const int64_t maxval = number("maxval", 1, 65535);
    if (pos_ >= size() || !pnm_space(b_[pos_]))
      fail(pos_, "expected one whitespace byte after maxval, then the raster");
    ++pos_;
    if (width > kMaxImagePixels / height)
      fail(width_at, "image size " + dims_str(width, height) + " exceeds " +
                         std::to_string(kMaxImagePixels) + " pixels");
    const int bps = maxval > 255 ? 2 : 1;
    const int64_t raster = width * height * bps;
    const int64_t left = size() - pos_;
    if (left < raster)
      fail(size(), "file ends inside the raster: " + dims_str(width, height) + " samples of " +
                       std::to_string(bps) + " byte(s) need " + std::to_string(raster) +
                       " bytes after the header, the file has " + std::to_string(left));
    if (left > raster)
      fail(pos_ + raster, std::to_string(left - raster) + " trailing bytes after the raster");
    GrayImage out;
    out.width = static_cast<int>(width);
    out.height = static_cast<int>(height);
    out.pixels.resize(static_cast<size_t>(width * height));
    const auto mv = static_cast<uint32_t>(maxval);
    for (int64_t i = 0; i < width * height; ++i) {
      const int64_t at = pos_ + i * bps;
      const uint8_t* p = b_.data() + at;
      const uint32_t v = bps == 2 ? (uint32_t{p[0]} << 8) | p[1] : p[0];
      if (v > mv)
        fail(at, "sample " + std::to_string(v) + " exceeds maxval " + std::to_string(maxval));
      out.pixels[static_cast<size_t>(i)] =
          static_cast<uint8_t>(mv == 255 ? v : (v * 255 + mv / 2) / mv);
    }
    return out;
  }

 private:
  int64_t size() const { return static_cast<int64_t>(b_.size()); }

  [[noreturn]] void fail(int64_t offset, const std::string& what) const {
    throw Error(name_ + ": byte " + std::to_string(offset) + ": PGM: " + what);
  }

  // Skips whitespace and '#' comments (to the end of the line).
  void skip() {
    while (pos_ < size()) {
      if (pnm_space(b_[pos_])) {
        ++pos_;
      } else if (b_[pos_] == '#') {
        while (pos_ < size() && b_[pos_] != '\n' && b_[pos_] != '\r') ++pos_;
      } else {
        return;
      }
    }
  }

  // A decimal header field in [lo, hi], followed by whitespace or a comment.
  int64_t number(const char* what, int64_t lo, int64_t hi) {
    skip();
    const int64_t start = token_at_ = pos_;
    if (pos_ >= size()) fail(pos_, std::string("file ends before the ") + what);
    if (b_[pos_] < '0' || b_[pos_] > '9')
      fail(pos_, std::string("expected the ") + what + " (a decimal number), found " +
                     hex_byte(b_[pos_]));
    int64_t v = 0;
    while (pos_ < size() && b_[pos_] >= '0' && b_[pos_] <= '9') {
      v = v * 10 + (b_[pos_] - '0');
      if (v > hi) fail(start, std::string(what) + " exceeds " + std::to_string(hi));
      ++pos_;
    }
    if (v < lo)
      fail(start, std::string(what) + " " + std::to_string(v) + " is below " + std::to_string(lo));
    if (pos_ < size() && !pnm_space(b_[pos_]) && b_[pos_] != '#')
      fail(pos_, std::string("unexpected byte ") + hex_byte(b_[pos_]) + " after the " + what);
    return v;
  }

  std::span<const uint8_t> b_;
  const std::string& name_;
  int64_t pos_ = 0;
  int64_t token_at_ = 0;  // where the last header field began
};

bool starts_with(std::span<const uint8_t> b, std::string_view magic) {
  return b.size() >= magic.size() && std::memcmp(b.data(), magic.data(), magic.size()) == 0;
}

}  // namespace

GrayImage decode_image(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) throw Error(name + ": empty file, not an image");
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return decode_png(bytes, name);
  if (starts_with(bytes, "\xff\xd8\xff")) return decode_jpeg(bytes, name);
  if (starts_with(bytes, "P5")) return PgmParser(bytes, name).parse();
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7')
    throw Error(name + ": Netpbm type P" + std::string(1, static_cast<char>(bytes[1])) +
                " is not supported (only binary PGM, P5)");
  std::string head;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 4); ++i) head += " " + hex_byte(bytes[i]);
  throw Error(name + ": unknown image format (starts with" + head +
              "); expected PNG, JPEG or binary PGM (P5)");
}

GrayImage read_image(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not an image");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(path + ": cannot open for reading: " + std::strerror(errno));
  const std::streamoff size = f.tellg();
  if (size < 0) throw Error(path + ": cannot tell the file's size");
  if (size > kMaxImageFileBytes)
    throw Error(path + ": " + std::to_string(size) +
                " bytes is larger than an image file may be (" +
                std::to_string(kMaxImageFileBytes) + " bytes)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  if (f.gcount() != size)
    throw Error(path + ": read error after " + std::to_string(f.gcount()) + " bytes");
  return decode_image(bytes, path);
}

void write_png(const std::string& path, const GrayImage& img) {
  if (img.width <= 0 || img.height <= 0 ||
      img.pixels.size() != static_cast<size_t>(int64_t{img.width} * img.height))
    throw Error(path + ": cannot write a " + dims_str(img.width, img.height) + " image of " +
                std::to_string(img.pixels.size()) + " pixels as PNG");
  PngImage png;
  png.image.width = static_cast<png_uint_32>(img.width);
  png.image.height = static_cast<png_uint_32>(img.height);
  png.image.format = PNG_FORMAT_GRAY;
  size_t size = 0;
  if (!png_image_write_to_memory(&png.image, nullptr, &size, 0, img.pixels.data(), 0, nullptr))
    throw Error(path + ": PNG: " + png_message(png.image));
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&png.image, bytes.data(), &size, 0, img.pixels.data(), 0, nullptr))
    throw Error(path + ": PNG: " + png_message(png.image));
  bytes.resize(size);
  write_file_atomic(path, bytes);
}

}  // namespace digitnet
