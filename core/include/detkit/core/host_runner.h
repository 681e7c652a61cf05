// HostRunner: libdetkit's implementation of RunnerBase behind EpochBasedRunner and
// IterBasedRunner (kind `runner`), MMCV 1.x's BaseRunner: hooks in priority order, the workflow
// phases, train/val steps with MMDetection's loss parsing, the log buffer, the text log, meta
// and checkpoints (`{meta, state_dict, optimizer, rng}` in PyTorch's format) and resume.
//
// The train driver (detkit/core/train.h) builds the runner from the config's `runner`, then
// gives it its loaders, hooks and services with the setters below and calls run(). run() stops
// between two iterations when a stop was requested (Ctrl-C under an InterruptHandler).
#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detkit/core/data_loader.h"
#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"

namespace detkit {

/// MMCV's LogBuffer: per key, the recorded (value, count) pairs; average(n) fills `output`.
class DETKIT_API LogBuffer {
 public:
  void update(const std::string& key, double value, int64_t count);
  void average(int64_t n);
  const NamedValues& output() const { return output_; }
  void put_output(const std::string& key, double value);
  bool ready() const { return ready_; }
  void clear_output();
  void clear();

 private:
  std::vector<std::string> keys_;
  std::vector<std::vector<std::pair<double, int64_t>>> history_;
  NamedValues output_;
  bool ready_ = false;
};

/// A hook with its priority and type name, as registered.
struct DETKIT_API RegisteredHook {
  std::shared_ptr<HookBase> hook;
  int priority = 50;
  std::string name;
};

/// The runner (see the file comment). Not copyable; used from one thread.
class DETKIT_API HostRunner : public RunnerBase {
 public:
  /// `by_epoch`: EpochBasedRunner (max_epochs) or IterBasedRunner (max_iters).
  HostRunner(DetectorBase& model, OptimizerBase* optimizer, std::string work_dir, bool by_epoch,
             int64_t max_epochs, int64_t max_iters);
  ~HostRunner() override;

  // ---- set-up by the train driver ----
  /// The loaders of the workflow's phases ("train", "val") and their datasets' classes.
  void set_loader(const std::string& mode, std::shared_ptr<DataLoader> loader,
                  std::vector<std::string> classes);
  /// MMCV's workflow: [(mode, epochs or iterations)].
  void set_workflow(std::vector<std::pair<std::string, int64_t>> workflow);
  /// Inserts a hook after those of lower or equal priority (MMCV's register_hook).
  void register_hook(RegisteredHook hook);
  /// The evaluation service behind evaluate().
  void set_evaluator(std::function<NamedValues(const ConfigNode&)> evaluator);
  /// The text log file (work_dir/<timestamp>.log) and the console.
  void open_log(const std::string& timestamp, bool console);
  /// Restores a checkpoint written by save_checkpoint (MMCV's runner.resume): weights (strict
  /// report), epoch, iter, meta.hook_msgs, optimizer state and RNG state.
  void resume(const std::string& path);
  /// The registered hooks in execution order.
  const std::vector<RegisteredHook>& hooks() const { return hooks_; }

  // ---- RunnerBase ----
  void run() override;
  int64_t epoch() const override { return epoch_; }
  int64_t iter() const override { return iter_; }
  int64_t inner_iter() const override { return inner_iter_; }
  int64_t max_epochs() const override { return max_epochs_; }
  int64_t max_iters() const override { return max_iters_; }
  const std::string& work_dir() const override { return work_dir_; }
  DetectorBase& model() override { return model_; }
  OptimizerBase* optimizer() override { return optimizer_; }
  const std::string& mode() const override { return mode_; }
  int64_t iters_per_epoch() const override;
  bool by_epoch() const override { return by_epoch_; }
  torch::Tensor step_loss() const override { return step_loss_; }
  NamedValues step_log_vars() const override { return step_log_vars_; }
  int64_t step_num_samples() const override { return step_num_samples_; }
  void log_update(const std::string& key, double value, int64_t count) override;
  void log_average(int64_t n) override;
  NamedValues log_output() const override;
  void log_put_output(const std::string& key, double value) override;
  bool log_ready() const override;
  void log_clear_output() override;
  void log_clear() override;
  void log_info(const std::string& line) override;
  const std::string& timestamp() const override { return timestamp_; }
  ConfigNode& meta() override { return meta_; }
  std::string save_checkpoint(const std::string& out_dir, const std::string& filename_tmpl,
                              bool save_optimizer, const ConfigNode& extra_meta,
                              bool create_symlink) override;
  NamedValues evaluate(const ConfigNode& options) override;
  std::vector<std::string> dataset_classes() const override;

 private:
  using HookPoint = void (HookBase::*)(RunnerBase&);
  void call_hook(HookPoint point);
  /// One train or val step on `batch` (MMCV's run_iter): losses, parsing, log buffer.
  void run_step(const ImageBatch& batch, bool train);
  /// Replaces each logged value by its mean over the ranks of a distributed run.
  void reduce_log_vars(NamedValues& log_vars) const;
  void train_epoch();
  void val_epoch();
  /// The next training batch, starting a new loader epoch when one ends (IterLoader).
  ImageBatch next_train_batch();
  void log_hook_order();
  /// Throws TrainingInterrupted when a stop was requested (detkit/core/interrupt.h); called
  /// between iterations.
  void stop_if_requested() const;
  DataLoader& loader(const std::string& mode) const;

  DetectorBase& model_;
  OptimizerBase* optimizer_;
  std::string work_dir_;
  bool by_epoch_;
  int64_t max_epochs_, max_iters_;
  int64_t epoch_ = 0, iter_ = 0, inner_iter_ = 0;
  std::string mode_ = "train";
  std::vector<std::pair<std::string, std::shared_ptr<DataLoader>>> loaders_;
  std::vector<std::pair<std::string, std::vector<std::string>>> classes_;
  std::vector<std::pair<std::string, int64_t>> workflow_{{"train", 1}};
  std::vector<RegisteredHook> hooks_;
  std::function<NamedValues(const ConfigNode&)> evaluator_;
  torch::Tensor step_loss_;
  NamedValues step_log_vars_;
  int64_t step_num_samples_ = 0;
  LogBuffer log_buffer_;
  std::ofstream log_file_;
  bool console_ = true;
  std::string timestamp_;
  ConfigNode meta_ = ConfigNode::make_map();
  /// IterBasedRunner: the loader epoch of the batches being drawn.
  int64_t loader_epoch_ = -1;
};

}  // namespace detkit
