#include "core/dnnl_conv.hpp"

#include <omp.h>

#include <algorithm>
#include <dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "core/signal_guard.hpp"
#include "digitnet/core/tensor.hpp"

namespace digitnet::kernels {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

namespace {

// A user buffer in plain layout and, when oneDNN wants another layout, a
// buffer in that layout plus the reorder between them. The reordered copy is
// either owned by the slot (weights) or lives at `offset` floats into the
// caller's workspace (activations), bound per call.
struct Slot {
  memory user;   // plain layout; its data handle is set per call
  memory inner;  // the layout the primitive wants (== user when no reorder)
  dnnl::reorder to_inner, to_user;
  bool reordered = false;
  std::size_t offset = kOwned;
  static constexpr std::size_t kOwned = static_cast<std::size_t>(-1);

  Slot() = default;
  Slot(const memory::desc& plain, const memory::desc& wanted, const dnnl::engine& eng,
       bool to_primitive, bool from_primitive, std::size_t workspace_offset = kOwned) {
    user = memory(plain, eng, DNNL_MEMORY_NONE);
    reordered = plain != wanted;
    if (!reordered) {
      inner = user;
      return;
    }
    offset = workspace_offset;
    inner = offset == kOwned ? memory(wanted, eng) : memory(wanted, eng, DNNL_MEMORY_NONE);
    if (to_primitive) to_inner = dnnl::reorder(user, inner);
    if (from_primitive) to_user = dnnl::reorder(inner, user);
  }
  // Points the reordered copy at its place in this call's workspace.
  void bind(float* workspace) {
    if (reordered && offset != kOwned) inner.set_data_handle(workspace + offset);
  }
  // Points the user memory at p and returns what the primitive should read.
  const memory& in(const float* p, dnnl::stream& s) {
    user.set_data_handle(const_cast<float*>(p));
    if (reordered) to_inner.execute(s, user, inner);
    return inner;
  }
  // Points the user memory at p; returns what the primitive should write.
  const memory& out(float* p) {
    user.set_data_handle(p);
    return inner;
  }
  void flush(dnnl::stream& s) {
    if (reordered) to_user.execute(s, inner, user);
  }
};

}  // namespace

struct DnnlConv::Impl {
  ConvGeometry g;
  bool training = false, bias = false;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};

  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  Slot fx, fw, fb, fy;
  memory f_scratch;

  dnnl::convolution_backward_data::primitive_desc bd_pd;
  dnnl::convolution_backward_data bd;
  Slot dz_d, w_d, dx_d;
  memory d_scratch;

  dnnl::convolution_backward_weights::primitive_desc bw_pd;
  dnnl::convolution_backward_weights bw;
  Slot x_w, dz_w, dw_w;
  memory w_scratch;

  // The caller's workspace holds the blocked copies on the input side (x for
  // forward and for the weight gradient, then dx), on the output side (y, then
  // dz) and the primitives' scratchpads: the calls run one after another, so each
  // side needs one region. Offsets in floats, 64-byte aligned.
  std::size_t out_off = 0, scratch_off = 0, workspace = 0;
};

namespace {
std::size_t floats(const memory::desc& d) {
  return (d.get_size() + sizeof(float) - 1) / sizeof(float);
}
}  // namespace

