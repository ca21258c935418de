// Architecture specs: presets, the text format, the JSON format, errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "digitnet/core/error.hpp"
#include "digitnet/io/spec.hpp"
#include "digitnet/layers/layers.hpp"
#include "test_support.hpp"

using digitnet::testing::error_of;

using namespace digitnet;

namespace {

std::string parse_error(const std::string& text, const std::string& source = "net.txt") {
  return error_of([&] { parse_spec(text, source); });
}

std::vector<std::string> types_of(const ModelSpec& spec) {
  std::vector<std::string> out;
  for (const auto& [type, config] : spec.layers) out.push_back(type);
  return out;
}

// Every parameter and buffer bit-identical.
void expect_same_weights(const Sequential& a, const Sequential& b) {
  const auto wa = a.get_weights();
  const auto wb = b.get_weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (std::size_t i = 0; i < wa.size(); ++i) {
    ASSERT_EQ(wa[i].shape(), wb[i].shape()) << "tensor " << i;
    EXPECT_EQ(std::memcmp(wa[i].data(), wb[i].data(), sizeof(float) * wa[i].size()), 0)
        << "tensor " << i;
  }
}

const char* kCnnText = R"(# classic Keras CNN
input 1 28 28
conv2d 32 3 relu
conv2d 64 3 relu stride=1 padding=valid
maxpool 2
dropout 0.25
flatten
dense 128 relu
dropout 0.5
dense 10 softmax
)";

const char* kCnnJson = R"({
  "input_shape": [1, 28, 28],
  "layers": [
    {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
    {"type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Dropout", "rate": 0.25},
    {"type": "Flatten"},
    {"type": "Dense", "units": 128, "activation": "relu"},
    {"type": "Dropout", "rate": 0.5},
    {"type": "Dense", "units": 10, "activation": "softmax"}
  ]
})";

}  // namespace

TEST(Presets, NamesAndUnknownPreset) {
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"mlp", "cnn", "lenet", "fast"}));
  const std::string msg = error_of([] { preset_spec("resnet"); });
  EXPECT_NE(msg.find("resnet"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mlp, cnn, lenet, fast"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { preset_recipe("resnet"); }).find("mlp, cnn, lenet, fast"),
            std::string::npos);
}

TEST(Presets, FastPoolsBeforeNormalisingAndHasItsRecipe) {
  const ModelSpec spec = preset_spec("fast");
  EXPECT_EQ(types_of(spec),
            (std::vector<std::string>{"Conv2D", "MaxPooling2D", "BatchNormalization", "Activation",
                                      "Conv2D", "MaxPooling2D", "BatchNormalization", "Activation",
                                      "Flatten", "Dense"}));
  const Sequential m = build_model(spec);
  // Trainable: conv 16·9 = 144 (no bias); BN γ, β 2·16 = 32; conv 32·16·9 = 4,608;
  // BN 2·32 = 64; 32·7·7 = 1,568 → dense 1,568·10 + 10 = 15,690.
  EXPECT_EQ(m.count_params(), 20538);
  const TrainingRecipe r = preset_recipe("FAST");
  EXPECT_EQ(r.epochs, 2);
  EXPECT_EQ(r.batch_size, 64);
  EXPECT_FLOAT_EQ(r.learning_rate, 2e-2f);
  EXPECT_EQ(r.schedule, "onecycle");
  // The tutorial presets keep the classic recipe.
  for (const char* name : {"mlp", "cnn", "lenet"}) {
    const TrainingRecipe c = preset_recipe(name);
    EXPECT_EQ(c.epochs, 12) << name;
    EXPECT_EQ(c.batch_size, 128) << name;
    EXPECT_FLOAT_EQ(c.learning_rate, 1e-3f) << name;
    EXPECT_EQ(c.schedule, "cosine") << name;
    EXPECT_FALSE(c.augment.active()) << name;
  }
}

