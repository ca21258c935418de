#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include "core/kernels.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"

using namespace digitnet;

TEST(Tensor, ShapeAndResizeKeepAllocation) {
  Tensor t({2, 3, 4});
  EXPECT_EQ(t.size(), 24);
  EXPECT_EQ(shape_str(t.shape()), "(2, 3, 4)");
  const float* p = t.data();
  t.resize({4, 3, 2});
  EXPECT_EQ(t.data(), p);
  t.resize({1, 3});
  EXPECT_EQ(t.size(), 3);
  EXPECT_THROW(t.reshape({2, 2}), Error);
}

TEST(Tensor, ViewSharesTheBufferWithinItsCapacityAndCopiesOwn) {
  Tensor owner({4, 6}, 1.0f);
  Tensor v = Tensor::view(owner.data(), {2, 12}, owner.size());
  EXPECT_TRUE(v.is_view());
  EXPECT_FALSE(owner.is_view());
  EXPECT_EQ(v.data(), owner.data());
  v[5] = 7.0f;
  EXPECT_EQ(owner[5], 7.0f);
  v.resize({3, 8});  // within the capacity: same buffer
  EXPECT_EQ(v.data(), owner.data());
  EXPECT_EQ(v.size(), 24);
  v.resize({1, 10});
  EXPECT_EQ(v.size(), 10);
  EXPECT_THROW(v.resize({5, 5}), Error);
  EXPECT_THROW(Tensor::view(owner.data(), {5, 5}, owner.size()), Error);
  EXPECT_THROW(Tensor::view(owner.data(), {2, -1}), Error);

  // A copy owns its elements.
  const Tensor c = v;
  EXPECT_FALSE(c.is_view());
  EXPECT_NE(c.data(), owner.data());
  EXPECT_EQ(c.shape(), (Shape{1, 10}));
  EXPECT_EQ(c[5], 7.0f);
  // Assigning to a view detaches it: the viewed buffer is not written.
  Tensor w = Tensor::view(owner.data(), {24});
  w = Tensor({3}, 9.0f);
  EXPECT_FALSE(w.is_view());
  EXPECT_EQ(owner[0], 1.0f);
  // Moving a view moves the view and leaves an empty tensor.
  Tensor m = std::move(v);
  EXPECT_TRUE(m.is_view());
  EXPECT_EQ(m.data(), owner.data());
  EXPECT_TRUE(v.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_FALSE(v.is_view());
  // Assigning a view of our own elements to ourselves keeps them alive (ASan
  // would see a use after free otherwise).
  Tensor self({4}, 0.0f);
  for (int i = 0; i < 4; ++i) self[i] = static_cast<float>(i);
  const Tensor part = Tensor::view(self.data() + 1, {3});
  self = part;  // copy
  EXPECT_FALSE(self.is_view());
  ASSERT_EQ(self.size(), 3);
  EXPECT_EQ(self[0], 1.0f);
  EXPECT_EQ(self[2], 3.0f);
  self = Tensor::view(self.data() + 1, {2});  // move
  ASSERT_EQ(self.size(), 2);
  EXPECT_EQ(self[0], 2.0f);
  EXPECT_EQ(self[1], 3.0f);
  Tensor kept = std::move(self);
  EXPECT_EQ(kept[1], 3.0f);
  // Moving an owning tensor keeps its buffer.
  Tensor big({1000}, 2.0f);
  const float* p = big.data();
  Tensor moved = std::move(big);
  EXPECT_EQ(moved.data(), p);
  EXPECT_TRUE(big.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(Rng, SameSeedSameStreamDifferentSeedDifferentStream) {
  Rng a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
}

TEST(Rng, UniformAndNormalMoments) {
  Rng r(1);
  double su = 0, sn = 0, sn2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float u = r.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    su += u;
    const float z = r.normal();
    sn += z;
    sn2 += double(z) * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.01);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.02);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(r.below(10));
  EXPECT_EQ(seen.size(), 10u);
}

TEST(ThreadPool, ChunksCoverRangeAndErrorsPropagate) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<int> hit(1001, 0);
    pool.parallel_for(1001, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hit[static_cast<size_t>(i)]++;
    });
    for (int h : hit) ASSERT_EQ(h, 1);
    EXPECT_THROW(pool.run([](int t) {
      if (t == 0 || t == 1) throw Error("boom");
    }),
                 Error);
  }
}

