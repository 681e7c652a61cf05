// The runner interface (kind `runner`: EpochBasedRunner, IterBasedRunner).
//
// Contract: built with a RunnerContext (the model, the optimizer and the work dir); run()
// executes the config's workflow, calling its hooks at MMCV's points in priority order. Hooks
// and policies read the position (epoch, iter, inner_iter) and the limits from it.
//
// SDK 1.1 adds what MMCV's hooks read and call on `runner` (the last step's outputs, the log
// buffer, the logger, meta / hook_msgs, save_checkpoint, evaluation). Only the host implements
// runners; plugins call these functions, so a plugin built against 1.1 needs a 1.1 host (the host
// refuses a plugin whose SDK minor is newer than its own).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/kind.h"

namespace detkit {

class OptimizerBase;
class DetectorBase;

/// Named values in order (log variables, metric results).
using NamedValues = std::vector<std::pair<std::string, double>>;

/// Base class of runners.
class DETKIT_API RunnerBase {
 public:
  virtual ~RunnerBase();
  /// Runs the workflow to the end.
  virtual void run() = 0;
  /// Completed epochs (0-based index of the current one).
  virtual int64_t epoch() const = 0;
  /// Completed training iterations, over all epochs.
  virtual int64_t iter() const = 0;
  /// The iteration within the current epoch.
  virtual int64_t inner_iter() const = 0;
  /// The limits (one of them is what the runner counts; the other is derived or 0).
  virtual int64_t max_epochs() const = 0;
  virtual int64_t max_iters() const = 0;
  /// The output folder.
  virtual const std::string& work_dir() const = 0;
  /// The model and the optimizer being trained (the optimizer may be null in val/test).
  virtual DetectorBase& model() = 0;
  virtual OptimizerBase* optimizer() = 0;

  // ---- SDK 1.1 ----

  /// "train" or "val": the phase running now (MMCV's runner.mode).
  virtual const std::string& mode() const = 0;
  /// Batches per epoch of the current phase's loader (MMCV's len(runner.data_loader)).
  virtual int64_t iters_per_epoch() const = 0;
  /// Whether the runner counts epochs (EpochBasedRunner) or iterations (IterBasedRunner).
  virtual bool by_epoch() const = 0;

  /// The last step's total loss: the sum of the detector's losses whose name contains "loss"
  /// (MMDetection's _parse_losses); in training, what OptimizerHook differentiates.
  virtual torch::Tensor step_loss() const = 0;
  /// The last step's log variables (each loss, then "loss", as MMDetection logs them).
  virtual NamedValues step_log_vars() const = 0;
  /// The last step's number of samples.
  virtual int64_t step_num_samples() const = 0;

  /// MMCV's log_buffer.update({key: value}, count): records a value (the runner records each
  /// step's log variables; IterTimerHook `time` and `data_time`; OptimizerHook `grad_norm`).
  virtual void log_update(const std::string& key, double value, int64_t count = 1) = 0;
  /// log_buffer.average(n): the output becomes the count-weighted mean of the last n values of
  /// every key (n <= 0: all of them), and the buffer is ready.
  virtual void log_average(int64_t n) = 0;
  /// log_buffer.output, in the order keys were first recorded.
  virtual NamedValues log_output() const = 0;
  /// log_buffer.output[key] = value and ready = true (EvalHook puts its metrics there).
  virtual void log_put_output(const std::string& key, double value) = 0;
  /// log_buffer.ready.
  virtual bool log_ready() const = 0;
  /// log_buffer.clear_output(): empties the output, not ready.
  virtual void log_clear_output() = 0;
  /// log_buffer.clear(): forgets every value and the output.
  virtual void log_clear() = 0;

  /// Writes a line to the console and to the run's text log (`<timestamp>.log`).
  virtual void log_info(const std::string& line) = 0;
  /// The run's timestamp ("20261201_063500"), the stem of its log files.
  virtual const std::string& timestamp() const = 0;
  /// MMCV's runner.meta: exp_name, seed, config (text), and `hook_msgs` (a map hooks keep
  /// between runs: last_ckpt, best_score, best_ckpt), saved in every checkpoint and restored by
  /// resume_from.
  virtual ConfigNode& meta() = 0;

  /// MMCV's runner.save_checkpoint: writes `{meta, state_dict, optimizer}` to
  /// out_dir/filename_tmpl, `{}` replaced by epoch + 1 (EpochBasedRunner) or iter + 1
  /// (IterBasedRunner), atomically; `extra_meta` entries are added to meta; when
  /// `create_symlink`, out_dir/latest.pth points at it. Returns the path written.
  virtual std::string save_checkpoint(const std::string& out_dir, const std::string& filename_tmpl,
                                      bool save_optimizer, const ConfigNode& extra_meta,
                                      bool create_symlink) = 0;
  /// Runs the model on the evaluation dataset (`data.val` with its test pipeline) and evaluates
  /// the results with `options` (metric, classwise, iou_thrs, ...: MMDetection's eval_kwargs):
  /// MMDetection's single_gpu_test + dataset.evaluate. Returns the metrics in order
  /// (bbox_mAP, bbox_mAP_50, ...).
  virtual NamedValues evaluate(const ConfigNode& options) = 0;
  /// The class names of the current phase's dataset (NumClassCheckHook).
  virtual std::vector<std::string> dataset_classes() const = 0;
};

}  // namespace detkit
