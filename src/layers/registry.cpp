// src/layers/registry.cpp — make_layer: Keras class name + config -> layer.
#include "layers/layer_util.hpp"

namespace digitnet {

LayerPtr make_layer(const std::string& type, const nlohmann::json& config) {
  using Factory = LayerPtr (*)(const nlohmann::json&);
  static constexpr struct {
    const char* type;
    Factory make;
  } kFactories[] = {
      {"Dense", detail::dense_from_config},
      {"Conv2D", detail::conv2d_from_config},
      {"MaxPooling2D", detail::max_pooling2d_from_config},
      {"AveragePooling2D", detail::average_pooling2d_from_config},
      {"Dropout", detail::dropout_from_config},
      {"Flatten", detail::flatten_from_config},
      {"BatchNormalization", detail::batchnorm_from_config},
      {"Activation", detail::activation_from_config},
  };
  for (const auto& f : kFactories)
    if (type == f.type) return f.make(config);
  throw Error("make_layer: unknown layer type '" + type +
              "' (expected Dense, Conv2D, MaxPooling2D, AveragePooling2D, Dropout, Flatten, "
              "BatchNormalization or Activation)");
}

}  // namespace digitnet
