// Distributed training end to end through the CLI, with processes on 127.0.0.1: `detkit
// dist-train` and `detkit train --launcher pytorch|slurm` on MeanLossDetector (a fixture whose
// loss is a per-image mean) over a tiny synthetic dataset.
//   - 2 processes x batch 1 for 10 iterations equal 1 process x batch 2 on the same images in the
//     same order: weights (1e-5), logged losses, evaluation (distributed, gathered on rank 0);
//     also with norm_cfg SyncBN against one process's BatchNorm over the whole batch;
//   - `dist-train --nnodes 2` started twice equals `--nproc 2`; resume_from in distributed mode
//     equals the straight run;
//   - rank 0 alone writes the work dir;
//   - a killed rank makes the other exit with a clear message, a missing peer times out, bad
//     launcher settings are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "detkit/checkpoint.h"
#include "detkit/core/distributed.h"
#include "detkit/core/synthetic_data.h"
#include "test_support.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using detkit::testing::free_port;
using detkit::testing::ProcessResult;
using detkit::testing::run_detkit;
using detkit::testing::TempDir;
using detkit::testing::write_file;

/// The training config: MeanLossDetector (norm `norm`, or none), no random transform, images in
/// file order, 10 iterations, checkpoints every 4 (and at the end), evaluation every 5.
std::string config_text(const detkit::SyntheticDatasetSummary& data, const std::string& norm) {
  const std::string normalize =
      "{type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], "
      "to_rgb: true}";
  const std::string train_pipeline =
      "[{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}, {type: Resize, "
      "img_scale: [64, 64], keep_ratio: true}, " +
      normalize +
      ", {type: Pad, size_divisor: 32}, {type: DefaultFormatBundle}, "
      "{type: Collect, keys: [img, gt_bboxes, gt_labels]}]";
  const std::string test_pipeline =
      "[{type: LoadImageFromFile}, {type: MultiScaleFlipAug, img_scale: [64, 64], flip: false, "
      "transforms: [{type: Resize, keep_ratio: true}, " +
      normalize +
      ", {type: Pad, size_divisor: 32}, {type: ImageToTensor, keys: [img]}, "
      "{type: Collect, keys: [img]}]}]";
  return "model: {type: MeanLossDetector, channels: 4" +
         (norm.empty() ? std::string() : ", norm_cfg: {type: " + norm + "}") +
         "}\n"
         "data:\n"
         "  samples_per_gpu: 2\n"
         "  workers_per_gpu: 0\n"
         "  train_dataloader: {shuffle: false}\n"
         "  train: {type: CocoDataset, ann_file: " +
         data.train_json + ", img_prefix: " + data.train_dir + ", pipeline: " + train_pipeline +
         "}\n"
         "  val: {type: CocoDataset, ann_file: " +
         data.val_json + ", img_prefix: " + data.val_dir + ", pipeline: " + test_pipeline +
         "}\n"
         // With SyncBN, lr 0.2 amplifies float32 rounding (one BN over 2 images against two
         // ranks' partial sums, ~1e-7) to 2e-4 in 10 steps; at 0.02 both runs stay within 1e-7.
         "optimizer: {type: SGD, lr: " +
         std::string(norm.empty() ? "0.2" : "0.02") +
         ", momentum: 0.9, weight_decay: 0.0001}\n"
         "optimizer_config: {grad_clip: {max_norm: 0.5, norm_type: 2}}\n"
         "runner: {type: IterBasedRunner, max_iters: 10}\n"
         "checkpoint_config: {interval: 4, by_epoch: false}\n"
         "evaluation: {interval: 5, metric: bbox, iou_thrs: [0.1], by_epoch: false}\n"
         "log_config: {interval: 1, hooks: [{type: TextLoggerHook}]}\n"
         "custom_hooks: [{type: ExpMomentumEMAHook, momentum: 0.01, priority: 49}, "
         "{type: CheckInvalidLossHook, interval: 1}]\n";
}

/// The options every run shares.
std::vector<std::string> common_args(const std::string& config, const std::string& work_dir) {
  return {config, "--work-dir",      work_dir,   "--seed",
          "0",    "--deterministic", "--plugin", MEANLOSS_PLUGIN_FILE};
}

