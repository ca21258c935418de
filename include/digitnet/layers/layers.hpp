// digitnet/layers/layers.hpp — the layers, built the way the Keras tutorials build them:
//
//   model.add(Conv2D(32, 3, relu));
//   model.add(MaxPooling2D(2));
//   model.add(Dense(10, softmax));
#pragma once
#include <string>

#include "digitnet/layers/layer.hpp"

namespace digitnet {

enum class Activation { linear, relu, leaky_relu, sigmoid, tanh, softmax };
inline constexpr Activation linear = Activation::linear;
inline constexpr Activation relu = Activation::relu;
// leaky_relu: slope 0.3, as in Keras' LeakyReLU.
inline constexpr Activation leaky_relu = Activation::leaky_relu;
inline constexpr Activation sigmoid = Activation::sigmoid;
inline constexpr Activation tanh_act = Activation::tanh;  // 'tanh' would clash with std::tanh
inline constexpr Activation softmax = Activation::softmax;

std::string activation_name(Activation a);
// Throws digitnet::Error("unknown activation 'x'") for other names.
Activation activation_from_name(const std::string& name);

enum class Padding { valid, same };
inline constexpr Padding valid = Padding::valid;
inline constexpr Padding same = Padding::same;

// Fully connected: y = act(x·W + b), W (in, units) glorot-uniform, b zeros.
// Input must be flat (a 1-D per-sample shape).
LayerPtr Dense(int units, Activation activation = linear, bool use_bias = true);

// 2-D convolution over (C, H, W): kernel (filters, C, k, k) glorot-uniform, bias zeros.
LayerPtr Conv2D(int filters, int kernel_size, Activation activation = linear, int stride = 1,
                Padding padding = valid, bool use_bias = true);

// Pooling over (C, H, W); stride defaults to pool_size (as in Keras).
LayerPtr MaxPooling2D(int pool_size = 2, int stride = 0, Padding padding = valid);
LayerPtr AveragePooling2D(int pool_size = 2, int stride = 0, Padding padding = valid);

// Inverted dropout: in training, zero with probability rate and scale by 1/(1-rate).
LayerPtr Dropout(float rate);

// (C, H, W) -> (C·H·W).
LayerPtr Flatten();

// Batch normalisation over the channel axis (dim 0 of the per-sample shape for
// images, the features for flat inputs). Keras defaults: momentum 0.99, epsilon 1e-3.
LayerPtr BatchNormalization(float momentum = 0.99f, float epsilon = 1e-3f);

// A standalone activation; leaky_relu uses negative slope `alpha`.
LayerPtr ActivationLayer(Activation activation, float alpha = 0.3f);

}  // namespace digitnet
