// src/layers/layer_util.cpp — helpers shared by the layers (see layer_util.hpp).
#include "layers/layer_util.hpp"

#include <cmath>

namespace digitnet::detail {

std::string layer_label(const Layer& layer) {
  return layer.name.empty() ? layer.type() : layer.type() + " '" + layer.name + "'";
}

void check_forward_input(const Layer& layer, const Tensor& x) {
  const Shape& in = layer.input_shape();
  if (in.empty()) throw Error(layer_label(layer) + ": forward called before build()");
  bool ok = x.rank() == static_cast<int>(in.size()) + 1 && x.dim(0) >= 1;
  for (std::size_t i = 0; ok && i < in.size(); ++i) ok = x.dim(static_cast<int>(i) + 1) == in[i];
  if (!ok)
    throw Error(layer_label(layer) + ": input " + shape_str(x.shape()) +
                " does not match the built per-sample shape " + shape_str(in) +
                " (expected (batch, ...))");
}

void check_backward_grad(const Layer& layer, const Tensor& y, const Tensor& dy) {
  if (dy.shape() != y.shape())
    throw Error(layer_label(layer) + ": output gradient " + shape_str(dy.shape()) +
                " does not match the output " + shape_str(y.shape()));
}

Axis spatial_axis(int64_t in, int k, int stride, Padding padding) {
  Axis a;
  if (padding == Padding::valid) {
    if (in < k) return a;  // out = 0: the caller reports the error
    a.out = static_cast<int>((in - k) / stride + 1);
    a.pad_before = 0;
  } else {
    a.out = static_cast<int>((in + stride - 1) / stride);
    const int64_t total = std::max<int64_t>((a.out - 1) * int64_t{stride} + k - in, 0);
    a.pad_before = static_cast<int>(total / 2);
  }
  return a;
}

std::string padding_name(Padding p) { return p == Padding::same ? "same" : "valid"; }

Padding padding_from_name(const std::string& layer_type, const std::string& name) {
  if (name == "valid") return Padding::valid;
  if (name == "same") return Padding::same;
  throw Error(layer_type + " config: field 'padding' must be \"valid\" or \"same\" (got \"" + name +
              "\")");
}

void glorot_uniform(Tensor& t, int64_t fan_in, int64_t fan_out, Rng& rng) {
  const float limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
  for (int64_t i = 0; i < t.size(); ++i) t[i] = rng.uniform(-limit, limit);
}

// ---- config parsing ----

namespace {
const nlohmann::json& field_value(const std::string& type, const nlohmann::json& cfg,
                                  const char* field) {
  if (!has_field(cfg, field)) throw Error(type + " config: missing required field '" + field + "'");
  return cfg.at(field);
}
[[noreturn]] void bad_field(const std::string& type, const char* field, const char* what,
                            const nlohmann::json& got) {
  throw Error(type + " config: field '" + field + "' must be " + what + " (got " + got.dump() +
              ")");
}
}  // namespace

const nlohmann::json& config_object(const std::string& type, const nlohmann::json& cfg) {
  if (!cfg.is_object() && !cfg.is_null())
    throw Error(type + " config: expected a JSON object, got " + cfg.dump());
  return cfg;
}

bool has_field(const nlohmann::json& cfg, const char* field) {
  return cfg.is_object() && cfg.contains(field) && !cfg.at(field).is_null();
}

int config_int(const std::string& type, const nlohmann::json& cfg, const char* field) {
  const auto& v = field_value(type, cfg, field);
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (i >= INT32_MIN && i <= INT32_MAX) return static_cast<int>(i);
  }
  // Keras writes kernel_size / pool_size / strides as [k, k].
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[0] == v[1])
    return config_int(type, nlohmann::json{{field, v[0]}}, field);
  bad_field(type, field, "an integer", v);
}

int config_int(const std::string& type, const nlohmann::json& cfg, const char* field, int def) {
  return has_field(cfg, field) ? config_int(type, cfg, field) : def;
}

float config_float(const std::string& type, const nlohmann::json& cfg, const char* field) {
  const auto& v = field_value(type, cfg, field);
  if (!v.is_number()) bad_field(type, field, "a number", v);
  return v.get<float>();
}

float config_float(const std::string& type, const nlohmann::json& cfg, const char* field,
                   float def) {
  return has_field(cfg, field) ? config_float(type, cfg, field) : def;
}

bool config_bool(const std::string& type, const nlohmann::json& cfg, const char* field, bool def) {
  if (!has_field(cfg, field)) return def;
  const auto& v = cfg.at(field);
  if (!v.is_boolean()) bad_field(type, field, "true or false", v);
  return v.get<bool>();
}

std::string config_string(const std::string& type, const nlohmann::json& cfg, const char* field,
                          const std::string& def) {
  if (!has_field(cfg, field)) return def;
  const auto& v = cfg.at(field);
  if (!v.is_string()) bad_field(type, field, "a string", v);
  return v.get<std::string>();
}

Activation config_activation(const std::string& type, const nlohmann::json& cfg, Activation def) {
  if (!has_field(cfg, "activation")) return def;
  const std::string name = config_string(type, cfg, "activation", "");
  try {
    return activation_from_name(name);
  } catch (const Error& e) {
    throw Error(type + " config: field 'activation': " + e.what());
  }
}

}  // namespace digitnet::detail
