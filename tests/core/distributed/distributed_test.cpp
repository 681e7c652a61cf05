// The c10d process group (detkit/core/distributed.h) with real processes on 127.0.0.1: two
// ranks average and broadcast tensors; a rank whose peer never comes fails with a clear message
// within its timeout; torchrun's variables are read and checked.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "detkit/core/distributed.h"
#include "detkit/error.h"
#include "dist_shard.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::free_port;

/// Runs the worker as `rank` of `world` on `port` (in `mode`, when given).
testing::ProcessResult run_rank(int rank, int world, int port, int timeout_ms,
                                const std::string& mode = "") {
  return testing::run_process(
      {DIST_WORKER},
      {"RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(world),
       "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port),
       "DETKIT_DIST_TIMEOUT_MS=" + std::to_string(timeout_ms), "DETKIT_DIST_MODE=" + mode});
}

/// The numbers after `label` on its line of `text`.
std::vector<double> numbers_after(const std::string& text, const std::string& label) {
  std::vector<double> values;
  const size_t at = text.find(label + " ");
  if (at == std::string::npos) return values;
  std::istringstream line(text.substr(at + label.size(), text.find('\n', at) - at - label.size()));
  for (double v; line >> v;)
    values.push_back(v);
  return values;
}

TEST(ProcessGroup, TwoRanksAverageAndBroadcast) {
  ASSERT_TRUE(distributed_available()) << "detkit was built without libgloo-dev";
  const int port = free_port();
  testing::ProcessResult rank1;
  std::thread other([&] { rank1 = run_rank(1, 2, port, 60000); });
  const testing::ProcessResult rank0 = run_rank(0, 2, port, 60000);
  other.join();
  // Means of [1, 1, 1] and [2, 2, 2]; of [0, 1, 2, 3] and [0, 2, 4, 6]; rank 0's [10, 11].
  const std::string expected = "mean 1.5 1.5 1.5 0 1.5 3 4.5\nbroadcast 10 11\n";
  EXPECT_EQ(rank0.exit_code, 0) << rank0.err;
  EXPECT_EQ(rank1.exit_code, 0) << rank1.err;
  EXPECT_EQ(rank0.out, expected);
  EXPECT_EQ(rank1.out, expected);
}

TEST(ProcessGroup, AveragedGradientsAreTheMeanOfTheShardsGradientsAndWeightsStayEqual) {
  ASSERT_TRUE(distributed_available());
  const int port = free_port();
  testing::ProcessResult rank1;
  std::thread other([&] { rank1 = run_rank(1, 2, port, 60000, "grad"); });
  testing::ProcessResult rank0 = run_rank(0, 2, port, 60000, "grad");
  other.join();
  ASSERT_EQ(rank0.exit_code, 0) << rank0.err;
  ASSERT_EQ(rank1.exit_code, 0) << rank1.err;
  // In one process: the mean of the gradients each shard gives, and the step they make.
  torch::nn::Linear model = shard_model();
  std::vector<torch::Tensor> sum;
  for (int64_t rank = 0; rank < 2; ++rank) {
    model->zero_grad();
    const auto [x, y] = shard_batch(rank);
    torch::mse_loss(model(x), y).backward();
    for (size_t i = 0; i < model->parameters().size(); ++i) {
      const torch::Tensor g = model->parameters()[i].grad().clone();
      if (sum.size() <= i) {
        sum.push_back(g);
      } else {
        sum[i] += g;
      }
    }
  }
  std::vector<double> expected_grad, expected_weights;
  for (size_t i = 0; i < sum.size(); ++i) {
    const torch::Tensor mean = (sum[i] / 2).reshape({-1}).to(torch::kDouble);
    const torch::Tensor stepped =
        (model->parameters()[i].detach() - 0.1 * sum[i] / 2).reshape({-1}).to(torch::kDouble);
    for (int64_t k = 0; k < mean.numel(); ++k) {
      expected_grad.push_back(mean[k].item<double>());
      expected_weights.push_back(stepped[k].item<double>());
    }
  }
  for (const testing::ProcessResult* rank : {&rank0, &rank1}) {
    const std::vector<double> grad = numbers_after(rank->out, "grad");
    const std::vector<double> weights = numbers_after(rank->out, "weights");
    ASSERT_EQ(grad.size(), expected_grad.size()) << rank->out;
    ASSERT_EQ(weights.size(), expected_weights.size()) << rank->out;
    for (size_t k = 0; k < grad.size(); ++k) {
      EXPECT_NEAR(grad[k], expected_grad[k], 1e-6) << k;
      EXPECT_NEAR(weights[k], expected_weights[k], 1e-6) << k;
    }
  }
  // Identical weights on both ranks after the step.
  EXPECT_EQ(numbers_after(rank0.out, "weights"), numbers_after(rank1.out, "weights"));
}

TEST(ProcessGroup, AMissingPeerIsAClearErrorWithinTheTimeout) {
  ASSERT_TRUE(distributed_available());
  const auto start = std::chrono::steady_clock::now();
  const testing::ProcessResult alone = run_rank(0, 2, free_port(), 2000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_NE(alone.err.find("rank 0 of 2 could not join the group at 127.0.0.1:"), std::string::npos)
      << alone.err;
  EXPECT_NE(alone.err.find("within 2 s"), std::string::npos) << alone.err;
  EXPECT_LT(seconds, 30.0);
}

TEST(ProcessGroup, TorchrunsVariablesAreReadAndChecked) {
  const auto set = [](const char* rank, const char* world, const char* addr, const char* port) {
    for (auto [name, value] : {std::pair{"RANK", rank}, std::pair{"WORLD_SIZE", world},
                               std::pair{"MASTER_ADDR", addr}, std::pair{"MASTER_PORT", port}}) {
      if (value == nullptr) {
        ::unsetenv(name);
      } else {
        ::setenv(name, value, 1);
      }
    }
  };
  set("1", "4", "node0", "29600");
  const DistributedOptions options = distributed_options_from_env();
  EXPECT_EQ(options.rank, 1);
  EXPECT_EQ(options.world_size, 4);
  EXPECT_EQ(options.master_addr, "node0");
  EXPECT_EQ(options.master_port, 29600);
  set("4", "4", "node0", "29600");
  EXPECT_NE(testing::error_of([] {
              distributed_options_from_env();
            }).find("RANK='4' is not an integer in [0, 3]"),
            std::string::npos);
  set("0", "2", "node0", "http");
  EXPECT_NE(testing::error_of([] { distributed_options_from_env(); }).find("MASTER_PORT='http'"),
            std::string::npos);
  set("0", "2", nullptr, "29600");
  EXPECT_NE(testing::error_of([] {
              distributed_options_from_env();
            }).find("the environment variable MASTER_ADDR is not set"),
            std::string::npos);
  set(nullptr, nullptr, nullptr, nullptr);
}

}  // namespace
TEST(Launch, FirstSlurmHostOfANodeList) {
  EXPECT_EQ(first_slurm_host("node7"), "node7");
  EXPECT_EQ(first_slurm_host("gpu[01-04]"), "gpu01");
  EXPECT_EQ(first_slurm_host("gpu[3,5-9]-ib,cpu1"), "gpu3-ib");
  EXPECT_EQ(first_slurm_host("a1,b[2-3]"), "a1");
  EXPECT_NE(testing::error_of([] { first_slurm_host("gpu[01-04"); }).find("unclosed"),
            std::string::npos);
}

}  // namespace detkit
