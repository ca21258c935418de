// layer_check.hpp — a generic finite-difference check of a layer's backward pass
// (after dlib's test_layer). Header-only: tests/CMakeLists.txt links only
// test_support.cpp into the test executables.
//
// For a layer and a per-sample input shape it:
//  1. builds the layer, randomises its parameters, draws an input x and an
//     upstream gradient g, and defines loss = Σ y·g (accumulated in double);
//  2. runs forward into a NaN-filled y and backward into a NaN-filled dx and
//     NaN-filled Param::grads, and checks that every element was written;
//  3. runs forward + backward again and checks y, dx and grads are bit-identical
//     (same thread count);
//  4. checks the memory hooks of layer.hpp against that run: a reshape layer
//     gives y and dx bit-equal to x and g; a layer whose backward does not read
//     its output gives the same dx and grads with y replaced by NaN; an in-place
//     layer gives the same y, dx and grads with y a view of x's storage; a
//     per-sample layer run on two parts of the batch (the second accumulating
//     its parameter gradients) gives the whole batch's y, dx and gradients;
//  5. compares dx and every parameter gradient with central differences.
// Every forward draws from a fresh Rng with the same seed, so Dropout's mask is
// the same in every evaluation. For piecewise-linear layers (relu inside Dense or
// Conv2D) where a perturbation may cross a kink, `allow_kinks` also accepts a
// match with one of the one-sided differences, for at most `max_kink_fraction`
// of the elements.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/layers/layer.hpp"

namespace digitnet::testing {

enum class InputKind {
  uniform,         // U(-1, 1)
  distinct,        // a shuffled grid with spacing 0.05: no two values within 2·eps (max pool)
  away_from_zero,  // |x| in [0.1, 1): no relu / leaky_relu kink within eps
};

struct GradCheckOptions {
  int batch = 3;
  int threads = 1;
  bool training = true;
  uint64_t seed = 1;
  InputKind input = InputKind::uniform;
  double eps = 1e-2;
  double rtol = 1e-2;
  double atol = 1e-3;
  bool allow_kinks = false;
  double max_kink_fraction = 0.1;
  // The layer is already built for input_shape (a fused layer, made from built
  // layers): build() is not called.
  bool prebuilt = false;
};

inline void fill_input(Tensor& x, InputKind kind, Rng& rng) {
  const int64_t n = x.size();
  switch (kind) {
    case InputKind::uniform:
      for (int64_t i = 0; i < n; ++i) x[i] = rng.uniform(-1.0f, 1.0f);
      break;
    case InputKind::distinct: {
      for (int64_t i = 0; i < n; ++i) x[i] = 0.05f * static_cast<float>(i - n / 2);
      for (int64_t i = n - 1; i > 0; --i)
        std::swap(x[i], x[static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)))]);
      break;
    }
    case InputKind::away_from_zero:
      for (int64_t i = 0; i < n; ++i) {
        const float m = rng.uniform(0.1f, 1.0f);
        x[i] = rng.uniform() < 0.5f ? -m : m;
      }
      break;
  }
}

inline int64_t count_nonfinite(const Tensor& t) {
  int64_t bad = 0;
  for (int64_t i = 0; i < t.size(); ++i) bad += std::isfinite(t[i]) ? 0 : 1;
  return bad;
}

inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0;
}

