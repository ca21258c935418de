// Image decoding (PNG, JPEG, PGM), resizing and PNG writing: values, and every bad-input case.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/data/image.hpp"
#include "image_files.hpp"
#include "test_support.hpp"

namespace digitnet {
namespace {

using testing::bytes_of;
using testing::error_of;
using testing::make_jpeg;
using testing::make_pgm;
using testing::make_png;
using testing::PngSpec;
using testing::TempDir;
using testing::write_file;

std::span<const uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

GrayImage decode(const std::string& bytes, const std::string& name = "img") {
  return decode_image(span_of(bytes), name);
}

bool has(const std::string& msg, const std::string& part) {
  return msg.find(part) != std::string::npos;
}

TEST(DataImage, GreyPng8BitKeepsValues) {
  const GrayImage g =
      decode(make_png({.width = 3,
                       .height = 2,
                       .depth = 8,
                       .color = 0,
                       .rows = {bytes_of({0, 17, 128}), bytes_of({200, 254, 255})}}));
  EXPECT_EQ(g.width, 3);
  EXPECT_EQ(g.height, 2);
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{0, 17, 128, 200, 254, 255}));
}

TEST(DataImage, GreyPng1BitScalesToBlackAndWhite) {
  // 10 pixels at 1 bit: 1011001110 packed into two bytes, high bit first.
  const GrayImage g = decode(make_png({.width = 10,
                                       .height = 1,
                                       .depth = 1,
                                       .color = 0,
                                       .rows = {bytes_of({0b10110011, 0b10000000})}}));
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{255, 0, 255, 255, 0, 0, 255, 255, 255, 0}));
}

TEST(DataImage, GreyPng16BitWithoutGammaIsTakenAsSrgb) {
  // 0x8080 = 128 * 257 and 0x1234 = 18.1 * 257: the high byte, not a linear-light re-encoding.
  const GrayImage g =
      decode(make_png({.width = 4,
                       .height = 1,
                       .depth = 16,
                       .color = 0,
                       .rows = {bytes_of({0x00, 0x00, 0xFF, 0xFF, 0x80, 0x80, 0x12, 0x34})}}));
  ASSERT_EQ(g.pixels.size(), 4u);
  EXPECT_EQ(g.pixels[0], 0);
  EXPECT_EQ(g.pixels[1], 255);
  EXPECT_EQ(g.pixels[2], 128);
  EXPECT_NEAR(g.pixels[3], 18, 1);
}

TEST(DataImage, RgbPngBecomesLuminance) {
  const GrayImage g = decode(make_png(
      {.width = 5,
       .height = 1,
       .depth = 8,
       .color = 2,
       .rows = {bytes_of({0, 0, 0, 255, 255, 255, 100, 100, 100, 255, 0, 0, 0, 255, 0})}}));
  ASSERT_EQ(g.pixels.size(), 5u);
  EXPECT_EQ(g.pixels[0], 0);
  EXPECT_EQ(g.pixels[1], 255);
  EXPECT_NEAR(g.pixels[2], 100, 1);  // grey stays grey
  // Pure red and green: Rec. 601 luma on the encoded values, as a JPEG's Y.
  EXPECT_EQ(g.pixels[3], 76);   // 0.299 * 255
  EXPECT_EQ(g.pixels[4], 150);  // 0.587 * 255
  EXPECT_LT(g.pixels[3], g.pixels[4]);
}

TEST(DataImage, RgbaPngIsCompositedOverWhite) {
  const GrayImage g = decode(make_png({.width = 4,
                                       .height = 1,
                                       .depth = 8,
                                       .color = 6,
                                       .rows = {bytes_of({0, 0, 0, 0,          // transparent black
                                                          0, 0, 0, 255,        // opaque black
                                                          255, 0, 0, 0,        // transparent red
                                                          0, 0, 0, 128})}}));  // half black
  ASSERT_EQ(g.pixels.size(), 4u);
  EXPECT_EQ(g.pixels[0], 255);
  EXPECT_EQ(g.pixels[1], 0);
  EXPECT_EQ(g.pixels[2], 255);
  // Half-covered black over white, blended as a viewer shows it: mid grey, not black.
  EXPECT_EQ(g.pixels[3], 127);  // 255 * (255 - 128) / 255
}