/// `detkit train` in one process with `samples_per_gpu` images per batch.
ProcessResult train_alone(const std::string& config, const std::string& work_dir) {
  std::vector<std::string> args = {"train"};
  for (const auto& a : common_args(config, work_dir))
    args.push_back(a);
  for (const char* a : {"--threads", "1", "--cfg-options", "data.samples_per_gpu=2"})
    args.push_back(a);
  return run_detkit(args);
}

/// `detkit dist-train` with `launch` (--nproc N ...) and batch 1 per process.
ProcessResult dist_train(const std::vector<std::string>& launch, const std::string& config,
                         const std::string& work_dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"dist-train"};
  args.insert(args.end(), launch.begin(), launch.end());
  for (const auto& a : common_args(config, work_dir))
    args.push_back(a);
  for (const char* a : {"--threads", "1", "--cfg-options", "data.samples_per_gpu=1"})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  return run_detkit(args);
}

/// The JSON log lines of a work dir (exactly one log is expected).
std::vector<std::string> json_lines(const std::string& work_dir) {
  std::vector<std::string> lines;
  int logs = 0;
  for (const auto& entry : fs::directory_iterator(work_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 9 || name.substr(name.size() - 9) != ".log.json") continue;
    ++logs;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
  }
  EXPECT_EQ(logs, 1) << work_dir;
  return lines;
}

/// The values of `key` in the JSON lines whose mode is `mode`, in order.
std::vector<double> logged(const std::vector<std::string>& lines, const std::string& mode,
                           const std::string& key) {
  std::vector<double> values;
  const std::regex value("\"" + key + "\": ([-0-9.eE+]+)");
  for (const auto& line : lines) {
    std::smatch m;
    if (line.find("\"mode\": \"" + mode + "\"") != std::string::npos &&
        std::regex_search(line, m, value))
      values.push_back(std::stod(m[1]));
  }
  return values;
}

/// Expects two checkpoints' weights to agree within `tolerance`.
void expect_same_weights(const std::string& a, const std::string& b, double tolerance) {
  const detkit::Checkpoint first = detkit::load_checkpoint(a);
  const detkit::Checkpoint second = detkit::load_checkpoint(b);
  ASSERT_EQ(first.state_dict.size(), second.state_dict.size());
  for (const auto& item : first.state_dict) {
    const torch::Tensor* other = second.state_dict.find(item.key());
    ASSERT_NE(other, nullptr) << item.key();
    EXPECT_TRUE(torch::allclose(item.value().to(torch::kDouble), other->to(torch::kDouble),
                                tolerance, tolerance))
        << item.key() << ": " << item.value() << " vs " << *other;
  }
}

class DistributedTrainingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TempDir();
    detkit::SyntheticDatasetOptions o;
    o.out_dir = root_->file("data");
    o.num_train = 8;
    o.num_val = 4;
    o.num_classes = 1;
    o.image_width = 64;
    o.image_height = 64;
    o.seed = 5;
    data_ = new detkit::SyntheticDatasetSummary(detkit::generate_synthetic_dataset(o));
  }
  static void TearDownTestSuite() {
    delete data_;
    delete root_;
  }
  /// The config for `norm` (written once).
  static std::string config(const std::string& norm) {
    const std::string path = root_->file("dist_" + (norm.empty() ? "none" : norm) + ".yaml");
    if (!fs::exists(path)) write_file(path, config_text(*data_, norm));
    return path;
  }
  /// The work dir of one process x batch 2 with `norm` (trained once per suite).
  static std::string trained_alone(const std::string& norm) {
    const std::string dir = work("alone_" + (norm.empty() ? std::string("none") : norm));
    if (!fs::exists(dir + "/iter_10.pth")) {
      const ProcessResult one = train_alone(config(norm), dir);
      EXPECT_EQ(one.exit_code, 0) << one.err;
    }
    return dir;
  }
  /// A fresh work dir.
  static std::string work(const std::string& name) { return root_->file(name); }

  static TempDir* root_;
  static detkit::SyntheticDatasetSummary* data_;
};
TempDir* DistributedTrainingTest::root_ = nullptr;
detkit::SyntheticDatasetSummary* DistributedTrainingTest::data_ = nullptr;

/// The equivalence tests, for each norm layer.
class DistributedEquivalenceTest : public DistributedTrainingTest,
                                   public ::testing::WithParamInterface<std::string> {};

