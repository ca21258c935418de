// Dense forward on a few rows (training's micro-batches, one image) with a large
// W splits the input features over the threads, adding the participants'
// partial sums; with too few input features per thread, a batch smaller than
// the pool splits the output units instead. Both must agree with the one-thread
// row path up to rounding for every activation, and write every output. One image with
// small weights takes the vecmat path, which must agree with the batch path too.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/layers/layers.hpp"
#include "layers/dense_plan.hpp"

using namespace digitnet;

TEST(DenseSplit, SmallBatchSplitByUnitsMatchesTheRowPath) {
  // in·units >= 2^18, but fewer than 64 input features per thread of 3: the
  // units are split.
  const int64_t in = 150, units = 1800;
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

TEST(DenseSplit, FewRowsSplitByInputFeaturesMatchesTheRowPath) {
  const int64_t in = 1030, units = 260;  // in·units >= 2^18; odd shares of the features
  for (bool bias : {true, false})
    for (Activation a : {linear, relu, tanh_act, softmax}) {
      SCOPED_TRACE(activation_name(a) + (bias ? " bias" : " no bias"));
      Rng init(11);
      LayerPtr d = Dense(static_cast<int>(units), a, bias);
      d->build({in}, init);
      for (Param* p : d->params())
        for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] += init.uniform(-0.1f, 0.1f);
      for (int64_t n : {1, 2, 3, 8, 32}) {
        Tensor x({n, in});
        for (int64_t i = 0; i < x.size(); ++i) x[i] = init.uniform(-1.0f, 1.0f);
        ThreadPool one(1);
        Tensor y1;
        d->forward(x, y1, Context{false, &one, nullptr});
        for (int threads : {2, 3}) {
          ThreadPool pool(threads);
          Tensor y({n, units}, NAN), again({n, units}, NAN);
          d->forward(x, y, Context{false, &pool, nullptr});
          d->forward(x, again, Context{false, &pool, nullptr});
          ASSERT_EQ(y.shape(), y1.shape());
          for (int64_t i = 0; i < y1.size(); ++i) {
            ASSERT_NEAR(y[i], y1[i], 1e-5f * (1.0f + std::abs(y1[i])))
                << "n " << n << ", threads " << threads << ", y[" << i << "]";
            ASSERT_EQ(again[i], y[i]) << "not deterministic: n " << n << ", y[" << i << "]";
          }
        }
      }
    }
}

TEST(DenseSplit, OneImageWithSmallWeightsMatchesTheBatchPath) {
  // in·units < 2^18: one image runs kernels::vecmat on the calling thread; it
  // must agree with the same image inside a batch (sgemm) for every activation,
  // with and without bias, on any pool size.
  const int64_t in = 401, units = 121;
  for (bool bias : {true, false})
    for (Activation a : {linear, relu, sigmoid, tanh_act, softmax}) {
      SCOPED_TRACE(activation_name(a) + (bias ? " bias" : " no bias"));
      Rng init(5);
      LayerPtr d = Dense(static_cast<int>(units), a, bias);
      d->build({in}, init);
      for (Param* p : d->params())
        for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] += init.uniform(-0.1f, 0.1f);
      Tensor batch({3, in});
      for (int64_t i = 0; i < batch.size(); ++i) batch[i] = init.uniform(-1.0f, 1.0f);
      ThreadPool one(1), two(2);
      Tensor yb;
      d->forward(batch, yb, Context{false, &one, nullptr});
      for (int64_t r = 0; r < 3; ++r)
        for (ThreadPool* pool : {&one, &two}) {
          Tensor x({1, in}), y({1, units}, NAN);
          for (int64_t i = 0; i < in; ++i) x[i] = batch[r * in + i];
          d->forward(x, y, Context{false, pool, nullptr});
          ASSERT_EQ(y.shape(), (Shape{1, units}));
          for (int64_t j = 0; j < units; ++j)
            ASSERT_NEAR(y[j], yb[r * units + j], 1e-5f * (1.0f + std::abs(yb[r * units + j])))
                << "row " << r << ", unit " << j << ", pool " << pool->size();
        }
    }
}

TEST(DenseSplit, ForwardDecisionTable) {
  using detail::DenseForward;
  struct Row {
    const char* what;
    int64_t rows, inputs, units;
    int threads;
    DenseForward want;
  };
  const Row rows[] = {
      {"LeNet's dense, one image", 1, 400, 120, 2, DenseForward::vecmat_one},
      {"the MLP's first, one image (1.6 MB)", 1, 784, 512, 2, DenseForward::split_inputs},
      {"K's 9216->128, one image", 1, 9216, 128, 2, DenseForward::split_inputs},
      {"K's 9216->128, a micro-batch of 8", 8, 9216, 128, 2, DenseForward::split_inputs},
      {"... 33 rows: by rows", 33, 9216, 128, 2, DenseForward::rows},
      {"... one thread: by rows", 8, 9216, 128, 1, DenseForward::rows},
      {"few inputs, many units, one image", 1, 100, 4096, 2, DenseForward::split_units},
      {"few inputs, many units, two images on two threads", 2, 100, 4096, 2, DenseForward::rows},
      {"a small layer, a batch", 128, 128, 10, 2, DenseForward::rows},
  };
  for (const Row& r : rows)
    EXPECT_EQ(detail::select_dense_forward(r.rows, r.inputs, r.units, r.threads), r.want) << r.what;
}