TEST(DataImage, GreyAlphaPngIsCompositedOverWhite) {
  const GrayImage g = decode(make_png({.width = 3,
                                       .height = 1,
                                       .depth = 8,
                                       .color = 4,
                                       .rows = {bytes_of({0, 0, 0, 255, 90, 255})}}));
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{255, 0, 90}));
}

TEST(DataImage, PalettePngWithTransparency) {
  // Palette black, white, mid grey, red; index 4 transparent black (tRNS).
  const std::string plte = bytes_of({0, 0, 0, 255, 255, 255, 128, 128, 128, 255, 0, 0, 0, 0, 0});
  const std::string trns = bytes_of({255, 255, 255, 255, 0});
  const GrayImage g8 = decode(make_png({.width = 5,
                                        .height = 1,
                                        .depth = 8,
                                        .color = 3,
                                        .rows = {bytes_of({2, 0, 1, 4, 3})},
                                        .plte = plte,
                                        .trns = trns}));
  ASSERT_EQ(g8.pixels.size(), 5u);
  EXPECT_EQ(g8.pixels[0], 128);
  EXPECT_EQ(g8.pixels[1], 0);
  EXPECT_EQ(g8.pixels[2], 255);
  EXPECT_EQ(g8.pixels[3], 255);  // transparent: the white background
  EXPECT_EQ(g8.pixels[4], 76);   // red: its luma
  // The same at 4 bits an index.
  const GrayImage g4 = decode(make_png({.width = 5,
                                        .height = 1,
                                        .depth = 4,
                                        .color = 3,
                                        .rows = {bytes_of({0x20, 0x14, 0x30})},
                                        .plte = plte,
                                        .trns = trns}));
  EXPECT_EQ(g4.pixels, g8.pixels);
}

TEST(DataImage, JpegGreyWithinJpegTolerance) {
  std::vector<uint8_t> px(32 * 16);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 32; ++x) px[static_cast<size_t>(y * 32 + x)] = static_cast<uint8_t>(x * 8);
  const GrayImage g = decode(make_jpeg(px, 32, 16, TJPF_GRAY, TJSAMP_GRAY));
  ASSERT_EQ(g.width, 32);
  ASSERT_EQ(g.height, 16);
  for (size_t i = 0; i < px.size(); ++i) EXPECT_NEAR(g.pixels[i], px[i], 3) << i;
}

TEST(DataImage, JpegColourGivesLuma) {
  // Four flat 8x8 blocks (no ringing): red, green, blue, light grey.
  const uint8_t colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {200, 200, 200}};
  std::vector<uint8_t> px(16 * 16 * 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c)
        px[static_cast<size_t>((y * 16 + x) * 3 + c)] = colours[(y / 8) * 2 + x / 8][c];
  const GrayImage g = decode(make_jpeg(px, 16, 16, TJPF_RGB, TJSAMP_444));
  ASSERT_EQ(g.pixels.size(), 256u);
  // Y = 0.299 R + 0.587 G + 0.114 B.
  const int luma[4] = {76, 150, 29, 200};
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      EXPECT_NEAR(g.pixels[static_cast<size_t>(y * 16 + x)], luma[(y / 8) * 2 + x / 8], 3)
          << y << "," << x;
}

TEST(DataImage, JpegCmykIsAnError) {
  const std::vector<uint8_t> px(8 * 8 * 4, 100);
  const std::string msg =
      error_of([&] { decode(make_jpeg(px, 8, 8, TJPF_CMYK, TJSAMP_444), "ink.jpg"); });
  EXPECT_TRUE(has(msg, "ink.jpg")) << msg;
  EXPECT_TRUE(has(msg, "CMYK")) << msg;
}

