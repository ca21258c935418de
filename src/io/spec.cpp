// Model architectures: presets, the line-based text format and the JSON format
// (both documented in docs/SPEC.md).
//
// Every layer a spec names is constructed once while parsing (through the
// layer factories or make_layer), so a bad value is reported with its line or
// layer index, and the spec stores each layer's canonical (type, config) pair.
#include "digitnet/io/spec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>

#include "digitnet/core/error.hpp"
#include "digitnet/layers/layers.hpp"
#include "digitnet/model/ensemble.hpp"

namespace digitnet {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 20;        // per input dimension
constexpr int64_t kMaxInputSize = int64_t{1} << 28;  // elements per sample
constexpr std::uintmax_t kMaxSpecBytes = 16u << 20;  // spec files are tiny

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void add_layer(ModelSpec& spec, const LayerPtr& layer, std::string origin) {
  spec.layers.emplace_back(layer->type(), layer->config());
  spec.origins.push_back(std::move(origin));
}

// ---------------------------------------------------------------- text format

// One line of a text spec: keyword, positional arguments and key=value options.
class LineParser {
 public:
  LineParser(std::string where, std::vector<std::string> tokens)
      : where_(std::move(where)), keyword_(lower(tokens.front())) {
    for (std::size_t i = 1; i < tokens.size(); ++i) {
      const std::string& t = tokens[i];
      const std::size_t eq = t.find('=');
      if (eq == std::string::npos) {
        positional_.push_back(t);
        continue;
      }
      const std::string key = lower(t.substr(0, eq));
      if (key.empty() || eq + 1 == t.size()) fail("expected key=value", t);
      if (options_.count(key)) fail("duplicate option", t);
      options_[key] = {t.substr(eq + 1), t};
    }
  }

  const std::string& keyword() const { return keyword_; }
  const std::string& where() const { return where_; }

  [[noreturn]] void fail(const std::string& what, const std::string& token) const {
    throw Error(where_ + ": " + what + " (got '" + token + "')");
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": " + what); }

  std::size_t count() const { return positional_.size(); }
  bool has(std::size_t i) const { return i < positional_.size(); }
  const std::string& arg(std::size_t i, const std::string& name, const std::string& usage) const {
    if (!has(i)) fail(keyword_ + ": missing " + name + " (usage: " + usage + ")");
    return positional_[i];
  }
  // No positional arguments beyond `n`.
  void at_most(std::size_t n) const {
    if (positional_.size() > n) fail(keyword_ + ": unexpected argument", positional_[n]);
  }
  // Every option is one of `allowed`.
  void only_options(std::initializer_list<const char*> allowed) const {
    for (const auto& [key, value] : options_) {
      const bool ok =
          std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
      if (!ok) fail(keyword_ + ": unknown option", value.second);
    }
  }
  std::optional<std::string> option(const std::string& key) const {
    const auto it = options_.find(key);
    if (it == options_.end()) return std::nullopt;
    return it->second.first;
  }
  const std::string& option_token(const std::string& key) const { return options_.at(key).second; }