DnnlConv::DnnlConv(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnnlConv::~DnnlConv() = default;

const ConvGeometry& DnnlConv::geometry() const { return impl_->g; }

std::string DnnlConv::implementation() const {
  std::string s = impl_->fwd_pd.impl_info_str();
  if (impl_->training)
    s += std::string(" / ") + impl_->bd_pd.impl_info_str() + " / " + impl_->bw_pd.impl_info_str();
  return s;
}

std::unique_ptr<DnnlConv> DnnlConv::create(const ConvGeometry& g, ConvAlgo algo, bool training,
                                           bool bias, bool relu) {
  // oneDNN derives the output size as (h + pt + pb - kh) / s + 1 (floor); find the
  // bottom/right padding that reproduces the caller's oh/ow.
  auto far_pad = [&](int in, int k, int before, int out) {
    int p = (out - 1) * g.stride + k - in - before;
    if (p < 0) p = 0;
    return (in + before + p - k) / g.stride + 1 == out ? p : -1;
  };
  const int pb = far_pad(g.h, g.kh, g.pad_top, g.oh);
  const int pr = far_pad(g.w, g.kw, g.pad_left, g.ow);
  if (pb < 0 || pr < 0 || g.n <= 0) return nullptr;
  // oneDNN plans its work split for the thread count it sees when the primitive
  // is created: make that this thread alone, as when it runs.
  omp_set_num_threads(1);

  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.g = g;
  m.training = training;
  m.bias = bias;
  const memory::dims src_dims{g.n, g.c, g.h, g.w}, w_dims{g.f, g.c, g.kh, g.kw}, b_dims{g.f},
      dst_dims{g.n, g.f, g.oh, g.ow}, strides{g.stride, g.stride}, pad_l{g.pad_top, g.pad_left},
      pad_r{pb, pr};
  const memory::desc src_any(src_dims, Dt::f32, Tag::any), w_any(w_dims, Dt::f32, Tag::any),
      dst_any(dst_dims, Dt::f32, Tag::any), b_plain(b_dims, Dt::f32, Tag::x);
  const memory::desc src_plain(src_dims, Dt::f32, Tag::nchw), w_plain(w_dims, Dt::f32, Tag::oihw),
      dst_plain(dst_dims, Dt::f32, Tag::nchw);
  const dnnl::algorithm alg = algo == ConvAlgo::winograd ? dnnl::algorithm::convolution_winograd
                                                         : dnnl::algorithm::convolution_direct;
  const auto prop =
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::primitive_attr fwd_attr;  // (attributes are handles: copying would share them)
    fwd_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      fwd_attr.set_post_ops(ops);
    }
    const auto fdesc = bias ? dnnl::convolution_forward::desc(prop, alg, src_any, w_any, b_plain,
                                                              dst_any, strides, pad_l, pad_r)
                            : dnnl::convolution_forward::desc(prop, alg, src_any, w_any, dst_any,
                                                              strides, pad_l, pad_r);
    m.fwd_pd = dnnl::convolution_forward::primitive_desc(fdesc, fwd_attr, m.eng);
    m.fwd = dnnl::convolution_forward(m.fwd_pd);
    if (training) {
      m.bd_pd = dnnl::convolution_backward_data::primitive_desc(
          dnnl::convolution_backward_data::desc(alg, src_any, w_any, dst_any, strides, pad_l,
                                                pad_r),
          attr, m.eng, m.fwd_pd);
      m.bd = dnnl::convolution_backward_data(m.bd_pd);
      m.bw_pd = dnnl::convolution_backward_weights::primitive_desc(
          dnnl::convolution_backward_weights::desc(alg, src_any, w_any, dst_any, strides, pad_l,
                                                   pad_r),
          attr, m.eng, m.fwd_pd);
      m.bw = dnnl::convolution_backward_weights(m.bw_pd);
    }
    // One region per side, sized for the largest user.
    std::size_t in_n = floats(m.fwd_pd.src_desc()), out_n = floats(m.fwd_pd.dst_desc()),
                scratch_n = floats(m.fwd_pd.scratchpad_desc());
    if (training) {
      in_n = std::max({in_n, floats(m.bw_pd.src_desc()), floats(m.bd_pd.diff_src_desc())});
      out_n = std::max({out_n, floats(m.bw_pd.diff_dst_desc()), floats(m.bd_pd.diff_dst_desc())});
      scratch_n = std::max(
          {scratch_n, floats(m.bd_pd.scratchpad_desc()), floats(m.bw_pd.scratchpad_desc())});
    }
    auto round16 = [](std::size_t v) { return (v + 15) / 16 * 16; };
    const std::size_t in = 0;
    m.out_off = round16(in_n);
    m.scratch_off = m.out_off + round16(out_n);
    m.workspace = m.scratch_off + round16(std::max<std::size_t>(scratch_n, 1));
    m.fx = Slot(src_plain, m.fwd_pd.src_desc(), m.eng, true, false, in);
    m.fw = Slot(w_plain, m.fwd_pd.weights_desc(), m.eng, true, false);
    if (bias) m.fb = Slot(b_plain, m.fwd_pd.bias_desc(), m.eng, true, false);
    m.fy = Slot(dst_plain, m.fwd_pd.dst_desc(), m.eng, false, true, m.out_off);
    m.f_scratch = memory(m.fwd_pd.scratchpad_desc(), m.eng, DNNL_MEMORY_NONE);
    if (training) {
      m.x_w = Slot(src_plain, m.bw_pd.src_desc(), m.eng, true, false, in);
      m.dz_w = Slot(dst_plain, m.bw_pd.diff_dst_desc(), m.eng, true, false, m.out_off);
      m.dw_w = Slot(w_plain, m.bw_pd.diff_weights_desc(), m.eng, false, true);
      m.w_scratch = memory(m.bw_pd.scratchpad_desc(), m.eng, DNNL_MEMORY_NONE);
      m.dz_d = Slot(dst_plain, m.bd_pd.diff_dst_desc(), m.eng, true, false, m.out_off);
      m.w_d = Slot(w_plain, m.bd_pd.weights_desc(), m.eng, true, false);
      m.dx_d = Slot(src_plain, m.bd_pd.diff_src_desc(), m.eng, false, true, in);
      m.d_scratch = memory(m.bd_pd.scratchpad_desc(), m.eng, DNNL_MEMORY_NONE);
    }
  } catch (const dnnl::error&) {
    return nullptr;  // no implementation for this geometry / algorithm on this CPU
  }
  return std::unique_ptr<DnnlConv>(new DnnlConv(std::move(impl)));
}