TEST(Presets, MlpHasKerasParameterCount) {
  const ModelSpec spec = preset_spec("mlp");
  EXPECT_EQ(spec.input_shape, (Shape{1, 28, 28}));
  EXPECT_EQ(types_of(spec), (std::vector<std::string>{"Flatten", "Dense", "Dense"}));
  const Sequential m = build_model(spec);
  // 784·128 + 128 = 100,480; 128·10 + 10 = 1,290.
  EXPECT_EQ(m.count_params(), 101770);
  EXPECT_EQ(m.output_shape(), (Shape{10}));
}

TEST(Presets, CnnHasKerasParameterCount) {
  const ModelSpec spec = preset_spec("CNN");  // names are case-insensitive
  EXPECT_EQ(types_of(spec), (std::vector<std::string>{"Conv2D", "Conv2D", "MaxPooling2D", "Dropout",
                                                      "Flatten", "Dense", "Dropout", "Dense"}));
  const Sequential m = build_model(spec);
  // conv 32·(1·9)+32 = 320; conv 64·(32·9)+64 = 18,496; 24x24 → pool → 12·12·64 = 9,216;
  // dense 9,216·128+128 = 1,179,776; dense 128·10+10 = 1,290.
  EXPECT_EQ(m.count_params(), 1199882);
  EXPECT_EQ(m.layers()[4]->output_shape(), (Shape{9216}));
  EXPECT_EQ(m.output_shape(), (Shape{10}));
}

TEST(Presets, LenetHasExpectedParameterCount) {
  const Sequential m = build_model(preset_spec("lenet"));
  // conv 6·25+6 = 156 (same padding: 6x28x28) → avgpool 6x14x14;
  // conv 16·(6·25)+16 = 2,416 (valid: 16x10x10) → avgpool 16x5x5 → 400;
  // dense 400·120+120 = 48,120; 120·84+84 = 10,164; 84·10+10 = 850. Total 61,706.
  EXPECT_EQ(m.count_params(), 61706);
  EXPECT_EQ(m.layers()[0]->output_shape(), (Shape{6, 28, 28}));
  EXPECT_EQ(m.layers()[4]->output_shape(), (Shape{400}));
}

TEST(TextSpec, TextJsonAndPresetGiveIdenticalModels) {
  const ModelSpec text = parse_spec(kCnnText, "cnn.txt");
  const ModelSpec json = parse_spec(kCnnJson, "cnn.json");
  const ModelSpec preset = preset_spec("cnn");
  EXPECT_EQ(spec_to_json(text)["layers"], spec_to_json(json)["layers"]);
  EXPECT_EQ(spec_to_json(text)["layers"], spec_to_json(preset)["layers"]);
  const Sequential a = build_model(text, 7);
  const Sequential b = build_model(json, 7);
  const Sequential c = build_model(preset, 7);
  expect_same_weights(a, b);
  expect_same_weights(a, c);
  // ... and the seed matters, so the comparison above can fail.
  const Sequential d = build_model(text, 8);
  EXPECT_NE(std::memcmp(a.get_weights()[0].data(), d.get_weights()[0].data(),
                        sizeof(float) * a.get_weights()[0].size()),
            0);
}

