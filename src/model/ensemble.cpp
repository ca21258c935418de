// src/model/ensemble.cpp — the mean of several models' probabilities as one layer.
//   y = p̄ = (1/M) Σₘ softmaxₘ(x), or log p̄ as logits  (no backward: the members are trained)
#include "digitnet/model/ensemble.hpp"

#include <algorithm>
#include <cmath>

#include "digitnet/core/error.hpp"

namespace digitnet {
namespace {

class EnsembleLayerImpl final : public Layer {
 public:
  explicit EnsembleLayerImpl(std::vector<Sequential> members) : members_(std::move(members)) {
    if (members_.empty()) throw Error("Ensemble: needs at least one member");
    for (std::size_t m = 0; m < members_.size(); ++m) {
      const Sequential& s = members_[m];
      const std::string who = "Ensemble: member " + std::to_string(m + 1);
      if (s.layers().empty()) throw Error(who + " has no layers");
      if (s.input_shape() != members_[0].input_shape())
        throw Error(who + " takes " + shape_str(s.input_shape()) + " but member 1 takes " +
                    shape_str(members_[0].input_shape()));
      if (s.output_shape() != members_[0].output_shape())
        throw Error(who + " outputs " + shape_str(s.output_shape()) + " but member 1 outputs " +
                    shape_str(members_[0].output_shape()));
      if (!s.layers().back()->has_softmax_output())
        throw Error(who + " does not end in a softmax: its outputs are not probabilities");
    }
  }

  std::string type() const override { return "Ensemble"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape != members_[0].input_shape())
      throw Error("Ensemble: the model's input " + shape_str(input_shape) +
                  " is not the members' " + shape_str(members_[0].input_shape()));
    input_shape_ = input_shape;
    output_shape_ = members_[0].output_shape();
    return output_shape_;
  }

  // x (N, ...) -> y (N, K): the members' probabilities, averaged in member order.
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    std::vector<Tensor> p(members_.size());
    ctx.pool->parallel_for(static_cast<int64_t>(members_.size()), [&](int64_t b, int64_t e, int) {
      for (int64_t m = b; m < e; ++m)
        p[static_cast<std::size_t>(m)] = members_[static_cast<std::size_t>(m)].predict(x);
    });
    y = p[0];
    for (std::size_t m = 1; m < p.size(); ++m)
      for (int64_t i = 0; i < y.size(); ++i) y[i] += p[m][i];
    const float inv = 1.0f / static_cast<float>(members_.size());
    for (int64_t i = 0; i < y.size(); ++i) y[i] *= inv;
    // As logits (a compiled model fuses the softmax into its loss): log p̄, whose
    // softmax is p̄ again, since the mean sums to 1.
    if (logits_)
      for (int64_t i = 0; i < y.size(); ++i) y[i] = std::log(std::max(y[i], 1e-30f));
  }

  void backward(const Tensor&, const Tensor&, const Tensor&, Tensor*, const Context&) override {
    throw Error("Ensemble: an ensemble is not trained; train its members and combine them");
  }

  std::vector<std::pair<std::string, Tensor*>> buffers() override { return tensors<Tensor>(); }
  std::vector<std::pair<std::string, const Tensor*>> buffers() const override {
    return tensors<const Tensor>();
  }

  // {"members": [{"input_shape": [...], "layers": [{"type": T, <config>}, ...]}, ...]},
  // the members' architectures in the spec's JSON form.
  nlohmann::json config() const override {
    nlohmann::json members = nlohmann::json::array();
    for (const Sequential& s : members_) {
      nlohmann::json layers = nlohmann::json::array();
      for (const Layer* l : s.layers()) {
        nlohmann::json j = {{"type", l->type()}};
        const nlohmann::json cfg = l->config();  // kept: items() refers into it
        for (const auto& [key, value] : cfg.items()) j[key] = value;
        layers.push_back(std::move(j));
      }
      members.push_back({{"input_shape", s.input_shape()}, {"layers", std::move(layers)}});
    }
    return {{"members", std::move(members)}};
  }

  int64_t forward_macs() const override {
    int64_t macs = 0;
    for (const Sequential& s : members_)
      for (const Layer* l : s.layers()) macs += l->forward_macs();
    return macs;
  }
  bool per_sample() const override { return true; }
  bool backward_reads_output() const override { return false; }
  bool has_softmax_output() const override { return true; }  // the output is probabilities
  void set_logits_output(bool on) override { logits_ = on; }

 private:
  // Every member's parameters and buffers, "m<i>/<layer>/<tensor>".
  template <class T>
  std::vector<std::pair<std::string, T*>> tensors() const {
    std::vector<std::pair<std::string, T*>> out;
    for (std::size_t m = 0; m < members_.size(); ++m)
      for (Layer* l : members_[m].layers()) {
        const std::string prefix = "m" + std::to_string(m) + "/" + l->name + "/";
        for (Param* p : l->params()) out.emplace_back(prefix + p->name, &p->value);
        for (auto& [name, t] : l->buffers()) out.emplace_back(prefix + name, t);
      }
    return out;
  }

  std::vector<Sequential> members_;
  bool logits_ = false;
};

}  // namespace

LayerPtr EnsembleLayer(std::vector<Sequential> members) {
  return std::make_unique<EnsembleLayerImpl>(std::move(members));
}

Sequential make_ensemble(std::vector<Sequential> members, int threads) {
  if (members.empty()) throw Error("make_ensemble: no members");
  const Shape input = members[0].input_shape();
  const std::vector<std::string> names = members[0].class_names();
  nlohmann::json dataset;
  if (const auto it = members[0].metadata().find("dataset"); it != members[0].metadata().end())
    dataset = *it;
  Sequential model(input, 0, threads);
  model.add(EnsembleLayer(std::move(members)));
  model.set_class_names(names);
  if (!dataset.is_null()) model.metadata()["dataset"] = dataset;
  return model;
}

}  // namespace digitnet
