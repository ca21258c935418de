// src/layers/dropout.cpp — inverted dropout.
//
//   training:  m_i = keep_i / (1 - rate),  y = x ⊙ m,  dx = dy ⊙ m
//   inference: y = x, dx = dy
//
// The mask stream (thread-count independent, counter based). Every training
// forward draws ONE seed s = ctx.rng->next_u64(). Element i of the flattened
// (N·...) tensor takes 32 bits of the j-th SplitMix64 output, j = i / 2:
//   h_j = mix(s + (j + 1)·0x9E3779B97F4A7C15)      (mix: SplitMix64's finaliser)
//   u_i = i even ? low 32 bits of h_j : high 32 bits of h_j
//   keep_i = u_i >= t,  t = floor(rate · 2^32)      (P(keep) = 1 - t / 2^32)
// Any thread can compute any element, so the mask depends only on the seed, not
// on the thread count or the chunking. A micro-batch (ctx.first_sample = a) uses
// elements i + a·(per-sample size): the mask of a row does not depend on the split. It is kept as
// bits (64 elements per word) for backward. y_i = x_i · (keep_i ? scale : 0), scale = 1 / (1 -
// rate) (four elements at a time with SSE2). Dropout may run in place (y sharing x's storage):
// element i is read before it is written, and backward reads only the shapes of x and y.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/cpu.hpp"
#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

// SplitMix64's output function applied to a counter: the j-th output of a
// SplitMix64 generator started at `seed` is mix64(seed + (j + 1)·golden).
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// out[k] = in[k] · (bit k of word ? scale : 0) for k < m (m <= 64).
inline void apply_word(const float* in, float* out, uint64_t word, int64_t m, float scale) {
  int64_t k = 0;
#if defined(__SSE2__)
  // Four bits at a time: lane j keeps iff bit j of the nibble is set.
  const __m128i lanes = _mm_set_epi32(8, 4, 2, 1);
  const __m128 sc = _mm_set1_ps(scale);
  for (; k + 4 <= m; k += 4) {
    const __m128i nib = _mm_set1_epi32(static_cast<int>((word >> k) & 0xF));
    const __m128 keep = _mm_castsi128_ps(_mm_cmpeq_epi32(_mm_and_si128(nib, lanes), lanes));
    _mm_storeu_ps(out + k, _mm_mul_ps(_mm_loadu_ps(in + k), _mm_and_ps(keep, sc)));
  }
#endif
  for (; k < m; ++k) out[k] = in[k] * ((word >> k) & 1 ? scale : 0.0f);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define DIGITNET_DROPOUT_AVX512 1
#include <immintrin.h>
// The even-offset words [w0, w1) of the forward on AVX-512: eight SplitMix64
// outputs at a time (64-bit lanes, vpmullq), compared as sixteen 32-bit halves
// against t, so the 16-bit compare mask is the next 16 keep bits in element
// order (half 2j is output j's low word, element 2j). The same bits as the
// scalar loop, and the same products (x times scale or 0, so -0 stays -0).
// Returns the words done: a partial last word is left to the caller.
__attribute__((target("avx512f,avx512dq"))) int64_t dropout_words_avx512(
    uint64_t seed, uint64_t j0, uint32_t t, const float* in, float* out, uint64_t* bits, int64_t w0,
    int64_t w1, int64_t n, float scale) {
  const __m512i step = _mm512_set1_epi64(static_cast<long long>(8 * kGolden));
  const __m512i lane = _mm512_mullo_epi64(_mm512_set_epi64(8, 7, 6, 5, 4, 3, 2, 1),
                                          _mm512_set1_epi64(static_cast<long long>(kGolden)));
  const __m512i m1 = _mm512_set1_epi64(static_cast<long long>(0xBF58476D1CE4E5B9ull));
  const __m512i m2 = _mm512_set1_epi64(static_cast<long long>(0x94D049BB133111EBull));
  const __m512i tv = _mm512_set1_epi32(static_cast<int>(t));
  const __m512 sc = _mm512_set1_ps(scale);
  // (Shifts as maskz with all lanes: GCC 12's unmasked form warns of an
  // uninitialised operand under -Werror.)
  int64_t w = w0;
  for (; w < w1 && 64 * w + 64 <= n; ++w) {
    // Outputs j0 + 32w + k, k < 32: z = seed + (j0 + 32w + k + 1)·golden.
    const uint64_t base = seed + (j0 + static_cast<uint64_t>(32 * w)) * kGolden;
    __m512i z = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(base)), lane);
    uint64_t word = 0;
    for (int q = 0; q < 4; ++q, z = _mm512_add_epi64(z, step)) {
      __m512i h = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_maskz_srli_epi64(0xFF, z, 30)), m1);
      h = _mm512_mullo_epi64(_mm512_xor_si512(h, _mm512_maskz_srli_epi64(0xFF, h, 27)), m2);
      h = _mm512_xor_si512(h, _mm512_maskz_srli_epi64(0xFF, h, 31));
      const __mmask16 keep = _mm512_cmpge_epu32_mask(h, tv);
      word |= static_cast<uint64_t>(keep) << (16 * q);
      const int64_t i = 64 * w + 16 * q;
      _mm512_storeu_ps(out + i,
                       _mm512_mul_ps(_mm512_loadu_ps(in + i), _mm512_maskz_mov_ps(keep, sc)));
    }
    bits[w] = word;
  }
  return w - w0;
}
#endif

