// The hooks plugin, built from YAML through the registry as the host builds it, driven by a fake
// runner that calls the hook points in MMCV's order (hooks sorted by priority, then registration
// order) and implements MMCV's LogBuffer: OptimizerHook (clipped step equal to torch's),
// GradientCumulativeOptimizerHook (equal to a big-batch step), IterTimerHook, TextLoggerHook
// (exact log lines; JSON lines read back by Python's json), CheckpointHook (names, interval,
// max_keep_ckpts, save_last, latest.pth), EvalHook (interval, start, save_best, rule inference),
// NumClassCheckHook, the EMA hooks (values against the formulas, swap), CheckInvalidLossHook,
// and the errors of bad parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/engine/hook.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using detkit::ConfigNode;
using detkit::HookBase;
using detkit::NamedValues;
using detkit::RunnerBase;

#define EXPECT_CONTAINS(TEXT, PART) \
  EXPECT_NE(std::string(TEXT).find(PART), std::string::npos) << "in: " << (TEXT)

/// Loads the hooks plugin (once per process).
void load_hooks_plugin() {
  static const bool loaded = [] {
    const auto report =
        detkit::testing::load_plugins({std::string(DETKIT_PLUGIN_DIR) + "/libdetkit-hooks.so"});
    EXPECT_TRUE(report.ok()) << report.str();
    return report.ok();
  }();
  ASSERT_TRUE(loaded);
}

/// A detector with a parameter `w` (2), a Linear `head` (2 -> 1) and a buffer `count`.
class TinyDetector : public detkit::DetectorBase {
 public:
  explicit TinyDetector(int64_t num_classes = 2) : num_classes_(num_classes) {
    w = register_parameter("w", torch::tensor({1.0f, -2.0f}));
    head = register_module("head", torch::nn::Linear(2, 1));
    count = register_buffer("count", torch::zeros({1}));
    torch::NoGradGuard no_grad;
    head->weight.copy_(torch::tensor({{0.5f, -0.25f}}));
    head->bias.fill_(0.1f);
  }
  detkit::LossDict loss(const detkit::ImageBatch&) override { return detkit::LossDict(); }
  std::vector<detkit::Instances> predict(const detkit::ImageBatch&) override { return {}; }
  std::vector<std::string> class_names() const override {
    std::vector<std::string> names;
    for (int64_t i = 0; i < num_classes_; ++i)
      names.push_back(std::to_string(i));
    return names;
  }

  torch::Tensor w;
  torch::nn::Linear head{nullptr};
  torch::Tensor count;

 private:
  int64_t num_classes_;
};

/// SGD behind the SDK's optimizer interface.
class FakeOptimizer : public detkit::OptimizerBase {
 public:
  FakeOptimizer(std::vector<torch::Tensor> params, double lr)
      : sgd_(std::move(params), torch::optim::SGDOptions(lr)) {}
  torch::optim::Optimizer& optimizer() override { return sgd_; }
  bool has_momentum() const override { return true; }
  double momentum(size_t) const override { return 0.0; }
  void set_momentum(size_t, double) override {}
  double setdefault(size_t, const std::string&, double value) override { return value; }

 private:
  torch::optim::SGD sgd_;
};

/// A runner for the hooks: MMCV's LogBuffer, meta, a checkpoint writer that writes empty files,
/// an evaluation that returns queued results, and a driver calling the points in MMCV's order.
class FakeRunner : public RunnerBase {
 public:
  explicit FakeRunner(const std::string& work_dir, int64_t num_classes = 2)
      : work_dir_(work_dir), model_(std::make_shared<TinyDetector>(num_classes)) {
    optimizer_ = std::make_unique<FakeOptimizer>(model_->parameters(), 0.02);
    meta_ = ConfigNode::make_map();
  }

  // ---- RunnerBase ----
  void run() override {}
  int64_t epoch() const override { return epoch_; }
  int64_t iter() const override { return iter_; }
  int64_t inner_iter() const override { return inner_iter_; }
  int64_t max_epochs() const override { return max_epochs_; }
  int64_t max_iters() const override {
    return by_epoch_ ? max_epochs_ * iters_per_epoch_ : max_iters_;
  }
  const std::string& work_dir() const override { return work_dir_; }
  detkit::DetectorBase& model() override { return *model_; }
  detkit::OptimizerBase* optimizer() override { return optimizer_.get(); }
  const std::string& mode() const override { return mode_; }
  int64_t iters_per_epoch() const override { return iters_per_epoch_; }
  bool by_epoch() const override { return by_epoch_; }
  torch::Tensor step_loss() const override { return step_loss_; }
  NamedValues step_log_vars() const override { return step_log_vars_; }
  int64_t step_num_samples() const override { return num_samples_; }

  void log_update(const std::string& key, double value, int64_t count) override {
    if (history_.find(key) == history_.end()) keys_.push_back(key);
    history_[key].emplace_back(value, count);
  }
  void log_average(int64_t n) override {
    for (const auto& key : keys_) {
      const auto& values = history_[key];
      const size_t first = n <= 0 ? 0 : values.size() - std::min<size_t>(n, values.size());
      double sum = 0.0;
      double counts = 0.0;
      for (size_t i = first; i < values.size(); ++i) {
        sum += values[i].first * static_cast<double>(values[i].second);
        counts += static_cast<double>(values[i].second);
      }
      log_put_output(key, sum / counts);
    }
    ready_ = true;
  }
  NamedValues log_output() const override { return output_; }
  void log_put_output(const std::string& key, double value) override {
    for (auto& item : output_) {
      if (item.first == key) {
        item.second = value;
        ready_ = true;
        return;
      }
    }
    output_.emplace_back(key, value);
    ready_ = true;
  }
  bool log_ready() const override { return ready_; }
  void log_clear_output() override {
    output_.clear();
    ready_ = false;
  }
  void log_clear() override {
    keys_.clear();
    history_.clear();
    log_clear_output();
  }
  void log_info(const std::string& line) override { lines.push_back(line); }
  const std::string& timestamp() const override { return timestamp_; }
  ConfigNode& meta() override { return meta_; }
  std::string save_checkpoint(const std::string& out_dir, const std::string& filename_tmpl,
                              bool save_optimizer, const ConfigNode& extra_meta,
                              bool create_symlink) override {
    fs::create_directories(out_dir);
    std::string name = filename_tmpl;
    const size_t at = name.find("{}");
    if (at != std::string::npos) {
      name.replace(at, 2, std::to_string(by_epoch_ ? epoch_ + 1 : iter_ + 1));
    }
    const std::string path = out_dir + "/" + name;
    detkit::testing::write_file(path, "");
    if (create_symlink) {
      fs::remove(out_dir + "/latest.pth");
      fs::create_symlink(name, out_dir + "/latest.pth");
    }
    saved.push_back(path);
    saved_optimizer.push_back(save_optimizer);
    saved_meta.push_back(extra_meta);
    return path;
  }
  NamedValues evaluate(const ConfigNode& options) override {
    eval_options.push_back(options);
    eval_epochs.push_back(by_epoch_ ? epoch_ + 1 : iter_ + 1);
    // What the host's evaluation does for the logger, as MMCV's EvalHook: the number of
    // evaluation batches.
    log_put_output("eval_iter_num", 5);
    if (eval_results.empty()) return {{"bbox_mAP", 0.25}, {"bbox_mAP_50", 0.5}};
    NamedValues results = eval_results.front();
    eval_results.pop_front();
    return results;
  }
  std::vector<std::string> dataset_classes() const override { return classes; }

