// IDX reading/writing and load_idx_dataset: round trips and every bad-input case.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "data/gzip.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/data/idx.hpp"
#include "test_support.hpp"

using digitnet::testing::error_of;

namespace digitnet {
namespace {

using testing::TempDir;
using testing::write_file;

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}

// Magic + dims, written by hand (independent of write_idx).
std::string header(uint8_t type, const std::vector<uint32_t>& dims) {
  std::string s;
  s += '\0';
  s += '\0';
  s += static_cast<char>(type);
  s += static_cast<char>(dims.size());
  for (uint32_t d : dims) s += be32(d);
  return s;
}

std::string gz(const std::string& s) { return detail::gzip(s); }

TEST(DataIdx, ReadsHandWrittenRawFile) {
  TempDir dir;
  const std::string p = dir.file("a-idx3-ubyte");
  write_file(p, header(0x08, {2, 3, 2}) +
                    std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xff", 12));
  const IdxArray a = read_idx(p);
  EXPECT_EQ(a.type, 0x08);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 2}));
  ASSERT_EQ(a.bytes.size(), 12u);
  EXPECT_EQ(a.bytes[0], 1);
  EXPECT_EQ(a.bytes[11], 255);
  EXPECT_EQ(a.count(), 12);
}

TEST(DataIdx, ReadsFileCompressedBySystemGzip) {
  TempDir dir;
  const std::string raw = dir.file("labels"), gzp = dir.file("labels.gz");
  write_file(raw, header(0x08, {4}) + std::string("\x07\x00\x03\x09", 4));
  const auto r = testing::run_command("gzip -c '" + raw + "' > '" + gzp + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const IdxArray a = read_idx(gzp);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{4}));
  EXPECT_EQ(a.bytes, (std::vector<uint8_t>{7, 0, 3, 9}));
}

TEST(DataIdx, WriteThenReadRoundTripRawAndGzip) {
  TempDir dir;
  IdxArray a;
  a.type = kIdxUbyte;
  a.dims = {3, 4, 5};
  for (int i = 0; i < 60; ++i) a.bytes.push_back(static_cast<uint8_t>(i * 37 + 11));
  for (bool gzip : {false, true}) {
    const std::string p = dir.file(gzip ? "x.gz" : "x");
    write_idx(p, a, gzip);
    const std::string bytes = testing::read_file(p);
    if (gzip) {
      ASSERT_GE(bytes.size(), 2u);
      EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x1f);
      EXPECT_EQ(static_cast<uint8_t>(bytes[1]), 0x8b);
    } else {
      // The exact on-disk layout: magic, big-endian dims, data.
      EXPECT_EQ(bytes.substr(0, 16), header(0x08, {3, 4, 5}));
      EXPECT_EQ(bytes.size(), 16u + 60u);
    }
    const IdxArray b = read_idx(p);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.dims, a.dims);
    EXPECT_EQ(b.bytes, a.bytes);
  }
}

TEST(DataIdx, IntElementsDecodeBigEndian) {
  TempDir dir;
  const std::string p = dir.file("ints");
  write_file(p, header(0x0C, {3}) + be32(0xFFFFFFFFu) + be32(258) + be32(7));
  const IdxArray a = read_idx(p);
  EXPECT_EQ(a.type, kIdxInt);
  EXPECT_EQ(a.int_at(0), -1);
  EXPECT_EQ(a.int_at(1), 258);
  EXPECT_EQ(a.int_at(2), 7);
}

struct BadCase {
  const char* name;
  std::string bytes;
  std::string offset;  // "byte N"
  std::string words;   // another fragment the message must contain
};

TEST(DataIdx, RejectsBadRawFilesNamingPathAndOffset) {
  const std::vector<BadCase> cases = {
      {"empty", "", "byte 0", "too short"},
      {"two-bytes", std::string("\0\0", 2), "byte 2", "too short"},
      {"magic0", std::string("\x01\0\x08\x01", 4) + be32(1) + "x", "byte 0", "magic"},
      {"magic1", std::string("\0\x02\x08\x01", 4) + be32(1) + "x", "byte 1", "magic"},
      {"type", header(0x07, {1}) + "x", "byte 2", "type code 0x07"},
      {"nodims", std::string("\0\0\x08\0", 4), "byte 3", "0 dimensions"},
      {"zerodim", header(0x08, {2, 0}) + "xx", "byte 8", "dimension 1 is 0"},
      {"shortheader", std::string("\0\0\x08\x03", 4) + be32(1), "byte 8", "inside the header"},
      {"truncated", header(0x08, {10}) + "12345", "byte 4", "18 bytes"},
      {"trailing", header(0x08, {2}) + "12345", "byte 4", "trailing garbage"},
      {"overflow", header(0x0C, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}), "byte 8", "overflows"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string p = dir.file(std::string(c.name) + "-idx1-ubyte");
    write_file(p, c.bytes);
    const std::string msg = error_of([&] { read_idx(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.offset + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.words), std::string::npos) << msg;
  }
}

TEST(DataIdx, TruncatedLabelFileMessageStatesBothSizes) {
  TempDir dir;
  const std::string p = dir.file("t10k-labels-idx1-ubyte");
  write_file(p, header(0x08, {10000}) + std::string(8992, '\x01'));  // 9000 bytes in all
  const std::string msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find(p + ": byte 4: header says"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10000 items"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10008 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the file has 9000 bytes"), std::string::npos) << msg;
}

