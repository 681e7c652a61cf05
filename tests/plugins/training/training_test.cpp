// `detkit train` and `detkit test` end to end on a tiny RetinaNet (the SDK template's MobileNet
// and neck) and a tiny synthetic dataset (see CMakeLists.txt for the list). Every run is
// deterministic (seeded, one thread, loader in the main thread), so runs can be compared number for
// number.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "detkit/checkpoint.h"
#include "detkit/core/synthetic_data.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using detkit::testing::run_detkit;
using detkit::testing::run_process;
using detkit::testing::TempDir;
using detkit::testing::write_file;

/// The synthetic dataset shared by the tests (generated once).
const detkit::SyntheticDatasetSummary& dataset(const std::string& root) {
  static detkit::SyntheticDatasetSummary summary = [&] {
    detkit::SyntheticDatasetOptions o;
    o.out_dir = root;
    o.num_train = 8;
    o.num_val = 4;
    o.num_classes = 3;
    o.image_width = 64;
    o.image_height = 64;
    o.seed = 3;
    return detkit::generate_synthetic_dataset(o);
  }();
  return summary;
}

/// A training config over the dataset; `extra` is appended (YAML keys override by merging).
std::string config_text(const detkit::SyntheticDatasetSummary& data, const std::string& runner,
                        const std::string& extra = "", int num_classes = 3,
                        const std::string& classes = "") {
  const std::string norm =
      "{type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], "
      "to_rgb: true}";
  const std::string train_pipeline =
      "[{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}, "
      "{type: Resize, img_scale: [64, 64], keep_ratio: true}, {type: RandomFlip, flip_ratio: "
      "0.5}, " +
      norm +
      ", {type: Pad, size_divisor: 32}, {type: DefaultFormatBundle}, "
      "{type: Collect, keys: [img, gt_bboxes, gt_labels]}]";
  const std::string test_pipeline =
      "[{type: LoadImageFromFile}, {type: MultiScaleFlipAug, img_scale: [64, 64], flip: false, "
      "transforms: [{type: Resize, keep_ratio: true}, {type: RandomFlip}, " +
      norm +
      ", {type: Pad, size_divisor: 32}, {type: ImageToTensor, keys: [img]}, "
      "{type: Collect, keys: [img]}]}]";
  const std::string classes_line = classes.empty() ? "" : ", classes: " + classes;
  return "model:\n"
         "  type: RetinaNet\n"
         "  backbone: {type: MobileNet, widen_factor: 0.25, out_indices: [1, 2, 3]}\n"
         "  neck: {type: TemplateNeck, out_channels: 16, num_outs: 5}\n"
         "  bbox_head: {type: RetinaHead, num_classes: " +
         std::to_string(num_classes) +
         ", in_channels: 16, stacked_convs: 1, feat_channels: 16,\n"
         "    loss_cls: {type: FocalLoss, use_sigmoid: true, gamma: 2.0, alpha: 0.25, "
         "loss_weight: 1.0},\n"
         "    loss_bbox: {type: L1Loss, loss_weight: 1.0}}\n"
         "  train_cfg: {assigner: {type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, "
         "min_pos_iou: 0, ignore_iof_thr: -1}, allowed_border: -1, pos_weight: -1, debug: false}\n"
         "  test_cfg: {nms_pre: 100, min_bbox_size: 0, score_thr: 0.05, nms: {type: nms, "
         "iou_threshold: 0.5}, max_per_img: 20}\n"
         "data:\n"
         "  samples_per_gpu: 2\n"
         "  workers_per_gpu: 0\n"
         "  train: {type: CocoDataset, ann_file: " +
         data.train_json + ", img_prefix: " + data.train_dir + ", pipeline: " + train_pipeline +
         classes_line +
         "}\n"
         "  val: {type: CocoDataset, ann_file: " +
         data.val_json + ", img_prefix: " + data.val_dir + ", pipeline: " + test_pipeline +
         classes_line +
         "}\n"
         "  test: {type: CocoDataset, ann_file: " +
         data.val_json + ", img_prefix: " + data.val_dir + ", pipeline: " + test_pipeline +
         classes_line +
         "}\n"
         "optimizer: {type: SGD, lr: 0.01, momentum: 0.9, weight_decay: 0.0001}\n"
         "optimizer_config: {grad_clip: {max_norm: 35, norm_type: 2}}\n"
         "lr_config: {policy: step, warmup: linear, warmup_iters: 3, warmup_ratio: 0.1, step: "
         "[1]}\n"
         "runner: " +
         runner +
         "\n"
         "checkpoint_config: {interval: 1}\n"
         "log_config: {interval: 1, hooks: [{type: TextLoggerHook}]}\n" +
         extra;
}