  int positive_int(const std::string& token, const std::string& name) const {
    int64_t v = 0;
    const char* end = token.data() + token.size();
    const auto [ptr, ec] = std::from_chars(token.data(), end, v);
    if (ec != std::errc() || ptr != end || v <= 0 || v > INT_MAX)
      fail(keyword_ + ": " + name + " must be a positive integer", token);
    return static_cast<int>(v);
  }
  float number(const std::string& token, const std::string& name) const {
    float v = 0.0f;
    const char* end = token.data() + token.size();
    const auto [ptr, ec] = std::from_chars(token.data(), end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v))
      fail(keyword_ + ": " + name + " must be a number", token);
    return v;
  }
  // "3" or "3x3" (square kernels only).
  int kernel(const std::string& token) const {
    const std::size_t x = lower(token).find('x');
    if (x == std::string::npos) return positive_int(token, "KERNEL");
    const int a = positive_int(token.substr(0, x), "KERNEL");
    const int b = positive_int(token.substr(x + 1), "KERNEL");
    if (a != b) fail(keyword_ + ": only square kernels are supported", token);
    return a;
  }
  Activation activation(const std::string& token) const {
    try {
      return activation_from_name(lower(token));
    } catch (const Error&) {
      fail("unknown activation", token);
    }
  }
  int stride_option() const {
    const auto s = option("stride");
    return s ? positive_int(*s, "stride") : 0;
  }
  Padding padding_option() const {
    const auto p = option("padding");
    if (!p) return Padding::valid;
    const std::string v = lower(*p);
    if (v == "valid") return Padding::valid;
    if (v == "same") return Padding::same;
    fail(keyword_ + ": padding must be 'valid' or 'same'", option_token("padding"));
  }
  bool use_bias_option() const {
    const auto b = option("use_bias");
    if (!b) return true;
    const std::string v = lower(*b);
    if (v == "true" || v == "1" || v == "yes") return true;
    if (v == "false" || v == "0" || v == "no") return false;
    fail(keyword_ + ": use_bias must be true or false", option_token("use_bias"));
  }

 private:
  std::string where_;
  std::string keyword_;
  std::vector<std::string> positional_;
  std::map<std::string, std::pair<std::string, std::string>> options_;  // key -> (value, token)
};

bool is_activation_keyword(const std::string& kw) {
  return kw == "linear" || kw == "relu" || kw == "leaky_relu" || kw == "sigmoid" || kw == "tanh" ||
         kw == "softmax";
}

// Constructs a layer, prefixing a factory error with the line.
template <class F>
LayerPtr make_at(const LineParser& p, F&& factory) {
  try {
    return factory();
  } catch (const Error& e) {
    p.fail(e.what());
  }
}

