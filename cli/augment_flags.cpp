#include "augment_flags.hpp"

namespace digitnet::cli {

void add_augment_flags(CLI::App* app, AugmentFlags& f, const std::string& what, bool scale_name) {
  app->add_flag("--augment", f.augment,
                "Distort " + what +
                    " at random: rotate 10, shift 2, scale 0.1, shear 5 (each part flag below "
                    "overrides its default)");
  app->add_option("--rotate", f.rotate, "Random rotation up to +-DEG degrees")
      ->check(CLI::Range(0.0, 180.0));
  app->add_option("--shift", f.shift, "Random shift up to +-PX pixels on each axis")
      ->check(CLI::Range(0.0, 1000.0));
  app->add_option(scale_name ? "--scale,--zoom" : "--zoom", f.scale,
                  "Random zoom in [1-F, 1+F] (--augment: 0.1)")
      ->check(CLI::Range(0.0, 0.95));
  app->add_option("--shear", f.shear, "Random shear up to +-DEG degrees")
      ->check(CLI::Range(0.0, 80.0));
  app->add_option("--elastic", f.elastic,
                  "Elastic distortion ALPHA,SIGMA (Simard et al. 2003; e.g. 34,4)");
}

bool any_augment_flag(const AugmentFlags& f) {
  return f.augment || f.rotate || f.shift || f.scale || f.shear || !f.elastic.empty();
}

Augmentation augmentation_from_flags(const AugmentFlags& f) {
  Augmentation a = f.augment ? Augmentation::mnist() : Augmentation{};
  if (f.rotate) a.rotate = *f.rotate;
  if (f.shift) a.shift = *f.shift;
  if (f.scale) a.scale = *f.scale;
  if (f.shear) a.shear = *f.shear;
  if (!f.elastic.empty()) {
    const std::size_t comma = f.elastic.find(',');
    float alpha = 0, sigma = 0;
    bool ok = comma != std::string::npos;
    try {
      std::size_t used_a = 0, used_s = 0;
      if (ok) {
        alpha = std::stof(f.elastic.substr(0, comma), &used_a);
        sigma = std::stof(f.elastic.substr(comma + 1), &used_s);
        ok = used_a == comma && used_s == f.elastic.size() - comma - 1;
      }
    } catch (const std::exception&) {
      ok = false;
    }
    if (!ok || !(alpha > 0) || !(sigma > 0) || alpha > 1000 || sigma > 64)
      throw CLI::ValidationError("--elastic",
                                 "expected ALPHA,SIGMA with 0 < ALPHA <= 1000 and 0 < "
                                 "SIGMA <= 64, e.g. 34,4 (got '" +
                                     f.elastic + "')");
    a.elastic_alpha = alpha;
    a.elastic_sigma = sigma;
  }
  return a;
}

}  // namespace digitnet::cli
