// The pool's hand-off (spin, then sleep) under back-to-back jobs, jobs after
// the workers went to sleep, exceptions, and destruction while workers spin.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "digitnet/core/thread_pool.hpp"

using namespace digitnet;

TEST(ThreadPoolHandOff, EveryParticipantRunsEveryJobOnce) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::vector<long> count(static_cast<std::size_t>(threads), 0);
    for (int job = 0; job < 5000; ++job)  // back to back: workers never sleep
      pool.run([&](int t) { ++count[static_cast<std::size_t>(t)]; });
    for (int t = 0; t < threads; ++t) EXPECT_EQ(count[static_cast<std::size_t>(t)], 5000);
    for (int job = 0; job < 5; ++job) {  // workers asleep between jobs
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      pool.run([&](int t) { ++count[static_cast<std::size_t>(t)]; });
    }
    for (int t = 0; t < threads; ++t) EXPECT_EQ(count[static_cast<std::size_t>(t)], 5005);
  }
}

TEST(ThreadPoolHandOff, ResultsOfWorkersAreVisibleToTheCaller) {
  ThreadPool pool(2);
  std::vector<int> out(2000, 0);
  for (int round = 1; round <= 200; ++round) {
    pool.parallel_for(2000, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) out[static_cast<std::size_t>(i)] = round;
    });
    for (int v : out) ASSERT_EQ(v, round);
  }
}

TEST(ThreadPoolHandOff, WorkerExceptionReachesTheCallerAndThePoolStaysUsable) {
  ThreadPool pool(2);
  for (int i = 0; i < 100; ++i) {
    EXPECT_THROW(pool.run([](int t) {
      if (t == 1) throw std::runtime_error("worker failed");
    }),
                 std::runtime_error);
    std::atomic<int> ran{0};
    pool.run([&](int) { ++ran; });
    EXPECT_EQ(ran.load(), 2);
  }
}

TEST(ThreadPoolHandOff, CallerSleepsThroughALongJobAndWakesWhenItEnds) {
  // A worker busy for longer than the spin: the caller sleeps on the condition
  // variable and must be woken by the last worker, then jobs go on as before.
  ThreadPool pool(3);
  for (int round = 0; round < 6; ++round) {
    std::atomic<int> done{0};
    pool.run([&](int t) {
      if (t == 1 + round % 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ++done;
    });
    EXPECT_EQ(done.load(), 3);
    for (int job = 0; job < 100; ++job) pool.run([&](int) { ++done; });
    EXPECT_EQ(done.load(), 303);
  }
}

TEST(ThreadPoolHandOff, DestroyedWhileWorkersSpinOrSleep) {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(3);
    pool.run([](int) {});
    if (i % 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }  // destructor joins: must not hang
  SUCCEED();
}

TEST(ThreadPoolScratch, PerParticipantAlignedGrowsAndIsDistinct) {
  ThreadPool pool(3);
  std::vector<float*> p(3);
  // Each participant writes its whole scratch; none overlaps another's.
  pool.run([&](int t) {
    float* s = pool.scratch(t, 1000 + 10 * static_cast<std::size_t>(t));
    for (std::size_t i = 0; i < 1000; ++i) s[i] = static_cast<float>(t);
    p[static_cast<std::size_t>(t)] = s;
  });
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p[static_cast<std::size_t>(t)]) % 64, 0u);
    for (std::size_t i = 0; i < 1000; ++i)
      ASSERT_EQ(p[static_cast<std::size_t>(t)][i], static_cast<float>(t));
  }
  EXPECT_EQ(pool.scratch(1, 500), p[1]) << "a smaller request reuses the buffer";
  float* big = pool.scratch(1, 1 << 20);
  big[(1 << 20) - 1] = 1.0f;  // the whole size is usable (ASan checks it)
  EXPECT_EQ(pool.scratch(1, 1 << 20), big);
  EXPECT_THROW(pool.scratch(3, 1), std::out_of_range);
}