  // ---- the driver ----

  /// Adds a hook built from YAML (with the runner as context), after the hooks of lower or
  /// equal priority.
  HookBase& add(const std::string& yaml, int priority = -1) {
    return add_hook(detkit::build<HookBase>(detkit::testing::parse_yaml(yaml, "hook.yaml"),
                                            "custom_hooks.0", detkit::HookContext{this}),
                    priority);
  }
  /// Adds `hook` with `priority` (-1: its default).
  HookBase& add_hook(std::shared_ptr<HookBase> hook, int priority = -1) {
    const int p = priority >= 0 ? priority : hook->default_priority();
    auto at = std::upper_bound(hooks_.begin(), hooks_.end(), p,
                               [](int value, const auto& item) { return value < item.first; });
    return *hooks_.insert(at, {p, std::move(hook)})->second;
  }
  /// Calls `point` of every hook in order.
  void call(void (HookBase::*point)(RunnerBase&)) {
    for (auto& item : hooks_)
      ((*item.second).*point)(*this);
  }
  void before_run() { call(&HookBase::before_run); }
  void after_run() { call(&HookBase::after_run); }

  /// One training epoch of `iters_per_epoch` iterations, each running `step` (which sets the
  /// step's loss and log variables) then recording the log variables as MMCV's run_iter does.
  void train_epoch(const std::function<void(FakeRunner&)>& step) {
    mode_ = "train";
    call(&HookBase::before_train_epoch);
    for (inner_iter_ = 0; inner_iter_ < iters_per_epoch_; ++inner_iter_) {
      train_iter(step);
    }
    inner_iter_ = iters_per_epoch_ - 1;
    call(&HookBase::after_train_epoch);
    ++epoch_;
  }
  /// One training iteration (IterBasedRunner: inner_iter is the global iteration).
  void train_iter(const std::function<void(FakeRunner&)>& step) {
    if (!by_epoch_) inner_iter_ = iter_;
    call(&HookBase::before_train_iter);
    step(*this);
    for (const auto& [key, value] : step_log_vars_)
      log_update(key, value, num_samples_);
    call(&HookBase::after_train_iter);
    ++iter_;
  }
  /// One validation epoch of `iters` iterations recording `log_vars`.
  void val_epoch(int64_t iters, const NamedValues& log_vars) {
    mode_ = "val";
    const int64_t train_iters = iters_per_epoch_;
    iters_per_epoch_ = iters;
    call(&HookBase::before_val_epoch);
    for (inner_iter_ = 0; inner_iter_ < iters; ++inner_iter_) {
      call(&HookBase::before_val_iter);
      for (const auto& [key, value] : log_vars)
        log_update(key, value, 1);
      call(&HookBase::after_val_iter);
    }
    inner_iter_ = iters - 1;
    call(&HookBase::after_val_epoch);
    mode_ = "train";
    iters_per_epoch_ = train_iters;
  }
  /// Sets the step's outputs.
  void set_step(torch::Tensor loss, NamedValues log_vars, int64_t num_samples = 2) {
    step_loss_ = std::move(loss);
    step_log_vars_ = std::move(log_vars);
    num_samples_ = num_samples;
  }
  /// The log buffer's output value of `key` (NaN when absent).
  double output(const std::string& key) const {
    for (const auto& item : output_) {
      if (item.first == key) return item.second;
    }
    return std::nan("");
  }
  TinyDetector& tiny() { return *model_; }
  /// A copy of the model's buffer `name`.
  torch::Tensor named_ema(const std::string& name) {
    return model_->named_buffers().find(name)->detach().clone();
  }

  int64_t epoch_ = 0;
  int64_t iter_ = 0;
  int64_t inner_iter_ = 0;
  int64_t max_epochs_ = 2;
  int64_t max_iters_ = 8;
  int64_t iters_per_epoch_ = 4;
  bool by_epoch_ = true;
  std::string mode_ = "train";
  std::vector<std::string> classes{"cat", "dog"};
  std::vector<std::string> lines;
  std::vector<std::string> saved;
  std::vector<bool> saved_optimizer;
  std::vector<ConfigNode> saved_meta;
  std::vector<ConfigNode> eval_options;
  std::vector<int64_t> eval_epochs;
  std::deque<NamedValues> eval_results;

 private:
  std::string work_dir_;
  std::string timestamp_ = "20261201_070000";
  std::shared_ptr<TinyDetector> model_;
  std::unique_ptr<FakeOptimizer> optimizer_;
  ConfigNode meta_;
  torch::Tensor step_loss_;
  NamedValues step_log_vars_;
  int64_t num_samples_ = 2;
  std::vector<std::string> keys_;
  std::map<std::string, std::vector<std::pair<double, int64_t>>> history_;
  NamedValues output_;
  bool ready_ = false;
  std::vector<std::pair<int, std::shared_ptr<HookBase>>> hooks_;
};

/// The message of the detkit::Error `fn` throws ("(no error)" if none).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const detkit::Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// A hook built without a runner loop (for parameter errors).
std::string build_error(const std::string& yaml) {
  detkit::testing::TempDir dir;
  FakeRunner runner(dir.path());
  return error_of([&] { runner.add(yaml); });
}

/// The lines of `text`.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// The log lines without MMCV's CUDA-only "memory: N, " (so the expectations hold on both).
std::vector<std::string> without_memory(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines)
    out.push_back(std::regex_replace(line, std::regex("memory: [0-9]+, "), ""));
  return out;
}

class HooksTest : public ::testing::Test {
 protected:
  void SetUp() override { load_hooks_plugin(); }
  detkit::testing::TempDir dir;
};

TEST_F(HooksTest, PluginRegistersMmcvAndMmdetHooks) {
  const auto& registry = detkit::Registry::of(detkit::Kind::hook);
  for (const char* type :
       {"OptimizerHook", "GradientCumulativeOptimizerHook", "IterTimerHook", "TextLoggerHook",
        "CheckpointHook", "EvalHook", "NumClassCheckHook", "EMAHook", "ExpMomentumEMAHook",
        "LinearMomentumEMAHook", "CheckInvalidLossHook"}) {
    EXPECT_NE(registry.find(type), nullptr) << type;
  }
  FakeRunner runner(dir.path());
  EXPECT_EQ(runner.add("{type: OptimizerHook}").default_priority(), 40);
  EXPECT_EQ(runner.add("{type: CheckpointHook}").default_priority(), 50);
  EXPECT_EQ(runner.add("{type: IterTimerHook}").default_priority(), 70);
  EXPECT_EQ(runner.add("{type: EvalHook}").default_priority(), 70);
  EXPECT_EQ(runner.add("{type: TextLoggerHook}").default_priority(), 90);
  EXPECT_EQ(runner.add("{type: CheckInvalidLossHook}").default_priority(), 90);
  EXPECT_EQ(runner.add("{type: NumClassCheckHook}").default_priority(), 50);
  EXPECT_EQ(runner.add("{type: EMAHook}").default_priority(), 50);
}

