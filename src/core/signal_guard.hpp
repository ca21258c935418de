// src/core/signal_guard.hpp — holds off asynchronous signals on this thread for
// the lifetime of the guard (internal to the kernels).
//
// oneDNN's AVX-512 JIT kernels (jit_avx512_common_gemm_f32, up to at least 3.11:
// uxlfoundation/oneDNN#4845) point rsp into a heap buffer while they run; a
// signal handled on that thread then writes its frame into the heap and
// corrupts it (a Ctrl-C during `digitnet train` aborted in free()). While the
// guard lives, signals aimed at this thread stay pending and are delivered when
// it ends; signals aimed at the process go to a thread that is not blocking them.
#pragma once
#include <pthread.h>
#include <signal.h>

namespace digitnet::kernels::detail {

class SignalGuard {
 public:
  SignalGuard() {
    sigset_t all;
    sigfillset(&all);
    blocked_ = pthread_sigmask(SIG_BLOCK, &all, &old_) == 0;
  }
  ~SignalGuard() {
    if (blocked_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  sigset_t old_;
  bool blocked_ = false;
};

}  // namespace digitnet::kernels::detail
