// digitnet/core/error.hpp — the one exception type the library throws.
#pragma once
#include <stdexcept>
#include <string>

namespace digitnet {

// Every failure at a boundary (files, specs, flags, network) is reported as a
// digitnet::Error whose message names the file, field or byte offset.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace digitnet
