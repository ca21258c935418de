// digitnet/data/idx.hpp — the IDX file format of MNIST (raw or gzip).
//
// An IDX file is: two zero bytes, a type code byte, a dimension count byte
// (1..255), one big-endian uint32 per dimension, then the elements in
// row-major order, each big-endian.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "digitnet/data/dataset.hpp"

namespace digitnet {

// IDX element type codes.
enum IdxType : uint8_t {
  kIdxUbyte = 0x08,
  kIdxByte = 0x09,
  kIdxShort = 0x0B,
  kIdxInt = 0x0C,
  kIdxFloat = 0x0D,
  kIdxDouble = 0x0E,
};

// Bytes per element of an IDX type code; 0 for an unknown code.
int idx_element_size(uint8_t type);

// An IDX array: a type code, dims, and the data section as stored.
struct IdxArray {
  uint8_t type = kIdxUbyte;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // the data section exactly as stored (big-endian elements)

  int64_t count() const;  // product of dims
  // Element i as an integer (ubyte, byte, short or int types; big-endian decoded).
  int64_t int_at(int64_t i) const;
};

// Reads an IDX file, raw or gzip-compressed (detected from the 1f 8b magic).
// Everything is validated before the data is allocated: the magic (two zero
// bytes, a known type code, 1..255 dims), every dim > 0, the element count
// and byte size without overflow, and the data size the header implies
// against the file size (raw) or against what the compressed size can hold
// (gzip; then inflated with that hard cap, and an early end or trailing bytes
// are errors). Every Error names the path and the byte offset (for gzip files,
// the offset in the uncompressed stream).
IdxArray read_idx(const std::string& path);

// Writes an IDX file (gzip-compressed when `gzip` is true). Throws Error if
// the dims do not match the byte count or the file cannot be written.
void write_idx(const std::string& path, const IdxArray& array, bool gzip = false);

// Reads an image file (ubyte; dims N, H, W → image_shape {1, H, W}, or
// N, C, H, W → {C, H, W}) and a label file (1-D; ubyte or big-endian int32)
// into a Dataset; num_classes = max label + 1. Errors name the file(s) and
// byte offset when the counts disagree, the labels are not 1-D, the images
// are not ubyte, or a label is negative. With num_classes > 0 the data set has
// that many classes and a label outside [0, num_classes) is an Error naming
// its byte offset (and `classes_source`, where the count came from).
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         int num_classes = 0, const std::string& classes_source = "");

}  // namespace digitnet
