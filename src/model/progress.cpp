#include "model/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace digitnet::detail {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

Progress::Progress(int fd, int verbose) : fd_(fd), verbose_(verbose), tty_(isatty(fd) == 1) {}

void Progress::write(const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n <= 0) return;  // progress is best effort
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void Progress::begin_epoch(int epoch, int epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  start_ = last_ = std::chrono::steady_clock::now();
  if (verbose_ == 1) write("Epoch " + std::to_string(epoch) + "/" + std::to_string(epochs) + "\n");
}

void Progress::update(int64_t step, int64_t samples, double loss, double acc, bool force) {
  if (verbose_ != 1) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  // A terminal is redrawn ~10 times a second; a log file gets a line every 15 s.
  if (!force && since_last < (tty_ ? 0.1 : 15.0)) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double per_step = step > 0 ? elapsed / static_cast<double>(step) : 0.0;
  const double eta = per_step * static_cast<double>(steps_ - step);
  const double ips = elapsed > 0 ? static_cast<double>(samples) / elapsed : 0.0;
  char stats[160];
  std::snprintf(stats, sizeof stats, " - ETA %s - %.0f img/s - loss: %.4f - accuracy: %.4f",
                format_duration(eta).c_str(), ips, loss, acc);
  const int width = 30;
  const int filled = steps_ > 0 ? static_cast<int>(width * step / steps_) : width;
  std::string bar = "[";
  for (int i = 0; i < width; ++i) bar += i < filled ? '=' : (i == filled ? '>' : '.');
  bar += "]";
  char count[64];
  std::snprintf(count, sizeof count, "%*lld/%lld ", static_cast<int>(std::to_string(steps_).size()),
                static_cast<long long>(step), static_cast<long long>(steps_));
  if (tty_)
    write("\r" + std::string(count) + bar + stats + "\033[K");
  else
    write(std::string(count) + bar + stats + "\n");
}

void Progress::end_epoch(const std::string& metrics) {
  if (verbose_ == 0) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  char head[96];
  std::snprintf(head, sizeof head, "%s%lld/%lld - %.1fs - ", tty_ && verbose_ == 1 ? "\r" : "",
                static_cast<long long>(steps_), static_cast<long long>(steps_), elapsed);
  std::string prefix =
      verbose_ == 2 ? "Epoch " + std::to_string(epoch_) + "/" + std::to_string(epochs_) + " - "
                    : "";
  write(prefix + head + metrics + (tty_ && verbose_ == 1 ? "\033[K\n" : "\n"));
}

void Progress::message(const std::string& line) {
  if (verbose_ == 0) return;
  write(line + "\n");
}

}  // namespace digitnet::detail
