#include "digitnet/data/idx.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

#include "data/gzip.hpp"
#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;

// Deflate cannot expand data by more than ~1032:1; anything a header claims
// beyond this bound (plus slack for tiny files) cannot be in the gzip file.
constexpr int64_t kMaxDeflateRatio = 1032;
constexpr int64_t kGzipSlack = 1 << 16;

const char* type_name(uint8_t type) {
  switch (type) {
    case kIdxUbyte:
      return "ubyte";
    case kIdxByte:
      return "byte";
    case kIdxShort:
      return "short";
    case kIdxInt:
      return "int";
    case kIdxFloat:
      return "float";
    case kIdxDouble:
      return "double";
    default:
      return "unknown";
  }
}

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

std::string dims_str(const std::vector<int64_t>& dims) { return shape_str(dims); }

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

[[noreturn]] void fail(const std::string& path, int64_t offset, const std::string& what) {
  throw Error(path + ": byte " + std::to_string(offset) + ": " + what);
}

// A sequential source of the (uncompressed) file bytes.
class Source {
 public:
  virtual ~Source() = default;
  virtual size_t read(uint8_t* dst, size_t n) = 0;
};

class FileSource : public Source {
 public:
  FileSource(std::ifstream& f) : f_(f) {}
  size_t read(uint8_t* dst, size_t n) override {
    f_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    return static_cast<size_t>(f_.gcount());
  }

 private:
  std::ifstream& f_;
};

class GzipSource : public Source {
 public:
  explicit GzipSource(detail::Inflater& inf) : inf_(inf) {}
  size_t read(uint8_t* dst, size_t n) override { return inf_.read(dst, n); }

 private:
  detail::Inflater& inf_;
};

struct Header {
  uint8_t type = 0;
  std::vector<int64_t> dims;
  int64_t count = 0;       // product of dims
  int64_t data_bytes = 0;  // count * element size
  int64_t header_bytes = 0;
};

// Reads and validates the magic and the dims. `avail` is how many bytes the
// (uncompressed) file holds if known, else -1; `unit` is "" or " (uncompressed)".
Header read_header(Source& src, const std::string& path, int64_t avail, const std::string& unit) {
  uint8_t magic[4];
  const size_t got = src.read(magic, 4);
  if (got < 4)
    fail(path, static_cast<int64_t>(got),
         "file ends after " + std::to_string(got) + " bytes" + unit +
             ", too short for the 4-byte IDX magic");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, magic[0] != 0 ? 0 : 1,
         "bad IDX magic " + hex_byte(magic[0]) + " " + hex_byte(magic[1]) +
             " (an IDX file starts with two zero bytes)");
  Header h;
  h.type = magic[2];
  const int esize = idx_element_size(h.type);
  if (esize == 0)
    fail(path, 2,
         "unknown IDX type code " + hex_byte(h.type) +
             " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)");
  const int ndims = magic[3];
  if (ndims == 0) fail(path, 3, "IDX header has 0 dimensions (expected 1..255)");
  h.header_bytes = 4 + 4 * int64_t{ndims};
  std::vector<uint8_t> raw(static_cast<size_t>(4 * ndims));
  const size_t got_dims = src.read(raw.data(), raw.size());
  if (got_dims < raw.size())
    fail(path, 4 + static_cast<int64_t>(got_dims),
         "file ends inside the header" + unit + ": " + std::to_string(ndims) + " dimensions need " +
             std::to_string(h.header_bytes) + " header bytes");
  h.count = 1;
  for (int i = 0; i < ndims; ++i) {
    const int64_t d = be32(&raw[static_cast<size_t>(4 * i)]);
    if (d == 0) fail(path, 4 + 4 * i, "dimension " + std::to_string(i) + " is 0");
    h.dims.push_back(d);
    if (__builtin_mul_overflow(h.count, d, &h.count))
      fail(path, 4 + 4 * i, "element count of dims " + dims_str(h.dims) + "... overflows");
  }
  if (__builtin_mul_overflow(h.count, int64_t{esize}, &h.data_bytes) ||
      h.data_bytes > std::numeric_limits<int64_t>::max() - h.header_bytes)
    fail(path, 4, "data size of dims " + dims_str(h.dims) + " overflows");
  if (avail >= 0 && avail != h.header_bytes + h.data_bytes) {
    std::string msg = "header says dims " + dims_str(h.dims) + " = " + std::to_string(h.count) +
                      " items of " + type_name(h.type) + " (" +
                      std::to_string(h.header_bytes + h.data_bytes) + " bytes with the " +
                      std::to_string(h.header_bytes) + "-byte header) but the file has " +
                      std::to_string(avail) + " bytes";
    if (avail > h.header_bytes + h.data_bytes) msg += " (trailing garbage)";
    fail(path, 4, msg);
  }
  return h;
}

