#include "data/sha256.hpp"

#include <cstdio>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/data/mnist.hpp"

namespace digitnet {
namespace detail {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
    throw Error("sha256: cannot initialise OpenSSL EVP digest");
}

void Sha256::update(const void* data, size_t n) {
  if (n != 0 && EVP_DigestUpdate(ctx_.get(), data, n) != 1)
    throw Error("sha256: EVP_DigestUpdate failed");
}

std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error("sha256: EVP_DigestFinal failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace detail

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
}  // namespace

std::string sha256_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(path + ": cannot open for hashing");
  detail::Sha256 h;
  std::vector<unsigned char> buf(size_t{1} << 20);
  while (true) {
    const size_t got = std::fread(buf.data(), 1, buf.size(), f.get());
    h.update(buf.data(), got);
    if (got < buf.size()) break;
  }
  if (std::ferror(f.get())) throw Error(path + ": read error while hashing");
  return h.hex();
}

std::string sha256_hex(std::span<const uint8_t> bytes) {
  detail::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

std::string sha256_hex(std::string_view bytes) {
  detail::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

}  // namespace digitnet
