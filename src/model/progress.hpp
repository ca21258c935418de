// Progress output for fit(): a live bar on a terminal, plain lines otherwise.
#pragma once
#include <chrono>
#include <string>

namespace digitnet::detail {

class Progress {
 public:
  // verbose: 0 silent, 1 bar (plain lines when fd is not a terminal), 2 one line per epoch.
  Progress(int fd, int verbose);
  void begin_epoch(int epoch, int epochs, int64_t steps);
  // After a batch: steps done this epoch, samples done, running loss/accuracy.
  void update(int64_t step, int64_t samples, double loss, double acc, bool force = false);
  // The epoch's closing line with all metrics (already formatted "loss: 0.1 - ...").
  void end_epoch(const std::string& metrics);
  void message(const std::string& line);

 private:
  void write(const std::string& s);
  int fd_;
  int verbose_;
  bool tty_;
  int epoch_ = 0, epochs_ = 0;
  int64_t steps_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
  std::string last_line_;
};

std::string format_duration(double seconds);

}  // namespace digitnet::detail