TEST_P(DistributedEquivalenceTest, TwoProcessesOfBatchOneEqualOneProcessOfBatchTwo) {
  ASSERT_TRUE(detkit::distributed_available()) << "detkit was built without libgloo-dev";
  const std::string norm = GetParam();
  const std::string cfg = config(norm);
  const std::string alone = trained_alone(norm), dist = work("dist_" + norm);
  const ProcessResult two =
      dist_train({"--nproc", "2", "--master-port", std::to_string(free_port())}, cfg, dist);
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_NE(two.out.find("[rank 0] "), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("Distributed training: 2 processes"), std::string::npos) << two.out;
  // Rank 1 trains silently: rank 0 logs for the run.
  EXPECT_EQ(two.out.find("[rank 1] "), std::string::npos) << two.out;

  expect_same_weights(alone + "/iter_10.pth", dist + "/iter_10.pth", 1e-5);
  expect_same_weights(alone + "/iter_4.pth", dist + "/iter_4.pth", 1e-5);
  expect_same_weights(alone + "/iter_8.pth", dist + "/iter_8.pth", 1e-5);
  const auto lines_one = json_lines(alone), lines_two = json_lines(dist);
  const std::vector<double> loss_one = logged(lines_one, "train", "loss");
  const std::vector<double> loss_two = logged(lines_two, "train", "loss");
  ASSERT_EQ(loss_one.size(), 10u);
  ASSERT_EQ(loss_two.size(), 10u);
  for (size_t i = 0; i < loss_one.size(); ++i)
    EXPECT_NEAR(loss_one[i], loss_two[i], 2e-5) << "iteration " << i + 1;
  EXPECT_GT(loss_one.front() - loss_one.back(), 0.01) << "the model did not learn";
  // Evaluation after 5 and 10 iterations: each rank predicts 2 of the 4 images, rank 0
  // evaluates all of them in dataset order.
  const std::vector<double> ap_one = logged(lines_one, "val", "bbox_mAP");
  const std::vector<double> ap_two = logged(lines_two, "val", "bbox_mAP");
  ASSERT_EQ(ap_one.size(), 2u);
  EXPECT_EQ(ap_one, ap_two);

  // Only rank 0 wrote into the work dir: one text log, one JSON log, one dumped config.
  int logs = 0;
  for (const auto& entry : fs::directory_iterator(dist))
    logs += entry.path().extension() == ".log";
  EXPECT_EQ(logs, 1);
}

INSTANTIATE_TEST_SUITE_P(Norm, DistributedEquivalenceTest, ::testing::Values("", "SyncBN"),
                         [](const auto& info) { return info.param.empty() ? "NoNorm" : "SyncBN"; });

/// torchrun's variables for `rank` of `world` on `port`.
std::vector<std::string> rank_env(int rank, int world, int port) {
  return {"RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(world),
          "LOCAL_RANK=" + std::to_string(rank), "MASTER_ADDR=127.0.0.1",
          "MASTER_PORT=" + std::to_string(port)};
}

/// `detkit train --launcher pytorch` arguments of a long run (evaluation and checkpoints off).
std::vector<std::string> long_run(const std::string& config, const std::string& work_dir,
                                  const std::string& timeout_s) {
  std::vector<std::string> args = {"train"};
  for (const auto& a : common_args(config, work_dir))
    args.push_back(a);
  for (const std::string a : {"--launcher", "pytorch", "--dist-timeout"})
    args.push_back(a);
  args.push_back(timeout_s);
  for (const char* a :
       {"--threads", "1", "--cfg-options", "data.samples_per_gpu=1", "runner.max_iters=100000000",
        "evaluation.interval=100000000", "checkpoint_config.interval=100000000"})
    args.push_back(a);
  return args;
}