TEST(TextSpec, OptionsAliasesAndShorthands) {
  const ModelSpec spec = parse_spec(
      "INPUT 3 16 16   # channels first\n"
      "\n"
      "Conv2D 8 3x3 LeakY_ReLU padding=same stride=2 use_bias=false\n"
      "batchnormalization momentum=0.9 epsilon=0.01\n"
      "relu\n"
      "avgpool 2 stride=1 padding=valid\n"
      "maxpooling2d 3\n"
      "activation leaky_relu alpha=0.2\n"
      "flatten\n"
      "dense 5\n"
      "batchnorm\n"
      "softmax\n",
      "opts.txt");
  EXPECT_EQ(spec.input_shape, (Shape{3, 16, 16}));
  EXPECT_EQ(types_of(spec),
            (std::vector<std::string>{"Conv2D", "BatchNormalization", "Activation",
                                      "AveragePooling2D", "MaxPooling2D", "Activation", "Flatten",
                                      "Dense", "BatchNormalization", "Activation"}));
  // Each line is the same layer as the factory call it stands for.
  EXPECT_EQ(spec.layers[0].second, Conv2D(8, 3, leaky_relu, 2, same, false)->config());
  EXPECT_EQ(spec.layers[1].second, BatchNormalization(0.9f, 0.01f)->config());
  EXPECT_EQ(spec.layers[2].second, ActivationLayer(relu)->config());
  EXPECT_EQ(spec.layers[3].second, AveragePooling2D(2, 1, valid)->config());
  EXPECT_EQ(spec.layers[4].second, MaxPooling2D(3)->config());
  EXPECT_EQ(spec.layers[5].second, ActivationLayer(leaky_relu, 0.2f)->config());
  EXPECT_EQ(spec.layers[7].second, Dense(5)->config());
  EXPECT_EQ(spec.origins[0], "opts.txt:3");
  const Sequential m = build_model(spec);
  // 16x16 same stride 2 → 8x8; avgpool 2 stride 1 → 7x7; maxpool 3 → 2x2.
  EXPECT_EQ(m.layers()[0]->output_shape(), (Shape{8, 8, 8}));
  EXPECT_EQ(m.layers()[6]->output_shape(), (Shape{8 * 2 * 2}));
}

TEST(TextSpec, ErrorsNameSourceLineAndToken) {
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"input 1 28 28\nflatten\nfoo 3\n", "net.txt:3: unknown keyword (got 'foo')"},
      {"flatten\ndense abc relu\n",
       "net.txt:2: dense: UNITS must be a positive integer (got 'abc')"},
      {"dense 0\n", "net.txt:1: dense: UNITS must be a positive integer (got '0')"},
      {"dense 12x\n", "(got '12x')"},
      {"\n\nconv2d 32\n", "net.txt:3: conv2d: missing KERNEL"},
      {"dense\n", "net.txt:1: dense: missing UNITS"},
      {"flatten\ndense 10 softmaxx\n", "net.txt:2: unknown activation (got 'softmaxx')"},
      {"activation swish\n", "net.txt:1: unknown activation (got 'swish')"},
      {"conv2d 32 3 relu padding=full\n",
       "net.txt:1: conv2d: padding must be 'valid' or 'same' (got 'padding=full')"},
      {"maxpool 2 size=3\n", "net.txt:1: maxpool: unknown option (got 'size=3')"},
      {"maxpool 2 stride=2 stride=3\n", "net.txt:1: duplicate option (got 'stride=3')"},
      {"conv2d 8 3 stride=\n", "net.txt:1: expected key=value (got 'stride=')"},
      {"flatten 3\n", "net.txt:1: flatten: unexpected argument (got '3')"},
      {"dense 10 relu extra\n", "net.txt:1: dense: unexpected argument (got 'extra')"},
      {"dropout 1.5\n", "net.txt:1: dropout: RATE must be in [0, 1) (got '1.5')"},
      {"dropout half\n", "net.txt:1: dropout: RATE must be a number (got 'half')"},
      {"conv2d 8 3x5\n", "net.txt:1: conv2d: only square kernels are supported (got '3x5')"},
      {"relu alpha=0.1\n", "net.txt:1: relu: alpha applies only to leaky_relu (got 'alpha=0.1')"},
      {"batchnorm momentum=2\n",
       "net.txt:1: batchnorm: momentum must be in [0, 1) (got 'momentum=2')"},
      {"flatten\ninput 1 28 28\n", "net.txt:2: input must come before the first layer"},
      {"input 1 28 28\ninput 1 28 28\nflatten\n", "net.txt:2: duplicate input line"},
      {"input 1 -28 28\nflatten\n",
       "net.txt:1: input: dimension must be a positive integer (got '-28')"},
      {"input 1 2 3 4\nflatten\n", "net.txt:1: input: expected 1 to 3 dimensions"},
      {"# only a comment\ninput 1 28 28\n\n", "net.txt: spec has no layers"},
      {"", "net.txt: spec has no layers"},
      {"   \n\t\n", "net.txt: spec has no layers"},
  };
  for (const auto& c : cases) {
    const std::string msg = parse_error(c.text);
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "spec:\n"
        << c.text << "message: " << msg << "\nexpected: " << c.expected;
  }
}