TEST(DataImage, Pgm8BitWithCommentsAndScaledMaxval) {
  const GrayImage g =
      decode("P5\n# made by hand\n3 # width\n2\n255\n" + bytes_of({0, 1, 2, 253, 254, 255}));
  EXPECT_EQ(g.width, 3);
  EXPECT_EQ(g.height, 2);
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{0, 1, 2, 253, 254, 255}));
  // maxval 100: v * 255 / 100 rounded.
  const GrayImage s = decode(make_pgm(4, 1, 100, {0, 50, 99, 100}));
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{0, 128, 252, 255}));
  const GrayImage one = decode(make_pgm(2, 1, 1, {1, 0}));
  EXPECT_EQ(one.pixels, (std::vector<uint8_t>{255, 0}));
}

TEST(DataImage, Pgm16BitScalesTo8Bit) {
  const GrayImage g = decode(make_pgm(4, 1, 65535, {0, 65535, 0x8080, 0x1234}));
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{0, 255, 128, 18}));
  const GrayImage k = decode(make_pgm(3, 1, 1000, {0, 500, 1000}));
  EXPECT_EQ(k.pixels, (std::vector<uint8_t>{0, 128, 255}));
}

TEST(DataImage, PgmErrorsNameTheFileAndByteOffset) {
  struct Case {
    std::string bytes, words;
  };
  const std::vector<Case> cases = {
      {"P5\n2 2\n255\n" + bytes_of({1, 2, 3}), "byte 14: PGM: file ends inside the raster"},
      {"P5\n2 1\n255\n" + bytes_of({1, 2, 3}), "byte 13: PGM: 1 trailing bytes"},
      {"P5\n2 1\n100\n" + bytes_of({1, 101}), "byte 12: PGM: sample 101 exceeds maxval 100"},
      {"P5\n2 1\n0\n" + bytes_of({1, 1}), "byte 7: PGM: maxval 0 is below 1"},
      {"P5\n2 1\n70000\n" + bytes_of({1, 1}), "byte 7: PGM: maxval exceeds 65535"},
      {"P5\n0 1\n255\n", "byte 3: PGM: width 0 is below 1"},
      {"P5\nx 1\n255\n", "byte 3: PGM: expected the width"},
      {"P5 2", "byte 4: PGM: file ends before the height"},
      {"P5 2 1 255", "byte 10: PGM: expected one whitespace byte after maxval"},
      {"P52 1 255\n", "byte 2: PGM: expected whitespace after the magic"},
      {"P5\n2x 1\n255\n", "byte 4: PGM: unexpected byte 0x78 after the width"},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of([&] { decode(c.bytes, "bad.pgm"); });
    EXPECT_TRUE(has(msg, "bad.pgm: ")) << msg;
    EXPECT_TRUE(has(msg, c.words)) << "expected \"" << c.words << "\" in: " << msg;
  }
}

TEST(DataImage, TruncatedCorruptAndUnknownFilesAreErrorsNamingTheFile) {
  std::vector<uint8_t> px(64 * 64);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7);
  std::vector<std::string> rows(64);
  for (int y = 0; y < 64; ++y)
    rows[static_cast<size_t>(y)] =
        std::string(reinterpret_cast<const char*>(&px[size_t(y) * 64]), 64);
  const std::string png =
      make_png({.width = 64, .height = 64, .depth = 8, .color = 0, .rows = rows});
  const std::string jpeg = make_jpeg(px, 64, 64, TJPF_GRAY, TJSAMP_GRAY, 90);
  std::string bad_crc = png;
  bad_crc[png.size() / 2] = static_cast<char>(bad_crc[png.size() / 2] ^ 0x40);
  std::string bad_jpeg = jpeg;
  for (size_t i = jpeg.size() / 2; i < jpeg.size() / 2 + 16; ++i) bad_jpeg[i] = '\xff';

  const std::vector<std::pair<std::string, std::string>> cases = {
      {png.substr(0, png.size() / 2), "PNG"},
      {png.substr(0, 20), "PNG"},
      {bad_crc, "PNG"},
      {jpeg.substr(0, jpeg.size() / 2), "JPEG"},
      {jpeg.substr(0, 4), "JPEG"},
      {bad_jpeg, "JPEG"},
      {"GIF89a\x01\x00\x01\x00", "unknown image format (starts with 0x47 0x49 0x46 0x38)"},
      {"", "empty file"},
      {"P2\n1 1\n255\n0\n", "Netpbm type P2 is not supported"},
  };
  for (const auto& [bytes, words] : cases) {
    const std::string msg = error_of([&] { decode(bytes, "/data/x/broken.img"); });
    EXPECT_TRUE(has(msg, "/data/x/broken.img: ")) << msg;
    EXPECT_TRUE(has(msg, words)) << "expected \"" << words << "\" in: " << msg;
  }
  // The intact files decode.
  EXPECT_EQ(decode(png).pixels, px);
  EXPECT_EQ(decode(jpeg).width, 64);
}