// Hands out the data section of an open IDX file a piece at a time, failing
// with the byte offset where it ends early.
class DataReader {
 public:
  DataReader(Source& src, const std::string& path, const Header& h, bool gz)
      : src_(src), path_(path), h_(h), gz_(gz) {}
  // Reads exactly n bytes of the data section into dst.
  void read(uint8_t* dst, size_t n) {
    const size_t got = src_.read(dst, n);
    pos_ += static_cast<int64_t>(got);
    if (got != n) short_read();
  }

 private:
  [[noreturn]] void short_read() const {
    const int64_t at = h_.header_bytes + pos_;
    if (!gz_) fail(path_, at, "read error: the file shrank while being read");
    fail(path_, at,
         "gzip stream ends after " + std::to_string(at) +
             " uncompressed bytes but the header says dims " + dims_str(h_.dims) + " (" +
             std::to_string(h_.header_bytes + h_.data_bytes) + " bytes)");
  }

  Source& src_;
  const std::string& path_;
  const Header& h_;
  bool gz_;
  int64_t pos_ = 0;
};

// Called with the validated header; reads the whole data section from the reader.
using DataConsumer = std::function<void(const Header&, DataReader&)>;

void read_raw(const std::string& path, std::ifstream& f, int64_t file_size,
              const DataConsumer& consume) {
  FileSource src(f);
  const Header h = read_header(src, path, file_size, "");
  DataReader r(src, path, h, false);
  consume(h, r);
}

void read_gzip(const std::string& path, std::ifstream& f, int64_t file_size,
               const DataConsumer& consume) {
  std::vector<uint8_t> comp(static_cast<size_t>(file_size));
  f.read(reinterpret_cast<char*>(comp.data()), static_cast<std::streamsize>(comp.size()));
  if (f.gcount() != static_cast<std::streamsize>(comp.size())) throw Error(path + ": read error");
  detail::Inflater inf(comp, path);
  GzipSource src(inf);
  const std::string unit = " (uncompressed)";
  const Header h = read_header(src, path, -1, unit);
  const int64_t total = h.header_bytes + h.data_bytes;
  const int64_t bound = file_size * kMaxDeflateRatio + kGzipSlack;
  if (total > bound)
    fail(path, 4,
         "header says dims " + dims_str(h.dims) + " = " + std::to_string(h.count) + " items of " +
             type_name(h.type) + " (" + std::to_string(total) +
             " bytes uncompressed) but a gzip file of " + std::to_string(file_size) +
             " bytes cannot hold more than " + std::to_string(bound));
  DataReader r(src, path, h, true);
  consume(h, r);
  uint8_t extra = 0;
  if (src.read(&extra, 1) != 0)
    fail(path, total,
         "uncompressed data continues past the " + std::to_string(total) +
             " bytes the header describes (trailing garbage)");
  if (inf.truncated())
    fail(path, static_cast<int64_t>(comp.size()),
         "gzip stream is truncated (no end-of-stream marker / trailer)");
  if (inf.unused_input() != 0)
    throw Error(path + ": compressed byte " + std::to_string(inf.consumed_input()) + ": " +
                std::to_string(inf.unused_input()) + " trailing bytes after the gzip stream");
}