/// `detkit train` with the test's fixed settings.
detkit::testing::ProcessResult train(const std::string& config, const std::string& work_dir,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"train",  config,     "--work-dir",        work_dir,
                                   "--seed", "0",        "--deterministic",   "--threads",
                                   "1",      "--plugin", TEMPLATE_PLUGIN_FILE};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_detkit(args);
}

/// The JSON log's training lines' "loss" values, in order.
std::vector<double> logged_losses(const std::string& work_dir) {
  std::vector<double> losses;
  std::vector<fs::path> logs;  // in name (= timestamp) order: the runs in the order they ran
  for (const auto& entry : fs::directory_iterator(work_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= 9 && name.substr(name.size() - 9) == ".log.json")
      logs.push_back(entry.path());
  }
  std::sort(logs.begin(), logs.end());
  for (const auto& log : logs) {
    std::ifstream in(log);
    std::string line;
    const std::regex train_loss("\"mode\": \"train\".*\"loss\": ([-0-9.eE+]+)");
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, train_loss)) losses.push_back(std::stod(m[1]));
    }
  }
  return losses;
}

class TrainingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { root_ = new TempDir(); }
  static void TearDownTestSuite() { delete root_; }
  static const detkit::SyntheticDatasetSummary& data() { return dataset(root_->file("data")); }
  /// Writes a config into the temp root and returns its path.
  static std::string write_config(const std::string& name, const std::string& text) {
    const std::string path = root_->file(name);
    write_file(path, text);
    return path;
  }
  static TempDir* root_;
};
TempDir* TrainingTest::root_ = nullptr;