// Runs the full check; returns a failure describing the first mismatches.
inline ::testing::AssertionResult check_layer_gradients(Layer& layer, const Shape& input_shape,
                                                        const GradCheckOptions& o = {}) {
  std::ostringstream err;
  Rng init(o.seed);
  const Shape out_shape = o.prebuilt ? layer.output_shape() : layer.build(input_shape, init);
  // Move parameters off their initial values (zero biases, unit gammas) so every
  // gradient term matters.
  for (Param* p : layer.params())
    for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] += init.uniform(-0.3f, 0.3f);

  ThreadPool pool(o.threads);
  Tensor x(with_batch(o.batch, input_shape));
  fill_input(x, o.input, init);
  Tensor g(with_batch(o.batch, out_shape));
  for (int64_t i = 0; i < g.size(); ++i) g[i] = init.uniform(-1.0f, 1.0f);

  auto forward = [&](const Tensor& in, Tensor& y) {
    Rng fwd(o.seed + 1000);
    Context ctx{o.training, &pool, &fwd};
    layer.forward(in, y, ctx);
  };
  auto loss = [&](const Tensor& in) {
    Tensor y;
    forward(in, y);
    double l = 0.0;
    for (int64_t i = 0; i < y.size(); ++i) l += static_cast<double>(y[i]) * g[i];
    return l;
  };
  struct Grads {
    Tensor y, dx;
    std::vector<Tensor> params;
  };
  auto run = [&]() {
    Grads r;
    r.y = Tensor(with_batch(o.batch, out_shape), NAN);
    forward(x, r.y);
    r.dx = Tensor(x.shape(), NAN);
    for (Param* p : layer.params()) p->grad.fill(NAN);
    Rng bwd(o.seed + 2000);
    Context ctx{o.training, &pool, &bwd};
    layer.backward(x, r.y, g, &r.dx, ctx);
    for (Param* p : layer.params()) r.params.push_back(p->grad);
    return r;
  };

  const Grads a = run();
  if (a.y.shape() != with_batch(o.batch, out_shape))
    return ::testing::AssertionFailure()
           << layer.type() << ": forward output shape " << shape_str(a.y.shape()) << ", expected "
           << shape_str(with_batch(o.batch, out_shape));
  if (a.dx.shape() != x.shape())
    return ::testing::AssertionFailure()
           << layer.type() << ": dx shape " << shape_str(a.dx.shape());
  if (int64_t bad = count_nonfinite(a.y))
    err << "forward left " << bad << " of " << a.y.size() << " outputs unwritten/non-finite\n";
  if (int64_t bad = count_nonfinite(a.dx))
    err << "backward left " << bad << " of " << a.dx.size() << " dx elements unwritten\n";
  const auto params = layer.params();
  for (std::size_t k = 0; k < params.size(); ++k)
    if (int64_t bad = count_nonfinite(a.params[k]))
      err << "backward left " << bad << " of " << a.params[k].size() << " elements of grad '"
          << params[k]->name << "' unwritten\n";
  if (!err.str().empty())
    return ::testing::AssertionFailure() << layer.type() << ":\n" << err.str();

  // Same thread count, same inputs: bit-identical results.
  const Grads b = run();
  bool same = bit_equal(a.y, b.y) && bit_equal(a.dx, b.dx);
  for (std::size_t k = 0; k < params.size(); ++k)
    same = same && bit_equal(a.params[k], b.params[k]);
  if (!same)
    return ::testing::AssertionFailure() << layer.type() << ": a repeated forward/backward with "
                                         << o.threads << " thread(s) is not bit-identical";

  // Memory hooks: each promise against the plain run `a`.
  auto same_grads = [&](const Tensor& dx, const char* how) {
    bool ok = bit_equal(dx, a.dx);
    for (std::size_t k = 0; k < params.size(); ++k)
      ok = ok && bit_equal(params[k]->grad, a.params[k]);
    if (!ok) err << how << ": dx or a parameter gradient differs from the plain run\n";
  };
  if (layer.is_reshape()) {
    if (!params.empty()) err << "is_reshape() but the layer has parameters\n";
    const auto bytes = [](const Tensor& t) {
      return static_cast<std::size_t>(t.size()) * sizeof(float);
    };
    if (a.y.size() != x.size() || std::memcmp(a.y.data(), x.data(), bytes(x)) != 0)
      err << "is_reshape() but y is not x's elements in order\n";
    if (a.dx.size() != g.size() || std::memcmp(a.dx.data(), g.data(), bytes(g)) != 0)
      err << "is_reshape() but dx is not dy's elements in order\n";
  }
  if (!layer.backward_reads_output()) {
    Tensor y;
    forward(x, y);
    const Tensor nan_y(y.shape(), NAN);
    Tensor dx(x.shape(), NAN);
    for (Param* p : params) p->grad.fill(NAN);
    Rng bwd(o.seed + 2000);
    Context ctx{o.training, &pool, &bwd};
    layer.backward(x, nan_y, g, &dx, ctx);
    same_grads(dx, "backward_reads_output() is false, backward with y = NaN");
  }
  if (layer.supports_in_place()) {
    if (out_shape != input_shape) err << "supports_in_place() but the output shape differs\n";
    Tensor buf = x;  // becomes y; then backward sees x == y == the output
    Tensor y = Tensor::view(buf.data(), buf.shape());
    forward(buf, y);
    if (!bit_equal(y, a.y)) err << "supports_in_place(): forward in place gives another y\n";
    Tensor dx(x.shape(), NAN);
    for (Param* p : params) p->grad.fill(NAN);
    Rng bwd(o.seed + 2000);
    Context ctx{o.training, &pool, &bwd};
    layer.backward(buf, y, g, &dx, ctx);
    same_grads(dx, "supports_in_place(), backward after forward in place");
  }
  // Rows [0, h) then [h, N) as two parts (first_sample 0 and h, the same rng
  // state each, the second part accumulating): the parts' y and dx are the
  // rows of the whole batch's, their gradients add up to the whole batch's
  // (up to rounding); the first part overwrites NaN-filled gradients. Twice:
  // each part completing the gradients, then the first saying more parts
  // follow (ctx.more_parts: the layer may defer its share to the second).
  for (int deferred = 0; deferred < 2 && layer.per_sample() && o.batch >= 2; ++deferred) {
    const int64_t h = o.batch / 2, per_in = shape_size(input_shape),
                  per_out = shape_size(out_shape);
    for (Param* p : params) p->grad.fill(NAN);
    auto close = [](float got, float want) {
      return std::abs(got - want) <= 1e-5f + 1e-4f * std::abs(want);
    };
    for (int part = 0; part < 2; ++part) {
      const int64_t r0 = part == 0 ? 0 : h, r1 = part == 0 ? h : o.batch, m = r1 - r0;
      Tensor xs(with_batch(m, input_shape)), gs(with_batch(m, out_shape)), ys, dxs;
      std::copy(x.data() + r0 * per_in, x.data() + r1 * per_in, xs.data());
      std::copy(g.data() + r0 * per_out, g.data() + r1 * per_out, gs.data());
      Rng fwd(o.seed + 1000);
      layer.forward(xs, ys, Context{o.training, &pool, &fwd, r0, false});
      for (int64_t i = 0; i < ys.size(); ++i)
        if (!close(ys[i], a.y[r0 * per_out + i])) {
          err << "per_sample(" << deferred << "): part " << part << " y[" << i << "] " << ys[i]
              << " vs " << a.y[r0 * per_out + i] << " in the whole batch\n";
          break;
        }
      Rng bwd(o.seed + 2000);
      layer.backward(xs, ys, gs, &dxs,
                     Context{o.training, &pool, &bwd, r0, part == 1, deferred && part == 0});
      for (int64_t i = 0; i < dxs.size(); ++i)
        if (!close(dxs[i], a.dx[r0 * per_in + i])) {
          err << "per_sample(" << deferred << "): part " << part << " dx[" << i << "] " << dxs[i]
              << " vs " << a.dx[r0 * per_in + i] << " in the whole batch\n";
          break;
        }
    }
    for (std::size_t k = 0; k < params.size(); ++k)
      for (int64_t i = 0; i < params[k]->grad.size(); ++i)
        if (!close(params[k]->grad[i], a.params[k][i])) {
          err << "per_sample(" << deferred << "): the parts' accumulated grad '" << params[k]->name
              << "'[" << i << "] " << params[k]->grad[i] << " vs " << a.params[k][i]
              << " for the batch\n";
          break;
        }
  }
  if (!err.str().empty())
    return ::testing::AssertionFailure() << layer.type() << " memory hooks:\n" << err.str();

  // Central differences; returns the number of failures and kink acceptances.
  int64_t failures = 0, kinks = 0, checked = 0;
  auto compare = [&](const std::string& what, float* v, int64_t count, const Tensor& analytic) {
    for (int64_t i = 0; i < count; ++i) {
      const float orig = v[i];
      const double l0 = loss(x);
      v[i] = static_cast<float>(orig + o.eps);
      const double lp = loss(x);
      v[i] = static_cast<float>(orig - o.eps);
      const double lm = loss(x);
      v[i] = orig;
      const double h_plus = static_cast<double>(static_cast<float>(orig + o.eps)) - orig;
      const double h_minus = orig - static_cast<double>(static_cast<float>(orig - o.eps));
      const double central = (lp - lm) / (h_plus + h_minus);
      const double ana = analytic[i];
      auto close = [&](double n) {
        return std::abs(ana - n) <= o.atol + o.rtol * std::max(std::abs(ana), std::abs(n));
      };
      ++checked;
      if (close(central)) continue;
      if (o.allow_kinks && (close((lp - l0) / h_plus) || close((l0 - lm) / h_minus))) {
        ++kinks;
        continue;
      }
      if (++failures <= 8)
        err << what << "[" << i << "]: analytic " << ana << " vs numeric " << central << "\n";
    }
  };
  compare("dx", x.data(), x.size(), a.dx);
  for (std::size_t k = 0; k < params.size(); ++k)
    compare("d" + params[k]->name, params[k]->value.data(), params[k]->value.size(), a.params[k]);
  if (failures)
    return ::testing::AssertionFailure()
           << layer.type() << " " << layer.config().dump() << ": " << failures << " of " << checked
           << " gradient elements differ:\n"
           << err.str();
  if (kinks > o.max_kink_fraction * static_cast<double>(checked))
    return ::testing::AssertionFailure() << layer.type() << ": " << kinks << " of " << checked
                                         << " elements only matched a one-sided difference";
  return ::testing::AssertionSuccess();
}

}  // namespace digitnet::testing