std::size_t DnnlConv::workspace_floats() const { return impl_->workspace; }

void DnnlConv::forward(const float* x, const float* w, const float* b, float* y, float* workspace) {
  omp_set_num_threads(1);                // this thread's oneDNN calls run on this thread only
  const detail::SignalGuard no_signals;  // JIT kernels may move rsp (signal_guard.hpp)
  Impl& m = *impl_;
  m.fx.bind(workspace);
  m.fy.bind(workspace);
  m.f_scratch.set_data_handle(workspace + m.scratch_off);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, m.fx.in(x, m.strm)},
                                       {DNNL_ARG_WEIGHTS, m.fw.in(w, m.strm)},
                                       {DNNL_ARG_DST, m.fy.out(y)},
                                       {DNNL_ARG_SCRATCHPAD, m.f_scratch}};
  if (m.bias) args.emplace(DNNL_ARG_BIAS, m.fb.in(b, m.strm));
  m.fwd.execute(m.strm, args);
  m.fy.flush(m.strm);
  m.strm.wait();
}

void DnnlConv::backward(const float* x, const float* dz, const float* w, float* dx, float* dw,
                        float* workspace) {
  omp_set_num_threads(1);
  const detail::SignalGuard no_signals;
  Impl& m = *impl_;
  for (Slot* slot : {&m.x_w, &m.dz_w, &m.dz_d, &m.dx_d}) slot->bind(workspace);
  m.w_scratch.set_data_handle(workspace + m.scratch_off);
  m.d_scratch.set_data_handle(workspace + m.scratch_off);
  // The two backward primitives usually want dz in the same layout: reorder once.
  const memory* dz_w = nullptr;
  if (dw) {
    dz_w = &m.dz_w.in(dz, m.strm);
    m.bw.execute(m.strm, {{DNNL_ARG_SRC, m.x_w.in(x, m.strm)},
                          {DNNL_ARG_DIFF_DST, *dz_w},
                          {DNNL_ARG_DIFF_WEIGHTS, m.dw_w.out(dw)},
                          {DNNL_ARG_SCRATCHPAD, m.w_scratch}});
    m.dw_w.flush(m.strm);
  }
  if (dx) {
    const bool shared = dz_w && m.dz_d.inner.get_desc() == m.dz_w.inner.get_desc();
    const memory& dz_d = shared ? *dz_w : m.dz_d.in(dz, m.strm);
    m.bd.execute(m.strm, {{DNNL_ARG_DIFF_DST, dz_d},
                          {DNNL_ARG_WEIGHTS, m.w_d.in(w, m.strm)},
                          {DNNL_ARG_DIFF_SRC, m.dx_d.out(dx)},
                          {DNNL_ARG_SCRATCHPAD, m.d_scratch}});
    m.dx_d.flush(m.strm);
  }
  m.strm.wait();
}

}  // namespace digitnet::kernels
