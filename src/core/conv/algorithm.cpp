#include "core/conv/algorithm.hpp"

#include <algorithm>

#include "digitnet/core/error.hpp"

namespace digitnet::conv {

// Each family's own file.
std::unique_ptr<ConvAlgorithm> make_winograd_conv(const ConvParams& p);
std::unique_ptr<ConvAlgorithm> make_direct_conv(const ConvParams& p);
std::unique_ptr<ConvAlgorithm> make_dnnl_conv(const ConvParams& p, bool winograd);
std::unique_ptr<ConvAlgorithm> make_im2col_conv(const ConvParams& p);

std::unique_ptr<ConvAlgorithm> make_conv_algorithm(ConvBackend b, const ConvParams& p) {
  switch (b) {
    case ConvBackend::winograd:
      if (p.k != 3 || p.stride != 1) break;
      return make_winograd_conv(p);
    case ConvBackend::direct:
      if (p.stride != 1) break;
      return make_direct_conv(p);
    case ConvBackend::dnnl_direct:
      return make_dnnl_conv(p, false);
    case ConvBackend::dnnl_winograd:
      return make_dnnl_conv(p, true);
    case ConvBackend::im2col:
      return make_im2col_conv(p);
  }
  throw Error(std::string("conv: ") + backend_name(b) + " does not support a " +
              std::to_string(p.k) + "x" + std::to_string(p.k) + " stride-" +
              std::to_string(p.stride) + " convolution");
}

void ConvAlgorithm::forward_split(ThreadPool&, const float*, const float*, const float*, float*,
                                  bool) {
  throw Error(std::string("conv: ") + backend_name(backend()) + " does not split one image");
}

void ConvAlgorithm::begin_backward(ThreadPool& pool, const float*, bool, bool) {
  threads_ = pool.size();
  const std::size_t n = static_cast<std::size_t>(p_.f) * p_.c * p_.k * p_.k;
  if (dw_sum_.size() < static_cast<std::size_t>(threads_))
    dw_sum_.resize(static_cast<std::size_t>(threads_));
  for (int t = 0; t < threads_; ++t) dw_sum_[static_cast<std::size_t>(t)].assign(n, 0.0f);
}

void ConvAlgorithm::end_backward(float* grad, bool add, bool) {
  const int64_t n = int64_t{p_.f} * p_.c * p_.k * p_.k;
  const float* first = dw_sum_[0].data();
  if (add)
    for (int64_t i = 0; i < n; ++i) grad[i] += first[i];
  else
    std::copy(first, first + n, grad);
  for (int t = 1; t < threads_; ++t) {
    const float* part = dw_sum_[static_cast<std::size_t>(t)].data();
    for (int64_t i = 0; i < n; ++i) grad[i] += part[i];
  }
}

}  // namespace digitnet::conv