// A PNG whose IHDR claims width x height but holds a few bytes of data.
std::string lying_png(uint32_t width, uint32_t height) {
  return make_png(
      {.width = width, .height = height, .depth = 8, .color = 0, .rows = {std::string(16, '\0')}});
}

// A small JPEG whose frame header (SOF0) claims width x height.
std::string lying_jpeg(uint16_t width, uint16_t height) {
  std::string j = make_jpeg(std::vector<uint8_t>(64, 9), 8, 8, TJPF_GRAY, TJSAMP_GRAY);
  const size_t sof = j.find("\xff\xc0");
  if (sof == std::string::npos) return "";
  j[sof + 5] = static_cast<char>(height >> 8);
  j[sof + 6] = static_cast<char>(height);
  j[sof + 7] = static_cast<char>(width >> 8);
  j[sof + 8] = static_cast<char>(width);
  return j;
}

// In a death-test child: caps the address space 128 MiB above the current use
// (unless under ASan), decodes every liar, exits 0 iff each gave a clean
// digitnet::Error naming it (allocating what a header claims would fail instead).
[[noreturn]] void decode_liars_with_capped_memory(const std::vector<std::string>& liars) {
#if !defined(__SANITIZE_ADDRESS__)
  long vm_kb = 0;
  std::ifstream st("/proc/self/status");
  for (std::string line; std::getline(st, line);)
    if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stol(line.substr(7));
  const rlim_t cap = static_cast<rlim_t>(vm_kb) * 1024 + (rlim_t{128} << 20);
  rlimit rl{cap, cap};
  setrlimit(RLIMIT_AS, &rl);
#endif
  size_t ok = 0;
  for (const std::string& bytes : liars) {
    try {
      decode(bytes, "liar");
    } catch (const Error& e) {
      if (has(e.what(), "liar: ")) ++ok;
    } catch (...) {
    }
  }
  std::exit(ok == liars.size() ? 0 : 1);
}

TEST(DataImage, LyingHugeHeaderIsRejectedBeforeAllocating) {
  const std::string png_huge = lying_png(100000, 100000);
  EXPECT_TRUE(has(error_of([&] { decode(png_huge); }), "exceeds 268435456 pixels"));
  // Under the cap, but 256 MB of pixels cannot come out of a 100-byte PNG.
  const std::string png_big = lying_png(16000, 16000);
  EXPECT_TRUE(has(error_of([&] { decode(png_big); }), "more pixels than a file of"));
  const std::string jpeg_huge = lying_jpeg(65000, 65000);
  ASSERT_FALSE(jpeg_huge.empty());
  EXPECT_TRUE(has(error_of([&] { decode(jpeg_huge); }), "exceeds 268435456 pixels"));
  const std::string pgm_huge = "P5\n60000 60000\n255\n" + std::string(100, '\x01');
  EXPECT_TRUE(has(error_of([&] { decode(pgm_huge); }), "byte 3: PGM: image size 60000x60000"));
  const std::string pgm_big = "P5\n16000 16000\n255\n" + std::string(100, '\x01');
  EXPECT_TRUE(has(error_of([&] { decode(pgm_big); }), "file ends inside the raster"));

  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::vector<std::string> liars = {png_huge, png_big, jpeg_huge, pgm_huge, pgm_big};
  EXPECT_EXIT(decode_liars_with_capped_memory(liars), ::testing::ExitedWithCode(0), "");
}

