// digitnet/data/image.hpp — decoding PNG, JPEG and PGM files to 8-bit grey, resizing, writing PNG.
//
// The format is told by the content's magic bytes, never by the file name:
//   PNG  (89 50 4E 47 0D 0A 1A 0A) — libpng's simplified API asked for 8-bit
//        RGBA (sRGB-encoded): any bit depth, palette, grey or colour. Colour
//        becomes grey by Rec. 601 luma on the encoded values, the Y a JPEG
//        stores (so a PNG and a JPEG of one picture give the same greys); alpha
//        (an alpha channel or tRNS) is blended over white as a viewer shows it.
//        16-bit samples without a gAMA/sRGB chunk are taken as sRGB-encoded
//        (PNG_IMAGE_FLAG_16BIT_sRGB), so 16-bit v maps to about v / 257, as in
//        a 16-bit PGM.
//   JPEG (FF D8 FF) — TurboJPEG decoding to TJPF_GRAY (a colour JPEG gives its
//        luma Y). CMYK/YCCK JPEGs are an error, and so is any warning (a
//        truncated or corrupt stream), not a partly grey picture.
//   PGM  (P5) — binary PGM, maxval 1..65535, '#' comments in the header; samples
//        are scaled to 0..255 (round(v * 255 / maxval)); exactly one raster, no
//        trailing bytes.
// Every failure is a digitnet::Error naming the file (and, for PGM, the byte
// offset). A header is checked against kMaxImagePixels before anything is
// allocated, and a PNG's or PGM's size also against what the file can hold.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace digitnet {

// An 8-bit grey image, row-major: pixels[y * width + x], 0 black, 255 white.
struct GrayImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;

  bool operator==(const GrayImage&) const = default;
};

// The largest image (width * height) decode_image and resize_image accept.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;
// The largest file read_image reads.
inline constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;

// Decodes a PNG, JPEG or binary PGM image held in `bytes` to grey (see the top
// of this file); `name` (usually the path) names it in errors.
GrayImage decode_image(std::span<const uint8_t> bytes, const std::string& name);

// Reads the file at `path` and decodes it; an unreadable file is an Error naming the path.
GrayImage read_image(const std::string& path);

// Resamples to height x width with a separable triangle filter whose support
// is widened by the shrink factor when downscaling (each output pixel is the
// weighted mean of all the source pixels it covers, as Pillow's BILINEAR) and
// plain bilinear when enlarging; pixel centres aligned (src = (x + 0.5) * scale
// - 0.5). The same size gives a copy. Throws Error on an empty input or a size
// outside 1..kMaxImagePixels.
GrayImage resize_image(const GrayImage& in, int height, int width);

// Writes img as an 8-bit grey PNG (libpng's simplified API), atomically
// (write_file_atomic). Throws Error naming the path.
void write_png(const std::string& path, const GrayImage& img);

}  // namespace digitnet