TEST(DataIdx, RejectsBadGzipFilesNamingPathAndOffset) {
  const std::string good = header(0x08, {5}) + "abcde";
  const std::string good_gz = gz(good);
  std::string corrupt = good_gz;
  for (size_t i = 12; i + 8 < corrupt.size(); ++i)
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5A);
  const std::vector<BadCase> cases = {
      {"gz-short-data", gz(header(0x08, {10}) + "abcde"), "byte 13", "ends after 13"},
      {"gz-long-data", gz(header(0x08, {5}) + "abcdefgh"), "byte 13", "continues past"},
      {"gz-bad-magic", gz(std::string("\x05\0\x08\x01", 4) + be32(1) + "x"), "byte 0", "magic"},
      {"gz-cut", good_gz.substr(0, good_gz.size() - 6), "byte", "truncated"},
      {"gz-trailing", good_gz + "JUNK", "compressed byte " + std::to_string(good_gz.size()),
       "4 trailing bytes"},
      {"gz-corrupt", corrupt, "at compressed byte", "corrupt gzip data"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string p = dir.file(std::string(c.name) + ".gz");
    write_file(p, c.bytes);
    const std::string msg = error_of([&] { read_idx(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.offset), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.words), std::string::npos) << msg;
  }
}

// In a death-test child: caps the address space 1 GiB above the current use
// (unless under ASan), reads every file, exits 0 iff each gave a clean
// digitnet::Error at byte 4 (allocating the claimed 2 GiB would fail instead).
[[noreturn]] void read_liars_with_capped_memory(const std::vector<std::string>& paths) {
#if !defined(__SANITIZE_ADDRESS__)
  long vm_kb = 0;
  std::ifstream st("/proc/self/status");
  for (std::string line; std::getline(st, line);)
    if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stol(line.substr(7));
  const rlim_t cap = static_cast<rlim_t>(vm_kb) * 1024 + (rlim_t{1} << 30);
  rlimit rl{cap, cap};
  setrlimit(RLIMIT_AS, &rl);
#endif
  size_t ok = 0;
  for (const std::string& p : paths) {
    try {
      read_idx(p);
    } catch (const Error& e) {
      if (std::string(e.what()).find(p + ": byte 4:") != std::string::npos) ++ok;
    } catch (...) {
    }
  }
  std::exit(ok == paths.size() ? 0 : 1);
}

TEST(DataIdx, LyingHeaderIsRejectedBeforeAllocating) {
  TempDir dir;
  // 2^31 items claimed by a 100-byte file, raw and gzip.
  const std::string lie = header(0x08, {0x80000000u}) + std::string(92, '\x07');
  ASSERT_EQ(lie.size(), 100u);
  const std::string raw = dir.file("lie-raw"), gzp = dir.file("lie.gz");
  write_file(raw, lie);
  write_file(gzp, gz(lie));
  // A header whose size cannot even be allocated: an attempt would throw
  // std::bad_alloc / length_error instead of digitnet::Error.
  const std::string huge = dir.file("huge");
  write_file(huge, header(0x08, {0x80000000u, 0x100000u}) + "x");
  EXPECT_NE(error_of([&] { read_idx(huge); }).find("byte 4"), std::string::npos);

  // With the address space capped below 2 GiB the lie must still be a clean
  // digitnet::Error (an allocation of the claimed size would fail instead).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::vector<std::string> liars = {raw, gzp};
  EXPECT_EXIT(read_liars_with_capped_memory(liars), ::testing::ExitedWithCode(0), "");
}

TEST(DataIdx, MissingFileAndDirectoryAreErrors) {
  TempDir dir;
  const std::string p = dir.file("nope");
  EXPECT_NE(error_of([&] { read_idx(p); }).find(p), std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(dir.path().string()); }).find("directory"), std::string::npos);
}

TEST(DataIdx, WriteIdxValidatesItsInput) {
  TempDir dir;
  IdxArray a;
  a.dims = {2, 2};
  a.bytes = {1, 2, 3};
  EXPECT_THROW(write_idx(dir.file("w"), a), Error);
  a.dims = {};
  a.bytes = {};
  EXPECT_THROW(write_idx(dir.file("w"), a), Error);
  a.dims = {1};
  a.bytes = {1};
  a.type = 0x42;
  EXPECT_THROW(write_idx(dir.file("w"), a), Error);
}

// ---- load_idx_dataset ---------------------------------------------------------

