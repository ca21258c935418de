// src/data/sha256.hpp — incremental SHA-256 (OpenSSL EVP) for the data module.
#pragma once
#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>

namespace digitnet::detail {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  // Lower-case hex digest; the object is finished afterwards.
  std::string hex();

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

}  // namespace digitnet::detail
