// src/model/tta.cpp — predictions averaged over fixed distortions of each image.
#include "digitnet/model/tta.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "digitnet/core/error.hpp"

namespace digitnet {

std::vector<Warp> tta_views() {
  std::vector<Warp> views(7);
  views[1].shift_x = -1.0, views[2].shift_x = 1.0;
  views[3].shift_y = -1.0, views[4].shift_y = 1.0;
  views[5].rotate = -6.0 * std::numbers::pi / 180.0;
  views[6].rotate = 6.0 * std::numbers::pi / 180.0;
  return views;
}

Tensor predict_tta(const Sequential& model, const Tensor& x, int batch_size) {
  if (x.rank() != 4)
    throw Error("predict_tta: expected images (N, C, H, W), got " + shape_str(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), per = c * h * w;
  const std::vector<Warp> views = tta_views();
  Tensor sum, view(x.shape());
  for (std::size_t v = 0; v < views.size(); ++v) {
    model.thread_pool().parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i)
        apply_warp(views[v], x.data() + i * per, view.data() + i * per, c, h, w);
    });
    const Tensor p = model.predict(view, batch_size);
    if (v == 0) {
      sum = p;
    } else {
      for (int64_t i = 0; i < p.size(); ++i) sum[i] += p[i];
    }
  }
  const float inv = 1.0f / static_cast<float>(views.size());
  for (int64_t i = 0; i < sum.size(); ++i) sum[i] *= inv;
  return sum;
}

Evaluation evaluate_tta(const Sequential& model, const Dataset& data, int batch_size) {
  if (data.size() == 0) throw Error("evaluate_tta: empty dataset");
  const int64_t k = shape_size(model.output_shape());
  if (data.num_classes > k)
    throw Error("evaluate_tta: the data has " + std::to_string(data.num_classes) +
                " classes but the model outputs " + std::to_string(k));
  Evaluation ev;
  ev.class_names = model.class_names();
  if (ev.class_names.empty()) ev.class_names = data.class_names;
  ev.confusion.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k), 0));
  double loss_sum = 0.0;
  constexpr int64_t kChunk = 2000;  // images warped at a time
  Tensor xb;
  std::vector<int32_t> yb;
  std::vector<int64_t> idx;
  for (int64_t b = 0; b < data.size(); b += kChunk) {
    const int64_t e = std::min<int64_t>(data.size(), b + kChunk);
    idx.resize(static_cast<size_t>(e - b));
    std::iota(idx.begin(), idx.end(), b);
    data.batch(idx, xb, yb, &model.thread_pool());
    const Tensor p = predict_tta(model, xb, batch_size);
    for (int64_t i = 0; i < e - b; ++i) {
      const float* row = p.data() + i * k;
      const int32_t y = yb[static_cast<size_t>(i)];
      loss_sum -= std::log(std::max(static_cast<double>(row[y]), 1e-12));
      const int64_t pred = std::max_element(row, row + k) - row;
      ev.confusion[static_cast<size_t>(y)][static_cast<size_t>(pred)]++;
    }
  }
  ev.samples = data.size();
  ev.loss = loss_sum / static_cast<double>(data.size());
  ev.finish_from_confusion();
  return ev;
}

}  // namespace digitnet