TEST(DataIdx, LoadsDatasetWithUbyteLabels) {
  TempDir dir;
  const std::string img = dir.file("img"), lab = dir.file("lab.gz");
  std::string pixels;
  for (int i = 0; i < 3 * 2 * 4; ++i) pixels += static_cast<char>(i * 10);
  write_file(img, header(0x08, {3, 2, 4}) + pixels);
  write_file(lab, gz(header(0x08, {3}) + std::string("\x02\x00\x05", 3)));
  const Dataset ds = load_idx_dataset(img, lab);
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.image_shape, (Shape{1, 2, 4}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{2, 0, 5}));
  EXPECT_EQ(ds.num_classes, 6);
  ASSERT_EQ(ds.pixels.size(), 3);
  EXPECT_EQ(ds.pixels.unpack_all(), std::vector<uint8_t>(pixels.begin(), pixels.end()));
  EXPECT_EQ(ds.image(2)[7], 230);
}

TEST(DataIdx, LoadsInt32LabelsAndFourDimImages) {
  TempDir dir;
  const std::string img = dir.file("img"), lab = dir.file("lab");
  write_file(img, header(0x08, {2, 3, 1, 2}) + std::string(12, '\x80'));
  write_file(lab, header(0x0C, {2}) + be32(7) + be32(1));
  const Dataset ds = load_idx_dataset(img, lab);
  EXPECT_EQ(ds.image_shape, (Shape{3, 1, 2}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{7, 1}));
  EXPECT_EQ(ds.num_classes, 8);
}

TEST(DataIdx, StreamsImagesAcrossBlocksRawAndGzip) {
  // 700 MNIST-sized images: the loader reads ~334 images at a time, so this
  // crosses two block boundaries and ends inside a block.
  TempDir dir;
  const int n = 700, size = 28 * 28;
  std::string pixels(static_cast<size_t>(n * size), '\0');
  uint32_t state = 12345;
  for (char& p : pixels) {
    state = state * 1664525u + 1013904223u;
    p = (state >> 24) < 180 ? '\0' : static_cast<char>(state >> 16);  // ~70 % zeros
  }
  std::string labels;
  for (int i = 0; i < n; ++i) labels += static_cast<char>(i % 10);
  const std::string file = header(0x08, {n, 28, 28}) + pixels;
  write_file(dir.file("img"), file);
  write_file(dir.file("img.gz"), gz(file));
  write_file(dir.file("lab"), header(0x08, {n}) + labels);
  for (const char* name : {"img", "img.gz"}) {
    SCOPED_TRACE(name);
    const Dataset ds = load_idx_dataset(dir.file(name), dir.file("lab"));
    ASSERT_EQ(ds.size(), n);
    EXPECT_EQ(ds.image_shape, (Shape{1, 28, 28}));
    EXPECT_EQ(ds.pixels.unpack_all(), std::vector<uint8_t>(pixels.begin(), pixels.end()));
  }
  // A gzip stream that ends inside the third block: the error names the file and
  // the uncompressed byte where the data stopped.
  const std::string cut = file.substr(0, file.size() - 50 * size);
  write_file(dir.file("cut.gz"), gz(cut));
  const std::string msg = error_of([&] { load_idx_dataset(dir.file("cut.gz"), dir.file("lab")); });
  EXPECT_NE(msg.find(dir.file("cut.gz") + ": byte " + std::to_string(cut.size()) + ": "),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("gzip stream ends after"), std::string::npos) << msg;
}

TEST(DataIdx, DatasetErrorsNameFileAndOffset) {
  TempDir dir;
  const std::string img = dir.file("images-idx3-ubyte"), lab = dir.file("labels-idx1-ubyte");
  const std::string good_img = header(0x08, {3, 2, 2}) + std::string(12, '\x01');
  const std::string good_lab = header(0x08, {3}) + std::string("\x01\x02\x03", 3);
  auto check = [&](const std::string& i, const std::string& l, const std::string& path,
                   const std::string& frag) {
    write_file(img, i);
    write_file(lab, l);
    const std::string msg = error_of([&] { load_idx_dataset(img, lab); });
    EXPECT_NE(msg.find(path + ": " + frag), std::string::npos) << msg;
    return msg;
  };
  // images that are not ubyte
  check(header(0x0C, {3, 1, 1}) + std::string(12, '\0'), good_lab, img, "byte 2:");
  // images with 2 dims
  check(header(0x08, {3, 4}) + std::string(12, '\0'), good_lab, img, "byte 3:");
  // labels that are not 1-D
  const std::string m2 = check(good_img, header(0x08, {3, 1}) + "abc", lab, "byte 3:");
  EXPECT_NE(m2.find("1-D"), std::string::npos);
  // unsupported label type
  check(good_img, header(0x0D, {3}) + std::string(12, '\0'), lab, "byte 2:");
  // counts disagree: both files named
  const std::string m3 = check(good_img, header(0x08, {2}) + "ab", img, "byte 4:");
  EXPECT_NE(m3.find(lab + ": byte 4: 2 labels"), std::string::npos) << m3;
  EXPECT_NE(m3.find("3 images"), std::string::npos) << m3;
  // a negative int32 label: label 1 is at byte 8 + 4
  const std::string m4 =
      check(good_img, header(0x0C, {3}) + be32(0) + be32(0xFFFFFFFDu) + be32(1), lab, "byte 12:");
  EXPECT_NE(m4.find("-3"), std::string::npos) << m4;
}

}  // namespace
}  // namespace digitnet