TEST_F(DistributedTrainingTest, KillingOneRankMakesTheOtherExitWithAClearMessage) {
  const int port = free_port();
  const std::string dir = work("killed");
  auto rank0 = detkit::testing::start_detkit(long_run(config(""), dir, "60"), rank_env(0, 2, port));
  auto rank1 = detkit::testing::start_detkit(long_run(config(""), dir, "60"), rank_env(1, 2, port));
  // Mid-training: rank 0's JSON log has 20 training lines.
  const auto start = std::chrono::steady_clock::now();
  bool training = false;
  while (!training && std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().string().find(".log.json") == std::string::npos) continue;
      const std::string log = detkit::testing::read_file(entry.path().string());
      size_t lines = 0;
      for (size_t at = log.find("\"mode\": \"train\""); at != std::string::npos;
           at = log.find("\"mode\": \"train\"", at + 1))
        ++lines;
      training = lines >= 20;
    }
  }
  ::kill(rank1.pid, SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  const ProcessResult survivor = detkit::testing::wait_process(rank0);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  detkit::testing::wait_process(rank1);
  ASSERT_TRUE(training) << "rank 0 never logged its 20th iteration";
  EXPECT_EQ(survivor.exit_code, 1) << survivor.err;
  EXPECT_LT(waited, 60.0);
  EXPECT_NE(survivor.err.find("failed on rank 0 of 2"), std::string::npos) << survivor.err;
  EXPECT_NE(survivor.err.find("a peer died or did not answer within 60 s"), std::string::npos)
      << survivor.err;
}