TEST_F(TrainingTest, TrainsWritesMmdetectionsWorkDirLayoutAndCheckpointsPythonReads) {
  const std::string config =
      write_config("epochs.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 2}",
                                              "evaluation: {interval: 1, metric: bbox}\n"
                                              "workflow: [[train, 1], [val, 1]]\n"));
  const std::string work = root_->file("work_epochs");
  const auto run = train(config, work);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  for (const char* file : {"epoch_1.pth", "epoch_2.pth", "latest.pth", "epochs.yaml"})
    EXPECT_TRUE(fs::exists(fs::path(work) / file)) << file;
  EXPECT_EQ(fs::read_symlink(fs::path(work) / "latest.pth").string(), "epoch_2.pth");
  // The text log has MMDetection's line format.
  EXPECT_TRUE(
      std::regex_search(run.out, std::regex(R"(Epoch \[2\]\[4/4\]\s+lr: [0-9.]+e-0[0-9], eta: )")))
      << run.out;
  EXPECT_NE(run.out.find("bbox_mAP"), std::string::npos) << run.out;
  // The val phase of the workflow logs its losses on data.val.
  EXPECT_TRUE(std::regex_search(run.out, std::regex(R"(Epoch\(val\) \[2\]\[2\]\s+loss_cls: )")))
      << run.out;
  EXPECT_EQ(logged_losses(work).size(), 8u);
  // Python reads the checkpoint: MMDetection's layout, the optimizer's state_dict layout.
  const auto python = run_process(
      {"/usr/bin/python3", "-c",
       "import sys, torch\n"
       "c = torch.load(sys.argv[1], map_location='cpu')\n"
       "print(sorted(c.keys()))\n"
       "print(c['meta']['epoch'], c['meta']['iter'], list(c['meta']['CLASSES']))\n"
       "o = c['optimizer']\n"
       "print(len(o['param_groups']), len(o['state']), o['param_groups'][0]['momentum'])\n"
       "print(c['state_dict']['bbox_head.retina_cls.weight'].shape)\n",
       (fs::path(work) / "epoch_2.pth").string()});
  ASSERT_EQ(python.exit_code, 0) << python.err;
  EXPECT_NE(python.out.find("['meta', 'optimizer', 'rng', 'state_dict']"), std::string::npos)
      << python.out;
  EXPECT_NE(python.out.find("2 8 "), std::string::npos) << python.out;
  EXPECT_TRUE(std::regex_search(python.out, std::regex("\n1 [0-9]+ 0.9\n"))) << python.out;
  // Training again into the same folder keeps the first run's log files.
  const auto again = train(config, work, {"--cfg-options", "runner.max_epochs=1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  int logs = 0;
  for (const auto& entry : fs::directory_iterator(work))
    logs += entry.path().extension() == ".log";
  EXPECT_EQ(logs, 2);
}

TEST_F(TrainingTest, ResumedRunEqualsAStraightRun) {
  const std::string straight_cfg =
      write_config("straight.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 2}"));
  const std::string first_cfg =
      write_config("first.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}"));
  const std::string straight = root_->file("work_straight");
  const std::string split = root_->file("work_split");
  ASSERT_EQ(train(straight_cfg, straight).exit_code, 0);
  ASSERT_EQ(train(first_cfg, split).exit_code, 0);
  // Resume from the checkpoint as Python re-saves it (torch.load + torch.save): detkit reads
  // what Python writes, optimizer and RNG state included.
  const std::string resaved = root_->file("resaved.pth");
  const auto python = run_process({"/usr/bin/python3", "-c",
                                   "import sys, torch\n"
                                   "torch.save(torch.load(sys.argv[1]), sys.argv[2])\n",
                                   split + "/epoch_1.pth", resaved});
  ASSERT_EQ(python.exit_code, 0) << python.err;
  const auto resumed = train(straight_cfg, split, {"--resume-from", resaved});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("resumed epoch 1, iter 4"), std::string::npos) << resumed.out;
  const auto a = detkit::load_checkpoint(straight + "/epoch_2.pth");
  const auto b = detkit::load_checkpoint(split + "/epoch_2.pth");
  ASSERT_EQ(a.state_dict.size(), b.state_dict.size());
  for (const auto& item : a.state_dict) {
    const torch::Tensor& other = b.state_dict[item.key()];
    EXPECT_TRUE(torch::allclose(item.value().to(torch::kDouble), other.to(torch::kDouble), 0, 1e-6))
        << item.key();
  }
  const std::vector<double> la = logged_losses(straight), lb = logged_losses(split);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_NEAR(la[i], lb[i], 1e-6) << "iteration " << i;
}

TEST_F(TrainingTest, LoadFromReportsTheReinitialisedHead) {
  const std::string base_cfg =
      write_config("base.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}"));
  const std::string base = root_->file("work_base");
  ASSERT_EQ(train(base_cfg, base).exit_code, 0);
  const auto& names = data().class_names;
  const std::string subset = "[" + names[0] + ", " + names[1] + "]";
  const std::string finetune_cfg = write_config(
      "finetune.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}",
                                   "load_from: " + base + "/epoch_1.pth\n", 2, subset));
  const auto run = train(finetune_cfg, root_->file("work_finetune"));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("size mismatch for bbox_head.retina_cls.weight"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("load checkpoint from local path"), std::string::npos);
}