LayerPtr parse_layer_line(const LineParser& p) {
  const std::string& kw = p.keyword();
  if (kw == "dense") {
    const std::string usage = "dense UNITS [ACTIVATION] [use_bias=true|false]";
    p.at_most(2);
    p.only_options({"use_bias"});
    const int units = p.positive_int(p.arg(0, "UNITS", usage), "UNITS");
    const Activation act = p.has(1) ? p.activation(p.arg(1, "", usage)) : Activation::linear;
    const bool bias = p.use_bias_option();
    return make_at(p, [&] { return Dense(units, act, bias); });
  }
  if (kw == "conv2d" || kw == "conv") {
    const std::string usage =
        "conv2d FILTERS KERNEL [ACTIVATION] [stride=N] [padding=valid|same] [use_bias=...]";
    p.at_most(3);
    p.only_options({"stride", "padding", "use_bias"});
    const int filters = p.positive_int(p.arg(0, "FILTERS", usage), "FILTERS");
    const int kernel = p.kernel(p.arg(1, "KERNEL", usage));
    const Activation act = p.has(2) ? p.activation(p.arg(2, "", usage)) : Activation::linear;
    const auto stride_opt = p.option("stride");
    const int stride = stride_opt ? p.positive_int(*stride_opt, "stride") : 1;
    const Padding padding = p.padding_option();
    const bool bias = p.use_bias_option();
    return make_at(p, [&] { return Conv2D(filters, kernel, act, stride, padding, bias); });
  }
  const bool max_pool = kw == "maxpool" || kw == "maxpooling2d" || kw == "max_pooling2d";
  const bool avg_pool = kw == "avgpool" || kw == "averagepooling2d" || kw == "average_pooling2d" ||
                        kw == "avgpooling2d";
  if (max_pool || avg_pool) {
    const std::string usage = kw + " POOL [stride=N] [padding=valid|same]";
    p.at_most(1);
    p.only_options({"stride", "padding"});
    const int pool = p.positive_int(p.arg(0, "POOL", usage), "POOL");
    const int stride = p.stride_option();
    const Padding padding = p.padding_option();
    return make_at(p, [&] {
      return max_pool ? MaxPooling2D(pool, stride, padding)
                      : AveragePooling2D(pool, stride, padding);
    });
  }
  if (kw == "dropout") {
    p.at_most(1);
    p.only_options({});
    const std::string& tok = p.arg(0, "RATE", "dropout RATE");
    const float rate = p.number(tok, "RATE");
    if (!(rate >= 0.0f && rate < 1.0f)) p.fail("dropout: RATE must be in [0, 1)", tok);
    return make_at(p, [&] { return Dropout(rate); });
  }
  if (kw == "flatten") {
    p.at_most(0);
    p.only_options({});
    return make_at(p, [&] { return Flatten(); });
  }
  if (kw == "batchnorm" || kw == "batchnormalization" || kw == "batch_normalization") {
    p.at_most(0);
    p.only_options({"momentum", "epsilon"});
    float momentum = 0.99f, epsilon = 1e-3f;
    if (const auto m = p.option("momentum")) momentum = p.number(*m, "momentum");
    if (const auto e = p.option("epsilon")) epsilon = p.number(*e, "epsilon");
    if (!(momentum >= 0.0f && momentum < 1.0f))
      p.fail(kw + ": momentum must be in [0, 1)", p.option_token("momentum"));
    if (!(epsilon > 0.0f)) p.fail(kw + ": epsilon must be positive", p.option_token("epsilon"));
    return make_at(p, [&] { return BatchNormalization(momentum, epsilon); });
  }
  if (kw == "activation" || is_activation_keyword(kw)) {
    Activation act;
    if (kw == "activation") {
      p.at_most(1);
      act = p.activation(p.arg(0, "ACTIVATION", "activation ACTIVATION [alpha=X]"));
    } else {
      p.at_most(0);
      act = p.activation(kw);
    }
    p.only_options({"alpha"});
    float alpha = 0.3f;
    if (const auto a = p.option("alpha")) {
      if (act != Activation::leaky_relu)
        p.fail(p.keyword() + ": alpha applies only to leaky_relu", p.option_token("alpha"));
      alpha = p.number(*a, "alpha");
    }
    return make_at(p, [&] { return ActivationLayer(act, alpha); });
  }
  return nullptr;
}

std::vector<std::string> split_tokens(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> tokens;
  std::string t;
  while (in >> t) tokens.push_back(t);
  return tokens;
}

ModelSpec parse_text(const std::string& text, const std::string& source) {
  ModelSpec spec;
  spec.name = source;
  bool have_input = false;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> tokens = split_tokens(line);
    if (tokens.empty()) continue;
    const std::string where = source + ":" + std::to_string(number);
    const std::string first = tokens.front();
    LineParser p(where, std::move(tokens));
    if (p.keyword() == "input") {
      if (have_input) p.fail("duplicate input line", first);
      if (!spec.layers.empty()) p.fail("input must come before the first layer", first);
      if (p.count() < 1 || p.count() > 3)
        p.fail("input: expected 1 to 3 dimensions (usage: input C H W)");
      p.only_options({});
      Shape shape;
      int64_t total = 1;
      for (std::size_t i = 0; i < p.count(); ++i) {
        const std::string& tok = p.arg(i, "dimension", "input C H W");
        const int d = p.positive_int(tok, "dimension");
        if (d > kMaxDim) p.fail("input: dimension too large", tok);
        total *= d;
        if (total > kMaxInputSize) p.fail("input: shape too large", tok);
        shape.push_back(d);
      }
      spec.input_shape = shape;
      have_input = true;
      continue;
    }
    LayerPtr layer = parse_layer_line(p);
    if (!layer) p.fail("unknown keyword", first);
    add_layer(spec, layer, where);
  }
  if (spec.layers.empty()) throw Error(source + ": spec has no layers");
  return spec;
}