// Opens an IDX file, raw or gzip-compressed, validates its header and hands its
// data section to `consume`, which reads it all (in pieces if it likes: the
// file is never held whole unless the consumer keeps it).
void stream_idx(const std::string& path, const DataConsumer& consume) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(path + ": no such file");
  if (fs::is_directory(st)) throw Error(path + ": is a directory, not an IDX file");
  const auto size = fs::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read the file size: " + ec.message());
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open for reading");
  uint8_t first[2] = {0, 0};
  f.read(reinterpret_cast<char*>(first), 2);
  const bool gz = f.gcount() == 2 && detail::is_gzip(first);
  f.clear();
  f.seekg(0);
  const auto file_size = static_cast<int64_t>(size);
  if (gz)
    read_gzip(path, f, file_size, consume);
  else
    read_raw(path, f, file_size, consume);
}

}  // namespace

int idx_element_size(uint8_t type) {
  switch (type) {
    case kIdxUbyte:
    case kIdxByte:
      return 1;
    case kIdxShort:
      return 2;
    case kIdxInt:
    case kIdxFloat:
      return 4;
    case kIdxDouble:
      return 8;
    default:
      return 0;
  }
}

int64_t IdxArray::count() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t IdxArray::int_at(int64_t i) const {
  const size_t es = static_cast<size_t>(idx_element_size(type));
  const uint8_t* p = bytes.data() + static_cast<size_t>(i) * es;
  switch (type) {
    case kIdxUbyte:
      return p[0];
    case kIdxByte:
      return static_cast<int8_t>(p[0]);
    case kIdxShort:
      return static_cast<int16_t>((uint16_t{p[0]} << 8) | uint16_t{p[1]});
    case kIdxInt:
      return static_cast<int32_t>(be32(p));
    default:
      throw Error("IdxArray::int_at: type " + hex_byte(type) + " (" + type_name(type) +
                  ") is not an integer type");
  }
}

IdxArray read_idx(const std::string& path) {
  IdxArray a;
  stream_idx(path, [&](const Header& h, DataReader& r) {
    a.type = h.type;
    a.dims = h.dims;
    a.bytes.resize(static_cast<size_t>(h.data_bytes));
    r.read(a.bytes.data(), a.bytes.size());
  });
  return a;
}

