// digitnet/model/ensemble.hpp — several trained models as one: the mean of their
// probabilities.
//
//   std::vector<Sequential> members;
//   members.push_back(load_model("a.dnm", 1));
//   members.push_back(load_model("b.dnm", 1));
//   Sequential ensemble = make_ensemble(std::move(members), /*threads=*/0);
//   save_model(ensemble, "ab.dnm");      // evaluate, predict and report read it as any model
#pragma once

#include <vector>

#include "digitnet/layers/layer.hpp"
#include "digitnet/model/sequential.hpp"

namespace digitnet {

// A layer that runs each member on its input (members in parallel on the pool,
// each single-threaded) and outputs the mean of their probabilities. It is not
// trained: backward throws. Its stored tensors are the members' parameters and
// buffers, named "m<i>/<layer>/<tensor>". The members must share the input shape
// and the number of outputs; each ends in a softmax.
LayerPtr EnsembleLayer(std::vector<Sequential> members);

// A model of one EnsembleLayer over the members, with the first member's class
// names and data set; `threads` as Sequential's.
Sequential make_ensemble(std::vector<Sequential> members, int threads);

}  // namespace digitnet