// ---- OptimizerHook ----

/// loss = 10 * ((w - 3)^2).sum() + head(x).sum(): gradients far above max_norm.
torch::Tensor big_loss(TinyDetector& model) {
  const torch::Tensor x = torch::tensor({{1.0f, 2.0f}, {3.0f, -1.0f}});
  return 10 * (model.w - 3).pow(2).sum() + model.head->forward(x).sum();
}

TEST_F(HooksTest, OptimizerHookClipsLikeTorchAndSteps) {
  FakeRunner runner(dir.path());
  runner.add("{type: OptimizerHook, grad_clip: {max_norm: 1.5}}");
  // The reference: the same step by hand with torch's clip_grad_norm_.
  TinyDetector reference;
  torch::Tensor loss = big_loss(reference);
  loss.backward();
  const double norm = torch::nn::utils::clip_grad_norm_(reference.parameters(), 1.5, 2.0);
  std::vector<torch::Tensor> expected;
  for (const auto& p : reference.parameters())
    expected.push_back((p - 0.02 * p.grad()).detach());

  runner.before_run();
  runner.train_iter([](FakeRunner& r) {
    torch::Tensor l = big_loss(r.tiny());
    r.set_step(l, {{"loss", l.item<double>()}}, 2);
  });
  runner.log_average(0);
  EXPECT_NEAR(runner.output("grad_norm"), norm, 1e-9);
  EXPECT_GT(norm, 1.5);
  const auto params = runner.tiny().parameters();
  ASSERT_EQ(params.size(), expected.size());
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::allclose(params[i], expected[i])) << i;
}

TEST_F(HooksTest, OptimizerHookWithoutClipLogsNoNormAndReportsUnusedParameters) {
  FakeRunner runner(dir.path());
  runner.add("{type: OptimizerHook, grad_clip: null, detect_anomalous_params: true}");
  runner.before_run();
  const torch::Tensor w0 = runner.tiny().w.detach().clone();
  runner.train_iter([](FakeRunner& r) {
    torch::Tensor l = (r.tiny().w * r.tiny().w).sum();  // the head is not used
    r.set_step(l, {{"loss", l.item<double>()}});
  });
  runner.log_average(0);
  EXPECT_TRUE(std::isnan(runner.output("grad_norm")));
  EXPECT_TRUE(torch::allclose(runner.tiny().w, w0 - 0.02 * 2 * w0));
  ASSERT_EQ(runner.lines.size(), 2u);
  EXPECT_EQ(runner.lines[0],
            "head.weight with shape torch.Size([1, 2]) is not in the computational graph");
  EXPECT_EQ(runner.lines[1],
            "head.bias with shape torch.Size([1]) is not in the computational graph");
}

TEST_F(HooksTest, OptimizerHookBadParameters) {
  EXPECT_CONTAINS(build_error("{type: OptimizerHook, cumulative_iters: 4}"),
                  "set `type: GradientCumulativeOptimizerHook`");
  EXPECT_CONTAINS(build_error("{type: OptimizerHook, grad_clip: {norm_type: 2}}"),
                  "requires parameter 'max_norm'");
  EXPECT_CONTAINS(build_error("{type: OptimizerHook, grad_clip: {max_norm: 0}}"), "max_norm");
  EXPECT_CONTAINS(build_error("{type: OptimizerHook, grad_clp: {max_norm: 1}}"), "grad_clip");
  EXPECT_CONTAINS(build_error("{type: GradientCumulativeOptimizerHook, cumulative_iters: 0}"),
                  "cumulative_iters");
  FakeRunner runner(dir.path());
  runner.add("{type: OptimizerHook}");
  EXPECT_CONTAINS(
      error_of([&] { runner.train_iter([](FakeRunner& r) { r.set_step(torch::ones({}), {}); }); }),
      "does not require grad");
}

// ---- GradientCumulativeOptimizerHook ----

/// The mean squared error of the head on samples [first, first + n) of a fixed set of 8.
torch::Tensor batch_loss(TinyDetector& model, int64_t first, int64_t n) {
  const torch::Tensor x = torch::arange(16, torch::kFloat).reshape({8, 2}).sin();
  const torch::Tensor y = torch::arange(8, torch::kFloat).reshape({8, 1}).cos();
  return (model.head->forward(x.narrow(0, first, n)) - y.narrow(0, first, n)).pow(2).mean();
}