// ---------------------------------------------------------------- JSON format

// 1-based line and column of a 0-based byte offset.
std::pair<std::size_t, std::size_t> line_column(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// nlohmann's message without its "[json.exception...] parse error at ...: " prefix.
std::string parse_error_reason(const std::string& what) {
  std::size_t pos = what.find("column ");
  if (pos == std::string::npos) pos = what.find("parse error");
  if (pos != std::string::npos) {
    const std::size_t colon = what.find(": ", pos);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  return what;
}

Shape parse_input_shape(const nlohmann::json& j, const std::string& source) {
  const std::string what = source + ": input_shape: expected an array of 1 to 3 positive integers";
  if (!j.is_array() || j.empty() || j.size() > 3) throw Error(what + " (got " + j.dump() + ")");
  Shape shape;
  int64_t total = 1;
  for (const auto& d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() <= 0 || d.get<int64_t>() > kMaxDim)
      throw Error(what + " (got " + j.dump() + ")");
    total *= d.get<int64_t>();
    if (total > kMaxInputSize)
      throw Error(source + ": input_shape: too large (got " + j.dump() + ")");
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

}  // namespace

std::vector<std::string> preset_names() { return {"mlp", "cnn", "lenet", "fast"}; }

namespace {
[[noreturn]] void unknown_preset(const std::string& name) {
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown preset '" + name + "' (known: " + known + ")");
}
}  // namespace

TrainingRecipe preset_recipe(const std::string& name) {
  const std::string key = lower(name);
  TrainingRecipe r;
  if (key == "fast") {
    // Two epochs of small batches with a one-cycle rate peaking at 2e-2: the
    // cheapest route to 99 % found on a validation split (docs/ACCURACY.md).
    r.epochs = 2;
    r.batch_size = 64;
    r.learning_rate = 2e-2f;
    r.schedule = "onecycle";
  } else if (key != "mlp" && key != "cnn" && key != "lenet") {
    unknown_preset(name);
  }
  return r;
}

ModelSpec preset_spec(const std::string& name) {
  const std::string key = lower(name);
  std::vector<LayerPtr> layers;
  if (key == "mlp") {
    // The Keras "basic classification" MLP.
    layers.push_back(Flatten());
    layers.push_back(Dense(128, Activation::relu));
    layers.push_back(Dense(10, Activation::softmax));
  } else if (key == "cnn") {
    // Keras' mnist_convnet example (the classic one with two conv layers).
    layers.push_back(Conv2D(32, 3, Activation::relu));
    layers.push_back(Conv2D(64, 3, Activation::relu));
    layers.push_back(MaxPooling2D(2));
    layers.push_back(Dropout(0.25f));
    layers.push_back(Flatten());
    layers.push_back(Dense(128, Activation::relu));
    layers.push_back(Dropout(0.5f));
    layers.push_back(Dense(10, Activation::softmax));
  } else if (key == "lenet") {
    // LeNet-5 adapted to 28x28 inputs: the first convolution pads to keep 28x28.
    layers.push_back(Conv2D(6, 5, Activation::tanh, 1, Padding::same));
    layers.push_back(AveragePooling2D(2));
    layers.push_back(Conv2D(16, 5, Activation::tanh, 1, Padding::valid));
    layers.push_back(AveragePooling2D(2));
    layers.push_back(Flatten());
    layers.push_back(Dense(120, Activation::tanh));
    layers.push_back(Dense(84, Activation::tanh));
    layers.push_back(Dense(10, Activation::softmax));
  } else if (key == "fast") {
    // A small batch-normalised CNN that pools before normalising, so the
    // normalisation and ReLU run on a quarter of the pixels.
    for (int filters : {16, 32}) {
      layers.push_back(Conv2D(filters, 3, Activation::linear, 1, Padding::same, false));
      layers.push_back(MaxPooling2D(2));
      layers.push_back(BatchNormalization());
      layers.push_back(ActivationLayer(Activation::relu));
    }
    layers.push_back(Flatten());
    layers.push_back(Dense(10, Activation::softmax));
  } else {
    unknown_preset(name);
  }
  ModelSpec spec;
  spec.name = key;
  spec.input_shape = {1, 28, 28};
  for (std::size_t i = 0; i < layers.size(); ++i)
    add_layer(spec, layers[i], key + ": layer " + std::to_string(i + 1));
  return spec;
}

ModelSpec parse_spec(const std::string& text, const std::string& source) {
  const std::size_t first = text.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string::npos) throw Error(source + ": spec has no layers (empty spec)");
  if (text[first] != '{') return parse_text(text, source);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based index of the last byte read.
    const auto [line, column] = line_column(text, e.byte == 0 ? 0 : e.byte - 1);
    throw Error(source + ":" + std::to_string(line) + ":" + std::to_string(column) +
                ": invalid JSON: " + parse_error_reason(e.what()));
  }
  return spec_from_json(j, source);
}