TEST_F(TrainingTest, MisspeltKeysAreRefusedBeforeAnythingRuns) {
  // MMDetection would train with the defaults of what it cannot read; detkit names each key,
  // its line and the key it probably means, and writes nothing.
  std::string text =
      config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}", "log_confg: {interval: 1}\n");
  text.replace(text.find("samples_per_gpu"), 15, "sample_per_gpu");
  const std::string cfg = write_config("misspelt.yaml", text);
  const std::string work = root_->file("misspelt_work");
  const auto run = train(cfg, work);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("2 error(s) in the config"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("log_confg: unknown key 'log_confg' in the config; did you mean "
                         "'log_config'?"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("did you mean 'samples_per_gpu'?"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("misspelt.yaml:"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(work));
  // `test` and `infer` check the config the same way, before reading the checkpoint.
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"test", cfg, root_->file("none.pth"), "--eval", "bbox", "--plugin",
                                 TEMPLATE_PLUGIN_FILE},
        std::vector<std::string>{"infer", cfg, root_->file("none.pth"), data().val_dir, "--out-dir",
                                 root_->file("misspelt_infer"), "--plugin",
                                 TEMPLATE_PLUGIN_FILE}}) {
    const auto refused = run_detkit(command);
    EXPECT_EQ(refused.exit_code, 1) << command[0] << ": " << refused.err;
    EXPECT_NE(refused.err.find("did you mean 'log_config'?"), std::string::npos)
        << command[0] << ": " << refused.err;
  }
}

TEST_F(TrainingTest, BadInputGivesClearErrorsAndExitCodes) {
  const std::string cfg =
      write_config("bad.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}"));
  // Bad command lines: exit 2.
  EXPECT_EQ(run_detkit({"train"}).exit_code, 2);
  EXPECT_EQ(run_detkit({"train", cfg, "--threads", "-1"}).exit_code, 2);
  EXPECT_EQ(run_detkit({"train", cfg, "--seed", "-3"}).exit_code, 2);
  EXPECT_EQ(run_detkit({"train", cfg, "--no-such-option"}).exit_code, 2);
  // A resume file that is missing, not a checkpoint, truncated.
  const auto missing = train(cfg, root_->file("w1"), {"--resume-from", root_->file("nope.pth")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.pth"), std::string::npos) << missing.err;
  write_file(root_->file("garbage.pth"), "this is not a checkpoint");
  const auto garbage = train(cfg, root_->file("w2"), {"--resume-from", root_->file("garbage.pth")});
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_NE(garbage.err.find("garbage.pth"), std::string::npos) << garbage.err;
  // A truncated checkpoint, and one of another model (other head shapes).
  const std::string good_work = root_->file("w_good");
  ASSERT_EQ(train(cfg, good_work).exit_code, 0);
  {
    std::ifstream in(good_work + "/epoch_1.pth", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_file(root_->file("truncated.pth"), bytes.substr(0, bytes.size() / 2));
  }
  const auto truncated =
      train(cfg, root_->file("w4"), {"--resume-from", root_->file("truncated.pth")});
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_NE(truncated.err.find("truncated.pth"), std::string::npos) << truncated.err;
  const auto other_model = train(cfg, root_->file("w5"),
                                 {"--resume-from", good_work + "/epoch_1.pth", "--cfg-options",
                                  "model.bbox_head.feat_channels=8"});
  EXPECT_EQ(other_model.exit_code, 1);
  EXPECT_NE(other_model.err.find("size mismatch"), std::string::npos) << other_model.err;
  // An unwritable work dir (under a regular file).
  write_file(root_->file("plain_file"), "x");
  const auto unwritable = train(cfg, root_->file("plain_file") + "/work");
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.err.find("cannot create the work dir"), std::string::npos) << unwritable.err;
  // `config check` builds policies and hooks (no optimizer, no runner): their checks fail
  // there, before any training; custom_hooks may carry MMCV's `priority`.
  const std::string checked = write_config(
      "checked.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}",
                                  "custom_hooks: [{type: NumClassCheckHook, priority: 49}]\n"));
  const auto ok = run_detkit({"config", "check", checked, "--plugin", TEMPLATE_PLUGIN_FILE});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  const auto bad_check =
      run_detkit({"config", "check", checked, "--plugin", TEMPLATE_PLUGIN_FILE, "--cfg-options",
                  "lr_config.step=[3,1]", "checkpoint_config.filename_tmpl=ckpt.pth"});
  EXPECT_EQ(bad_check.exit_code, 1);
  EXPECT_NE((bad_check.out + bad_check.err).find("steps must be increasing"), std::string::npos)
      << bad_check.out << bad_check.err;
  EXPECT_NE((bad_check.out + bad_check.err).find("filename_tmpl must contain"), std::string::npos)
      << bad_check.out << bad_check.err;
  const auto bad_priority =
      train(checked, root_->file("w6"), {"--cfg-options", "custom_hooks.0.priority=SUPER"});
  EXPECT_EQ(bad_priority.exit_code, 1);
  EXPECT_NE(bad_priority.err.find("priority must be an int in [0, 100] or one of"),
            std::string::npos)
      << bad_priority.err;
  EXPECT_EQ(run_detkit({"train", cfg, "--work-dir", ""}).exit_code, 2);
  // A runner with both limits (MMCV's message).
  const auto both = train(cfg, root_->file("w3"), {"--cfg-options", "runner.max_iters=3"});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("Only one of `max_epochs` or `max_iters` can be set."), std::string::npos)
      << both.err;
}