TEST(DataImage, ReadImageNamesAnUnreadablePath) {
  TempDir dir;
  const std::string missing = dir.file("nope.png");
  const std::string msg = error_of([&] { read_image(missing); });
  EXPECT_TRUE(has(msg, missing + ": cannot open")) << msg;
  EXPECT_TRUE(has(error_of([&] { read_image(dir.path().string()); }), "is a directory"));
  // Detected by content, not by the name: a PGM called .png.
  const std::string p = dir.file("really-a-pgm.png");
  write_file(p, make_pgm(2, 1, 255, {7, 9}));
  EXPECT_EQ(read_image(p).pixels, (std::vector<uint8_t>{7, 9}));
}

TEST(DataImage, WritePngRoundTrips) {
  TempDir dir;
  GrayImage img{.width = 5, .height = 3, .pixels = {}};
  for (int i = 0; i < 15; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 17));
  const std::string p = dir.file("out.png");
  write_png(p, img);
  EXPECT_EQ(read_image(p), img);
  // Nothing but the file itself is left in the folder (the temporary was renamed).
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
  EXPECT_TRUE(has(error_of([&] {
                    write_png(dir.file("bad.png"), GrayImage{2, 2, {1, 2, 3}});
                  }),
                  "bad.png"));
}

// ---- resize ----

GrayImage make(int width, int height, std::vector<uint8_t> px) {
  return GrayImage{width, height, std::move(px)};
}

TEST(DataImage, ResizeOfAConstantImageStaysConstant) {
  const GrayImage c = make(7, 5, std::vector<uint8_t>(35, 93));
  for (auto [h, w] : {std::pair{3, 4}, {20, 11}, {1, 1}, {5, 2}, {50, 7}}) {
    const GrayImage r = resize_image(c, h, w);
    EXPECT_EQ(r.height, h);
    EXPECT_EQ(r.width, w);
    EXPECT_EQ(r.pixels, std::vector<uint8_t>(static_cast<size_t>(h * w), 93)) << h << "x" << w;
  }
}

TEST(DataImage, ResizeDownscaleAveragesTheCoveredPixels) {
  // A 2x2 checker to one pixel: the mean, 127.5, rounded half up.
  EXPECT_EQ(resize_image(make(2, 2, {0, 255, 255, 0}), 1, 1).pixels, (std::vector<uint8_t>{128}));
  // Halving a row: each output's triangle spans 4 source pixels (weights 1, 3, 3, 1
  // over [-1, 3), clipped at the edges): (0*3 + 0*3 + 255) / 7 and (0 + 255*3 + 255*3) / 7.
  EXPECT_EQ(resize_image(make(4, 1, {0, 0, 255, 255}), 1, 2).pixels,
            (std::vector<uint8_t>{36, 219}));
  // An 8x8 checker to 4x4 and to 2x2: every output pixel covers both colours evenly.
  std::vector<uint8_t> checker(64);
  for (int i = 0; i < 64; ++i) checker[static_cast<size_t>(i)] = ((i / 8 + i % 8) % 2) ? 255 : 0;
  for (int s : {2, 1}) {
    const GrayImage r = resize_image(make(8, 8, checker), s, s);
    for (uint8_t v : r.pixels) EXPECT_NEAR(v, 128, 20) << s;
  }
}

TEST(DataImage, ResizeToTheSameSizeIsACopy) {
  std::vector<uint8_t> px(6 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 11);
  const GrayImage in = make(6, 4, px);
  EXPECT_EQ(resize_image(in, 4, 6), in);
}