TEST_F(HooksTest, GradientCumulativeEqualsBigBatchSteps) {
  // Four batches of 2 with cumulative_iters 2 == two batches of 4 with OptimizerHook.
  FakeRunner cumulative(dir.path());
  cumulative.max_epochs_ = 1;
  cumulative.add("{type: GradientCumulativeOptimizerHook, cumulative_iters: 2}");
  cumulative.before_run();
  cumulative.train_epoch([](FakeRunner& r) {
    torch::Tensor l = batch_loss(r.tiny(), 2 * r.iter(), 2);
    r.set_step(l, {{"loss", l.item<double>()}});
  });
  detkit::testing::TempDir other;
  FakeRunner big(other.path());
  big.iters_per_epoch_ = 2;
  big.max_epochs_ = 1;
  big.add("{type: OptimizerHook}");
  big.before_run();
  big.train_epoch([](FakeRunner& r) {
    torch::Tensor l = batch_loss(r.tiny(), 4 * r.iter(), 4);
    r.set_step(l, {{"loss", l.item<double>()}}, 4);
  });
  EXPECT_TRUE(torch::allclose(cumulative.tiny().head->weight, big.tiny().head->weight, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(cumulative.tiny().head->bias, big.tiny().head->bias, 1e-6, 1e-7));
  EXPECT_FALSE(torch::allclose(cumulative.tiny().head->bias, TinyDetector().head->bias));
}

TEST_F(HooksTest, GradientCumulativeRemainderIsItsOwnGroup) {
  // 5 iterations, cumulative 2: steps after iterations 2, 4 and 5; the 5th loss is divided by
  // 1 (MMCV's remainder), so the last step is a plain step on the 5th batch.
  FakeRunner runner(dir.path());
  runner.by_epoch_ = false;
  runner.max_iters_ = 5;
  runner.add("{type: GradientCumulativeOptimizerHook, cumulative_iters: 2}");
  runner.before_run();
  TinyDetector reference;
  const auto step = [](FakeRunner& r) {
    torch::Tensor l = batch_loss(r.tiny(), (r.iter() % 4) * 2, 2);
    r.set_step(l, {{"loss", l.item<double>()}});
  };
  for (int i = 0; i < 4; ++i)
    runner.train_iter(step);
  {
    torch::NoGradGuard no_grad;
    reference.head->weight.copy_(runner.tiny().head->weight);
    reference.head->bias.copy_(runner.tiny().head->bias);
  }
  runner.train_iter(step);
  batch_loss(reference, 0, 2).backward();
  EXPECT_TRUE(torch::allclose(runner.tiny().head->weight,
                              reference.head->weight - 0.02 * reference.head->weight.grad()));
  EXPECT_TRUE(torch::allclose(runner.tiny().head->bias,
                              reference.head->bias - 0.02 * reference.head->bias.grad()));
  EXPECT_EQ(runner.lines,
            (std::vector<std::string>{"Loss will be divided by 1 in the last 1 iterations because "
                                      "they are not enough for 2 cumulative_iters."}));
}

// ---- IterTimerHook ----

TEST_F(HooksTest, IterTimerHookRecordsDataTimeThenTime) {
  FakeRunner runner(dir.path());
  runner.add("{type: IterTimerHook}");
  runner.max_epochs_ = 1;
  runner.train_epoch([](FakeRunner& r) { r.set_step(torch::zeros({}), {{"loss", 1.0}}); });
  runner.log_average(0);
  const auto output = runner.log_output();
  ASSERT_EQ(output.size(), 3u);
  EXPECT_EQ(output[0].first, "data_time");
  EXPECT_EQ(output[1].first, "loss");
  EXPECT_EQ(output[2].first, "time");
  EXPECT_GE(output[0].second, 0.0);
  EXPECT_GE(output[2].second, output[0].second);
}

// ---- TextLoggerHook ----

/// A training step with fixed values: data_time 0.05, time 0.2 / 0.3 alternating, loss_cls and
/// loss as given per iteration.
std::function<void(FakeRunner&)> fixed_step(std::vector<double> losses) {
  return [losses](FakeRunner& r) {
    const double value = losses[static_cast<size_t>(r.iter()) % losses.size()];
    r.log_update("data_time", 0.05, 1);
    r.set_step(torch::zeros({}), {{"loss_cls", value}, {"loss", value}});
  };
}

/// Adds `time` after the step, as IterTimerHook does.
class TimeHook : public HookBase {
 public:
  void after_train_iter(RunnerBase& runner) override {
    runner.log_update("time", runner.iter() % 2 == 0 ? 0.2 : 0.3, 1);
  }
};

TEST_F(HooksTest, TextLoggerLinesAreMmcvs) {
  FakeRunner runner(dir.path());
  runner.meta().set("exp_name", "retinanet.yaml");
  runner.add("{type: TextLoggerHook, interval: 2}");
  runner.add("{type: EvalHook, interval: 2}");
  runner.add_hook(std::make_shared<TimeHook>(), 70);  // IterTimerHook's place, fixed times
  runner.before_run();
  const auto step = fixed_step({0.5, 0.7, 0.123456789, 0.2});
  runner.train_epoch(step);
  runner.val_epoch(3, {{"loss_cls", 0.25}, {"loss", 0.25}});
  runner.train_epoch(step);
  const std::vector<std::string> expected = {
      "Epoch [1][2/4]\tlr: 2.000e-02, eta: 0:00:01, time: 0.250, data_time: 0.050, "
      "loss_cls: 0.6000, loss: 0.6000",
      "Exp name: retinanet.yaml",
      "Epoch [1][4/4]\tlr: 2.000e-02, eta: 0:00:01, time: 0.250, data_time: 0.050, "
      "loss_cls: 0.1617, loss: 0.1617",
      "Exp name: retinanet.yaml",
      "Epoch(val) [1][3]\tloss_cls: 0.2500, loss: 0.2500",
      "Epoch [2][2/4]\tlr: 2.000e-02, eta: 0:00:00, time: 0.250, data_time: 0.050, "
      "loss_cls: 0.6000, loss: 0.6000",
      "Exp name: retinanet.yaml",
      "Epoch [2][4/4]\tlr: 2.000e-02, eta: 0:00:00, time: 0.250, data_time: 0.050, "
      "loss_cls: 0.1617, loss: 0.1617",
      "Exp name: retinanet.yaml",
      "Epoch(val) [2][5]\tbbox_mAP: 0.2500, bbox_mAP_50: 0.5000",
  };
  EXPECT_EQ(without_memory(runner.lines), expected);

  // The JSON log: exact lines as Python's json.dump writes them (memory only with CUDA) ...
  const std::string json_path = dir.file("20261201_070000.log.json");
  const auto json_lines = split_lines(detkit::testing::read_file(json_path));
  ASSERT_EQ(json_lines.size(), 7u);
  EXPECT_EQ(json_lines[0], "{\"exp_name\": \"retinanet.yaml\"}");
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(json_lines[1],
              "{\"mode\": \"train\", \"epoch\": 1, \"iter\": 2, \"lr\": 0.02, \"data_time\": 0.05, "
              "\"loss_cls\": 0.6, \"loss\": 0.6, \"time\": 0.25}");
    EXPECT_EQ(json_lines[2],
              "{\"mode\": \"train\", \"epoch\": 1, \"iter\": 4, \"lr\": 0.02, \"data_time\": 0.05, "
              "\"loss_cls\": 0.16173, \"loss\": 0.16173, \"time\": 0.25}");
  }
  EXPECT_EQ(json_lines[3],
            "{\"mode\": \"val\", \"epoch\": 1, \"iter\": 3, \"lr\": 0.02, \"loss_cls\": 0.25, "
            "\"loss\": 0.25}");
  EXPECT_EQ(json_lines[6],
            "{\"mode\": \"val\", \"epoch\": 2, \"iter\": 5, \"lr\": 0.02, \"bbox_mAP\": 0.25, "
            "\"bbox_mAP_50\": 0.5}");
  // ... and what Python's json reads back, with the keys analyze_logs.py uses.
  const auto result = detkit::testing::run_process(
      {"/usr/bin/python3", "-c",
       "import json, sys\n"
       "rows = [json.loads(line) for line in open(sys.argv[1])]\n"
       "print(rows[0]['exp_name'])\n"
       "for r in rows[1:]:\n"
       "    print(r['mode'], r['epoch'], r['iter'], r['lr'], r.get('loss', r.get('bbox_mAP')),\n"
       "          'time' in r, 'data_time' in r)\n",
       json_path});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out,
            "retinanet.yaml\n"
            "train 1 2 0.02 0.6 True True\n"
            "train 1 4 0.02 0.16173 True True\n"
            "val 1 3 0.02 0.25 False False\n"
            "train 2 2 0.02 0.6 True True\n"
            "train 2 4 0.02 0.16173 True True\n"
            "val 2 5 0.02 0.25 False False\n");
}

