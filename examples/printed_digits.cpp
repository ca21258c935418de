// Makes an image-folder data set of printed digits, the layout digitnet reads
// with --dataset FOLDER: OUT/train/<digit>/*.png and OUT/test/<digit>/*.png,
// dark ink on light paper, 32x32, each digit drawn with cairo in one of the
// DejaVu faces, turned, scaled, shifted and with paper noise.
//
//   example_printed_digits OUT [PER_DIGIT_TRAIN=300] [PER_DIGIT_TEST=60] [SEED=1]
//   digitnet train --preset lenet --dataset OUT -o printed.dnm
#include <cairo.h>

#include <cmath>
#include <cstdio>
#include <digitnet/digitnet.hpp>
#include <filesystem>
#include <iostream>
#include <string>

namespace fs = std::filesystem;
using namespace digitnet;

namespace {

constexpr int kSize = 32;

struct Face {
  const char* family;
  cairo_font_slant_t slant;
  cairo_font_weight_t weight;
};

// One digit as a grey image: white paper, black ink.
GrayImage draw_digit(int digit, const Face& face, Rng& rng) {
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, kSize, kSize);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, face.family, face.slant, face.weight);
  cairo_set_font_size(cr, rng.uniform(18.0f, 26.0f));
  const std::string text = std::to_string(digit);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text.c_str(), &ext);
  cairo_translate(cr, kSize / 2.0 + rng.uniform(-3.0f, 3.0f),
                  kSize / 2.0 + rng.uniform(-3.0f, 3.0f));
  cairo_rotate(cr, rng.uniform(-0.25f, 0.25f));
  const double ink = rng.uniform(0.0f, 0.35f);
  cairo_set_source_rgb(cr, ink, ink, ink);
  cairo_move_to(cr, -ext.x_bearing - ext.width / 2, -ext.y_bearing - ext.height / 2);
  cairo_show_text(cr, text.c_str());
  cairo_surface_flush(surface);

  GrayImage img{kSize, kSize, std::vector<uint8_t>(kSize * kSize)};
  const unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x) {
      const uint32_t px = *reinterpret_cast<const uint32_t*>(data + y * stride + 4 * x);
      const float grey = static_cast<float>((px >> 8) & 0xFF) + rng.uniform(-12.0f, 12.0f);
      img.pixels[static_cast<size_t>(y * kSize + x)] =
          static_cast<uint8_t>(std::lround(std::fmin(255.0f, std::fmax(0.0f, grey))));
    }
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " OUT [PER_DIGIT_TRAIN] [PER_DIGIT_TEST] [SEED]\n";
    return 2;
  }
  const fs::path out = argv[1];
  const int per_train = argc > 2 ? std::atoi(argv[2]) : 300;
  const int per_test = argc > 3 ? std::atoi(argv[3]) : 60;
  Rng rng(argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1);
  const Face faces[] = {
      {"DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL},
      {"DejaVu Sans", CAIRO_FONT_SLANT_OBLIQUE, CAIRO_FONT_WEIGHT_BOLD},
      {"DejaVu Serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL},
      {"DejaVu Serif", CAIRO_FONT_SLANT_ITALIC, CAIRO_FONT_WEIGHT_BOLD},
      {"DejaVu Sans Mono", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL},
      {"DejaVu Sans Mono", CAIRO_FONT_SLANT_OBLIQUE, CAIRO_FONT_WEIGHT_BOLD},
  };
  try {
    for (const char* split : {"train", "test"}) {
      const int n = split[1] == 'r' ? per_train : per_test;
      for (int d = 0; d < 10; ++d) {
        const fs::path dir = out / split / std::to_string(d);
        fs::create_directories(dir);
        for (int i = 0; i < n; ++i) {
          const Face& face = faces[rng.below(std::size(faces))];
          char name[32];
          std::snprintf(name, sizeof name, "%05d.png", i);
          write_png((dir / name).string(), draw_digit(d, face, rng));
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  std::cout << "Wrote " << 10 * (per_train + per_test) << " images to " << out.string()
            << " (train/<digit>/, test/<digit>/)\n";
  return 0;
}
