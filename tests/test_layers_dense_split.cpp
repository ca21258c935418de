// Dense forward on a batch smaller than the pool splits the output units over
// the threads (single-image latency); it must agree with the one-thread row path
// up to rounding for every activation, and write every output.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/layers/layers.hpp"

using namespace digitnet;

TEST(DenseSplit, SmallBatchSplitByUnitsMatchesTheRowPath) {
  const int64_t in = 1024, units = 300;  // in·units >= 2^18: the split applies
  for (Activation a : {linear, relu, sigmoid, tanh_act, softmax}) {
    SCOPED_TRACE(activation_name(a));
    Rng init(3);
    LayerPtr d = Dense(static_cast<int>(units), a);
    d->build({in}, init);
    for (Param* p : d->params())
      for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] += init.uniform(-0.1f, 0.1f);
    for (int64_t n : {1, 2}) {
      Tensor x({n, in});
      for (int64_t i = 0; i < x.size(); ++i) x[i] = init.uniform(-1.0f, 1.0f);
      ThreadPool one(1), three(3);
      Tensor y1, y3({n, units}, NAN);
      d->forward(x, y1, Context{false, &one, nullptr});
      d->forward(x, y3, Context{false, &three, nullptr});
      ASSERT_EQ(y3.shape(), y1.shape());
      for (int64_t i = 0; i < y1.size(); ++i)
        ASSERT_NEAR(y3[i], y1[i], 1e-5f * (1.0f + std::abs(y1[i])))
            << "n " << n << ", y[" << i << "]";
    }
  }
}