void write_idx(const std::string& path, const IdxArray& array, bool gzip) {
  const int esize = idx_element_size(array.type);
  if (esize == 0) throw Error(path + ": write_idx: unknown IDX type code " + hex_byte(array.type));
  if (array.dims.empty() || array.dims.size() > 255)
    throw Error(path + ": write_idx: an IDX array needs 1..255 dims, not " +
                std::to_string(array.dims.size()));
  int64_t count = 1;
  for (int64_t d : array.dims) {
    if (d <= 0 || d > int64_t{0xFFFFFFFF})
      throw Error(path + ": write_idx: dimension " + std::to_string(d) + " out of range");
    count *= d;
  }
  if (static_cast<uint64_t>(count) * static_cast<uint64_t>(esize) != array.bytes.size())
    throw Error(path + ": write_idx: dims " + dims_str(array.dims) + " need " +
                std::to_string(count * esize) + " bytes but the array has " +
                std::to_string(array.bytes.size()));
  std::string out;
  out.reserve(4 + 4 * array.dims.size() + array.bytes.size());
  out += '\0';
  out += '\0';
  out += static_cast<char>(array.type);
  out += static_cast<char>(array.dims.size());
  for (int64_t d : array.dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
  out.append(reinterpret_cast<const char*>(array.bytes.data()), array.bytes.size());
  if (gzip) out = detail::gzip(out);
  write_file_atomic(path, out);
}

namespace {

// Reads the labels of an `n`-image dataset into ds (labels, num_classes).
void read_labels(Dataset& ds, const std::string& labels_path, const std::string& images_path,
                 int64_t n, int num_classes, const std::string& classes_source) {
  IdxArray labels = read_idx(labels_path);
  if (labels.dims.size() != 1)
    fail(labels_path, 3, "labels must be 1-D but the file has dims " + dims_str(labels.dims));
  if (labels.type != kIdxUbyte && labels.type != kIdxInt)
    fail(labels_path, 2,
         std::string("labels must be ubyte (0x08) or int (0x0C) but the type code is ") +
             hex_byte(labels.type) + " (" + type_name(labels.type) + ")");
  if (labels.dims[0] != n)
    throw Error(images_path + ": byte 4: " + std::to_string(n) + " images but " + labels_path +
                ": byte 4: " + std::to_string(labels.dims[0]) + " labels");
  ds.labels.resize(static_cast<size_t>(n));
  int64_t max_label = -1;
  const int64_t label_offset = 8;  // 4-byte magic + one dim
  const int64_t esize = idx_element_size(labels.type);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = labels.int_at(i);
    if (v < 0)
      fail(labels_path, label_offset + i * esize,
           "label " + std::to_string(i) + " is " + std::to_string(v) + " (labels must be >= 0)");
    if (v >= std::numeric_limits<int32_t>::max())
      fail(labels_path, label_offset + i * esize,
           "label " + std::to_string(i) + " is " + std::to_string(v) + " (too large)");
    if (num_classes > 0 && v >= num_classes)
      fail(labels_path, label_offset + i * esize,
           "label " + std::to_string(i) + " is " + std::to_string(v) + " but there are only " +
               std::to_string(num_classes) + " classes" +
               (classes_source.empty() ? std::string() : " (" + classes_source + ")"));
    ds.labels[static_cast<size_t>(i)] = static_cast<int32_t>(v);
    max_label = std::max(max_label, v);
  }
  ds.num_classes = num_classes > 0 ? num_classes : static_cast<int>(max_label + 1);
}

}  // namespace

// The images are streamed: read a block of images at a time and packed, so the
// raw pixels (47 MB for MNIST's training set) are never held whole.
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         int num_classes, const std::string& classes_source) {
  Dataset ds;
  stream_idx(images_path, [&](const Header& h, DataReader& r) {
    if (h.type != kIdxUbyte)
      fail(images_path, 2,
           std::string("image data must be ubyte (0x08) but the type code is ") + hex_byte(h.type) +
               " (" + type_name(h.type) + ")");
    if (h.dims.size() != 3 && h.dims.size() != 4)
      fail(images_path, 3,
           "image file has dims " + dims_str(h.dims) +
               "; expected 3 dims (N, H, W) or 4 dims (N, C, H, W)");
    read_labels(ds, labels_path, images_path, h.dims[0], num_classes, classes_source);
    if (h.dims.size() == 3)
      ds.image_shape = {1, h.dims[1], h.dims[2]};
    else
      ds.image_shape = {h.dims[1], h.dims[2], h.dims[3]};
    const int64_t n = h.dims[0], size = ds.image_size();
    ds.pixels = PackedImages(size);
    ds.pixels.reserve_worst_case(n);
    const int64_t block = std::max<int64_t>(1, (int64_t{256} << 10) / size);  // ~256 KB
    std::vector<uint8_t> buf(static_cast<size_t>(std::min(n, block) * size));
    for (int64_t i = 0; i < n; i += block) {
      const int64_t m = std::min(block, n - i);
      r.read(buf.data(), static_cast<size_t>(m * size));
      for (int64_t k = 0; k < m; ++k)
        ds.pixels.push_back({buf.data() + k * size, static_cast<size_t>(size)});
    }
  });
  return ds;
}

}  // namespace digitnet