ModelSpec read_spec_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read spec file: " + ec.message());
  if (size > kMaxSpecBytes)
    throw Error(path + ": spec file too large (" + std::to_string(size) + " bytes)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open spec file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(path + ": error reading spec file");
  ModelSpec spec = parse_spec(ss.str(), path);
  spec.name = std::filesystem::path(path).filename().string();
  return spec;
}

ModelSpec fit_spec_to_data(ModelSpec spec, const Shape& image_shape, int num_classes, bool adapt) {
  if (spec.input_shape != image_shape) {
    if (!adapt)
      throw Error(spec.name + ": the spec's input is " + shape_str(spec.input_shape) +
                  " but the data set's images are " + shape_str(image_shape) +
                  "; change its input shape to " + shape_str(image_shape));
    spec.input_shape = image_shape;
  }
  // The output count is the last Dense layer's, when only shape-keeping layers follow it.
  std::optional<size_t> last_dense;
  for (size_t i = spec.layers.size(); i-- > 0;) {
    const std::string& type = spec.layers[i].first;
    if (type == "Dense") {
      last_dense = i;
      break;
    }
    if (type != "Activation" && type != "Dropout" && type != "Softmax") break;
  }
  if (num_classes <= 0) return spec;
  if (!last_dense)
    throw Error(spec.name + ": the spec does not end in a Dense layer, so its output cannot be " +
                "matched to the data set's " + std::to_string(num_classes) + " classes");
  nlohmann::json& cfg = spec.layers[*last_dense].second;
  const int64_t units = cfg.value("units", int64_t{0});
  if (units != num_classes) {
    if (!adapt)
      throw Error(spec.name + ": the last Dense layer has " + std::to_string(units) +
                  " units but the data set has " + std::to_string(num_classes) +
                  " classes; give it " + std::to_string(num_classes) + " units");
    cfg["units"] = num_classes;
  }
  return spec;
}

ModelSpec resolve_spec(const std::string& preset_or_path) {
  const auto names = preset_names();
  if (std::find(names.begin(), names.end(), lower(preset_or_path)) != names.end())
    return preset_spec(preset_or_path);
  std::error_code ec;
  if (!std::filesystem::exists(preset_or_path, ec)) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model '" + preset_or_path + "': not a preset (" + known +
                ") and no such spec file");
  }
  return read_spec_file(preset_or_path);
}

nlohmann::json spec_to_json(const ModelSpec& spec) {
  nlohmann::json j = nlohmann::json::object();
  if (!spec.name.empty()) j["name"] = spec.name;
  j["input_shape"] = spec.input_shape;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& [type, config] : spec.layers) {
    nlohmann::json l = {{"type", type}};
    if (config.is_object())
      for (const auto& [key, value] : config.items()) l[key] = value;
    layers.push_back(std::move(l));
  }
  j["layers"] = std::move(layers);
  return j;
}