TEST_F(HooksTest, TextLoggerByIterationEtaAndAppendOnly) {
  // A JSON log that exists already is appended to, never truncated.
  detkit::testing::write_file(dir.file("20261201_070000.log.json"), "{\"old\": 1}\n");
  FakeRunner runner(dir.path());
  runner.by_epoch_ = false;
  runner.max_iters_ = 90000;
  runner.add("{type: TextLoggerHook, interval: 1, by_epoch: false}");
  runner.before_run();
  runner.train_iter([](FakeRunner& r) {
    r.log_update("data_time", 0.5, 1);
    r.log_update("time", 3.0, 1);
    r.set_step(torch::zeros({}), {{"loss", 1.23456}});
  });
  ASSERT_EQ(runner.lines.size(), 1u);
  // eta = 3 s * 89999 iterations = 269997 s.
  EXPECT_EQ(without_memory(runner.lines)[0],
            "Iter [1/90000]\tlr: 2.000e-02, eta: 3 days, 2:59:57, time: 3.000, data_time: 0.500, "
            "loss: 1.2346");
  const auto lines = split_lines(detkit::testing::read_file(dir.file("20261201_070000.log.json")));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "{\"old\": 1}");
  EXPECT_EQ(lines[1], "{}");
  EXPECT_CONTAINS(lines[2], "\"loss\": 1.23456}");
}

TEST_F(HooksTest, TextLoggerJsonIsPythonsJsonDump) {
  // runner.meta as MMCV dumps it: top-level floats (and lists of them) rounded to 5 decimals,
  // nested maps as they are, strings ASCII-escaped, exactly as Python's json.dumps.
  FakeRunner runner(dir.path());
  ConfigNode& meta = runner.meta();
  meta.set("config", "a\tb \"q\" \\ caf\xc3\xa9 \xf0\x9f\x98\x80\x7f\n");
  meta.set("seed", 42);
  meta.set("tiny", 1e-7);
  meta.set("values", detkit::ConfigValue<std::vector<double>>::to({0.123456789, 2.5e-06, 1e20}));
  ConfigNode nested = ConfigNode::make_map();
  nested.set("score", 0.1234567);
  nested.set("ok", true);
  nested.set("none", ConfigNode());
  meta.set("hook_msgs", nested);
  runner.add("{type: TextLoggerHook}");
  runner.before_run();
  const std::string line =
      split_lines(detkit::testing::read_file(dir.file("20261201_070000.log.json")))[0];
  const auto python = detkit::testing::run_process(
      {"/usr/bin/python3", "-c",
       "import json, sys\n"
       "meta = {'config': 'a\\tb \"q\" \\\\ caf\\u00e9 \\U0001F600\\x7f\\n', 'seed': 42,\n"
       "        'tiny': round(1e-7, 5),\n"
       "        'values': [round(v, 5) for v in (0.123456789, 2.5e-06, 1e20)],\n"
       "        'hook_msgs': {'score': 0.1234567, 'ok': True, 'none': None}}\n"
       "print(json.dumps(meta))\n"
       "assert json.loads(sys.argv[1]) == meta\n",
       line});
  ASSERT_EQ(python.exit_code, 0) << python.err;
  EXPECT_EQ(line + "\n", python.out);
}

TEST_F(HooksTest, IterationEvaluationLogsTrainingFirst) {
  // IterBasedRunner: EvalHook (LOW) runs before the logger (VERY_LOW), so it lets the logger
  // log the training values first and clears the buffer, as MMCV's; the logger then prints the
  // metrics on their own line.
  FakeRunner runner(dir.path());
  runner.by_epoch_ = false;
  runner.max_iters_ = 4;
  runner.add("{type: TextLoggerHook, interval: 2, by_epoch: false}");
  runner.add("{type: EvalHook, interval: 2, by_epoch: false}");
  runner.before_run();
  for (int i = 0; i < 2; ++i) {
    runner.train_iter([](FakeRunner& r) {
      r.log_update("data_time", 0.1, 1);
      r.log_update("time", 0.5, 1);
      r.set_step(torch::zeros({}), {{"loss", 1.0}});
    });
  }
  EXPECT_EQ(runner.eval_epochs, (std::vector<int64_t>{2}));
  EXPECT_EQ(without_memory(runner.lines),
            (std::vector<std::string>{
                "Iter [2/4]\tlr: 2.000e-02, eta: 0:00:01, time: 0.500, data_time: 0.100, "
                "loss: 1.0000",
                "Iter(val) [5]\tbbox_mAP: 0.2500, bbox_mAP_50: 0.5000"}));
}

TEST_F(HooksTest, TextLoggerCopiesLogsToOutDir) {
  const std::string work = dir.file("work_dirs/exp2");
  FakeRunner runner(work);
  detkit::testing::write_file(work + "/20261201_070000.log", "text log\n");
  detkit::testing::write_file(work + "/epoch_1.pth", "");
  runner.add("{type: TextLoggerHook, out_dir: " + dir.file("backup") + ", keep_local: false}");
  runner.before_run();
  EXPECT_EQ(runner.lines[0], "Text logs will be saved to " + dir.file("backup/exp2") +
                                 " by HardDiskBackend after the training process.");
  runner.after_run();
  EXPECT_EQ(detkit::testing::read_file(dir.file("backup/exp2/20261201_070000.log")), "text log\n");
  EXPECT_TRUE(fs::exists(dir.file("backup/exp2/20261201_070000.log.json")));
  EXPECT_FALSE(fs::exists(dir.file("backup/exp2/epoch_1.pth")));
  EXPECT_FALSE(fs::exists(work + "/20261201_070000.log"));
  EXPECT_TRUE(fs::exists(work + "/epoch_1.pth"));
}

TEST_F(HooksTest, TextLoggerBadParameters) {
  EXPECT_CONTAINS(build_error("{type: TextLoggerHook, interval: 0}"), "interval");
  EXPECT_CONTAINS(build_error("{type: TextLoggerHook, by_epoh: false}"), "by_epoch");
}

// ---- CheckpointHook ----

TEST_F(HooksTest, CheckpointHookKeepsNewestAndLinksLatest) {
  FakeRunner runner(dir.path());
  runner.max_epochs_ = 4;
  runner.iters_per_epoch_ = 1;
  runner.add("{type: CheckpointHook, interval: 1, max_keep_ckpts: 2}");
  runner.before_run();
  EXPECT_EQ(runner.lines[0], "Checkpoints will be saved to " + dir.path() + " by HardDiskBackend.");
  for (int e = 0; e < 4; ++e)
    runner.train_epoch([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });
  EXPECT_FALSE(fs::exists(dir.file("epoch_1.pth")));
  EXPECT_FALSE(fs::exists(dir.file("epoch_2.pth")));
  EXPECT_TRUE(fs::exists(dir.file("epoch_3.pth")));
  EXPECT_TRUE(fs::exists(dir.file("epoch_4.pth")));
  EXPECT_EQ(fs::read_symlink(dir.file("latest.pth")).string(), "epoch_4.pth");
  EXPECT_EQ(runner.meta().at("hook_msgs").at("last_ckpt").as_string(), dir.file("epoch_4.pth"));
  EXPECT_EQ(runner.lines.back(), "Saving checkpoint at 4 epochs");
  EXPECT_TRUE(runner.saved_optimizer.back());
}

