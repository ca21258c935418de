// src/layers/layer_util.hpp — private helpers shared by the layer implementations:
// activation kernels, the TensorFlow padding rule, glorot init, config parsing,
// and the per-type factories make_layer() dispatches to.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/layers/layers.hpp"

namespace digitnet::detail {

// "Dense 'dense_1'" when the model named the layer, else "Dense".
std::string layer_label(const Layer& layer);

// Throws unless x is (N, input_shape...) with N >= 1 and the layer was built.
void check_forward_input(const Layer& layer, const Tensor& x);
// Throws unless dy has the shape of y (the forward output).
void check_backward_grad(const Layer& layer, const Tensor& y, const Tensor& dy);

// ---- activations (activation.cpp) ----

// In place v = act(v) on `rows` rows of `cols` values each (softmax normalises each row).
void activation_forward(Activation a, float alpha, float* v, int64_t rows, int64_t cols);
// dz = dy ⊙ act'(z), computed from the output y = act(z) (softmax: the full
// Jacobian-vector product per row). Valid for leaky_relu with alpha >= 0.
void activation_backward_from_y(Activation a, float alpha, const float* y, const float* dy,
                                float* dz, int64_t rows, int64_t cols);

// ---- spatial geometry ----

// Output size and leading padding along one axis for kernel k and stride s,
// 'valid' or TensorFlow 'same' (out = ceil(in/s), the odd padding row goes last).
struct Axis {
  int out = 0;
  int pad_before = 0;
};
Axis spatial_axis(int64_t in, int k, int stride, Padding padding);
std::string padding_name(Padding p);
Padding padding_from_name(const std::string& layer_type, const std::string& name);

// ---- initialisers ----

// Fills t with U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), drawn in element order.
void glorot_uniform(Tensor& t, int64_t fan_in, int64_t fan_out, Rng& rng);

// ---- config parsing: every error names the layer type and the field ----

const nlohmann::json& config_object(const std::string& type, const nlohmann::json& cfg);
bool has_field(const nlohmann::json& cfg, const char* field);
int config_int(const std::string& type, const nlohmann::json& cfg, const char* field);
int config_int(const std::string& type, const nlohmann::json& cfg, const char* field, int def);
float config_float(const std::string& type, const nlohmann::json& cfg, const char* field);
float config_float(const std::string& type, const nlohmann::json& cfg, const char* field,
                   float def);
bool config_bool(const std::string& type, const nlohmann::json& cfg, const char* field, bool def);
std::string config_string(const std::string& type, const nlohmann::json& cfg, const char* field,
                          const std::string& def);
Activation config_activation(const std::string& type, const nlohmann::json& cfg, Activation def);

// ---- factories from config (one per layer file) ----

LayerPtr dense_from_config(const nlohmann::json& cfg);
LayerPtr conv2d_from_config(const nlohmann::json& cfg);
LayerPtr max_pooling2d_from_config(const nlohmann::json& cfg);
LayerPtr average_pooling2d_from_config(const nlohmann::json& cfg);
LayerPtr dropout_from_config(const nlohmann::json& cfg);
LayerPtr flatten_from_config(const nlohmann::json& cfg);
LayerPtr batchnorm_from_config(const nlohmann::json& cfg);
LayerPtr activation_from_config(const nlohmann::json& cfg);

}  // namespace digitnet::detail
