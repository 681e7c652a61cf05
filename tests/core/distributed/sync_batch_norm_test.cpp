// SyncBN (norm_cfg {type: SyncBN}) with two real processes on 127.0.0.1: each rank trains the
// layer for one step on its shard of one batch, and what it gets — output, input gradient,
// parameter gradients, running statistics, eval output — is checked against plain BN over the
// whole batch in this process. In one process SyncBN is plain BN, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "detkit/core/distributed.h"
#include "detkit/core/runtime.h"
#include "detkit/engine/dist_utils.h"
#include "syncbn_shard.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

/// What syncbn_worker printed, parsed by label.
struct RankOutput {
  ProcessResult process;
  /// The numbers on the line that starts with `label` (empty when there is none).
  std::vector<double> operator[](const std::string& label) const {
    std::istringstream lines(process.out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::string first;
      fields >> first;
      if (first != label) continue;
      std::vector<double> values;
      for (double v; fields >> v;)
        values.push_back(v);
      return values;
    }
    return {};
  }
};

/// Runs syncbn_worker as ranks 0 and 1 of a group on a free port, in `mode`.
std::vector<RankOutput> run_two_ranks(const std::string& mode) {
  const int port = free_port();
  const auto run = [&](int rank) {
    return RankOutput{run_process(
        {SYNCBN_WORKER}, {"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                          "MASTER_PORT=" + std::to_string(port), "DETKIT_DIST_TIMEOUT_MS=20000",
                          "DETKIT_SYNCBN_MODE=" + mode, "DETKIT_NUM_THREADS=2"})};
  };
  RankOutput rank1;
  std::thread other([&] { rank1 = run(1); });
  RankOutput rank0 = run(0);
  other.join();
  return {rank0, rank1};
}

/// The values of `t` as doubles.
std::vector<double> values_of(const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().reshape({-1}).to(torch::kDouble).contiguous();
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

/// Expects `actual` and `expected` of the same size, element by element within `tolerance`.
void expect_near(const std::vector<double>& actual, const std::vector<double>& expected,
                 double tolerance, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tolerance) << what << " [" << i << "]";
}

/// Trains the two ranks in `mode` and checks them against plain BN over the whole batch in this
/// process: outputs, input gradients and eval outputs are the ranks' slices of the one-process
/// ones (rank 0's first `split` images), the ranks' parameter gradients sum to the one-process
/// ones, and both ranks hold the one-process running statistics. Returns the largest difference.
double check_against_one_process(const std::string& mode, int64_t split, double tolerance) {
  const auto dtype = mode == "double" ? torch::kDouble : torch::kFloat;
  const std::vector<RankOutput> ranks = run_two_ranks(mode);
  for (const RankOutput& rank : ranks) {
    EXPECT_EQ(rank.process.exit_code, 0) << rank.process.err;
    EXPECT_EQ(rank["world"], std::vector<double>{2}) << rank.process.out;
  }
  auto bn = syncbn_layer("BN", dtype);
  bn->train();
  const torch::Tensor x = syncbn_batch(dtype, mode == "double" ? 1e4 : 2.0).requires_grad_();
  const torch::Tensor y = bn->forward(x);
  (y * syncbn_loss_weights(dtype)).sum().backward();
  bn->eval();
  const torch::Tensor eval_y = bn->forward(x.detach());
  double largest = 0;
  const auto check = [&](const std::vector<double>& actual, const torch::Tensor& expected,
                         const std::string& what) {
    const std::vector<double> want = values_of(expected);
    expect_near(actual, want, tolerance, what);
    for (size_t i = 0; i < std::min(actual.size(), want.size()); ++i)
      largest = std::max(largest, std::abs(actual[i] - want[i]));
  };
  const auto slice = [&](const torch::Tensor& t, int64_t rank) {
    return rank == 0 ? t.slice(0, 0, split) : t.slice(0, split);
  };
  for (int64_t r = 0; r < 2; ++r) {
    const std::string rank = "rank " + std::to_string(r) + " ";
    check(ranks[r]["output"], slice(y, r), rank + "output");
    check(ranks[r]["grad_input"], slice(x.grad(), r), rank + "grad_input");
    check(ranks[r]["eval_output"], slice(eval_y, r), rank + "eval_output");
    for (const char* name : {"running_mean", "running_var", "num_batches_tracked"})
      check(ranks[r][name], bn->named_buffers()[name], rank + name);
  }
  for (const char* name : {"weight", "bias"}) {
    const std::string label = std::string("grad_") + name;
    std::vector<double> sum = ranks[0][label];
    const std::vector<double> other = ranks[1][label];
    EXPECT_EQ(sum.size(), other.size());
    for (size_t i = 0; i < std::min(sum.size(), other.size()); ++i)
      sum[i] += other[i];
    check(sum, bn->named_parameters()[name].grad(), "sum of the ranks' " + label);
  }
  // The ranks combine the same gathered statistics in the same order: identical buffers.
  EXPECT_EQ(ranks[0]["running_mean"], ranks[1]["running_mean"]);
  EXPECT_EQ(ranks[0]["running_var"], ranks[1]["running_var"]);
  return largest;
}

class SyncBatchNormTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

TEST_F(SyncBatchNormTest, TwoRanksNormaliseWithTheStatisticsOfTheWholeBatch) {
  ASSERT_TRUE(distributed_available()) << "detkit was built without libgloo-dev";
  const double largest = check_against_one_process("", kSyncBnRank0Images, 1e-5);
  std::cout << "largest difference from one-process BN (float32): " << largest << "\n";
}

TEST_F(SyncBatchNormTest, ARankWithAnEmptyBatchTakesPartInTheCollectives) {
  ASSERT_TRUE(distributed_available());
  // Rank 0 holds the whole batch, so its output is plain BN's; rank 1's is empty.
  check_against_one_process("empty", kSyncBnImages, 1e-5);
}

TEST_F(SyncBatchNormTest, StatisticsKeepFloat64PrecisionThroughTheFloat32Collective) {
  ASSERT_TRUE(distributed_available());
  // Values about 1e4 with a spread of ~1: E[x^2] - mean^2 in float32 would leave no digit of
  // the variance; the gathered per-rank moments keep float64's.
  const double largest = check_against_one_process("double", kSyncBnRank0Images, 1e-7);
  std::cout << "largest difference from one-process BN (float64): " << largest << "\n";
}

TEST_F(SyncBatchNormTest, InOneProcessSyncBnIsPlainBatchNormBitForBit) {
  ASSERT_EQ(dist_world_size(), 1);
  auto sync_bn = syncbn_layer("SyncBN");
  auto bn = syncbn_layer("BN");
  const torch::Tensor x = syncbn_batch();
  const torch::Tensor weights = syncbn_loss_weights();
  std::vector<torch::Tensor> outputs, grads;
  for (const auto& layer : {sync_bn, bn}) {
    layer->train();
    const torch::Tensor input = x.clone().requires_grad_();
    for (int step = 0; step < 2; ++step) {
      const torch::Tensor y = layer->forward(input * (step + 1));
      (y * weights).sum().backward();
      outputs.push_back(y.detach());
    }
    grads.push_back(input.grad());
    grads.push_back(layer->named_parameters()["weight"].grad());
    grads.push_back(layer->named_parameters()["bias"].grad());
    layer->eval();
    outputs.push_back(layer->forward(x).detach());
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::equal(outputs[i], outputs[i + 3])) << i;
    EXPECT_TRUE(torch::equal(grads[i], grads[i + 3])) << i;
  }
  for (const char* name : {"running_mean", "running_var", "num_batches_tracked"})
    EXPECT_TRUE(torch::equal(sync_bn->named_buffers()[name], bn->named_buffers()[name])) << name;
  EXPECT_EQ(sync_bn->named_buffers()["num_batches_tracked"].item<int64_t>(), 2);
}

TEST_F(SyncBatchNormTest, EvalModeNormalisesWithTheRunningStatistics) {
  auto sync_bn = syncbn_layer("SyncBN");
  const torch::Tensor mean = torch::tensor({1.0f, -2.0f, 0.5f});
  const torch::Tensor var = torch::tensor({4.0f, 0.25f, 9.0f});
  {
    torch::NoGradGuard no_grad;
    sync_bn->named_buffers()["running_mean"].copy_(mean);
    sync_bn->named_buffers()["running_var"].copy_(var);
  }
  sync_bn->eval();
  const torch::Tensor x = syncbn_batch();
  const torch::Tensor y = sync_bn->forward(x);
  const auto channel = [](const torch::Tensor& t) { return t.view({1, -1, 1, 1}); };
  const torch::Tensor expected = (x - channel(mean)) / channel((var + 1e-5).sqrt()) *
                                     channel(sync_bn->named_parameters()["weight"].detach()) +
                                 channel(sync_bn->named_parameters()["bias"].detach());
  EXPECT_TRUE(torch::allclose(y, expected, 1e-6, 1e-6));
  // The running statistics stay as they were.
  EXPECT_TRUE(torch::equal(sync_bn->named_buffers()["running_mean"], mean));
  EXPECT_EQ(sync_bn->named_buffers()["num_batches_tracked"].item<int64_t>(), 0);
}

}  // namespace
}  // namespace detkit::testing