TEST(Kernels, SgemmMatchesReferenceOnOddShapes) {
  // Both libraries, whichever one this CPU uses by default. M = 1 takes
  // OpenBLAS' matrix-vector path; leading dimensions wider than the matrices
  // (+3) check that every stride is honoured and the padding left alone; the
  // larger shape crosses the libraries' register and cache blocks; beta = 0
  // must overwrite C even where it holds NaN.
  Rng r(3);
  struct Shape3 {
    int M, N, K;
  };
  for (auto backend : {kernels::GemmBackend::openblas, kernels::GemmBackend::dnnl})
    for (Shape3 sh : {Shape3{7, 13, 5}, Shape3{1, 13, 5}, Shape3{37, 70, 129}, Shape3{1, 70, 129}})
      for (float beta : {2.0f, 0.0f})
        for (bool ta : {false, true})
          for (bool tb : {false, true}) {
            const int M = sh.M, N = sh.N, K = sh.K;
            SCOPED_TRACE(std::string(kernels::gemm_backend_name(backend)) + " M " +
                         std::to_string(M) + " N " + std::to_string(N) + " K " + std::to_string(K) +
                         " beta " + std::to_string(beta) + " ta " + std::to_string(ta) + " tb " +
                         std::to_string(tb));
            const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 3, ldc = N + 3;
            std::vector<float> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc), D(M * ldc);
            for (auto& v : A) v = r.uniform(-1, 1);
            for (auto& v : B) v = r.uniform(-1, 1);
            for (size_t i = 0; i < C.size(); ++i) C[i] = D[i] = r.uniform(-1, 1);
            if (beta == 0.0f)
              for (int i = 0; i < M; ++i) C[i * ldc] = D[i * ldc] = std::nanf("");
            kernels::sgemm(backend, ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta,
                           C.data(), ldc);
            kernels::sgemm_ref(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, D.data(),
                               ldc);
            for (size_t i = 0; i < C.size(); ++i) ASSERT_NEAR(C[i], D[i], 1e-4f) << i;
          }
}

TEST(Kernels, SgemmDefaultIsTheChosenBackendBitForBit) {
  Rng r(5);
  const int M = 19, N = 33, K = 47;
  std::vector<float> A(M * K), B(K * N), C(M * N), D(M * N);
  for (auto& v : A) v = r.uniform(-1, 1);
  for (auto& v : B) v = r.uniform(-1, 1);
  kernels::sgemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
  kernels::sgemm(kernels::gemm_backend(), false, false, M, N, K, 1.0f, A.data(), K, B.data(), N,
                 0.0f, D.data(), N);
  EXPECT_EQ(0, std::memcmp(C.data(), D.data(), C.size() * sizeof(float)));
}

namespace {
std::atomic<int> g_signals_seen{0};  // the handler's counter: the only thing a handler may touch
extern "C" void count_signal(int) { g_signals_seen.fetch_add(1); }
}  // namespace

TEST(Kernels, SgemmSurvivesSignalsAimedAtItsThread) {
  // oneDNN's AVX-512 sgemm moves rsp into the heap while it runs; a signal
  // handled then wrote its frame over the heap (Ctrl-C during training aborted
  // in free()). Signals sent to this very thread while it multiplies must be
  // held until the call ends, and the products must stay exact.
  struct sigaction sa {
  }, old{};
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  const int M = 128, N = 128, K = 784;  // the MLP's dW shape that broke
  std::vector<float> A(M * K), B(K * N), C(M * N), R(M * N);
  for (size_t i = 0; i < A.size(); ++i) A[i] = static_cast<float>(i % 7) * 0.1f;
  for (size_t i = 0; i < B.size(); ++i) B[i] = static_cast<float>(i % 5) * 0.1f;
  for (auto backend : {kernels::GemmBackend::dnnl, kernels::GemmBackend::openblas}) {
    SCOPED_TRACE(kernels::gemm_backend_name(backend));
    kernels::sgemm(backend, true, false, M, N, K, 1.0f, A.data(), M, B.data(), N, 0.0f, R.data(),
                   N);
    g_signals_seen = 0;
    std::atomic<bool> done{false};
    const pthread_t target = pthread_self();
    std::thread sender([&] {
      while (!done.load()) {
        pthread_kill(target, SIGUSR1);
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
    int wrong = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(700)) {
      kernels::sgemm(backend, true, false, M, N, K, 1.0f, A.data(), M, B.data(), N, 0.0f, C.data(),
                     N);
      wrong += std::memcmp(C.data(), R.data(), C.size() * sizeof(float)) != 0;
    }
    done = true;
    sender.join();
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(g_signals_seen.load(), 0) << "the signals must still be delivered";
  }
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(Kernels, Col2imIsAdjointOfIm2col) {
  // <im2col(x), c> == <x, col2im(c)> for random x, c: the defining property of the adjoint.
  Rng r(4);
  const int C = 2, H = 6, W = 5, K = 3, S = 2, P = 1;
  const int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
  std::vector<float> x(C * H * W), col(C * K * K * OH * OW), c(col.size()), dx(x.size(), 0.0f);
  for (auto& v : x) v = r.uniform(-1, 1);
  for (auto& v : c) v = r.uniform(-1, 1);
  kernels::im2col(x.data(), C, H, W, K, K, S, P, P, OH, OW, col.data());
  kernels::col2im(c.data(), C, H, W, K, K, S, P, P, OH, OW, dx.data());
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < col.size(); ++i) lhs += double(col[i]) * c[i];
  for (size_t i = 0; i < x.size(); ++i) rhs += double(x[i]) * dx[i];
  EXPECT_NEAR(lhs, rhs, 1e-4);
}