TEST_F(TrainingTest, AFileSizeLimitDuringASaveKeepsThePreviousCheckpoint) {
  const std::string cfg =
      write_config("limit.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 2}"));
  const std::string first_cfg =
      write_config("limit1.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}"));
  const std::string work = root_->file("work_limit");
  ASSERT_EQ(train(first_cfg, work).exit_code, 0);
  const auto size = fs::file_size(fs::path(work) / "epoch_1.pth");
  // The resumed run may write files of at most half a checkpoint: its save fails.
  const std::string command = "ulimit -f " + std::to_string(size / 1024 / 2) + "; exec " +
                              DETKIT_CLI + " train " + cfg + " --work-dir " + work +
                              " --seed 0 --threads 1 --plugin " + TEMPLATE_PLUGIN_FILE +
                              " --resume-from " + work + "/epoch_1.pth";
  const auto run = run_process({"/bin/bash", "-c", command});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_FALSE(run.signaled);
  EXPECT_NE(run.err.find("epoch_2.pth"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(fs::path(work) / "epoch_2.pth"));
  EXPECT_EQ(fs::read_symlink(fs::path(work) / "latest.pth").string(), "epoch_1.pth");
  EXPECT_NO_THROW(detkit::load_checkpoint(work + "/latest.pth"));
}

TEST_F(TrainingTest, ARunKilledWhileSavingLeavesLoadableCheckpoints) {
  const std::string cfg =
      write_config("kill.yaml", config_text(data(), "{type: IterBasedRunner, max_iters: 100000}"));
  const std::string work = root_->file("work_kill");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl(DETKIT_CLI, DETKIT_CLI, "train", cfg.c_str(), "--work-dir", work.c_str(), "--seed", "0",
          "--threads", "1", "--plugin", TEMPLATE_PLUGIN_FILE, "--cfg-options",
          "lr_config.by_epoch=false", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it at an arbitrary moment once it has saved a few checkpoints (most of its time is
  // spent saving one per iteration).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(fs::path(work) / "iter_3.pth") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(137));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(fs::path(work) / "latest.pth"));
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(work)) {
    if (entry.path().extension() != ".pth") continue;
    EXPECT_NO_THROW(detkit::load_checkpoint(entry.path().string())) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 4);
  const auto resumed = train(cfg, work,
                             {"--resume-from", work + "/latest.pth", "--cfg-options",
                              "runner.max_iters=6", "lr_config.by_epoch=false"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
}

/// The value after "NAME: " in `text` (the numbers `detkit test --eval` prints), or NaN.
double printed_value(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + ": ([-0-9.]+)\n"))) return std::nan("");
  return std::stod(m[1]);
}

