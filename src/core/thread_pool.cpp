#include "digitnet/core/thread_pool.hpp"

#include <algorithm>

#include "core/kernels.hpp"

namespace digitnet {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  size_ = threads;
  kernels::use_single_threaded_blas();
  scratch_.resize(static_cast<std::size_t>(size_));
  workers_.reserve(static_cast<std::size_t>(size_ - 1));
  for (int t = 1; t < size_; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  if (!workers_.empty()) publish(nullptr);
  for (auto& w : workers_) w.join();
}

namespace {

// Waits actively until done() or `limit` has passed; returns done(). It pauses
// first, then yields its core, so a thread that is waiting for a descheduled one
// (more threads than cores) does not hold the core that one needs.
template <class Done>
bool spin_until(Done done, std::chrono::microseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (int round = 0;; ++round) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (round >= 16) std::this_thread::yield();
    if (std::chrono::steady_clock::now() >= end) return done();
  }
}

}  // namespace

// The hand-off takes no lock while the threads spin (each lock moved the
// mutex's cache line between the cores twice per job). The sleeping paths stay
// correct by the seq_cst order of two pairs: a worker announces itself in
// sleepers_ before it re-checks generation_ under mu_, and the caller bumps
// generation_ before it reads sleepers_ (then takes mu_ before notifying), so
// either the worker sees the new job or the caller sees the sleeper; likewise
// caller_waits_ / pending_ for the caller's own sleep.
void ThreadPool::worker(int t) {
  uint64_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, kSpin)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      start_cv_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    const std::function<void(int)>* job = job_.load(std::memory_order_relaxed);
    if (job == nullptr) return;  // the destructor's stop job
    try {
      (*job)(t);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true);
    }
    if (pending_.fetch_sub(1) == 1 && caller_waits_.load()) {
      std::lock_guard<std::mutex> lock(mu_);  // pairs with the caller's wait
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
  if (size_ == 1) {
    fn(0);
    return;
  }
  publish(&fn);
  std::exception_ptr mine;
  try {
    fn(0);
  } catch (...) {
    mine = std::current_exception();
  }
  if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; }, kSpin)) {
    caller_waits_.store(true);
    if (pending_.load() != 0) {
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [&] { return pending_.load() == 0; });
    }
    caller_waits_.store(false);
  }
  std::exception_ptr theirs;
  if (failed_.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(mu_);
    theirs = error_;
    error_ = nullptr;
    failed_.store(false);
  }
  if (mine) std::rethrow_exception(mine);
  if (theirs) std::rethrow_exception(theirs);
}

// Hands job to every worker (null: stop) and wakes the sleeping ones.
void ThreadPool::publish(const std::function<void(int)>* job) {
  job_.store(job, std::memory_order_relaxed);
  pending_.store(size_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: releases the two stores above
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }  // a sleeper is now waiting or sees the job
    start_cv_.notify_all();
  }
}

float* ThreadPool::scratch(int t, std::size_t floats) {
  auto& buf = scratch_.at(static_cast<std::size_t>(t));
  if (buf.size() < floats) {
    buf.clear();
    buf.shrink_to_fit();  // free first: never hold the old and the new buffer together
    buf.resize(floats);
  }
  return buf.data();
}

std::pair<int64_t, int64_t> ThreadPool::chunk(int64_t n, int parts, int t) {
  const int64_t base = n / parts, extra = n % parts;
  const int64_t begin = t * base + std::min<int64_t>(t, extra);
  return {begin, begin + base + (t < extra ? 1 : 0)};
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  const int parts = static_cast<int>(std::min<int64_t>(size_, n));
  if (parts == 1) {
    fn(0, n, 0);
    return;
  }
  run([&](int t) {
    if (t >= parts) return;
    auto [b, e] = chunk(n, parts, t);
    if (b < e) fn(b, e, t);
  });
}

}  // namespace digitnet