namespace {
// A layer of a spec: make_layer's types, and Ensemble, whose config holds its
// members' architectures as specs (built here, where specs are known).
LayerPtr layer_from_spec(const std::string& type, const nlohmann::json& config,
                         const std::string& where) {
  if (type != "Ensemble") return make_layer(type, config);
  const auto members = config.find("members");
  if (!config.is_object() || members == config.end() || !members->is_array() || members->empty())
    throw Error("Ensemble: config needs 'members', an array of member architectures");
  for (const auto& [key, value] : config.items())
    if (key != "members") throw Error("Ensemble: unknown field '" + key + "'");
  std::vector<Sequential> built;
  for (std::size_t m = 0; m < members->size(); ++m) {
    const std::string who = where + ": members[" + std::to_string(m) + "]";
    built.push_back(build_model(spec_from_json((*members)[m], who), 0, 1));
  }
  return EnsembleLayer(std::move(built));
}
}  // namespace

ModelSpec spec_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object())
    throw Error(source + ": expected a JSON object with \"input_shape\" and \"layers\"");
  for (const auto& [key, value] : j.items()) {
    if (key != "name" && key != "input_shape" && key != "layers")
      throw Error(source + ": unknown field '" + key +
                  "' (expected \"name\", \"input_shape\", \"layers\")");
  }
  ModelSpec spec;
  spec.name = source;
  if (const auto it = j.find("name"); it != j.end()) {
    if (!it->is_string())
      throw Error(source + ": name: expected a string (got " + it->dump() + ")");
    spec.name = it->get<std::string>();
  }
  if (const auto it = j.find("input_shape"); it != j.end())
    spec.input_shape = parse_input_shape(*it, source);
  const auto layers = j.find("layers");
  if (layers == j.end()) throw Error(source + ": missing field 'layers'");
  if (!layers->is_array()) throw Error(source + ": layers: expected an array");
  if (layers->empty()) throw Error(source + ": layers: spec has no layers");
  for (std::size_t i = 0; i < layers->size(); ++i) {
    const nlohmann::json& l = (*layers)[i];
    std::string where = source + ": layers[" + std::to_string(i) + "]";
    if (!l.is_object()) throw Error(where + ": expected an object (got " + l.dump() + ")");
    const auto type = l.find("type");
    if (type == l.end()) throw Error(where + ": missing field 'type'");
    if (!type->is_string())
      throw Error(where + ": type: expected a string (got " + type->dump() + ")");
    where += " (" + type->get<std::string>() + ")";
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [key, value] : l.items())
      if (key != "type") config[key] = value;
    LayerPtr layer;
    try {
      layer = layer_from_spec(type->get<std::string>(), config, where);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": bad field: " + e.what());
    }
    add_layer(spec, layer, where);
  }
  return spec;
}

ModelSpec spec_from_model(const Sequential& model) {
  ModelSpec spec;
  spec.name = "model";
  spec.input_shape = model.input_shape();
  for (const Layer* layer : model.layers()) {
    spec.layers.emplace_back(layer->type(), layer->config());
    spec.origins.push_back("layer '" + layer->name + "'");
  }
  return spec;
}

Sequential build_model(const ModelSpec& spec, uint64_t seed, int threads) {
  const std::string name = spec.name.empty() ? std::string("spec") : spec.name;
  if (spec.layers.empty()) throw Error(name + ": spec has no layers");
  Sequential model(spec.input_shape, seed, threads);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& [type, config] = spec.layers[i];
    const std::string where = i < spec.origins.size() && !spec.origins[i].empty()
                                  ? spec.origins[i]
                                  : name + ": layer " + std::to_string(i + 1) + " (" + type + ")";
    try {
      model.add(layer_from_spec(type, config, where));
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": bad config: " + e.what());
    }
  }
  return model;
}

}  // namespace digitnet
