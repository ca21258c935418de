// Model files (.dnm), format version 1 — see docs/MODEL_FORMAT.md.
//
//   offset 0   "DIGITNET"                   magic (8 bytes)
//          8   u32 LE format version (1)
//         12   u32 LE flags (0)
//         16   u64 LE L, the JSON length
//         24   L bytes of UTF-8 JSON
//              zero padding to a multiple of 64 (the data section start D)
//          D   tensor data, little-endian float32, each tensor 64-byte aligned
//   size - 32  SHA-256 of every byte before it
//
// Loading checks the header against the real file size before reading or
// allocating anything it claims, then the checksum, then every field of the
// JSON against the architecture it describes.
#include "digitnet/io/model_file.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <system_error>

#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/io/spec.hpp"

namespace digitnet {
namespace {

constexpr char kMagic[8] = {'D', 'I', 'G', 'I', 'T', 'N', 'E', 'T'};
constexpr uint64_t kHeaderBytes = 24;
constexpr uint64_t kChecksumBytes = 32;
constexpr uint64_t kMinFileBytes = kHeaderBytes + kChecksumBytes;
constexpr uint64_t kAlign = 64;
constexpr const char* kFormatName = "digitnet-model";
constexpr std::size_t kMaxRank = 8;

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
uint64_t get_le(const std::string& bytes, std::size_t offset, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= static_cast<uint64_t>(
             static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]))
         << (8 * i);
  return v;
}

// float32 <-> little-endian bytes, independent of the host byte order.
void floats_to_le(const float* src, int64_t n, char* dst) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, src + i, 4);
      for (int b = 0; b < 4; ++b) dst[4 * i + b] = static_cast<char>((u >> (8 * b)) & 0xffu);
    }
  }
}
void le_to_floats(const char* src, int64_t n, float* dst) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u = 0;
      for (int b = 0; b < 4; ++b)
        u |= static_cast<uint32_t>(static_cast<unsigned char>(src[4 * i + b])) << (8 * b);
      std::memcpy(dst + i, &u, 4);
    }
  }
}

std::string hex32(uint32_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// A model's tensors in file order: parameters (layer order), then buffers.
std::vector<std::pair<std::string, Tensor*>> model_tensors(const Sequential& model) {
  std::vector<std::pair<std::string, Tensor*>> out;
  const auto layers = model.layers();
  for (Layer* layer : layers)
    for (Param* p : layer->params()) out.emplace_back(layer->name + "/" + p->name, &p->value);
  for (Layer* layer : layers)
    for (auto& [name, t] : layer->buffers()) out.emplace_back(layer->name + "/" + name, t);
  return out;
}

// Tensors a file may lack because files written before they existed lack them, with
// the value such a file means: BatchNormalization's moving_weight (the weight of its
// debiased moving averages) is 1 in a file without it, whose averages are Keras'.
std::optional<float> value_when_absent(const Sequential& model, const std::string& name) {
  for (const Layer* layer : model.layers())
    if (layer->type() == "BatchNormalization" && name == layer->name + "/moving_weight")
      return 1.0f;
  return std::nullopt;
}

// ------------------------------------------------------------------- reading

struct CheckedFile {
  std::string bytes;
  nlohmann::json json;
  uint64_t data_start = 0;
  uint64_t data_bytes = 0;
};

std::string read_prefix(const std::string& path, std::ifstream& f, uint64_t n) {
  std::string out(static_cast<std::size_t>(n), '\0');
  f.read(out.data(), static_cast<std::streamsize>(n));
  if (static_cast<uint64_t>(f.gcount()) != n)
    throw Error(path + ": read error after byte " + std::to_string(f.gcount()));
  return out;
}

// Parses the JSON section; nullopt-like (discarded) on error when `quiet`.
bool parse_json_section(const std::string& path, const std::string& bytes, uint64_t length,
                        nlohmann::json& out, bool quiet) {
  const char* begin = bytes.data() + kHeaderBytes;
  try {
    out = nlohmann::json::parse(begin, begin + length);
  } catch (const nlohmann::json::parse_error& e) {
    if (quiet) return false;
    const uint64_t at = kHeaderBytes + (e.byte == 0 ? 0 : e.byte - 1);
    throw Error(path + ": corrupt: invalid JSON section at byte " + std::to_string(at) + ": " +
                e.what());
  }
  return true;
}

// Optional unsigned integer field.
bool get_uint(const nlohmann::json& j, const char* key, uint64_t& out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned()) {
    out = it->get<uint64_t>();
    return true;
  }
  const int64_t v = it->get<int64_t>();
  if (v < 0) return false;
  out = static_cast<uint64_t>(v);
  return true;
}

