// `detkit schedule` and the simulation behind it (detkit/core/schedule.h) on configs: the
// built-in optimizers, the schedulers plugin, the printed table, the JSON and the plot, and the
// exit codes (2: bad command line, 1: a config MMCV would refuse).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/curve_plot.h"
#include "detkit/core/schedule.h"
#include "detkit/core/training_log.h"
#include "detkit/error.h"
#include "test_support.h"

namespace detkit {
namespace {

const std::string kSchedule1x =
    std::string(DETKIT_SOURCE_DIR) + "/configs/_base_/schedules/schedule_1x.yaml";

/// A config file in `dir` with `text`; returns its path.
std::string config_file(const testing::TempDir& dir, const std::string& name,
                        const std::string& text) {
  testing::write_file(dir.file(name), text);
  return dir.file(name);
}

TEST(ScheduleCommand, PrintsWritesAndPlotsThe1xSchedule) {
  testing::TempDir dir;
  const auto r = testing::run_detkit({"schedule", kSchedule1x, "--iters-per-epoch", "60", "--json",
                                      dir.file("lr.json"), "--png", dir.file("lr.png")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* line :
       {"EpochBasedRunner: 12 epochs x 60 iterations = 720 iterations",
        "lr policy: StepLrUpdaterHook; momentum policy: none", "     479      7     59  0.0191608",
        "     480      8      0  0.00192008", "     500      8     20  0.002",
        "     660     11      0  0.0002", "     719     11     59  0.0002",
        "lr: 2e-05 at the start, 0.0002 at the end", "momentum: constant 0.9"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  // The warmup's 500 changing rows are shortened to its ends and the step inside it;
  // constant stretches print nothing.
  EXPECT_NE(r.out.find("     0      0  2e-05"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("     ... (478 iterations, a new value at each)\n     479      7     59"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(19 iterations, a new value at each)\n     500      8     20  0.002"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("     250 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("     501 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("assuming"), std::string::npos);

  const ConfigNode json = parse_yaml_text(testing::read_file(dir.file("lr.json")), "lr.json");
  ASSERT_EQ(json.at("lr").size(), 720u);
  ASSERT_EQ(json.at("momentum").size(), 720u);
  EXPECT_NEAR(json.at("lr").items()[0].items()[0].as_double(), 2e-5, 1e-15);
  EXPECT_NEAR(json.at("lr").items()[479].items()[0].as_double(), 0.01916084, 1e-12);
  EXPECT_NEAR(json.at("lr").items()[480].items()[0].as_double(), 0.00192008, 1e-12);
  EXPECT_DOUBLE_EQ(json.at("momentum").items()[719].items()[0].as_double(), 0.9);
  const std::string png = testing::read_file(dir.file("lr.png"));
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(ScheduleCommand, DefaultsTo100ItersPerEpochAndSaysSo) {
  const auto r = testing::run_detkit({"schedule", kSchedule1x});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("assuming 100 iterations per epoch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("12 epochs x 100 iterations = 1200 iterations"), std::string::npos);
  EXPECT_NE(r.out.find("     800      8      0  0.002"), std::string::npos) << r.out;
}

TEST(ScheduleCommand, MomentumAndIterationRunners) {
  testing::TempDir dir;
  const std::string config = config_file(
      dir, "cyclic.yaml",
      "optimizer: {type: AdamW, lr: 0.001, betas: [0.95, 0.99], paramwise_cfg: {norm_decay_mult: "
      "0.0}}\n"
      "lr_config: {policy: cyclic, target_ratio: [10, 1.0e-4], cyclic_times: 1, "
      "step_ratio_up: 0.4}\n"
      "momentum_config: {policy: cyclic, target_ratio: [0.8947, 1], cyclic_times: 1, "
      "step_ratio_up: 0.4}\n"
      "runner: {type: IterBasedRunner, max_iters: 50}\n");
  const auto r = testing::run_detkit({"schedule", config, "--iters-per-epoch", "20", "--json",
                                      dir.file("s.json"), "--cfg-options", "runner.max_iters=100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("IterBasedRunner: 100 iterations (20 per loader epoch)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("CyclicLrUpdaterHook; momentum policy: CyclicMomentumUpdaterHook"),
            std::string::npos)
      << r.out;
  const ConfigNode json = parse_yaml_text(testing::read_file(dir.file("s.json")), "s.json");
  ASSERT_EQ(json.at("lr").size(), 100u);
  // At the LR's peak (iteration 40) Adam's beta1 is at its lowest, 0.8947 * 0.95.
  EXPECT_NEAR(json.at("lr").items()[40].items()[0].as_double(), 0.01, 1e-15);
  EXPECT_NEAR(json.at("momentum").items()[40].items()[0].as_double(), 0.8947 * 0.95, 1e-15);
  EXPECT_DOUBLE_EQ(json.at("momentum").items()[0].items()[0].as_double(), 0.95);
}

TEST(ScheduleCommand, BadCommandLinesExitWith2) {
  const auto expect_usage = [](const std::vector<std::string>& args, const std::string& says) {
    const auto r = testing::run_detkit(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  };
  expect_usage({"schedule"}, "usage: detkit schedule");
  expect_usage({"schedule", "/nonexistent/config.yaml"}, "no such config file");
  expect_usage({"schedule", kSchedule1x, "--iters-per-epoch", "0"},
               "--iters-per-epoch must be > 0");
  expect_usage({"schedule", kSchedule1x, "--iters-per-epoch", "many"}, "iters-per-epoch");
  expect_usage({"schedule", kSchedule1x, "--plot", "x.png"}, "unrecognised option '--plot'");
}

TEST(ScheduleCommand, ConfigsMMCVRefusesExitWith1) {
  testing::TempDir dir;
  const std::string sgd = "optimizer: {type: SGD, lr: 0.02, momentum: 0.9}\n";
  const auto expect_config_error = [&](const std::string& name, const std::string& text,
                                       const std::string& says) {
    const auto r = testing::run_detkit({"schedule", config_file(dir, name, text)});
    EXPECT_EQ(r.exit_code, 1) << name << ": " << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << name << ": " << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  };
  expect_config_error("no_step.yaml",
                      sgd +
                          "lr_config: {policy: step}\nrunner: {type: EpochBasedRunner, "
                          "max_epochs: 2}\n",
                      "step is required");
  expect_config_error("iter_by_epoch.yaml",
                      sgd +
                          "lr_config: {policy: step, step: [8]}\nrunner: {type: "
                          "IterBasedRunner, max_iters: 100}\n",
                      "set by_epoch: false in lr_config");
  expect_config_error("no_runner.yaml", sgd + "lr_config: {policy: Fixed}\n",
                      "no 'runner' section");
  expect_config_error("unknown_policy.yaml",
                      sgd +
                          "lr_config: {policy: cosine}\nrunner: {type: EpochBasedRunner, "
                          "max_epochs: 2}\n",
                      "CosineLrUpdaterHook");
  expect_config_error("wrong_kind.yaml",
                      sgd +
                          "lr_config: {policy: step, step: 1}\nmomentum_config: {policy: Fixed}\n"
                          "runner: {type: EpochBasedRunner, max_epochs: 2}\n",
                      "FixedMomentumUpdaterHook");
  expect_config_error("no_optimizer.yaml", "runner: {type: EpochBasedRunner, max_epochs: 2}\n",
                      "no 'optimizer' section");
}

TEST(ScheduleSimulation, BuildsTheConfigsOptimizerAndPolicies) {
  testing::load_in_tree_plugins();
  const ConfigNode config = parse_yaml_text(
      "optimizer: {type: SGD, lr: 0.1, momentum: 0.9, constructor: DefaultOptimizerConstructor, "
      "paramwise_cfg: {bias_lr_mult: 2.0}}\n"
      "lr_config: {policy: step, step: 1, gamma: 0.5}\n"
      "momentum_config: null\n"
      "runner: {type: EpochBasedRunner, max_epochs: 3}\n",
      "config.yaml");
  const ScheduleTrace trace = simulate_config_schedule(config, 2);
  ASSERT_EQ(trace.lr.size(), 6u);
  EXPECT_EQ(trace.lr_policy, "StepLrUpdaterHook");
  EXPECT_EQ(trace.momentum_policy, "");
  EXPECT_TRUE(trace.has_momentum);
  EXPECT_DOUBLE_EQ(trace.lr[1][0], 0.1);
  EXPECT_DOUBLE_EQ(trace.lr[2][0], 0.05);
  EXPECT_DOUBLE_EQ(trace.lr[5][0], 0.025);
  // The text shows the first row, the steps and the last row only.
  const std::string text = format_schedule(trace);
  EXPECT_NE(text.find("       0      0      0  0.1"), std::string::npos) << text;
  EXPECT_EQ(text.find("       1      0      1"), std::string::npos) << text;
  EXPECT_NE(text.find("       5      2      1  0.025"), std::string::npos) << text;
  EXPECT_NE(format_schedule(trace, /*every_iteration=*/true).find("       1      0      1"),
            std::string::npos);
  EXPECT_EQ(schedule_json(trace).substr(0, 20), "{\"lr\": [[0.1], [0.1]");
}

/// A two-epoch MMCV .log.json (3 iterations per epoch, logged at 2 and 3; a val line per epoch),
/// as TextLoggerHook writes it: the meta line first.
const char* const kTrainingLog =
    "{\"env_info\": \"x\", \"seed\": 0, \"exp_name\": \"demo.yaml\"}\n"
    "{\"mode\": \"train\", \"epoch\": 1, \"iter\": 2, \"lr\": 0.01, \"time\": 0.5, "
    "\"loss\": 2.0}\n"
    "{\"mode\": \"train\", \"epoch\": 1, \"iter\": 3, \"lr\": 0.02, \"time\": 0.3, "
    "\"loss\": 1.5}\n"
    "{\"mode\": \"val\", \"epoch\": 1, \"iter\": 5, \"lr\": 0.02, \"bbox_mAP\": 0.1}\n"
    "{\"mode\": \"train\", \"epoch\": 2, \"iter\": 2, \"lr\": 0.02, \"time\": 0.25, "
    "\"loss\": 1.0}\n"
    "{\"mode\": \"train\", \"epoch\": 2, \"iter\": 3, \"lr\": 0.002, \"time\": 0.15, "
    "\"loss\": 0.75}\n"
    "{\"mode\": \"val\", \"epoch\": 2, \"iter\": 5, \"lr\": 0.002, \"bbox_mAP\": 0.3}\n";

TEST(AnalyzeLogs, CurvesFollowAnalyzeLogsPy) {
  testing::TempDir dir;
  testing::write_file(dir.file("run.log.json"), kTrainingLog);
  const TrainingLog log = read_training_log(dir.file("run.log.json"));
  ASSERT_EQ(log.entries.size(), 6u);  // the meta line is skipped
  // Train values against (epoch - 1) * iterations of epoch 1 + iter.
  const TrainingCurve loss = training_curve(log, "loss");
  EXPECT_EQ(loss.x_unit, "iter");
  EXPECT_EQ(loss.x, (std::vector<double>{2, 3, 5, 6}));
  EXPECT_EQ(loss.y, (std::vector<double>{2.0, 1.5, 1.0, 0.75}));
  // lr is in val lines too: the train lines win. Metrics are only in val lines: per epoch.
  EXPECT_EQ(training_curve(log, "lr").x.size(), 4u);
  const TrainingCurve map = training_curve(log, "bbox_mAP");
  EXPECT_EQ(map.x_unit, "epoch");
  EXPECT_EQ(map.x, (std::vector<double>{1, 2}));
  EXPECT_EQ(map.y, (std::vector<double>{0.1, 0.3}));
  try {
    training_curve(log, "los");
    FAIL() << "no error for an unknown key";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no key 'los' in the log; did you mean 'loss'?"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
}

TEST(AnalyzeLogs, PlotCurveAndCalTrainTimeCommands) {
  testing::TempDir dir;
  testing::write_file(dir.file("run.log.json"), kTrainingLog);
  auto r = testing::run_detkit({"analyze-logs", "plot_curve", dir.file("run.log.json"), "--keys",
                                "loss", "lr", "--out", dir.file("curves.png")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("metric is loss (4 points)"), std::string::npos) << r.out;
  const std::string png = testing::read_file(dir.file("curves.png"));
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // IHDR: width 1000, height 8 + one 380-pixel panel.
  EXPECT_EQ(png.substr(16, 8), std::string("\0\0\x03\xe8\0\0\x01\x84", 8));

  // Average iteration time without each epoch's first logged iteration: (0.3 + 0.15) / 2.
  r = testing::run_detkit({"analyze-logs", "cal_train_time", dir.file("run.log.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("slowest epoch 1, average time is 0.3000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fastest epoch 2, average time is 0.1500"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("average iter time: 0.2250 s/iter"), std::string::npos) << r.out;

  // Bad input: a line that is not JSON names the file and line; an unknown key is exit 1.
  testing::write_file(dir.file("bad.log.json"), std::string(kTrainingLog) + "{\"mode\": tra\n");
  r = testing::run_detkit({"analyze-logs", "plot_curve", dir.file("bad.log.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.log.json:8: not a JSON object"), std::string::npos) << r.err;
  r = testing::run_detkit({"analyze-logs", "plot_curve", dir.file("run.log.json"), "--keys", "x",
                           "--out", dir.file("x.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no key 'x' in the log"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.png")));
}

}  // namespace
}  // namespace detkit