TEST(TextSpec, ShapeErrorsAtBuildTimeNameTheLine) {
  // A convolution after flatten gets a flat input.
  const ModelSpec a = parse_spec("input 1 28 28\nconv2d 8 3\nflatten\n\nconv2d 8 3\n", "a.txt");
  std::string msg = error_of([&] { build_model(a); });
  EXPECT_EQ(msg.rfind("a.txt:5: ", 0), 0u) << msg;
  // A 5x5 kernel does not fit a 4x4 input (valid padding).
  const ModelSpec b = parse_spec("input 1 4 4\n# comment\nconv2d 8 5 relu\n", "b.txt");
  msg = error_of([&] { build_model(b); });
  EXPECT_EQ(msg.rfind("b.txt:3: ", 0), 0u) << msg;
  // A dense layer needs a flat input.
  const ModelSpec c = parse_spec("dense 10\n", "c.txt");
  msg = error_of([&] { build_model(c); });
  EXPECT_EQ(msg.rfind("c.txt:1: ", 0), 0u) << msg;
}

TEST(JsonSpec, RoundTripsThroughSpecToJson) {
  const ModelSpec a = parse_spec(kCnnText, "cnn.txt");
  const nlohmann::json j = spec_to_json(a);
  EXPECT_EQ(j["input_shape"], nlohmann::json::array({1, 28, 28}));
  EXPECT_EQ(j["layers"][0]["type"], "Conv2D");
  EXPECT_EQ(j["layers"][0]["filters"], 32);
  const ModelSpec b = spec_from_json(j, "again");
  EXPECT_EQ(b.layers, a.layers);
  EXPECT_EQ(b.input_shape, a.input_shape);
  // Serialised and parsed as text too.
  const ModelSpec c = parse_spec("  \n" + j.dump(2), "dumped.json");
  EXPECT_EQ(c.layers, a.layers);
}

TEST(JsonSpec, SpecFromModelDescribesTheModel) {
  const Sequential m = build_model(preset_spec("lenet"), 3);
  const ModelSpec s = spec_from_model(m);
  EXPECT_EQ(s.input_shape, (Shape{1, 28, 28}));
  EXPECT_EQ(s.layers, preset_spec("lenet").layers);
  expect_same_weights(build_model(s, 3), m);
}

TEST(JsonSpec, SyntaxErrorsGiveLineAndColumn) {
  // 'x' is at line 3, column 13.
  std::string msg = parse_error("{\n  \"input_shape\": [1, 28, 28],\n  \"layers\": x\n}", "n.json");
  EXPECT_NE(msg.find("n.json:3:13: invalid JSON"), std::string::npos) << msg;
  // A missing comma on line 4.
  msg = parse_error(
      "{\n \"layers\": [\n  {\"type\": \"Flatten\"},\n  {\"type\": \"Dense\" \"units\": 10}\n ]\n}",
      "n.json");
  EXPECT_NE(msg.find("n.json:4:"), std::string::npos) << msg;
  // Unterminated document.
  msg = parse_error("{\"layers\": [", "n.json");
  EXPECT_NE(msg.find("n.json:1:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid JSON"), std::string::npos) << msg;
}