CheckedFile read_checked(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(path + ": cannot read model file: is a directory");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read model file: " + ec.message());
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open model file");
  if (size == 0) throw Error(path + ": empty file (0 bytes), not a digitnet model file");

  // Header: magic, version, flags, JSON length — all checked against `size`.
  const std::string head = read_prefix(path, f, std::min(size, kHeaderBytes));
  const std::size_t magic_bytes = std::min<std::size_t>(head.size(), sizeof(kMagic));
  if (std::memcmp(head.data(), kMagic, magic_bytes) != 0)
    throw Error(path + ": not a digitnet model file (bad magic at byte 0)");
  if (size < kMinFileBytes)
    throw Error(path + ": file too short (" + std::to_string(size) +
                " bytes; a digitnet model file has at least " + std::to_string(kMinFileBytes) +
                "): truncated");
  const auto version = static_cast<uint32_t>(get_le(head, 8, 4));
  if (version != kModelFormatVersion)
    throw Error(path + ": unsupported format version " + std::to_string(version) +
                " at byte 8 (this build reads version " + std::to_string(kModelFormatVersion) +
                ")");
  const auto flags = static_cast<uint32_t>(get_le(head, 12, 4));
  if (flags != 0) throw Error(path + ": unsupported flags " + hex32(flags) + " at byte 12");
  const uint64_t json_length = get_le(head, 16, 8);
  if (json_length > size - kMinFileBytes)
    throw Error(path + ": JSON length " + std::to_string(json_length) +
                " at byte 16 exceeds the file size (" + std::to_string(size) +
                " bytes): truncated or corrupt");

  // Now the whole file (its size is real, not claimed).
  CheckedFile out;
  out.bytes = head;
  out.bytes.resize(static_cast<std::size_t>(size));
  f.read(out.bytes.data() + kHeaderBytes, static_cast<std::streamsize>(size - kHeaderBytes));
  if (static_cast<uint64_t>(f.gcount()) != size - kHeaderBytes)
    throw Error(path + ": read error after byte " +
                std::to_string(kHeaderBytes + static_cast<uint64_t>(f.gcount())));

  const uint64_t checksum_at = size - kChecksumBytes;
  const auto digest = sha256(std::string_view(out.bytes.data(), checksum_at));
  const bool checksum_ok =
      std::memcmp(digest.data(), out.bytes.data() + checksum_at, kChecksumBytes) == 0;
  if (!checksum_ok) {
    // Name a truncation when the (unverified) JSON says how long the file was.
    nlohmann::json j;
    uint64_t data_bytes = 0;
    if (parse_json_section(path, out.bytes, json_length, j, true) && j.is_object() &&
        get_uint(j, "data_bytes", data_bytes)) {
      const uint64_t data_start = align_up(kHeaderBytes + json_length);
      if (data_bytes < (uint64_t{1} << 62) && data_start + data_bytes + kChecksumBytes > size)
        throw Error(path + ": truncated: the file has " + std::to_string(size) +
                    " bytes but its JSON section describes " +
                    std::to_string(data_start + data_bytes + kChecksumBytes) +
                    " (corrupt: checksum mismatch)");
    }
    throw Error(path + ": corrupt: checksum mismatch (SHA-256 stored at byte " +
                std::to_string(checksum_at) + ")");
  }

  parse_json_section(path, out.bytes, json_length, out.json, false);
  const nlohmann::json& j = out.json;
  if (!j.is_object()) throw Error(path + ": JSON section (byte 24): expected an object");
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != kFormatName)
    throw Error(path + ": JSON field 'format': expected \"" + kFormatName + "\"");
  uint64_t json_version = 0;
  if (!get_uint(j, "version", json_version) || json_version != kModelFormatVersion)
    throw Error(path + ": JSON field 'version': expected " + std::to_string(kModelFormatVersion));
  out.data_start = align_up(kHeaderBytes + json_length);
  if (!get_uint(j, "data_bytes", out.data_bytes))
    throw Error(path + ": JSON field 'data_bytes': missing or not a non-negative integer");
  if (out.data_start > checksum_at || out.data_bytes != checksum_at - out.data_start)
    throw Error(path + ": JSON field 'data_bytes' (" + std::to_string(out.data_bytes) +
                ") does not match the file: data section at byte " +
                std::to_string(out.data_start) + " to checksum at byte " +
                std::to_string(checksum_at));
  return out;
}

struct TensorEntry {
  std::size_t index = 0;
  Shape shape;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  bool used = false;
};

