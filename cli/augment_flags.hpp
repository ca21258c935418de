// The augmentation flags train and show share (--augment, --rotate, --shift,
// --scale, --shear, --elastic) and the Augmentation they ask for.
#pragma once
#include <CLI/CLI.hpp>
#include <digitnet/digitnet.hpp>
#include <optional>
#include <string>

namespace digitnet::cli {

struct AugmentFlags {
  bool augment = false;  // Augmentation::mnist()'s defaults
  std::optional<float> rotate, shift, scale, shear;
  std::string elastic;  // "ALPHA,SIGMA"
};

// Adds the flags to `app`; `what` says what they distort ("each training image").
// The zoom is --scale (and --zoom) with `scale_name`, else only --zoom (show's
// --scale is its magnification).
void add_augment_flags(CLI::App* app, AugmentFlags& f, const std::string& what, bool scale_name);

// Whether any augmentation flag was given.
bool any_augment_flag(const AugmentFlags& f);

// --augment's defaults, then each part given. A malformed --elastic is a
// CLI::ValidationError (a usage error).
Augmentation augmentation_from_flags(const AugmentFlags& f);

}  // namespace digitnet::cli