TEST_F(HooksTest, CheckpointHookIntervalAndSaveLast) {
  for (const bool save_last : {true, false}) {
    detkit::testing::TempDir work;
    FakeRunner runner(work.path());
    runner.max_epochs_ = 3;
    runner.iters_per_epoch_ = 1;
    runner.add(std::string("{type: CheckpointHook, interval: 2, save_optimizer: false, "
                           "save_last: ") +
               (save_last ? "true}" : "false}"));
    runner.before_run();
    for (int e = 0; e < 3; ++e)
      runner.train_epoch([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });
    std::vector<std::string> expected = {work.file("epoch_2.pth")};
    if (save_last) expected.push_back(work.file("epoch_3.pth"));
    EXPECT_EQ(runner.saved, expected);
    EXPECT_FALSE(runner.saved_optimizer.front());
  }
}

TEST_F(HooksTest, CheckpointHookByIterationOutDirAndStopAtMissing) {
  const std::string work = dir.file("work_dirs/exp1");
  FakeRunner runner(work);
  runner.by_epoch_ = false;
  runner.max_iters_ = 6;
  runner.iter_ = 2;  // resumed at iteration 2
  runner.add("{type: CheckpointHook, interval: 1, by_epoch: false, max_keep_ckpts: 1, out_dir: " +
             dir.file("out") + ", meta: {note: x}}");
  // iter_1 is there but iter_2 is not: deletion stops at the first missing file, as MMCV's.
  detkit::testing::write_file(dir.file("out/exp1/iter_1.pth"), "");
  runner.before_run();
  EXPECT_EQ(runner.lines[0],
            "Checkpoints will be saved to " + dir.file("out/exp1") + " by HardDiskBackend.");
  runner.train_iter([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });  // iter_3
  runner.train_iter([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });  // iter_4
  EXPECT_EQ(runner.saved, (std::vector<std::string>{dir.file("out/exp1/iter_3.pth"),
                                                    dir.file("out/exp1/iter_4.pth")}));
  EXPECT_FALSE(fs::exists(dir.file("out/exp1/iter_3.pth")));
  EXPECT_TRUE(fs::exists(dir.file("out/exp1/iter_4.pth")));
  EXPECT_TRUE(fs::exists(dir.file("out/exp1/iter_1.pth")));
  EXPECT_EQ(runner.saved_meta.back().at("note").as_string(), "x");
  EXPECT_EQ(runner.meta().at("hook_msgs").at("last_ckpt").as_string(),
            dir.file("out/exp1/iter_4.pth"));
  EXPECT_EQ(runner.lines.back(), "Saving checkpoint at 4 iterations");
}

TEST_F(HooksTest, CheckpointHookBadParameters) {
  EXPECT_CONTAINS(build_error("{type: CheckpointHook, filename_tmpl: model.pth}"),
                  "filename_tmpl must contain `{}`");
  EXPECT_CONTAINS(build_error("{type: CheckpointHook, meta: 3}"), "meta must be a map");
  EXPECT_CONTAINS(build_error("{type: CheckpointHook, intervl: 1}"), "did you mean 'interval'");
}

// ---- EvalHook ----

/// Runs `epochs` training epochs of one iteration.
void run_epochs(FakeRunner& runner, int epochs) {
  runner.iters_per_epoch_ = 1;
  runner.max_epochs_ = epochs;
  runner.before_run();
  for (int e = 0; e < epochs; ++e)
    runner.train_epoch([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });
}

TEST_F(HooksTest, EvalHookIntervalStartAndOptions) {
  FakeRunner every2(dir.path());
  every2.add("{type: EvalHook, interval: 2, metric: bbox, classwise: true, iou_thrs: [0.5]}");
  run_epochs(every2, 5);
  EXPECT_EQ(every2.eval_epochs, (std::vector<int64_t>{2, 4}));
  const ConfigNode& options = every2.eval_options[0];
  EXPECT_EQ(options.size(), 3u);
  EXPECT_EQ(options.at("metric").as_string(), "bbox");
  EXPECT_TRUE(options.at("classwise").as_bool());
  EXPECT_DOUBLE_EQ(options.at("iou_thrs").items().at(0).as_double(), 0.5);

  FakeRunner from3(dir.path());
  from3.add("{type: EvalHook, interval: 2, start: 3}");
  run_epochs(from3, 6);
  EXPECT_EQ(from3.eval_epochs, (std::vector<int64_t>{3, 5}));

  // start: 0 also evaluates before the first training epoch (epoch 0 >= start).
  FakeRunner from0(dir.path());
  from0.add("{type: EvalHook, start: 0}");
  run_epochs(from0, 2);
  EXPECT_EQ(from0.eval_epochs, (std::vector<int64_t>{1, 1, 2}));

  FakeRunner dynamic(dir.path());
  dynamic.add("{type: EvalHook, interval: 3, dynamic_intervals: [[4, 1]]}");
  run_epochs(dynamic, 6);
  EXPECT_EQ(dynamic.eval_epochs, (std::vector<int64_t>{3, 4, 5, 6}));
}

TEST_F(HooksTest, EvalHookSavesBestAndSurvivesResume) {
  FakeRunner runner(dir.path());
  runner.eval_results = {{{"bbox_mAP", 0.3}}, {{"bbox_mAP", 0.5}}, {{"bbox_mAP", 0.4}}};
  runner.add("{type: EvalHook, save_best: bbox_mAP}");
  run_epochs(runner, 3);
  EXPECT_EQ(runner.saved, (std::vector<std::string>{dir.file("best_bbox_mAP_epoch_1.pth"),
                                                    dir.file("best_bbox_mAP_epoch_2.pth")}));
  EXPECT_FALSE(fs::exists(dir.file("best_bbox_mAP_epoch_1.pth")));
  EXPECT_TRUE(fs::exists(dir.file("best_bbox_mAP_epoch_2.pth")));
  EXPECT_FALSE(fs::exists(dir.file("latest.pth")));
  const ConfigNode& msgs = runner.meta().at("hook_msgs");
  EXPECT_DOUBLE_EQ(msgs.at("best_score").as_double(), 0.5);
  EXPECT_EQ(msgs.at("best_ckpt").as_string(), dir.file("best_bbox_mAP_epoch_2.pth"));
  EXPECT_NE(
      std::find(runner.lines.begin(), runner.lines.end(), "Best bbox_mAP is 0.5000 at 2 epoch."),
      runner.lines.end());
  EXPECT_NE(std::find(runner.lines.begin(), runner.lines.end(),
                      "The previous best checkpoint " + dir.file("best_bbox_mAP_epoch_1.pth") +
                          " was removed"),
            runner.lines.end());

  // A resumed run reads best_score / best_ckpt back: 0.45 is not better, 0.6 replaces it.
  FakeRunner resumed(dir.path());
  resumed.meta().set("hook_msgs", msgs);
  resumed.epoch_ = 3;
  resumed.eval_results = {{{"bbox_mAP", 0.45}}, {{"bbox_mAP", 0.6}}};
  resumed.add("{type: EvalHook, save_best: auto}");
  resumed.iters_per_epoch_ = 1;
  resumed.max_epochs_ = 5;
  resumed.before_run();
  resumed.train_epoch([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });
  EXPECT_TRUE(resumed.saved.empty());
  resumed.train_epoch([](FakeRunner& r) { r.set_step(torch::zeros({}), {}); });
  EXPECT_EQ(resumed.saved, (std::vector<std::string>{dir.file("best_bbox_mAP_epoch_5.pth")}));
  EXPECT_FALSE(fs::exists(dir.file("best_bbox_mAP_epoch_2.pth")));
}

