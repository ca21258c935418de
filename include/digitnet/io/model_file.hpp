// digitnet/io/model_file.hpp — saving and loading models (.dnm files).
//
// The format is documented in docs/MODEL_FORMAT.md: a fixed header, a JSON
// section (architecture, tensor index, training settings, metrics), the
// tensors as little-endian float32, and a SHA-256 of everything before it.
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "digitnet/model/sequential.hpp"

namespace digitnet {

inline constexpr uint32_t kModelFormatVersion = 1;

// Writes atomically: to a temporary file in the same directory, then rename.
void save_model(const Sequential& model, const std::string& path);

// Loads a model with its weights, buffers, compile settings (optimizer, loss)
// and metadata. A truncated, corrupt or foreign file is an Error naming the
// file and what is wrong (byte offset where it applies).
Sequential load_model(const std::string& path, int threads = 1);

// The JSON section of a model file (architecture, compile settings, metadata,
// tensor index) after checking the header, the sizes and the checksum; does
// not read the tensors into a model. For `info`-style tools.
nlohmann::json read_model_json(const std::string& path);

// SHA-256 of `bytes` (the model file's trailing checksum).
std::array<unsigned char, 32> sha256(std::string_view bytes);

}  // namespace digitnet
