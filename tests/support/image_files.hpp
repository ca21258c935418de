// Test images built byte by byte (PNG, PGM) or with TurboJPEG's encoder, so the
// decoders are checked against files they did not write.
#pragma once
#include <turbojpeg.h>
#include <zlib.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace digitnet::testing {

inline std::string be32_bytes(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const auto crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return be32_bytes(static_cast<uint32_t>(data.size())) + body + be32_bytes(crc);
}

// A PNG: IHDR with the given depth and colour type (0 grey, 2 RGB, 3 palette,
// 4 grey+alpha, 6 RGBA), each row's bytes as PNG stores them (filter 0 added
// here), optional PLTE and tRNS contents.
struct PngSpec {
  uint32_t width = 0, height = 0;
  int depth = 8, color = 0;
  std::vector<std::string> rows;
  std::string plte, trns;
};

inline std::string make_png(const PngSpec& s) {
  std::string ihdr = be32_bytes(s.width) + be32_bytes(s.height);
  ihdr += static_cast<char>(s.depth);
  ihdr += static_cast<char>(s.color);
  ihdr += std::string(3, '\0');  // deflate, adaptive filtering, no interlace
  std::string raw;
  for (const std::string& r : s.rows) raw += '\0' + r;
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string z(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &size,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                9) != Z_OK)
    throw std::runtime_error("compress2 failed");
  z.resize(size);
  std::string png = "\x89PNG\r\n\x1a\n";
  png += png_chunk("IHDR", ihdr);
  if (!s.plte.empty()) png += png_chunk("PLTE", s.plte);
  if (!s.trns.empty()) png += png_chunk("tRNS", s.trns);
  png += png_chunk("IDAT", z);
  png += png_chunk("IEND", "");
  return png;
}

// Bytes from a list of values 0..255.
inline std::string bytes_of(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s += static_cast<char>(b);
  return s;
}

// A binary PGM: header text (after "P5") then the samples (2 bytes each when maxval > 255).
inline std::string make_pgm(int width, int height, int maxval, const std::vector<int>& samples,
                            const std::string& header_sep = "\n") {
  std::string s = "P5" + header_sep + std::to_string(width) + " " + std::to_string(height) +
                  header_sep + std::to_string(maxval) + "\n";
  for (int v : samples) {
    if (maxval > 255) s += static_cast<char>(v >> 8);
    s += static_cast<char>(v & 0xFF);
  }
  return s;
}

// A JPEG by TurboJPEG from pixels in `pixel_format` (TJPF_GRAY, TJPF_RGB, TJPF_CMYK).
inline std::string make_jpeg(const std::vector<uint8_t>& pixels, int width, int height,
                             int pixel_format, int subsamp, int quality = 100) {
  tjhandle h = tjInitCompress();
  if (!h) throw std::runtime_error("tjInitCompress failed");
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(h, pixels.data(), width, 0, height, pixel_format, &buf, &size, subsamp,
                             quality, 0);
  std::string out = rc == 0 ? std::string(reinterpret_cast<const char*>(buf), size) : "";
  tjFree(buf);
  tjDestroy(h);
  if (rc != 0) throw std::runtime_error("tjCompress2 failed");
  return out;
}

}  // namespace digitnet::testing
