// The HTML report: self-contained, every section present, images that decode.
#include <gtest/gtest.h>

#include <string>

#include "digitnet/digitnet.hpp"

using namespace digitnet;

namespace {

std::string decode_base64(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int v = val(c);
    if (v < 0) {
      ADD_FAILURE() << "not base64: " << c;
      return out;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 255);
    }
  }
  return out;
}

// A dataset of two easy "digits": 0 is a bright left half, 1 a bright right half.
Dataset halves(int n) {
  Dataset d;
  d.image_shape = {1, 28, 28};
  d.num_classes = 10;
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    std::vector<uint8_t> image;
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c)
        image.push_back((c < 14) == (label == 0) ? static_cast<uint8_t>(200 + (i * 7 + r) % 50)
                                                 : 0);
    d.add(image, label);
  }
  return d;
}

// Three classes of 20x24 images: the bright third (left, middle, right) is the class.
Dataset thirds(int n, std::vector<std::string> names) {
  Dataset d;
  d.image_shape = {1, 20, 24};
  d.class_names = std::move(names);
  for (int i = 0; i < n; ++i) {
    const int label = i % 3;
    std::vector<uint8_t> image;
    for (int r = 0; r < 20; ++r)
      for (int c = 0; c < 24; ++c)
        image.push_back(c / 8 == label ? static_cast<uint8_t>(180 + (i * 5 + r) % 70) : 0);
    d.add(image, label);
  }
  return d;
}

Sequential thirds_model() {
  Sequential model({1, 20, 24}, 3, 1);
  model.add(Conv2D(2, 3, relu));
  model.add(MaxPooling2D(2));
  model.add(Flatten());
  model.add(Dense(3, softmax));
  model.compile(Adam(1e-2f), sparse_categorical_crossentropy(), {accuracy});
  return model;
}

}  // namespace

TEST(ReportHtml, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  const std::string bytes("\x00\xff\x10\x80", 4);
  EXPECT_EQ(decode_base64(base64(bytes)), bytes);
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST(ReportHtml, SelfContainedWithEverySection) {
  const Dataset train = halves(64), test = halves(20);
  Sequential model({1, 28, 28}, 7, 1);
  model.add(Conv2D(4, 3, relu));
  model.add(MaxPooling2D(2));
  model.add(Flatten());
  model.add(Dense(10, softmax));
  model.compile(Adam(1e-2f), sparse_categorical_crossentropy(), {accuracy});
  const History h = model.fit(train, {.epochs = 3,
                                      .batch_size = 16,
                                      .validation = test,
                                      .verbose = 0,
                                      .augment = Augmentation::mnist()});
  ASSERT_EQ(h.epochs.size(), 3u);
  model.metadata()["preset"] = "tiny<cnn>";
  const std::string html = html_report(model, "/tmp/tiny.dnm", test);

  for (const char* id : kReportSections)
    EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
  EXPECT_NE(html.find("tiny&lt;cnn&gt;"), std::string::npos) << "names are escaped";
  EXPECT_EQ(html.find("tiny<cnn>"), std::string::npos);
  EXPECT_NE(html.find("Total params"), std::string::npos) << "the model summary";
  EXPECT_NE(html.find("batch_size"), std::string::npos) << "the training settings";
  EXPECT_NE(html.find("<p id=\"augment\">Training images distorted at random: rotate ±10°, "
                      "shift ±2 px, scale ±0.1, shear ±5°.</p>"),
            std::string::npos);
  EXPECT_NE(html.find("Best epoch"), std::string::npos);
  // No external resources: no src/href to http(s), no <script src>, no <link>.
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // Four pictures: curves, confusion, mistakes, filters; each a PNG that decodes.
  // (std::regex would recurse once per character of a long base64 string.)
  const std::string prefix = "src=\"data:image/png;base64,";
  int images = 0;
  for (size_t at = html.find(prefix); at != std::string::npos; at = html.find(prefix, at + 1)) {
    const size_t begin = at + prefix.size(), end = html.find('"', begin);
    ASSERT_NE(end, std::string::npos);
    const std::string png = decode_base64(html.substr(begin, end - begin));
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    ++images;
  }
  EXPECT_EQ(images, 4);
}

TEST(ReportHtml, SaysWhatIsMissing) {
  const Dataset test = halves(10);
  Sequential model({1, 28, 28}, 1, 1);
  model.add(Flatten());
  model.add(Dense(10, softmax));
  const std::string html = html_report(model, "m.dnm", test);
  EXPECT_NE(html.find("No training history"), std::string::npos);
  EXPECT_NE(html.find("no convolution layer"), std::string::npos);
  for (const char* id : kReportSections)
    EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
}

TEST(ReportHtml, NamesTheClassesAndTheDataSet) {
  const Dataset train = thirds(48, {}), test = thirds(12, {});
  Sequential model = thirds_model();
  model.fit(train, {.epochs = 1, .batch_size = 16, .verbose = 0});
  model.set_class_names({"T-shirt/top", "Bag & purse", "Ankle boot"});
  model.metadata()["dataset"] = {{"name", "Fashion <MNIST>"}, {"source", "idx"}};
  const std::string html = html_report(model, "fashion.dnm", test);

  EXPECT_NE(html.find("<th>class</th><th>name</th><th>precision</th>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>0</td><td class=\"name\">T-shirt/top</td>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>1</td><td class=\"name\">Bag &amp; purse</td>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>2</td><td class=\"name\">Ankle boot</td>"), std::string::npos);
  EXPECT_NE(html.find("Data set: <strong>Fashion &lt;MNIST&gt;</strong>"), std::string::npos);
  EXPECT_NE(html.find("12 images of Fashion &lt;MNIST&gt;."), std::string::npos);
  EXPECT_NE(html.find("<tr><th>source</th><td>idx</td></tr>"), std::string::npos);
  EXPECT_EQ(html.find("Fashion <MNIST>"), std::string::npos);
  EXPECT_NE(html.find("test images are misclassified"), std::string::npos);
  EXPECT_EQ(html.find("digits"), std::string::npos);
  for (const char* id : kReportSections)
    EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;

  // Without the model's names, the test set's; a data set recorded as a bare
  // string is named too.
  Sequential unnamed = thirds_model();
  unnamed.metadata()["dataset"] = "shapes";
  const std::string from_data =
      html_report(unnamed, "u.dnm", thirds(6, {"left", "middle", "right"}));
  EXPECT_NE(from_data.find("<td class=\"name\">middle</td>"), std::string::npos);
  EXPECT_NE(from_data.find("Data set: <strong>shapes</strong>"), std::string::npos);
  // A "dataset" entry of another kind is left out rather than failing.
  unnamed.metadata()["dataset"] = 7;
  EXPECT_EQ(html_report(unnamed, "u.dnm", thirds(6, {})).find("Data set:"), std::string::npos);
}

TEST(ReportHtml, ClassesNumberedWithoutNames) {
  const Dataset test = halves(10);
  Sequential model({1, 28, 28}, 1, 1);
  model.add(Flatten());
  model.add(Dense(10, softmax));
  const std::string html = html_report(model, "m.dnm", test);
  EXPECT_NE(html.find("<th>class</th><th>precision</th>"), std::string::npos);
  EXPECT_EQ(html.find("<th>name</th>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>9</td><td>"), std::string::npos);
  EXPECT_EQ(html.find("Data set:"), std::string::npos) << "older model files record none";
  EXPECT_NE(html.find("10 images.</p>"), std::string::npos);
}
