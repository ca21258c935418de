#include "core/conv/plan.hpp"

#include <cstdlib>

#include "core/direct_conv.hpp"
#include "core/dnnl_conv.hpp"
#include "core/kernels.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet::conv {

const char* backend_name(ConvBackend b) {
  switch (b) {
    case ConvBackend::winograd:
      return "winograd";
    case ConvBackend::direct:
      return "direct";
    case ConvBackend::dnnl_direct:
      return "dnnl-direct";
    case ConvBackend::dnnl_winograd:
      return "dnnl-winograd";
    case ConvBackend::im2col:
      return "im2col";
  }
  return "?";
}

std::optional<ConvBackend> parse_backend(const std::string& name) {
  for (ConvBackend b : {ConvBackend::winograd, ConvBackend::direct, ConvBackend::dnnl_direct,
                        ConvBackend::dnnl_winograd, ConvBackend::im2col})
    if (name == backend_name(b)) return b;
  return std::nullopt;
}

namespace {
std::optional<ConvBackend> read_override() {
  const char* env = std::getenv("DIGITNET_CONV_KERNEL");
  const std::string want = env ? env : "";
  if (want.empty()) return std::nullopt;
  const std::optional<ConvBackend> b = parse_backend(want);
  // The own direct kernels cover stride 1 only, so they are not a family to force.
  if (!b || *b == ConvBackend::direct)
    throw Error("DIGITNET_CONV_KERNEL: unknown value '" + want +
                "' (winograd, dnnl-direct, dnnl-winograd or im2col)");
  return b;
}
}  // namespace

std::optional<ConvBackend> conv_override() {
  static const std::optional<ConvBackend> forced = read_override();  // read once, here
  return forced;
}

ConvSupport conv_support(const ConvParams& p, bool probe_winograd) {
  ConvSupport s;
  s.avx512 = kernels::direct_conv_avx512();
  s.pool_avx512 = kernels::pool_2x2_avx512_available();
  // oneDNN has a direct (or GEMM-based) fp32 kernel for every geometry; its
  // Winograd is probed only when asked for, since the probe builds a primitive.
  if (probe_winograd && p.use_winograd()) {
    kernels::ConvGeometry g;
    g.n = 8, g.c = p.c, g.h = p.h, g.w = p.w, g.f = p.f, g.kh = p.k, g.kw = p.k;
    g.stride = p.stride, g.pad_top = p.pad_top, g.pad_left = p.pad_left, g.oh = p.oh, g.ow = p.ow;
    s.dnnl_winograd = kernels::DnnlConv::create(g, kernels::ConvAlgo::winograd, true, p.bias,
                                                p.act == Act::relu) != nullptr;
  }
  return s;
}

ConvPlan select_conv_plan(const ConvParams& p, int threads, const ConvSupport& s,
                          std::optional<ConvBackend> forced) {
  using B = ConvBackend;
  ConvPlan plan;
  plan.forced = forced.has_value();

  // The family: the own Winograd for 3x3 stride-1 layers with >= 16 channels
  // in and out, else oneDNN's direct kernels; an override where it applies.
  if (forced == B::im2col)
    plan.family = B::im2col;
  else if (forced == B::dnnl_direct)
    plan.family = B::dnnl_direct;
  else if (forced == B::winograd && p.k == 3 && p.stride == 1)
    plan.family = B::winograd;
  else if (forced == B::dnnl_winograd && p.use_winograd() && s.dnnl_winograd)
    plan.family = B::dnnl_winograd;
  else if (p.use_winograd())
    plan.family = B::winograd;
  else
    plan.family = B::dnnl_direct;
  const bool winograd = plan.family == B::winograd;
  // (The family is im2col only when forced; oneDNN covers every geometry.)
  const bool dnnl = plan.family == B::dnnl_direct || plan.family == B::dnnl_winograd;
  const B dnnl_or_im2col = dnnl ? plan.family : B::im2col;

  // A batch: the family, except that stride-1 layers small enough for the
  // direct kernel's registers (a single channel, or <= 16 filters of <= 160
  // weights) run it image by image, where its AVX-512 bodies exist.
  if (winograd)
    plan.batch_forward = B::winograd;
  else if (p.stride == 1 && p.small_for_direct() && !plan.forced && s.avx512)
    plan.batch_forward = B::direct;
  else
    plan.batch_forward = dnnl_or_im2col;

  // One image: a layer of >= 1 M MAC splits its filters over the pool (on the
  // own Winograd or oneDNN); a smaller stride-1 layer runs the direct kernel,
  // split by filters only with >= 16 per participant and >= 128 k MAC.
  const bool split = threads > 1 && p.macs() >= kSplitImageMacs;
  if (split && (winograd || dnnl)) {
    plan.image_forward = plan.family;
    plan.split_image = true;
  } else if (winograd) {
    plan.image_forward = B::winograd;
  } else if (p.stride == 1 && !plan.forced) {
    plan.image_forward = B::direct;
    plan.split_image = threads > 1 && p.f >= 16 * threads && p.macs() >= kSplitImageDirectMacs;
  } else {
    plan.image_forward = dnnl_or_im2col;
  }

  // Backward.
  if (winograd) {
    // dW and dx in one pass over the tiles; relu' and the bias sum read with dy.
    plan.weight_grad = plan.data_grad = B::winograd;
    plan.fold_activation_grad = p.act == Act::relu || p.act == Act::linear;
    return plan;
  }
  plan.batched_weight_grad_without_dx = p.single_channel() && p.f >= 16;
  // The direct weight gradient (AVX-512, kernel width <= 8) for stride-1 layers
  // on oneDNN's direct kernels: with several channels and >= 16 filters (its
  // filters body), or where its columns body suits (few filters, wide rows).
  const kernels::DirectConvShape ds = p.direct_shape();
  const bool wgrad_vector = s.avx512 && p.k <= 8;
  const bool direct_wgrad = plan.family == B::dnnl_direct && !plan.forced && p.stride == 1 &&
                            wgrad_vector &&
                            ((p.c > 1 && p.f >= 16) || kernels::direct_conv_wgrad_columns_suit(ds));
  if (direct_wgrad) {
    plan.weight_grad = B::direct;
    // dx: the direct input gradient for up to 16 filters (AVX-512); one input
    // channel on im2col + sgemm (oneDNN's is slow there); else oneDNN.
    if (p.f <= 16 && s.avx512)
      plan.data_grad = B::direct;
    else if (p.single_channel())
      plan.data_grad = B::im2col;
    else
      plan.data_grad = dnnl_or_im2col;
  } else if (!p.single_channel() && dnnl) {
    plan.weight_grad = plan.data_grad = plan.family;
  } else {
    // One channel: oneDNN's direct weight gradient is slower than im2col + sgemm.
    plan.weight_grad = plan.data_grad = B::im2col;
  }
  return plan;
}

}  // namespace digitnet::conv
