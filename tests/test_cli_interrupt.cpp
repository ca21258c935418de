// Ctrl-C during training stops after the current batch, saves what was
// trained and exits with 130; predict reads IDX files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "digitnet/data/idx.hpp"
#include "digitnet/data/mnist.hpp"
#include "test_support.hpp"

using digitnet::testing::read_file;
using digitnet::testing::run_command;
using digitnet::testing::TempDir;

TEST(CliInterrupt, SigintSavesTheModelAndExitsWith130) {
  TempDir dir;
  const std::string model = dir.file("int.dnm"), err = dir.file("err.txt");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(DIGITNET_CLI_PATH, DIGITNET_CLI_PATH, "train", "--preset", "mlp", "--epochs", "500",
          "--threads", "1", "-o", model.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until training has started (the progress shows the first epoch).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool started = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(err) && read_file(err).find("Epoch 1/500") != std::string::npos) {
      started = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(started) << read_file(err);
  ASSERT_TRUE(WIFEXITED(status)) << "the process must exit by itself, not die from the signal";
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_file(err);
  EXPECT_NE(read_file(err).find("Interrupted"), std::string::npos) << read_file(err);
  ASSERT_TRUE(std::filesystem::exists(model));
  const auto hist = nlohmann::json::parse(read_file(dir.file("int.history.json")));
  EXPECT_TRUE(hist["interrupted"].get<bool>());
  EXPECT_LT(hist["epochs"].size(), 500u);
  // The saved model loads and predicts.
  const auto p =
      run_command(std::string(DIGITNET_CLI_PATH) + " predict --range 0:2 --model " + model);
  EXPECT_EQ(p.exit_code, 0) << p.err;
}

TEST(CliPredict, ReadsAnIdxImageFile) {
  TempDir dir;
  const std::string model = dir.file("m.dnm");
  const std::string cli = DIGITNET_CLI_PATH;
  ASSERT_EQ(run_command(cli + " train --preset mlp --epochs 1 --max-train 500 --quiet -o " + model)
                .exit_code,
            0);
  // The first 4 test images, written as a gzip IDX file of their own.
  const digitnet::IdxArray all =
      digitnet::read_idx(digitnet::mnist_cache_dir() + "/t10k-images-idx3-ubyte");
  digitnet::IdxArray four;
  four.type = digitnet::kIdxUbyte;
  four.dims = {4, 28, 28};
  four.bytes.assign(all.bytes.begin(), all.bytes.begin() + 4 * 784);
  digitnet::write_idx(dir.file("four.idx.gz"), four, true);
  const auto from_file =
      run_command(cli + " predict --json --model " + model + " --idx " + dir.file("four.idx.gz"));
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  const auto from_test = run_command(cli + " predict --json --range 0:4 --model " + model);
  ASSERT_EQ(from_test.exit_code, 0) << from_test.err;
  const auto a = nlohmann::json::parse(from_file.out), b = nlohmann::json::parse(from_test.out);
  ASSERT_EQ(a.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(a[i]["probabilities"], b[i]["probabilities"]);
  // A label file is not an image file.
  const auto bad = run_command(cli + " predict --model " + model + " --idx " +
                               digitnet::mnist_cache_dir() + "/t10k-labels-idx1-ubyte");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("t10k-labels-idx1-ubyte"), std::string::npos) << bad.err;
}