class DropoutLayer final : public Layer {
 public:
  explicit DropoutLayer(float rate) : rate_(rate) {
    if (!(rate >= 0.0f && rate < 1.0f))
      throw Error("Dropout: rate must be in [0, 1) (got " + std::to_string(rate) + ")");
  }

  std::string type() const override { return "Dropout"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape.empty() || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": invalid input shape " + shape_str(input_shape));
    input_shape_ = output_shape_ = input_shape;
    return output_shape_;
  }

  // x (N, ...) -> y (N, ...); y may share x's storage.
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    y.resize(x.shape());
    masked_ = ctx.training && rate_ > 0.0f;
    if (!masked_) {
      if (y.data() != x.data()) std::copy(x.data(), x.data() + x.size(), y.data());
      return;
    }
    if (!ctx.rng) throw Error(detail::layer_label(*this) + ": training needs a random generator");
    const uint64_t seed = ctx.rng->next_u64();
    const uint64_t t = static_cast<uint64_t>(static_cast<double>(rate_) * 4294967296.0);
    const int64_t n = x.size(), words = (n + 63) / 64;
    bits_.resize(static_cast<std::size_t>(words));
    const float scale = 1.0f / (1.0f - rate_);
    const float* in = x.data();
    float* out = y.data();
    uint64_t* bits = bits_.data();
    // Part of a batch (micro-batch): local element i is element g0 + i of the batch.
    const auto g0 = static_cast<uint64_t>(ctx.first_sample * shape_size(input_shape_));
#ifdef DIGITNET_DROPOUT_AVX512
    const bool avx512 = g0 % 2 == 0 && cpu::allows(cpu::Isa::avx512) &&
                        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
    ctx.pool->parallel_for(words, [&](int64_t w0, int64_t w1, int) {
#ifdef DIGITNET_DROPOUT_AVX512
      if (avx512)
        w0 += dropout_words_avx512(seed, g0 / 2, static_cast<uint32_t>(t), in, out, bits, w0, w1, n,
                                   scale);
#endif
      for (int64_t w = w0; w < w1; ++w) {
        uint64_t word = 0;
        if (g0 % 2 == 0) {
          // Elements g0 + 64w .. + 63 use SplitMix64 outputs j = g0/2 + 32w .. + 31.
          uint64_t z = seed + (g0 / 2 + static_cast<uint64_t>(32 * w) + 1) * kGolden;
          for (int k = 0; k < 32; ++k, z += kGolden) {
            const uint64_t h = mix64(z);
            word |= static_cast<uint64_t>((h & 0xFFFFFFFFull) >= t) << (2 * k);
            word |= static_cast<uint64_t>((h >> 32) >= t) << (2 * k + 1);
          }
        } else {  // an odd offset: pairs straddle the words, one output per element
          for (int k = 0; k < 64; ++k) {
            const uint64_t g = g0 + static_cast<uint64_t>(64 * w + k);
            const uint64_t h = mix64(seed + (g / 2 + 1) * kGolden);
            word |= static_cast<uint64_t>((g % 2 ? h >> 32 : h & 0xFFFFFFFFull) >= t) << k;
          }
        }
        bits[w] = word;
        const int64_t i0 = 64 * w;
        apply_word(in + i0, out + i0, word, std::min<int64_t>(64, n - i0), scale);
      }
    });
  }

  // dy (N, ...) -> dx (N, ...); reads no values of x or y.
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    if (!dx) return;
    dx->resize(x.shape());
    if (!masked_) {
      if (dx->data() != dy.data()) std::copy(dy.data(), dy.data() + dy.size(), dx->data());
      return;
    }
    const int64_t n = dy.size(), words = (n + 63) / 64;
    const float scale = 1.0f / (1.0f - rate_);
    const float* in = dy.data();
    float* out = dx->data();
    const uint64_t* bits = bits_.data();
    ctx.pool->parallel_for(words, [&](int64_t w0, int64_t w1, int) {
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t i0 = 64 * w;
        apply_word(in + i0, out + i0, bits[w], std::min<int64_t>(64, n - i0), scale);
      }
    });
  }

  nlohmann::json config() const override { return {{"rate", rate_}}; }

  bool backward_reads_output() const override { return false; }
  bool supports_in_place() const override { return true; }
  bool per_sample() const override { return true; }

 private:
  float rate_;
  bool masked_ = false;         // whether the last forward applied a mask
  std::vector<uint64_t> bits_;  // keep bits of the last training forward, 64 elements per word
};

}  // namespace

LayerPtr Dropout(float rate) { return std::make_unique<DropoutLayer>(rate); }

namespace detail {
LayerPtr dropout_from_config(const nlohmann::json& cfg) {
  const std::string t = "Dropout";
  config_object(t, cfg);
  const float rate = config_float(t, cfg, "rate");
  if (!(rate >= 0.0f && rate < 1.0f)) throw Error(t + " config: field 'rate' must be in [0, 1)");
  return Dropout(rate);
}
}  // namespace detail

}  // namespace digitnet