TEST(DataImage, ResizeUpscaleIsBilinear) {
  // Centres aligned: outputs at source x = -0.25, 0.25, 0.75, 1.25 (edges clamp).
  EXPECT_EQ(resize_image(make(2, 1, {0, 255}), 1, 4).pixels,
            (std::vector<uint8_t>{0, 64, 191, 255}));
  // 2-D: separable, monotonic along rows and columns, symmetric, corners kept.
  const GrayImage r = resize_image(make(2, 2, {0, 100, 100, 200}), 6, 6);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) {
      const int v = r.pixels[static_cast<size_t>(y * 6 + x)];
      if (x > 0) {
        EXPECT_GE(v, r.pixels[static_cast<size_t>(y * 6 + x - 1)]);
      }
      if (y > 0) {
        EXPECT_GE(v, r.pixels[static_cast<size_t>((y - 1) * 6 + x)]);
      }
      EXPECT_EQ(v, r.pixels[static_cast<size_t>(x * 6 + y)]);
      // Bilinear in the clamped source coordinates.
      const double sx = std::clamp((x + 0.5) / 3 - 0.5, 0.0, 1.0);
      const double sy = std::clamp((y + 0.5) / 3 - 0.5, 0.0, 1.0);
      EXPECT_EQ(v, static_cast<int>(std::floor(100 * sx + 100 * sy + 0.5))) << y << "," << x;
    }
  EXPECT_EQ(r.pixels.front(), 0);
  EXPECT_EQ(r.pixels.back(), 200);
}

// The definition: each output pixel the normalised triangle-weighted sum over all
// source pixels, the triangle's half-width max(1, in/out) in source pixels.
std::vector<double> reference_weights(int in, int out, int o) {
  const double scale = static_cast<double>(in) / out, stretch = std::max(1.0, scale);
  const double centre = (o + 0.5) * scale;
  std::vector<double> w(static_cast<size_t>(in));
  double sum = 0;
  for (int i = 0; i < in; ++i) {
    const double d = std::abs(i + 0.5 - centre) / stretch;
    sum += w[static_cast<size_t>(i)] = d < 1 ? 1 - d : 0;
  }
  for (double& x : w) x /= sum;
  return w;
}

TEST(DataImage, ResizeMatchesTheFilterDefinition) {
  Rng rng(7);
  std::vector<uint8_t> px(13 * 9);
  for (uint8_t& p : px) p = static_cast<uint8_t>(rng.below(256));
  const GrayImage in = make(13, 9, px);
  for (auto [h, w] : {std::pair{4, 5}, {9, 28}, {28, 28}, {3, 13}, {2, 1}}) {
    const GrayImage r = resize_image(in, h, w);
    for (int y = 0; y < h; ++y) {
      const auto wy = reference_weights(9, h, y);
      for (int x = 0; x < w; ++x) {
        const auto wx = reference_weights(13, w, x);
        double v = 0;
        for (int i = 0; i < 9; ++i)
          for (int j = 0; j < 13; ++j)
            v += wy[static_cast<size_t>(i)] * wx[static_cast<size_t>(j)] *
                 px[static_cast<size_t>(i * 13 + j)];
        EXPECT_NEAR(r.pixels[static_cast<size_t>(y * w + x)], v, 0.5 + 1e-9)
            << h << "x" << w << " at " << y << "," << x;
      }
    }
  }
}

TEST(DataImage, ResizeRejectsBadSizes) {
  const GrayImage in = make(2, 2, {1, 2, 3, 4});
  EXPECT_TRUE(has(error_of([&] { resize_image(in, 0, 3); }), "output size 0x3"));
  EXPECT_TRUE(has(error_of([&] { resize_image(in, 1 << 15, 1 << 15); }), "output size"));
  EXPECT_TRUE(has(error_of([&] { resize_image(make(2, 2, {1}), 3, 3); }), "not a valid image"));
}

}  // namespace
}  // namespace digitnet
