#include "digitnet/data/packed_images.hpp"

#include <algorithm>
#include <string>

#include "digitnet/core/error.hpp"

namespace digitnet {
namespace {

// Decodes one image's code into out[0, n): zeros as `zero`, literals through emit.
// The whole image is filled with `zero` in one pass first, then the literals are
// written over it (one vectorised fill instead of a short fill per run).
template <typename T, typename Emit>
void decode(std::span<const uint8_t> code, int64_t n, T* out, T zero, Emit emit) {
  std::fill(out, out + n, zero);
  const uint8_t* s = code.data();
  const uint8_t* end = s + code.size();
  int64_t p = 0;
  while (p < n && s + 2 <= end) {
    p += std::min<int64_t>(s[0], n - p);
    const int64_t l = std::min<int64_t>({int64_t{s[1]}, n - p, end - s - 2});
    s += 2;
    for (int64_t k = 0; k < l; ++k) out[p + k] = emit(s[k]);
    s += l;
    p += l;
  }
}

}  // namespace

PackedImages::PackedImages(int64_t image_bytes) : image_bytes_(image_bytes) {
  if (image_bytes <= 0)
    throw Error("PackedImages: an image must have at least one pixel (got " +
                std::to_string(image_bytes) + ")");
}

PackedImages::PackedImages(int64_t image_bytes, std::span<const uint8_t> raw)
    : PackedImages(image_bytes) {
  if (static_cast<int64_t>(raw.size()) % image_bytes != 0)
    throw Error("PackedImages: " + std::to_string(raw.size()) +
                " bytes are not a whole number of " + std::to_string(image_bytes) +
                "-pixel images");
  const int64_t n = static_cast<int64_t>(raw.size()) / image_bytes;
  reserve_worst_case(n);
  for (int64_t i = 0; i < n; ++i)
    push_back(raw.subspan(static_cast<size_t>(i * image_bytes), static_cast<size_t>(image_bytes)));
}

// Every pair { z l } but an image's first and last covers at least two pixels
// (a greedy run of literals ends at a zero or at 255 literals, a run of zeros at
// a literal or at 255 zeros), so an image's code is at most
// pixels + 2 (pixels / 2 + 2) bytes.
// At most 1 GiB of address space is reserved up front (a gzip header may claim
// up to ~1000 times its file); past that the store grows as codes arrive.
void PackedImages::reserve_worst_case(int64_t images) {
  constexpr int64_t kMaxReserve = int64_t{1} << 30;
  const int64_t n = std::max<int64_t>(images, 0), per = image_bytes_ + 2 * (image_bytes_ / 2 + 2);
  if (n <= kMaxReserve / per) reserve(n, n * per);
}

void PackedImages::reserve(int64_t images, int64_t packed_bytes) {
  offsets_.reserve(static_cast<size_t>(std::max<int64_t>(images, 0)) + 1);
  code_.reserve(static_cast<size_t>(std::max<int64_t>(packed_bytes, 0)));
}

void PackedImages::push_back(std::span<const uint8_t> image) {
  if (image_bytes_ <= 0 || static_cast<int64_t>(image.size()) != image_bytes_)
    throw Error("PackedImages: an image of " + std::to_string(image.size()) +
                " pixels does not fit a store of " + std::to_string(image_bytes_) +
                "-pixel images");
  const size_t n = image.size();
  size_t p = 0;
  while (p < n) {
    size_t z = 0;
    while (p + z < n && z < 255 && image[p + z] == 0) ++z;
    size_t l = 0;
    while (p + z + l < n && l < 255 && image[p + z + l] != 0) ++l;
    code_.push_back(static_cast<uint8_t>(z));
    code_.push_back(static_cast<uint8_t>(l));
    code_.insert(code_.end(), image.begin() + static_cast<std::ptrdiff_t>(p + z),
                 image.begin() + static_cast<std::ptrdiff_t>(p + z + l));
    p += z + l;
  }
  offsets_.push_back(code_.size());
}

void PackedImages::push_back_from(const PackedImages& other, int64_t i) {
  if (other.image_bytes_ != image_bytes_)
    throw Error("PackedImages: cannot copy a " + std::to_string(other.image_bytes_) +
                "-pixel image into a store of " + std::to_string(image_bytes_) + "-pixel images");
  const std::span<const uint8_t> c = other.code(i);
  code_.insert(code_.end(), c.begin(), c.end());
  offsets_.push_back(code_.size());
}

void PackedImages::pop_back() {
  if (empty()) throw Error("PackedImages: pop_back on an empty store");
  offsets_.pop_back();
  code_.resize(offsets_.back());
}

std::span<const uint8_t> PackedImages::code(int64_t i) const {
  if (i < 0 || i >= size())
    throw Error("PackedImages: image " + std::to_string(i) + " is out of range [0, " +
                std::to_string(size()) + ")");
  const auto b = offsets_[static_cast<size_t>(i)], e = offsets_[static_cast<size_t>(i) + 1];
  return {code_.data() + b, static_cast<size_t>(e - b)};
}

void PackedImages::prefetch(int64_t i) const {
  if (i < 0 || i >= size()) return;
  const auto b = offsets_[static_cast<size_t>(i)], e = offsets_[static_cast<size_t>(i) + 1];
  for (auto p = b / 64 * 64; p < e; p += 64) __builtin_prefetch(code_.data() + p);
}

void PackedImages::unpack(int64_t i, uint8_t* out) const {
  decode(code(i), image_bytes_, out, uint8_t{0}, [](uint8_t v) { return v; });
}

void PackedImages::unpack(int64_t i, float* out, const float* table) const {
  decode(code(i), image_bytes_, out, table[0], [table](uint8_t v) { return table[v]; });
}

std::vector<uint8_t> PackedImages::image(int64_t i) const {
  std::vector<uint8_t> out(static_cast<size_t>(image_bytes_));
  unpack(i, out.data());
  return out;
}

std::vector<uint8_t> PackedImages::unpack_all() const {
  std::vector<uint8_t> out(static_cast<size_t>(size() * image_bytes_));
  for (int64_t i = 0; i < size(); ++i) unpack(i, out.data() + i * image_bytes_);
  return out;
}

}  // namespace digitnet
