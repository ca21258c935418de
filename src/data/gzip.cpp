#include "data/gzip.hpp"

#include <algorithm>
#include <climits>
#include <vector>

#include "digitnet/core/error.hpp"

namespace digitnet::detail {

bool is_gzip(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

Inflater::Inflater(std::span<const uint8_t> compressed, std::string what)
    : in_(compressed), what_(std::move(what)) {
  // 16 + MAX_WBITS: expect a gzip wrapper (header and CRC-32 / size trailer).
  if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK)
    throw Error(what_ + ": cannot initialise zlib inflate");
}

Inflater::~Inflater() { inflateEnd(&zs_); }

size_t Inflater::read(uint8_t* dst, size_t n) {
  size_t done = 0;
  while (done < n && !ended_ && !truncated_) {
    if (zs_.avail_in == 0 && fed_ < in_.size()) {
      const size_t chunk = std::min<size_t>(in_.size() - fed_, UINT_MAX);
      zs_.next_in = const_cast<Bytef*>(in_.data() + fed_);
      zs_.avail_in = static_cast<uInt>(chunk);
      fed_ += chunk;
    }
    const size_t want = std::min<size_t>(n - done, UINT_MAX);
    zs_.next_out = dst + done;
    zs_.avail_out = static_cast<uInt>(want);
    const int ret = inflate(&zs_, Z_NO_FLUSH);
    const size_t got = want - zs_.avail_out;
    done += got;
    produced_ += got;
    if (ret == Z_STREAM_END) {
      ended_ = true;
    } else if (ret == Z_BUF_ERROR) {
      // No progress possible: with output space available, the input ran out.
      if (zs_.avail_in == 0 && fed_ == in_.size()) truncated_ = true;
    } else if (ret != Z_OK) {
      throw Error(what_ + ": corrupt gzip data at compressed byte " +
                  std::to_string(consumed_input()) + " (zlib: " + (zs_.msg ? zs_.msg : "error") +
                  ")");
    }
  }
  return done;
}

size_t Inflater::skip(size_t n) {
  std::vector<uint8_t> buf(std::min<size_t>(n, size_t{1} << 16));
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min(buf.size(), n - done);
    const size_t got = read(buf.data(), want);
    done += got;
    if (got < want) break;
  }
  return done;
}

size_t Inflater::consumed_input() const { return fed_ - zs_.avail_in; }

size_t Inflater::unused_input() const { return in_.size() - consumed_input(); }

std::string gunzip(std::span<const uint8_t> compressed, uint64_t max_out, const std::string& what) {
  Inflater inf(compressed, what);
  std::string out;
  std::vector<uint8_t> buf(size_t{1} << 16);
  while (true) {
    const size_t got = inf.read(buf.data(), buf.size());
    if (out.size() + got > max_out)
      throw Error(what + ": uncompressed data exceeds the expected " + std::to_string(max_out) +
                  " bytes");
    out.append(reinterpret_cast<const char*>(buf.data()), got);
    if (got < buf.size()) break;
  }
  if (inf.truncated())
    throw Error(what + ": gzip stream is truncated (ends after " +
                std::to_string(compressed.size()) + " compressed bytes, " +
                std::to_string(out.size()) + " uncompressed)");
  if (inf.unused_input() != 0)
    throw Error(what + ": byte " + std::to_string(inf.consumed_input()) + ": " +
                std::to_string(inf.unused_input()) + " trailing bytes after the gzip stream");
  return out;
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("gzip: cannot initialise zlib deflate");
  std::string out;
  std::vector<uint8_t> buf(size_t{1} << 16);
  size_t fed = 0;
  int ret = Z_OK;
  do {
    if (zs.avail_in == 0 && fed < data.size()) {
      const size_t chunk = std::min<size_t>(data.size() - fed, UINT_MAX);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + fed));
      zs.avail_in = static_cast<uInt>(chunk);
      fed += chunk;
    }
    zs.next_out = buf.data();
    zs.avail_out = static_cast<uInt>(buf.size());
    ret = deflate(&zs, fed == data.size() ? Z_FINISH : Z_NO_FLUSH);
    out.append(reinterpret_cast<const char*>(buf.data()), buf.size() - zs.avail_out);
  } while (ret == Z_OK || ret == Z_BUF_ERROR);
  deflateEnd(&zs);
  if (ret != Z_STREAM_END) throw Error("gzip: zlib deflate failed");
  return out;
}

}  // namespace digitnet::detail
