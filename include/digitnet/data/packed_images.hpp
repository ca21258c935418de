// digitnet/data/packed_images.hpp — images of uint8 pixels kept packed in memory.
//
// MNIST digits are ~80 % zero background: the 60,000 training images are 47 MB
// as raw bytes and 12 MB packed. Each image is stored as a run-length code of
// its zeros, decoded per batch (a few µs per batch, against milliseconds of
// training per batch):
//   image := { z l b[0] ... b[l-1] }*    z zero pixels, then l literal pixels
// with 0 <= z, l <= 255, until the image's pixel count is reached. The encoder
// is greedy (longest runs first), so equal images have equal codes; an image
// without zeros costs 2 bytes per 255 pixels more than its raw size.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace digitnet {

class PackedImages {
 public:
  PackedImages() = default;
  // An empty store of images of `image_bytes` pixels each (> 0).
  explicit PackedImages(int64_t image_bytes);
  // Packs raw.size() / image_bytes images; raw.size() must be a multiple of image_bytes.
  PackedImages(int64_t image_bytes, std::span<const uint8_t> raw);

  int64_t image_bytes() const { return image_bytes_; }
  int64_t size() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  bool empty() const { return size() == 0; }
  // Bytes the packed codes occupy (without the per-image offsets).
  int64_t packed_bytes() const { return static_cast<int64_t>(code_.size()); }

  void reserve(int64_t images, int64_t packed_bytes);
  // Reserves room for `images` more images of any content, so appending them
  // never reallocates. The room a code does not use is address space only:
  // pages never written are not resident (MNIST's 60,000 images pack to 12 MB
  // of the 94 MB reserved, and 12 MB is what the process holds). Nothing is
  // reserved when that would exceed 1 GiB.
  void reserve_worst_case(int64_t images);
  // Appends one image of image_bytes() pixels (throws Error on another size).
  void push_back(std::span<const uint8_t> image);
  // Appends image i of `other` (same image size) without unpacking it.
  void push_back_from(const PackedImages& other, int64_t i);
  // Drops the last image.
  void pop_back();

  // Asks the cache for image i's code ahead of an unpack (nothing when i is out of
  // range): a shuffled batch reads codes from all over the store.
  void prefetch(int64_t i) const;
  // Writes image i's image_bytes() pixels to out.
  void unpack(int64_t i, uint8_t* out) const;
  // Writes table[pixel] for each of image i's pixels to out (table has 256 entries).
  void unpack(int64_t i, float* out, const float* table) const;
  std::vector<uint8_t> image(int64_t i) const;
  // Every image's pixels, concatenated.
  std::vector<uint8_t> unpack_all() const;

  // Same images (the code is canonical, so comparing codes compares pixels).
  bool operator==(const PackedImages&) const = default;

 private:
  std::span<const uint8_t> code(int64_t i) const;

  int64_t image_bytes_ = 0;
  std::vector<uint8_t> code_;                   // the images' codes, back to back
  std::vector<uint64_t> offsets_{uint64_t{0}};  // image i is code_[offsets_[i], offsets_[i + 1])
};

}  // namespace digitnet