TEST_F(DistributedTrainingTest, APeerThatNeverComesTimesOutAndNothingIsWritten) {
  const std::string dir = work("lonely");
  const std::vector<std::string> args = long_run(config(""), dir, "2");
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult alone = run_detkit(args, rank_env(0, 2, free_port()));
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(alone.exit_code, 1) << alone.err;
  EXPECT_LT(took, 15.0);  // the 2 s timeout once, plus start-up (measured: 3.6 s for 3 s)
  EXPECT_NE(alone.err.find("rank 0 of 2 could not join the group at 127.0.0.1:"), std::string::npos)
      << alone.err;
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(DistributedTrainingTest, BadLauncherSettingsAreRefused) {
  const std::string cfg = config("");
  const std::vector<std::string> base = {"train", cfg, "--plugin", MEANLOSS_PLUGIN_FILE};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const ProcessResult launcher = run_detkit(with({"--launcher", "mpi"}));
  EXPECT_EQ(launcher.exit_code, 2);
  EXPECT_NE(launcher.err.find("--launcher must be none, pytorch or slurm"), std::string::npos);
  const ProcessResult timeout = run_detkit(with({"--launcher", "pytorch", "--dist-timeout", "0"}));
  EXPECT_EQ(timeout.exit_code, 2);
  EXPECT_NE(timeout.err.find("--dist-timeout"), std::string::npos) << timeout.err;
  // torchrun's variables missing or wrong: named.
  const ProcessResult no_env = run_detkit(with({"--launcher", "pytorch"}),
                                          {"RANK=", "WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT="});
  EXPECT_EQ(no_env.exit_code, 1);
  EXPECT_NE(no_env.err.find("WORLD_SIZE is not set"), std::string::npos) << no_env.err;
  const ProcessResult bad_rank =
      run_detkit(with({"--launcher", "pytorch"}),
                 {"RANK=2", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=29500"});
  EXPECT_EQ(bad_rank.exit_code, 1);
  EXPECT_NE(bad_rank.err.find("RANK='2' is not an integer in [0, 1]"), std::string::npos)
      << bad_rank.err;
  const ProcessResult no_slurm = run_detkit(with({"--launcher", "slurm"}), {"SLURM_NTASKS="});
  EXPECT_EQ(no_slurm.exit_code, 1);
  EXPECT_NE(no_slurm.err.find("SLURM_NTASKS is not set"), std::string::npos) << no_slurm.err;
}

TEST_F(DistributedTrainingTest, SlurmLauncherReadsSlurmsVariables) {
  // One task of a Slurm job: its node list names the master; MASTER_PORT from the environment.
  const std::string dir = work("slurm");
  std::vector<std::string> args = {"train"};
  for (const auto& a : common_args(config(""), dir))
    args.push_back(a);
  for (const char* a : {"--threads", "1", "--launcher", "slurm", "--cfg-options",
                        "runner.max_iters=2", "evaluation.interval=2"})
    args.push_back(a);
  const ProcessResult run =
      run_detkit(args, {"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURM_NODELIST=localhost",
                        "MASTER_ADDR=", "MASTER_PORT=" + std::to_string(free_port())});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("Distributed training: 1 processes"), std::string::npos) << run.out;
  EXPECT_TRUE(fs::exists(dir + "/iter_2.pth"));
}

TEST_F(DistributedTrainingTest, TwoNodesOfOneProcessEqualOneNodeOfTwo) {
  // `dist-train --nnodes 2` started twice on one machine: two "nodes" of one process each.
  const std::string alone = trained_alone(""), dir = work("two_nodes");
  const std::string port = std::to_string(free_port());
  auto node = [&](const char* rank) {
    std::vector<std::string> args = {"dist-train", "--nproc",       "1",  "--nnodes",
                                     "2",          "--node-rank",   rank, "--master-addr",
                                     "127.0.0.1",  "--master-port", port};
    for (const auto& a : common_args(config(""), dir))
      args.push_back(a);
    for (const char* a : {"--threads", "1", "--cfg-options", "data.samples_per_gpu=1"})
      args.push_back(a);
    return detkit::testing::start_detkit(args);
  };
  auto second = node("1");
  auto first = node("0");
  const ProcessResult node0 = detkit::testing::wait_process(first);
  const ProcessResult node1 = detkit::testing::wait_process(second);
  ASSERT_EQ(node0.exit_code, 0) << node0.out << node0.err;
  ASSERT_EQ(node1.exit_code, 0) << node1.out << node1.err;
  expect_same_weights(alone + "/iter_10.pth", dir + "/iter_10.pth", 1e-5);
  EXPECT_EQ(logged(json_lines(alone), "val", "bbox_mAP"),
            logged(json_lines(dir), "val", "bbox_mAP"));
}

TEST_F(DistributedTrainingTest, ResumingInDistributedModeEqualsTheStraightRun) {
  const std::string alone = trained_alone(""), dir = work("resumed");
  const ProcessResult resumed =
      dist_train({"--nproc", "2", "--master-port", std::to_string(free_port())}, config(""), dir,
                 {"--resume-from", alone + "/iter_8.pth"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("resumed epoch"), std::string::npos) << resumed.out;
  EXPECT_FALSE(fs::exists(dir + "/iter_8.pth"));
  expect_same_weights(alone + "/iter_10.pth", dir + "/iter_10.pth", 1e-5);
}

TEST_F(DistributedTrainingTest, BenchmarkDistTimesOneProcessBesideTwo) {
  // A smoke run of `detkit benchmark dist` on the demo RetinaNet (3 iterations of 2 images):
  // both rows, the all-reduce share and the ratio, measured in the same run.
  const ProcessResult run =
      run_detkit({"benchmark", "dist",
                  std::string(DETKIT_SOURCE_DIR) + "/configs/demo/retinanet_r18_fpn_synth.yaml",
                  "--iters", "3", "--warmup", "1", "--batch", "2", "--threads", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("1 process x 2 threads"), std::string::npos) << run.out;
  const std::regex row(
      "2 processes x 1 thread\\(s\\) +[0-9.]+ +[0-9.]+ +[0-9.]+ +0\\.[0-9]+ +[0-9.]+%");
  EXPECT_TRUE(std::regex_search(run.out, row)) << run.out;
  EXPECT_NE(run.out.find("throughput, 2 processes / 1 process: "), std::string::npos);
  const ProcessResult odd = run_detkit({"benchmark", "dist", "--batch", "3"});
  EXPECT_EQ(odd.exit_code, 2);
  EXPECT_NE(odd.err.find("--batch must be a positive multiple of --nproc"), std::string::npos);
}

TEST_F(DistributedTrainingTest, ANanLossOnOneRankStopsEveryRankAtTheSameIteration) {
  // Rank 1's loss becomes NaN at its 3rd step: the logged loss is the mean over the ranks, so
  // CheckInvalidLossHook stops both ranks at iteration 3, neither waiting for the other.
  const ProcessResult run =
      dist_train({"--nproc", "2", "--master-port", std::to_string(free_port())}, config(""),
                 work("nan"), {"model.nan_on_rank=1", "model.nan_at_step=3"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  for (const char* rank : {"[rank 0] ", "[rank 1] "}) {
    EXPECT_NE(run.err.find(std::string(rank) +
                           "detkit train: error: loss became infinite or NaN: loss_box = nan"),
              std::string::npos)
        << run.err;
  }
  EXPECT_EQ(run.err.find("failed on rank"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("(3 in all)"), std::string::npos) << run.err;
}

}  // namespace