TEST_F(HooksTest, EvalHookRuleInference) {
  // "loss" is less-is-better: the smaller value wins.
  FakeRunner less(dir.path());
  less.eval_results = {{{"val_loss", 0.9}}, {{"val_loss", 0.7}}, {{"val_loss", 0.8}}};
  less.add("{type: EvalHook, save_best: val_loss}");
  run_epochs(less, 3);
  EXPECT_DOUBLE_EQ(less.meta().at("hook_msgs").at("best_score").as_double(), 0.7);
  // An explicit rule wins over the name; greater_keys extends the inference.
  FakeRunner explicit_rule(dir.path());
  explicit_rule.eval_results = {{{"bbox_mAP", 0.9}}, {{"bbox_mAP", 0.7}}};
  explicit_rule.add("{type: EvalHook, save_best: bbox_mAP, rule: less}");
  run_epochs(explicit_rule, 2);
  EXPECT_DOUBLE_EQ(explicit_rule.meta().at("hook_msgs").at("best_score").as_double(), 0.7);
  EXPECT_EQ(build_error("{type: EvalHook, save_best: score, greater_keys: [score]}"), "(no error)");

  EXPECT_CONTAINS(build_error("{type: EvalHook, save_best: f1}"),
                  "cannot infer whether a greater or a smaller 'f1' is better");
  EXPECT_CONTAINS(build_error("{type: EvalHook, save_best: f1}"), "set `rule: greater`");
  EXPECT_CONTAINS(build_error("{type: EvalHook, rule: bigger}"), "rule");
  EXPECT_CONTAINS(build_error("{type: EvalHook, interval: 0}"), "interval");
  EXPECT_CONTAINS(build_error("{type: EvalHook, metric: 3}"), "metric must be a name");
  EXPECT_CONTAINS(build_error("{type: EvalHook, dynamic_intervals: [[3]]}"), "dynamic_intervals");

  FakeRunner missing(dir.path());
  missing.add("{type: EvalHook, save_best: segm_mAP}");
  EXPECT_CONTAINS(error_of([&] { run_epochs(missing, 1); }),
                  "save_best 'segm_mAP' is not among the evaluation results (bbox_mAP, "
                  "bbox_mAP_50)");
}

// ---- NumClassCheckHook ----

TEST_F(HooksTest, NumClassCheckHook) {
  FakeRunner runner(dir.path(), 2);
  runner.add("{type: NumClassCheckHook}");
  runner.classes = {"cat", "dog", "bird"};
  EXPECT_EQ(error_of([&] { runner.call(&HookBase::before_train_epoch); }),
            "The `num_classes` (2) in TinyDetector does not match the length of `CLASSES` (3) in "
            "the train dataset");
  runner.mode_ = "val";
  EXPECT_CONTAINS(error_of([&] { runner.call(&HookBase::before_val_epoch); }),
                  "in the val dataset");
  runner.classes = {"cat", "dog"};
  EXPECT_EQ(error_of([&] { runner.call(&HookBase::before_val_epoch); }), "(no error)");
  runner.classes = {};
  runner.call(&HookBase::before_train_epoch);
  ASSERT_EQ(runner.lines.size(), 1u);
  EXPECT_EQ(runner.lines[0],
            "Please set `CLASSES` in the val dataset and check if it is consistent with the "
            "`num_classes` of head");
}

// ---- EMA hooks ----

/// Moves every parameter by +1 (a stand-in for an optimizer step).
void shift_step(FakeRunner& r) {
  torch::NoGradGuard no_grad;
  for (auto& p : r.tiny().parameters())
    p.add_(1.0);
  r.tiny().count.add_(2.0);
  r.set_step(torch::zeros({}), {});
}

TEST_F(HooksTest, EmaHookFollowsMmcvFormulaAndSwaps) {
  FakeRunner runner(dir.path());
  runner.add("{type: EMAHook, momentum: 0.5, interval: 1, warm_up: 4}");
  // Registered when built: parameters only, dots replaced.
  const auto buffers = runner.tiny().named_buffers(/*recurse=*/false);
  ASSERT_NE(buffers.find("ema_w"), nullptr);
  ASSERT_NE(buffers.find("ema_head_weight"), nullptr);
  ASSERT_NE(buffers.find("ema_head_bias"), nullptr);
  EXPECT_EQ(buffers.find("ema_count"), nullptr);
  runner.max_epochs_ = 1;
  runner.iters_per_epoch_ = 3;
  runner.before_run();
  // The reference: w after iteration i is w0 + i + 1; m = min(0.5, (1 + i) / (4 + i)).
  torch::Tensor w = runner.tiny().w.detach().clone();
  torch::Tensor ema = w.clone();
  for (int i = 0; i < 3; ++i) {
    w = w + 1;
    const double m = std::min(0.5, (1.0 + i) / (4.0 + i));
    ema = (1 - m) * ema + m * w;
  }
  runner.call(&HookBase::before_train_epoch);  // swap of equal values at the start
  for (runner.inner_iter_ = 0; runner.inner_iter_ < 3; ++runner.inner_iter_)
    runner.train_iter(shift_step);
  EXPECT_TRUE(torch::allclose(*runner.tiny().named_buffers().find("ema_w"), ema));
  EXPECT_TRUE(torch::allclose(runner.tiny().w, w));
  runner.call(&HookBase::after_train_epoch);  // the EMA values go into the model
  EXPECT_TRUE(torch::allclose(runner.tiny().w, ema));
  EXPECT_TRUE(torch::allclose(*runner.tiny().named_buffers().find("ema_w"), w));
  runner.call(&HookBase::before_train_epoch);  // and back
  EXPECT_TRUE(torch::allclose(runner.tiny().w, w));
}

