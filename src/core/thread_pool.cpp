#include "digitnet/core/thread_pool.hpp"

#include <algorithm>

#include "digitnet/core/kernels.hpp"

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
  start_cv_.notify_all();
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

void ThreadPool::worker(int t) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, kSpin);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!stop_ && generation_.load(std::memory_order_relaxed) == seen) {
        sleepers_.fetch_add(1);
        start_cv_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
      }
      if (stop_) return;
      seen = generation_.load();
      job = job_;
    }
    std::exception_ptr err;
    try {
      (*job)(t);
    } catch (...) {
      err = std::current_exception();
    }
    if (err) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = err;
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
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
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    pending_.store(size_ - 1);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleepers_.load() > 0;
  }
  if (wake) start_cv_.notify_all();
  std::exception_ptr mine;
  try {
    fn(0);
  } catch (...) {
    mine = std::current_exception();
  }
  std::exception_ptr theirs;
  if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; }, kSpin)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_.load() == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = nullptr;
    theirs = error_;
    error_ = nullptr;
  }
  if (mine) std::rethrow_exception(mine);
  if (theirs) std::rethrow_exception(theirs);
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
