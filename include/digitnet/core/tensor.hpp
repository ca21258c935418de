// digitnet/core/tensor.hpp — a dense float32 tensor, row-major, batch first.
//
// Images are NCHW: (batch, channels, height, width). A layer sees per-sample
// shapes without the batch dimension (e.g. {1, 28, 28}); tensors passed between
// layers carry the batch as dimension 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace digitnet {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for the empty shape).
int64_t shape_size(const Shape& s);
// "(32, 26, 26)"
std::string shape_str(const Shape& s);
// {n} + s
Shape with_batch(int64_t n, const Shape& s);

// 64-byte aligned allocator so SIMD kernels may use aligned loads.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{64}); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f);

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<std::size_t>(i)]; }
  int64_t size() const { return static_cast<int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  float& operator[](int64_t i) { return data_[static_cast<std::size_t>(i)]; }
  float operator[](int64_t i) const { return data_[static_cast<std::size_t>(i)]; }
  std::span<float> span() { return {data_.data(), data_.size()}; }
  std::span<const float> span() const { return {data_.data(), data_.size()}; }

  // Changes the shape; keeps the allocation when it is large enough (no
  // allocation per training step once shapes are stable). Contents are
  // unspecified after a resize that changes the size.
  void resize(const Shape& shape);
  // Same element count, new shape (like a view change; contents kept).
  void reshape(const Shape& shape);
  void fill(float v);
  void zero() { fill(0.0f); }

  // Pointer to sample i of the batch (dimension 0).
  float* sample(int64_t i) { return data() + i * (size() / dim(0)); }
  const float* sample(int64_t i) const { return data() + i * (size() / dim(0)); }

 private:
  Shape shape_;
  std::vector<float, AlignedAllocator<float>> data_;
};

}  // namespace digitnet
