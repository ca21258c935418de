// digitnet/report/figure.hpp — pictures of the data, the training and the mistakes.
//
// Every drawing is made once with cairo into a Figure (a recording of vector
// drawing commands with real text) and can then be written as PNG, SVG or PDF.
// The SVG carries the figure's words (title, axis titles, labels) as an
// invisible, selectable text layer as well as the glyph outlines cairo draws,
// so the file can be searched and read by tools.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "digitnet/core/tensor.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/model/metrics.hpp"

namespace digitnet {

class Sequential;

class Figure {
 public:
  struct Impl;
  explicit Figure(std::unique_ptr<Impl> impl);
  ~Figure();
  Figure(Figure&&) noexcept;
  Figure& operator=(Figure&&) noexcept;

  // Size in pixels (PNG) or points (SVG, PDF).
  int width() const;
  int height() const;
  // Every piece of text drawn, in order (titles, axis titles, legends, labels).
  const std::vector<std::string>& texts() const;

  std::string png() const;
  std::string svg() const;
  std::string pdf() const;
  // Writes PNG, SVG or PDF by the file's extension (atomically); any other
  // extension is an Error naming the file.
  void save(const std::string& path) const;

 private:
  std::unique_ptr<Impl> impl_;
};

// One image (a digit, or any single-channel picture of any size) with a
// caption under it. Pixels are grey levels 0..255 (0 = background, 255 = ink,
// as in MNIST), row-major h x w.
struct DigitTile {
  std::vector<uint8_t> pixels;
  int height = 28, width = 28;
  std::string caption;
  bool highlight = false;  // caption in red (a mistake)
};

// Tile of dataset row i, captioned with its class's name (Dataset::class_name:
// the label's number when the data set has no names).
DigitTile digit_tile(const Dataset& data, int64_t i);
// The first `count` rows (only those of class `label` when label >= 0). When
// those miss a class the data has (a data set sorted by class, such as an
// image folder), the classes' rows are taken in turn instead: each class's
// first, then each class's second, ...
std::vector<int64_t> sample_rows(const Dataset& data, int count, int label = -1);
// The tiles of sample_rows.
std::vector<DigitTile> sample_tiles(const Dataset& data, int count, int label = -1);

// A grid of images drawn dark on white, `scale` screen pixels per image pixel,
// captions under each ('\n' starts another caption line); columns <= 0 picks
// a near-square grid. Tiles may differ in size; cells widen for long captions,
// and caption lines too long even for that are cut with an ellipsis.
Figure digit_grid(const std::vector<DigitTile>& tiles, const std::string& title, int columns = 0,
                  int scale = 3);

// One image as block characters for a terminal (two pixel rows per line).
std::string ascii_digit(const DigitTile& tile);

// One training run for the curves.
struct Run {
  std::string name;
  History history;
};

// The epoch (1-based) from which the model overfits: validation loss turns up
// after its best epoch and stays above it for at least two epochs (one higher
// epoch alone may be noise), while training loss keeps falling.
// nullopt when there is no validation loss or no such turn. `tolerance` is the
// relative rise of validation loss over its best that counts as a turn.
std::optional<int> overfitting_epoch(const History& h, double tolerance = 0.01);
// The epoch (1-based) with the lowest val_loss (or training loss without validation).
std::optional<int> best_epoch(const History& h);
// "overfitting from epoch N (validation loss rose from A at epoch B to C while
// training loss fell from D to E)", or "" when overfitting_epoch is nullopt.
std::string overfitting_note(const History& h);

// Accuracy and loss per epoch, side by side: train solid, validation dashed,
// one colour per run, best epochs marked, the overfitting note in words.
Figure history_figure(const std::vector<Run>& runs, const std::string& title = "Training history");

// Confusion matrix as a heat map ([true][predicted]) with the counts in the
// cells (where they fit: cells shrink for many classes). The axes are labelled
// with `class_names` (Evaluation::class_names), or the class numbers when it is
// empty; column labels too wide for a cell are turned upright, and labels are
// cut with an ellipsis beyond a limit.
Figure confusion_figure(const std::vector<std::vector<int64_t>>& confusion,
                        const std::string& title = "Confusion matrix",
                        const std::vector<std::string>& class_names = {});

// A misclassified image.
struct Mistake {
  int64_t index = 0;  // row in the dataset
  int label = 0;
  int predicted = 0;
  float confidence = 0;  // probability of the predicted class
};
// The rows whose most probable class (probs: N x K) differs from the label,
// most confident first (ties by index).
std::vector<Mistake> find_mistakes(const Tensor& probs, const std::vector<int32_t>& labels);
// Up to `count` mistakes as captioned tiles ("7→2 98%", "Shirt→Coat 98%";
// "true→" over "predicted 98%" when that is too wide for one line), named by
// `class_names` (a model's, Evaluation::class_names), else by the data set's
// class names, else by number.
Figure mistakes_figure(const Dataset& data, const std::vector<Mistake>& mistakes, int count = 36,
                       const std::vector<std::string>& class_names = {});

// The first Conv2D layer's kernel (filters, in_channels, kh, kw), or nullopt.
std::optional<Tensor> first_conv_kernel(const Sequential& model);
// Each filter's first input channel as a small image, blue negative, red positive.
Figure filters_figure(const Tensor& kernel, const std::string& title = "First convolution filters");

// The activations of one image through the layers: {layer name, (C, H, W)} for
// every layer whose output is an image (rank 3 per sample).
struct FeatureMaps {
  std::string layer;
  Tensor maps;  // (C, H, W)
};
std::vector<FeatureMaps> feature_maps(const Sequential& model, const Tensor& image);
// One row per layer (up to `max_channels` maps each), the input image first.
Figure feature_maps_figure(const Tensor& image, const std::vector<FeatureMaps>& maps,
                           int max_channels = 16);

}  // namespace digitnet
