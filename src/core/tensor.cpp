#include "digitnet/core/tensor.hpp"

#include <algorithm>

#include "digitnet/core/error.hpp"

namespace digitnet {

int64_t shape_size(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

Shape with_batch(int64_t n, const Shape& s) {
  Shape out;
  out.reserve(s.size() + 1);
  out.push_back(n);
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

Tensor::Tensor(Shape shape, float fill) : shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error("Tensor: negative dimension in shape " + shape_str(shape_));
  data_.assign(static_cast<std::size_t>(shape_size(shape_)), fill);
}

void Tensor::resize(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw Error("Tensor: negative dimension in shape " + shape_str(shape));
  shape_ = shape;
  data_.resize(static_cast<std::size_t>(shape_size(shape_)));
}

void Tensor::reshape(const Shape& shape) {
  if (shape_size(shape) != size())
    throw Error("Tensor::reshape: " + shape_str(shape_) + " has " + std::to_string(size()) +
                " elements, cannot become " + shape_str(shape));
  shape_ = shape;
}

void Tensor::fill(float v) { std::fill(data_.begin(), data_.end(), v); }

}  // namespace digitnet
