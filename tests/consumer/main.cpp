// Builds a model with the installed headers and library, trains one step, prints a checksum.
#include <cstdio>
#include <digitnet/digitnet.hpp>

int main() {
  using namespace digitnet;
  Sequential model({1, 8, 8}, 1, 1);
  model.add(Conv2D(2, 3, relu));
  model.add(Flatten());
  model.add(Dense(3, softmax));
  model.compile(Adam(1e-2f), sparse_categorical_crossentropy(), {accuracy});
  Tensor x({4, 1, 8, 8}, 0.5f);
  std::vector<int32_t> y = {0, 1, 2, 0};
  const auto [loss, acc] = model.train_step(x, y, 1e-2f);
  std::printf("digitnet %s consumer: params %lld loss %.4f\n", version(),
              static_cast<long long>(model.count_params()), loss);
  return loss > 0 ? 0 : 1;
}
