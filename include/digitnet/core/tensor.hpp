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
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete (p, std::align_val_t{64}); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
};

// A Tensor owns its elements, except a view (Tensor::view), which addresses
// elements in a buffer owned by someone else: the buffer must outlive the view
// and must not be reallocated while the view is used. A view can be resized
// within its capacity, never beyond. Copying any tensor (view or not) makes an
// owning copy of the elements; moving a view moves the view (a tensor assigned
// a view of its own elements keeps its buffer alive).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f);
  Tensor(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  // The target owns its elements afterwards (assigning to a view does not write
  // into the viewed buffer).
  Tensor& operator=(const Tensor& other);
  Tensor& operator=(Tensor&& other) noexcept;
  ~Tensor() = default;

  // A non-owning view of shape_size(shape) elements at `data`, in a buffer of
  // `capacity` elements (-1: exactly the shape's size).
  static Tensor view(float* data, Shape shape, int64_t capacity = -1);
  bool is_view() const { return view_capacity_ >= 0; }

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<std::size_t>(i)]; }
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  float* data() { return ptr_; }
  const float* data() const { return ptr_; }
  float& operator[](int64_t i) { return ptr_[i]; }
  float operator[](int64_t i) const { return ptr_[i]; }
  std::span<float> span() { return {ptr_, static_cast<std::size_t>(size_)}; }
  std::span<const float> span() const { return {ptr_, static_cast<std::size_t>(size_)}; }

  // Changes the shape; keeps the allocation when it is large enough (no
  // allocation per training step once shapes are stable). Contents are
  // unspecified after a resize that changes the size. A view throws
  // digitnet::Error if the new size exceeds its capacity.
  void resize(const Shape& shape);
  // Same element count, new shape (like a view change; contents kept).
  void reshape(const Shape& shape);
  void fill(float v);
  void zero() { fill(0.0f); }

  // Pointer to sample i of the batch (dimension 0).
  float* sample(int64_t i) { return data() + i * (size() / dim(0)); }
  const float* sample(int64_t i) const { return data() + i * (size() / dim(0)); }

 private:
  void reset() noexcept;
  // Whether other's elements lie in this tensor's owned buffer.
  bool owns_elements_of(const Tensor& other) const noexcept;

  Shape shape_;
  std::vector<float, AlignedAllocator<float>> data_;  // owned elements (empty for a view)
  float* ptr_ = nullptr;        // the elements: data_.data() or the viewed buffer
  int64_t size_ = 0;            // shape_size(shape_)
  int64_t view_capacity_ = -1;  // >= 0: a view over a buffer of that many elements
};

}  // namespace digitnet