TEST(JsonSpec, FieldErrorsNameLayerIndexAndField) {
  struct Case {
    std::string json, expected;
  };
  const std::vector<Case> cases = {
      {R"({"layers": [{"type": "Flatten"}, {"units": 10}]})",
       "s.json: layers[1]: missing field 'type'"},
      {R"({"layers": [{"type": 5}]})", "s.json: layers[0]: type: expected a string"},
      {R"({"layers": [{"type": "Flatten"}, {"type": "Dens", "units": 3}]})",
       "s.json: layers[1] (Dens): "},
      {R"({"layers": [{"type": "Dense", "units": "ten"}]})", "s.json: layers[0] (Dense): "},
      {R"({"layers": [{"type": "Dense"}]})", "s.json: layers[0] (Dense): "},
      {R"({"layers": [3]})", "s.json: layers[0]: expected an object"},
      {R"({"layers": []})", "s.json: layers: spec has no layers"},
      {R"({"input_shape": [1, 28, 28]})", "s.json: missing field 'layers'"},
      {R"({"layers": {"type": "Flatten"}})", "s.json: layers: expected an array"},
      {R"({"input_shape": [1, 0, 28], "layers": [{"type": "Flatten"}]})", "s.json: input_shape: "},
      {R"({"input_shape": "1x28x28", "layers": [{"type": "Flatten"}]})", "s.json: input_shape: "},
      {R"({"layer": [], "layers": [{"type": "Flatten"}]})", "s.json: unknown field 'layer'"},
      {R"({"name": 3, "layers": [{"type": "Flatten"}]})", "s.json: name: expected a string"},
  };
  for (const auto& c : cases) {
    const std::string msg = parse_error(c.json, "s.json");
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << "spec: " << c.json << "\nmessage: " << msg << "\nexpected: " << c.expected;
  }
  // spec_from_json on something that is not an object.
  const std::string msg = error_of([] { spec_from_json(nlohmann::json::array(), "arr"); });
  EXPECT_NE(msg.find("arr: expected a JSON object"), std::string::npos) << msg;
  // Shape errors from JSON specs name the layer index.
  const ModelSpec s = parse_spec(R"({"input_shape": [1, 3, 3], "layers": [
      {"type": "Conv2D", "filters": 4, "kernel_size": 5}]})",
                                 "shape.json");
  const std::string build_msg = error_of([&] { build_model(s); });
  EXPECT_EQ(build_msg.rfind("shape.json: layers[0] (Conv2D): ", 0), 0u) << build_msg;
}

TEST(SpecFiles, ReadResolveAndShippedExamples) {
  digitnet::testing::TempDir dir;
  const std::string path = dir.file("tiny.txt");
  digitnet::testing::write_file(path, "input 4\ndense 3 softmax\n");
  const ModelSpec s = read_spec_file(path);
  EXPECT_EQ(s.name, "tiny.txt");
  EXPECT_EQ(s.input_shape, (Shape{4}));
  EXPECT_EQ(build_model(s).count_params(), 15);
  EXPECT_EQ(resolve_spec(path).layers, s.layers);
  EXPECT_EQ(resolve_spec("LeNet").layers, preset_spec("lenet").layers);

  std::string msg = error_of([&] { read_spec_file(dir.file("missing.txt")); });
  EXPECT_NE(msg.find("missing.txt"), std::string::npos) << msg;
  msg = error_of([&] { resolve_spec("vgg16"); });
  EXPECT_NE(msg.find("vgg16"), std::string::npos) << msg;
  // Errors in a file name the path and the line.
  digitnet::testing::write_file(path, "input 1 28 28\nflatten\ndense ten\n");
  msg = error_of([&] { read_spec_file(path); });
  EXPECT_NE(msg.find(path + ":3: dense: UNITS must be a positive integer (got 'ten')"),
            std::string::npos)
      << msg;

  // Every example in specs/ parses and builds; the classic ones match their presets.
  const std::filesystem::path specs = std::filesystem::path(DIGITNET_SOURCE_DIR) / "specs";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(specs)) {
    SCOPED_TRACE(entry.path().string());
    const ModelSpec spec = read_spec_file(entry.path().string());
    const Sequential m = build_model(spec);
    EXPECT_EQ(m.output_shape(), (Shape{10}));
    const std::string stem = entry.path().stem().string();
    if (stem == "mlp" || stem == "cnn" || stem == "lenet") {
      EXPECT_EQ(spec.layers, preset_spec(stem).layers);
    }
    ++count;
  }
  EXPECT_GE(count, 5);
}
