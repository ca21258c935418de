#include "digitnet/core/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

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

namespace {
void check_dims(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw Error("Tensor: negative dimension in shape " + shape_str(shape));
}
}  // namespace

Tensor::Tensor(Shape shape, float fill) : shape_(std::move(shape)) {
  check_dims(shape_);
  size_ = shape_size(shape_);
  data_.assign(static_cast<std::size_t>(size_), fill);
  ptr_ = data_.data();
}

Tensor::Tensor(const Tensor& other)
    : shape_(other.shape_), data_(other.ptr_, other.ptr_ + other.size_), size_(other.size_) {
  ptr_ = data_.data();
}

Tensor::Tensor(Tensor&& other) noexcept
    : shape_(std::move(other.shape_)),
      data_(std::move(other.data_)),
      ptr_(other.ptr_),
      size_(other.size_),
      view_capacity_(other.view_capacity_) {
  other.reset();
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  if (owns_elements_of(other)) return *this = Tensor(other);  // other views our own elements
  shape_ = other.shape_;
  data_.assign(other.ptr_, other.ptr_ + other.size_);  // reuses the allocation
  ptr_ = data_.data();
  size_ = other.size_;
  view_capacity_ = -1;
  return *this;
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this == &other) return *this;
  shape_ = std::move(other.shape_);
  // A view of our own elements keeps them alive (we become a view into our own buffer).
  if (!owns_elements_of(other)) data_ = std::move(other.data_);
  ptr_ = other.ptr_;
  size_ = other.size_;
  view_capacity_ = other.view_capacity_;
  other.reset();
  return *this;
}

bool Tensor::owns_elements_of(const Tensor& other) const noexcept {
  const auto b = reinterpret_cast<std::uintptr_t>(data_.data());
  const auto o = reinterpret_cast<std::uintptr_t>(other.ptr_);
  return other.size_ > 0 && !data_.empty() && o < b + data_.size() * sizeof(float) &&
         b < o + static_cast<std::size_t>(other.size_) * sizeof(float);
}

void Tensor::reset() noexcept {
  shape_.clear();
  data_.clear();
  ptr_ = data_.data();
  size_ = 0;
  view_capacity_ = -1;
}

Tensor Tensor::view(float* data, Shape shape, int64_t capacity) {
  check_dims(shape);
  Tensor t;
  t.size_ = shape_size(shape);
  t.view_capacity_ = capacity < 0 ? t.size_ : capacity;
  if (t.size_ > t.view_capacity_)
    throw Error("Tensor::view: shape " + shape_str(shape) + " needs " + std::to_string(t.size_) +
                " elements, the buffer holds " + std::to_string(t.view_capacity_));
  if (!data && t.view_capacity_ > 0) throw Error("Tensor::view: null buffer");
  t.shape_ = std::move(shape);
  t.ptr_ = data;
  return t;
}

void Tensor::resize(const Shape& shape) {
  check_dims(shape);
  const int64_t n = shape_size(shape);
  if (is_view()) {
    if (n > view_capacity_)
      throw Error("Tensor::resize: a view of " + std::to_string(view_capacity_) +
                  " elements cannot hold " + shape_str(shape));
  } else {
    data_.resize(static_cast<std::size_t>(n));
    ptr_ = data_.data();
  }
  shape_ = shape;
  size_ = n;
}

void Tensor::reshape(const Shape& shape) {
  if (shape_size(shape) != size())
    throw Error("Tensor::reshape: " + shape_str(shape_) + " has " + std::to_string(size()) +
                " elements, cannot become " + shape_str(shape));
  shape_ = shape;
}

void Tensor::fill(float v) { std::fill(ptr_, ptr_ + size_, v); }

}  // namespace digitnet