TEST_F(TrainingTest, TestAndInferRunATrainedModel) {
  const std::string cfg =
      write_config("tested.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}"));
  const std::string work = root_->file("work_tested");
  ASSERT_EQ(train(cfg, work).exit_code, 0);
  const std::string checkpoint = work + "/epoch_1.pth";
  const std::string out = root_->file("results.json"), show = root_->file("drawn");
  // Every detection counts (an hour-old model scores low), so the metrics are not all zero.
  const std::vector<std::string> common = {"--plugin",
                                           TEMPLATE_PLUGIN_FILE,
                                           "--threads",
                                           "1",
                                           "--cfg-options",
                                           "model.test_cfg.score_thr=0.0",
                                           "model.test_cfg.max_per_img=100"};
  auto test = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"test", cfg, checkpoint});
    args.insert(args.end(), common.begin(), common.end());
    return run_detkit(args);
  };
  const auto run =
      test({"--eval", "bbox", "--out", out, "--show-dir", show, "--show-score-thr", "0"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  // The progress bar (stderr is a file here: one line per image at most, the last always).
  EXPECT_NE(run.err.find("test [####################] 4/4"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("Average Precision  (AP) @[ IoU=0.50:0.95"), std::string::npos) << run.out;
  int drawings = 0;
  for (const auto& entry : fs::directory_iterator(show))
    drawings += entry.path().extension() == ".jpg" || entry.path().extension() == ".png";
  EXPECT_EQ(drawings, 4);
  // `detkit eval coco` on the --out file gives the numbers --eval printed.
  const std::string eval_json = root_->file("eval.json");
  const auto eval = run_detkit({"eval", "coco", data().val_json, out, "--json", eval_json});
  ASSERT_EQ(eval.exit_code, 0) << eval.out << eval.err;
  const std::string stats = detkit::testing::read_file(eval_json);
  const char* keys[] = {"bbox_mAP",   "bbox_mAP_50", "bbox_mAP_75",
                        "bbox_mAP_s", "bbox_mAP_m",  "bbox_mAP_l"};
  std::smatch m;
  ASSERT_TRUE(std::regex_search(stats, m, std::regex(R"("stats": \[([^\]]*)\])"))) << stats;
  std::vector<double> expected;
  std::istringstream numbers(std::regex_replace(m[1].str(), std::regex(","), " "));
  for (double v; numbers >> v;)
    expected.push_back(v);
  ASSERT_GE(expected.size(), 6u);
  EXPECT_GT(expected[1], 0.0) << "some detections match: the comparison means something";
  for (size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(printed_value(run.out, keys[i]), expected[i], 6e-5) << keys[i] << "\n" << run.out;

  // A user's files are never replaced without --overwrite.
  const auto again = test({"--out", out});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("pass --overwrite"), std::string::npos) << again.err;
  const auto drawn_again = test({"--show-dir", show});
  EXPECT_EQ(drawn_again.exit_code, 2);
  EXPECT_NE(drawn_again.err.find("has files in it"), std::string::npos) << drawn_again.err;
  EXPECT_EQ(test({"--out", out, "--overwrite"}).exit_code, 0);
  // Not even --overwrite draws over the dataset's own images.
  const auto onto_images = test({"--show-dir", data().val_dir, "--overwrite"});
  EXPECT_EQ(onto_images.exit_code, 1);
  EXPECT_NE(onto_images.err.find("would replace the image itself"), std::string::npos)
      << onto_images.err;
  EXPECT_EQ(test({}).exit_code, 2) << "nothing to do";
  EXPECT_EQ(test({"--eval", "segm"}).exit_code, 2);

  // `detkit infer` on a folder with other files: each is skipped with a warning, the images
  // are inferred, with a progress bar.
  const std::string images = root_->file("infer_in"), infer_out = root_->file("infer_out");
  fs::create_directories(images);
  int copied = 0;
  for (const auto& entry : fs::directory_iterator(data().val_dir)) {
    if (copied++ < 2) fs::copy_file(entry.path(), fs::path(images) / entry.path().filename());
  }
  write_file(images + "/notes.txt", "not an image");
  write_file(images + "/broken.jpg", "not a JPEG either");
  const auto infer = run_detkit({"infer", cfg, checkpoint, images, "--out-dir", infer_out,
                                 "--plugin", TEMPLATE_PLUGIN_FILE, "--threads", "1"});
  ASSERT_EQ(infer.exit_code, 0) << infer.out << infer.err;
  EXPECT_NE(infer.err.find("warning: skipped " + images + "/notes.txt: not an image file"),
            std::string::npos)
      << infer.err;
  EXPECT_NE(infer.err.find("warning: skipped " + images + "/broken.jpg"), std::string::npos)
      << infer.err;
  EXPECT_NE(infer.err.find("infer [####################] 3/3"), std::string::npos) << infer.err;
  EXPECT_NE(infer.out.find("wrote 2 image(s)"), std::string::npos) << infer.out;
  if (!torch::cuda::is_available()) {
    const auto cuda = run_detkit({"infer", cfg, checkpoint, images, "--out-dir", infer_out,
                                  "--force", "--device", "cuda", "--plugin", TEMPLATE_PLUGIN_FILE});
    EXPECT_EQ(cuda.exit_code, 1);
    EXPECT_NE(cuda.err.find("no CUDA device is available"), std::string::npos) << cuda.err;
  }
}

TEST_F(TrainingTest, AFasterRCNNTrainsEvaluatesAndTestsFromTheCli) {
  // The two-stage detector through the whole runner: its five logged values, validation with
  // the COCO metric, checkpoints, `detkit test`.
  std::string text = config_text(data(), "{type: EpochBasedRunner, max_epochs: 2}",
                                 "evaluation: {interval: 2, metric: bbox}\n");
  const std::string model =
      "model:\n"
      "  type: FasterRCNN\n"
      "  backbone: {type: ResNet, depth: 18, base_channels: 8, norm_eval: false, "
      "frozen_stages: -1}\n"
      "  neck: {type: FPN, in_channels: [8, 16, 32, 64], out_channels: 16, num_outs: 5}\n"
      "  rpn_head: {type: RPNHead, in_channels: 16, feat_channels: 16,\n"
      "    anchor_generator: {type: AnchorGenerator, scales: [4], ratios: [0.5, 1.0, 2.0], "
      "strides: [4, 8, 16, 32, 64]}}\n"
      "  roi_head: {type: StandardRoIHead,\n"
      "    bbox_roi_extractor: {type: SingleRoIExtractor, out_channels: 16, "
      "featmap_strides: [4, 8, 16, 32],\n"
      "      roi_layer: {type: RoIAlign, output_size: 7, sampling_ratio: 0}},\n"
      "    bbox_head: {type: Shared2FCBBoxHead, in_channels: 16, fc_out_channels: 32, "
      "num_classes: 3}}\n"
      "  test_cfg: {rcnn: {score_thr: 0.0}}\n";
  text.replace(0, text.find("data:\n"), model);
  const std::string cfg = write_config("faster_rcnn.yaml", text);
  const std::string work = root_->file("work_faster_rcnn");
  const auto run = train(cfg, work);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(std::regex_search(
      run.out, std::regex(R"(Epoch \[2\]\[4/4\].*loss_rpn_cls: [0-9.]+, loss_rpn_bbox: [0-9.]+, )"
                          R"(loss_cls: [0-9.]+, acc: [0-9.]+, loss_bbox: [0-9.]+, loss: [0-9.]+)")))
      << run.out;
  EXPECT_NE(run.out.find("bbox_mAP"), std::string::npos) << run.out;
  EXPECT_EQ(logged_losses(work).size(), 8u);
  const auto test =
      run_detkit({"test", cfg, work + "/epoch_2.pth", "--eval", "bbox", "--threads", "1"});
  ASSERT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_NE(test.out.find("Average Precision  (AP) @[ IoU=0.50:0.95"), std::string::npos)
      << test.out;
}

TEST_F(TrainingTest, TestCommandReportsBadCheckpointsClearly) {
  const std::string cfg =
      write_config("bad_ckpt.yaml", config_text(data(), "{type: EpochBasedRunner, max_epochs: 1}"));
  const std::string work = root_->file("work_bad_ckpt");
  ASSERT_EQ(train(cfg, work).exit_code, 0);
  const std::string checkpoint = work + "/epoch_1.pth";
  auto test = [&](const std::string& ckpt, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "test", cfg, ckpt, "--eval", "bbox", "--plugin", TEMPLATE_PLUGIN_FILE, "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_detkit(args);
  };
  // Another architecture: a wider backbone (other shapes) and a deeper head (missing tensors).
  const auto other = test(checkpoint, {"--cfg-options", "model.backbone.widen_factor=0.5",
                                       "model.bbox_head.stacked_convs=2"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("does not fit the config's model"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find("missing from the checkpoint: bbox_head.cls_convs.1"), std::string::npos)
      << other.err;
  EXPECT_NE(other.err.find("tensor(s) of another shape"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find(" more)"), std::string::npos) << "long lists are cut: " << other.err;
  EXPECT_LT(other.err.size(), 4000u) << other.err;
  // A missing and a truncated checkpoint.
  const auto missing = test(root_->file("nope.pth"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.pth"), std::string::npos) << missing.err;
  {
    std::ifstream in(checkpoint, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_file(root_->file("cut.pth"), bytes.substr(0, bytes.size() / 2));
  }
  const auto truncated = test(root_->file("cut.pth"));
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_NE(truncated.err.find("cut.pth"), std::string::npos) << truncated.err;
  // A device this LibTorch does not have.
  if (!torch::cuda::is_available()) {
    const auto cuda = test(checkpoint, {"--device", "cuda"});
    EXPECT_EQ(cuda.exit_code, 1);
    EXPECT_NE(cuda.err.find("no CUDA device is available"), std::string::npos) << cuda.err;
  }
  EXPECT_EQ(test(checkpoint, {"--device", "tpu"}).exit_code, 2);
}

TEST_F(TrainingTest, CtrlCStopsBetweenIterationsAndTheRunResumes) {
  const std::string cfg = write_config(
      "ctrl_c.yaml", config_text(data(), "{type: IterBasedRunner, max_iters: 100000}"));
  const std::string work = root_->file("work_ctrl_c");
  const std::string log = root_->file("ctrl_c.err");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    execl(DETKIT_CLI, DETKIT_CLI, "train", cfg.c_str(), "--work-dir", work.c_str(), "--seed", "0",
          "--threads", "1", "--plugin", TEMPLATE_PLUGIN_FILE, "--cfg-options",
          "lr_config.by_epoch=false", static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(fs::path(work) / "iter_2.pth") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(child, SIGINT);
  int status = 0;
  waitpid(child, &status, 0);
  const std::string output = detkit::testing::read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping:\n" << output;
  EXPECT_EQ(WEXITSTATUS(status), 130) << output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      output, m,
      std::regex(R"(interrupted at epoch [0-9]+ iter ([0-9]+); last checkpoint: (\S+))")))
      << output;
  const int64_t stopped_at = std::stoll(m[1]);
  EXPECT_EQ(fs::path(m[2].str()).filename().string(),
            "iter_" + std::to_string(stopped_at) + ".pth");
  // The last complete checkpoint is latest.pth; resuming from it runs to the end.
  const auto latest = detkit::load_checkpoint(work + "/latest.pth");
  EXPECT_EQ(latest.meta.find("iter")->as_int(), stopped_at);
  for (const auto& entry : fs::directory_iterator(work))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  const std::string end = std::to_string(stopped_at + 2);
  const auto resumed = train(cfg, work,
                             {"--resume-from", work + "/latest.pth", "--cfg-options",
                              "runner.max_iters=" + end, "lr_config.by_epoch=false"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_TRUE(std::regex_search(
      resumed.out, std::regex("resumed epoch [0-9]+, iter " + std::to_string(stopped_at) + "\n")))
      << resumed.out;
  EXPECT_TRUE(fs::exists(fs::path(work) / ("iter_" + end + ".pth")));
}

}  // namespace