TEST_F(HooksTest, MomentumEmaHooksAverageBuffersToo) {
  FakeRunner runner(dir.path());
  runner.add("{type: ExpMomentumEMAHook, momentum: 0.1, total_iter: 10, interval: 2}");
  ASSERT_NE(runner.tiny().named_buffers(false).find("ema_count"), nullptr);
  runner.before_run();
  // Updates after iterations 1 and 3 (0-based: (iter + 1) % 2 == 0), m(iter) as MMDetection's.
  const auto m = [](int i) { return 0.9 * std::exp(-(1.0 + i) / 10.0) + 0.1; };
  double count = 0.0;
  double ema = 0.0;
  for (int i = 0; i < 4; ++i) {
    runner.train_iter(shift_step);
    count += 2.0;
    if ((i + 1) % 2 == 0) ema = (1 - m(i)) * ema + m(i) * count;
  }
  EXPECT_NEAR(runner.tiny().named_buffers().find("ema_count")->item<double>(), ema, 1e-5);

  detkit::testing::TempDir other;
  FakeRunner linear(other.path());
  linear.add("{type: LinearMomentumEMAHook, momentum: 0.5, warm_up: 3, skip_buffers: true}");
  EXPECT_EQ(linear.tiny().named_buffers(false).find("ema_count"), nullptr);
  linear.before_run();
  torch::Tensor w = linear.tiny().w.detach().clone();
  torch::Tensor expected = w.clone();
  for (int i = 0; i < 3; ++i) {
    linear.train_iter(shift_step);
    w = w + 1;
    const double mi = std::min(0.5, (1.0 + i) / (3.0 + i));
    expected = (1 - mi) * expected + mi * w;
  }
  EXPECT_TRUE(torch::allclose(*linear.tiny().named_buffers().find("ema_w"), expected));
}

TEST_F(HooksTest, EmaRestartsFromLoadedWeightsOnAFreshRun) {
  // load_from happens after the hook is built: the EMA starts from the loaded weights (MMCV
  // clones them in before_run).
  FakeRunner runner(dir.path());
  runner.add("{type: EMAHook}");
  {
    torch::NoGradGuard no_grad;
    runner.tiny().w.copy_(torch::tensor({5.0f, 6.0f}));
  }
  runner.before_run();
  EXPECT_TRUE(torch::equal(*runner.tiny().named_buffers().find("ema_w"), runner.tiny().w));
}

/// Copies the model's state and hook_msgs at after_train_epoch (a checkpoint).
class StateCapture : public HookBase {
 public:
  void after_train_epoch(RunnerBase& runner) override {
    state.clear();
    for (const auto& item : runner.model().named_parameters())
      state.emplace_back(item.key(), item.value().detach().clone());
    for (const auto& item : runner.model().named_buffers())
      state.emplace_back(item.key(), item.value().detach().clone());
    hook_msgs = runner.meta().at("hook_msgs");
  }
  std::vector<std::pair<std::string, torch::Tensor>> state;
  ConfigNode hook_msgs;
};

TEST_F(HooksTest, EmaResumeContinuesWhateverTheCheckpointOrder) {
  // The EMA hook before CheckpointHook (49: the checkpoint holds the EMA weights) or after it
  // (NORMAL, registered later: the raw weights): a resumed run has the raw weights in the model
  // and the EMA in the buffers at its first epoch either way.
  for (const int ema_priority : {49, 50}) {
    detkit::testing::TempDir work;
    FakeRunner first(work.path());
    first.iters_per_epoch_ = 3;
    auto capture = std::make_shared<StateCapture>();
    first.add_hook(capture, 50);
    first.add("{type: EMAHook, momentum: 0.3, warm_up: 1}", ema_priority);
    first.before_run();
    first.train_epoch(shift_step);
    first.call(&HookBase::before_train_epoch);
    const torch::Tensor raw = first.tiny().w.detach().clone();
    const torch::Tensor ema = first.named_ema("ema_w");
    ASSERT_FALSE(torch::allclose(raw, ema));

    FakeRunner resumed(work.path());
    resumed.iters_per_epoch_ = 3;
    resumed.add("{type: EMAHook, momentum: 0.3, warm_up: 1}", ema_priority);
    {
      torch::NoGradGuard no_grad;
      auto params = resumed.tiny().named_parameters();
      auto buffers = resumed.tiny().named_buffers();
      for (const auto& [name, value] : capture->state) {
        torch::Tensor* target = params.find(name) ? params.find(name) : buffers.find(name);
        ASSERT_NE(target, nullptr) << name;
        target->copy_(value);
      }
    }
    resumed.meta().set("hook_msgs", capture->hook_msgs);
    resumed.epoch_ = 1;
    resumed.iter_ = 3;
    resumed.before_run();
    resumed.call(&HookBase::before_train_epoch);
    EXPECT_TRUE(torch::allclose(resumed.tiny().w, raw)) << "priority " << ema_priority;
    EXPECT_TRUE(torch::allclose(resumed.named_ema("ema_w"), ema)) << "priority " << ema_priority;
  }
}

TEST_F(HooksTest, EmaHookBadParameters) {
  EXPECT_CONTAINS(build_error("{type: EMAHook, momentum: 1.0}"), "momentum");
  EXPECT_CONTAINS(build_error("{type: EMAHook, resume_from: a.pth}"),
                  "use the top-level `resume_from`");
  EXPECT_CONTAINS(build_error("{type: ExpMomentumEMAHook, warm_up: 3}"), "warm_up");
  EXPECT_CONTAINS(build_error("{type: LinearMomentumEMAHook, total_iter: 3}"), "total_iter");
}

// ---- CheckInvalidLossHook ----

TEST_F(HooksTest, CheckInvalidLossHookNamesTheLoss) {
  FakeRunner runner(dir.path());
  runner.add("{type: CheckInvalidLossHook, interval: 1}");
  runner.meta().set("hook_msgs", ConfigNode::make_map());
  runner.meta().find("hook_msgs")->set("last_ckpt", "work/epoch_1.pth");
  runner.epoch_ = 1;
  runner.iter_ = 6;
  runner.inner_iter_ = 2;
  runner.set_step(torch::zeros({}), {{"loss_cls", 0.5}, {"loss_bbox", std::nan("")}});
  EXPECT_EQ(error_of([&] { runner.call(&HookBase::after_train_iter); }),
            "loss became infinite or NaN: loss_bbox = nan at epoch 2, iteration 3 of 4 (7 in "
            "all); training stopped, the last checkpoint, work/epoch_1.pth, is kept (lower the "
            "learning rate, add warmup or grad_clip)");
  runner.set_step(torch::full({}, INFINITY), {{"loss_cls", 0.5}});
  EXPECT_CONTAINS(error_of([&] { runner.call(&HookBase::after_train_iter); }), "loss = inf");

  // MMDetection's default interval: only every 50th iteration is checked.
  FakeRunner sparse(dir.path());
  sparse.add("{type: CheckInvalidLossHook}");
  sparse.set_step(torch::zeros({}), {{"loss", std::nan("")}});
  EXPECT_EQ(error_of([&] { sparse.call(&HookBase::after_train_iter); }), "(no error)");
  sparse.iter_ = 49;
  EXPECT_CONTAINS(error_of([&] { sparse.call(&HookBase::after_train_iter); }),
                  "no checkpoint was saved yet");
  EXPECT_CONTAINS(build_error("{type: CheckInvalidLossHook, interval: 0}"), "interval");
}

}  // namespace