std::map<std::string, TensorEntry> tensor_index(const std::string& path, const CheckedFile& file) {
  const auto it = file.json.find("tensors");
  if (it == file.json.end() || !it->is_array())
    throw Error(path + ": JSON field 'tensors': missing or not an array");
  std::map<std::string, TensorEntry> index;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& t = (*it)[i];
    std::string where = path + ": tensors[" + std::to_string(i) + "]";
    if (!t.is_object()) throw Error(where + ": expected an object");
    const auto name = t.find("name");
    if (name == t.end() || !name->is_string()) throw Error(where + ": field 'name' missing");
    where += " ('" + name->get<std::string>() + "')";
    if (const auto dtype = t.find("dtype");
        dtype != t.end() && (!dtype->is_string() || dtype->get<std::string>() != "float32"))
      throw Error(where + ": field 'dtype': only \"float32\" is supported");
    TensorEntry e;
    e.index = i;
    const auto shape = t.find("shape");
    if (shape == t.end() || !shape->is_array() || shape->size() > kMaxRank)
      throw Error(where + ": field 'shape': expected an array of at most 8 sizes");
    uint64_t elements = 1;
    for (const auto& d : *shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw Error(where + ": field 'shape': expected non-negative integers (got " +
                    shape->dump() + ")");
      const auto dim = static_cast<uint64_t>(d.get<int64_t>());
      // Bounded by the data section, so the product cannot overflow.
      if (dim != 0 && elements > file.data_bytes / 4 / dim)
        throw Error(where + ": field 'shape' " + shape->dump() +
                    " is larger than the data section");
      elements *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!get_uint(t, "offset", e.offset))
      throw Error(where + ": field 'offset': missing or not a non-negative integer");
    if (!get_uint(t, "bytes", e.bytes))
      throw Error(where + ": field 'bytes': missing or not a non-negative integer");
    if (e.bytes != elements * 4)
      throw Error(where + ": field 'bytes' (" + std::to_string(e.bytes) +
                  ") does not match shape " + shape_str(e.shape) + " of float32 (" +
                  std::to_string(elements * 4) + ")");
    if (e.offset > file.data_bytes || e.bytes > file.data_bytes - e.offset)
      throw Error(where + ": offset " + std::to_string(e.offset) + " + " + std::to_string(e.bytes) +
                  " bytes is out of range (data section has " + std::to_string(file.data_bytes) +
                  " bytes at byte " + std::to_string(file.data_start) + ")");
    if (e.offset % 4 != 0)
      throw Error(where + ": offset " + std::to_string(e.offset) + " is not a multiple of 4");
    if (!index.emplace(name->get<std::string>(), std::move(e)).second)
      throw Error(where + ": duplicate tensor name");
  }
  return index;
}

void restore_compile(const std::string& path, const nlohmann::json& c, Sequential& model) {
  const std::string where = path + ": compile";
  if (!c.is_object()) throw Error(where + ": expected an object");
  auto named = [&](const char* key) -> std::pair<std::string, nlohmann::json> {
    const auto it = c.find(key);
    if (it == c.end() || !it->is_object())
      throw Error(where + "." + key + ": missing or not an object");
    const auto name = it->find("name");
    if (name == it->end() || !name->is_string())
      throw Error(where + "." + key + ".name: missing or not a string");
    nlohmann::json config = nlohmann::json::object();
    if (const auto cfg = it->find("config"); cfg != it->end()) config = *cfg;
    return {name->get<std::string>(), config};
  };
  const auto [opt_name, opt_config] = named("optimizer");
  const auto [loss_name, loss_config] = named("loss");
  OptimizerPtr optimizer;
  LossPtr loss;
  try {
    optimizer = make_optimizer(opt_name, opt_config);
  } catch (const Error& e) {
    throw Error(where + ".optimizer: " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ".optimizer: bad config: " + e.what());
  }
  try {
    loss = make_loss(loss_name, loss_config);
  } catch (const Error& e) {
    throw Error(where + ".loss: " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ".loss: bad config: " + e.what());
  }
  std::vector<std::string> metrics;
  if (const auto m = c.find("metrics"); m != c.end()) {
    if (!m->is_array()) throw Error(where + ".metrics: expected an array of strings");
    for (const auto& s : *m) {
      if (!s.is_string()) throw Error(where + ".metrics: expected an array of strings");
      metrics.push_back(s.get<std::string>());
    }
  }
  uint64_t iterations = 0;
  const auto& opt_json = c.at("optimizer");
  const bool has_iterations = opt_json.contains("iterations");
  if (has_iterations && !get_uint(opt_json, "iterations", iterations))
    throw Error(where + ".optimizer.iterations: expected a non-negative integer");
  try {
    model.compile(optimizer, loss, std::move(metrics));
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  if (has_iterations) optimizer->iterations = static_cast<int64_t>(iterations);
}

}  // namespace

