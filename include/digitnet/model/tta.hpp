// digitnet/model/tta.hpp — test-time augmentation: predictions averaged over an
// image and fixed small distortions of it.
//
//   Evaluation plain = model.evaluate(mnist.test);
//   Evaluation tta = evaluate_tta(model, mnist.test);   // 7 views per image
#pragma once

#include <vector>

#include "digitnet/data/augment.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/model/metrics.hpp"
#include "digitnet/model/sequential.hpp"

namespace digitnet {

// The views: the image itself, shifted one pixel left, right, up and down, and
// rotated by ±6° about its centre.
std::vector<Warp> tta_views();

// x (N, C, H, W) -> (N, outputs): the mean of the model's probabilities over the views.
Tensor predict_tta(const Sequential& model, const Tensor& x, int batch_size = 500);

// Loss (cross-entropy of the averaged probabilities), accuracy, confusion matrix
// and per-class figures of predict_tta over the data set.
Evaluation evaluate_tta(const Sequential& model, const Dataset& data, int batch_size = 500);

}  // namespace digitnet
