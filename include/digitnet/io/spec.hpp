// digitnet/io/spec.hpp — model architectures as presets, text specs and JSON specs.
//
// The text and JSON formats are documented in docs/SPEC.md.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "digitnet/core/tensor.hpp"
#include "digitnet/model/sequential.hpp"

namespace digitnet {

// An architecture: the per-sample input shape and the layers as (Keras type, config).
struct ModelSpec {
  std::string name;  // preset name or file name
  Shape input_shape{1, 28, 28};
  std::vector<std::pair<std::string, nlohmann::json>> layers;
  // Where each layer came from ("net.txt:5", "net.json: layers[2]"), parallel to
  // `layers` when known (may be empty). build_model prefixes a layer's build
  // error (e.g. a shape that does not fit) with it.
  std::vector<std::string> origins;
};

// "mlp", "cnn", "lenet", "fast".
std::vector<std::string> preset_names();
// Throws Error listing the known presets for an unknown name.
ModelSpec preset_spec(const std::string& name);

// How a preset is meant to be trained: `digitnet train --preset NAME` starts from
// these settings, and each flag given replaces its setting. The tutorial presets
// share the classic recipe (Adam 1e-3 with a cosine decay, batch 128, 12 epochs);
// docs/ACCURACY.md gives what each recipe reaches and how it was chosen.
struct TrainingRecipe {
  int epochs = 12;
  int batch_size = 128;
  std::string optimizer = "adam";
  float learning_rate = 1e-3f;
  std::string schedule = "cosine";
  float label_smoothing = 0.0f;
  Augmentation augment;
};
// Throws Error listing the known presets for an unknown name.
TrainingRecipe preset_recipe(const std::string& name);

// Parses a spec: JSON (first non-blank character '{') or the line-based text
// format documented in docs/SPEC.md. Errors name `source` and the line (and
// column for JSON).
ModelSpec parse_spec(const std::string& text, const std::string& source);
ModelSpec read_spec_file(const std::string& path);
// A preset name ("cnn") or else a spec file path.
ModelSpec resolve_spec(const std::string& preset_or_path);

nlohmann::json spec_to_json(const ModelSpec& spec);
ModelSpec spec_from_json(const nlohmann::json& j, const std::string& source);
// The architecture of a model (its layers' types and configs).
ModelSpec spec_from_model(const Sequential& model);

// Fits a spec to a data set's images (C, H, W) and class count. With `adapt`
// (a preset) the input becomes the images' shape and the last Dense layer gets
// one unit per class; without (a spec file) a different input shape or output
// count is an Error naming the spec and what to change.
ModelSpec fit_spec_to_data(ModelSpec spec, const Shape& image_shape, int num_classes, bool adapt);

// Builds (and initialises) a model from a spec. Errors name the layer's origin
// (or its index and type).
Sequential build_model(const ModelSpec& spec, uint64_t seed = 0, int threads = 1);

}  // namespace digitnet