std::array<unsigned char, 32> sha256(std::string_view bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1 || length != digest.size())
    throw Error("sha256: OpenSSL digest failed");
  return digest;
}

void save_model(const Sequential& model, const std::string& path) {
  if (model.layers().empty()) throw Error(path + ": cannot save a model with no layers");
  const auto tensors = model_tensors(model);

  nlohmann::json index = nlohmann::json::array();
  uint64_t data_bytes = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(t->size()) * 4;
    index.push_back({{"name", name},
                     {"dtype", "float32"},
                     {"shape", t->shape()},
                     {"offset", data_bytes},
                     {"bytes", bytes}});
    data_bytes = align_up(data_bytes + bytes);
  }

  nlohmann::json j = nlohmann::json::object();
  j["format"] = kFormatName;
  j["version"] = kModelFormatVersion;
  j["architecture"] = spec_to_json(spec_from_model(model));
  j["seed"] = model.seed();
  if (model.compiled()) {
    j["compile"] = {{"optimizer",
                     {{"name", model.optimizer()->name()},
                      {"config", model.optimizer()->config()},
                      {"iterations", model.optimizer()->iterations}}},
                    {"loss", {{"name", model.loss()->name()}, {"config", model.loss()->config()}}},
                    {"metrics", model.metrics()}};
  }
  j["metadata"] = model.metadata().is_null() ? nlohmann::json::object() : model.metadata();
  j["data_bytes"] = data_bytes;
  j["tensors"] = std::move(index);
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

  const uint64_t data_start = align_up(kHeaderBytes + text.size());
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(data_start + data_bytes + kChecksumBytes));
  bytes.append(kMagic, sizeof(kMagic));
  put_u32(bytes, kModelFormatVersion);
  put_u32(bytes, 0);
  put_u64(bytes, text.size());
  bytes += text;
  bytes.resize(static_cast<std::size_t>(data_start + data_bytes), '\0');
  uint64_t offset = data_start;
  for (const auto& [name, t] : tensors) {
    floats_to_le(t->data(), t->size(), bytes.data() + offset);
    offset = align_up(offset + static_cast<uint64_t>(t->size()) * 4);
  }
  const auto digest = sha256(bytes);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  write_file_atomic(path, bytes);
}

nlohmann::json read_model_json(const std::string& path) { return read_checked(path).json; }

Sequential load_model(const std::string& path, int threads) {
  const CheckedFile file = read_checked(path);
  const nlohmann::json& j = file.json;

  const auto arch = j.find("architecture");
  if (arch == j.end()) throw Error(path + ": JSON field 'architecture' missing");
  const ModelSpec spec = spec_from_json(*arch, path + ": architecture");
  uint64_t seed = 0;
  if (j.contains("seed") && !get_uint(j, "seed", seed))
    throw Error(path + ": JSON field 'seed': expected a non-negative integer");
  Sequential model = build_model(spec, seed, threads);

  auto index = tensor_index(path, file);
  for (const auto& [name, t] : model_tensors(model)) {
    const auto it = index.find(name);
    if (it == index.end()) {
      const std::optional<float> v = value_when_absent(model, name);
      if (!v)
        throw Error(path + ": missing tensor '" + name + "' (the architecture needs " +
                    shape_str(t->shape()) + ")");
      t->fill(*v);
      continue;
    }
    TensorEntry& e = it->second;
    if (e.shape != t->shape())
      throw Error(path + ": tensors[" + std::to_string(e.index) + "] ('" + name + "'): shape " +
                  shape_str(e.shape) + " does not match the architecture's " +
                  shape_str(t->shape()));
    le_to_floats(file.bytes.data() + file.data_start + e.offset, t->size(), t->data());
    e.used = true;
  }
  for (const auto& [name, e] : index)
    if (!e.used)
      throw Error(path + ": tensors[" + std::to_string(e.index) + "] ('" + name +
                  "'): not a parameter or buffer of the architecture");

  if (const auto c = j.find("compile"); c != j.end() && !c->is_null())
    restore_compile(path, *c, model);
  if (const auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) throw Error(path + ": metadata: expected a JSON object");
    if (const auto names = m->find("class_names"); names != m->end()) {
      const int64_t k = shape_size(model.output_shape());
      if (!names->is_array() || static_cast<int64_t>(names->size()) != k ||
          !std::all_of(names->begin(), names->end(), [](const auto& n) { return n.is_string(); }))
        throw Error(path + ": metadata.class_names: expected " + std::to_string(k) +
                    " strings, one per output, got " + names->dump().substr(0, 200));
    }
    model.metadata() = *m;
  }
  return model;
}

}  // namespace digitnet
