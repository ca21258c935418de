// src/data/gzip.hpp — internal gzip helpers (zlib) for the data module.
#pragma once
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace digitnet::detail {

// True if `bytes` starts with the gzip magic 1f 8b.
bool is_gzip(std::span<const uint8_t> bytes);

// Incremental gzip decompression of an in-memory buffer: read() hands out the
// uncompressed stream a piece at a time, so callers can cap how much they
// accept. `what` names the source in error messages.
class Inflater {
 public:
  Inflater(std::span<const uint8_t> compressed, std::string what);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Reads up to n uncompressed bytes; returns how many were produced. Fewer
  // than n only at the end of the gzip stream or if the input is truncated
  // (see ended() / truncated()). Throws Error on corrupt data.
  size_t read(uint8_t* dst, size_t n);
  // Skips up to n uncompressed bytes; returns how many were skipped.
  size_t skip(size_t n);

  bool ended() const { return ended_; }          // the gzip stream ended cleanly
  bool truncated() const { return truncated_; }  // the input ran out mid-stream
  uint64_t produced() const { return produced_; }
  // Compressed bytes left after the end of the gzip stream (trailing garbage).
  size_t unused_input() const;
  // Offset in the compressed input where unused input starts.
  size_t consumed_input() const;

 private:
  z_stream zs_{};
  std::span<const uint8_t> in_;
  size_t fed_ = 0;  // bytes of in_ handed to zlib so far
  bool ended_ = false, truncated_ = false;
  uint64_t produced_ = 0;
  std::string what_;
};

// Decompresses a whole gzip buffer; throws Error (naming `what`) if the output
// would exceed max_out bytes, the stream is truncated or corrupt, or bytes
// follow the end of the stream.
std::string gunzip(std::span<const uint8_t> compressed, uint64_t max_out, const std::string& what);

// gzip-compresses a buffer (level 6).
std::string gzip(std::string_view data);

}  // namespace digitnet::detail
