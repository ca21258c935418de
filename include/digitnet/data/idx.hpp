// digitnet/data/idx.hpp — the IDX file format of MNIST (raw or gzip).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "digitnet/data/dataset.hpp"

namespace digitnet {

// An IDX array: a type code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
// 0x0D float, 0x0E double), dims, and the values widened to double only when
// asked. Pixel/label files of MNIST are ubyte.
struct IdxArray {
  uint8_t type = 0x08;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // the data section exactly as stored (big-endian elements)
};

// Reads an IDX file, raw or gzip-compressed (detected from its first bytes).
// Errors name the file and the byte offset: bad magic, unknown type, truncated
// data, a header claiming more items than the file holds (checked before
// allocating), trailing garbage.
IdxArray read_idx(const std::string& path);

// Reads an image file (3 or more dims: N, H, W[, ...]; 1-byte unsigned) and a
// label file (1 dim: N) into a Dataset with image_shape {1, H, W}. Errors name
// the files if the counts disagree or a label type is unsupported.
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path);

}  // namespace digitnet
