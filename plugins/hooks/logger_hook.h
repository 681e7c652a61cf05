// LoggerHook: MMCV 1.7's logger base class (mmcv/runner/hooks/logger/base.py) — when the log
// buffer is averaged and logged, when its output is cleared — for TextLoggerHook and any other
// logger of this plugin.
//
// MMCV's before_run sets reset_flag on the last logger hook of the runner, so the output is
// cleared once every logger has seen it. Hooks do not see the runner's hook list here; each
// logger records itself per runner in before_run (which the runner calls in hook order), so the
// one recorded last is the last logger. EvalHook uses the same record to flush the loggers
// before an iteration-based evaluation, as MMCV's does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"

namespace detkit::hooks {

/// MMCV's LoggerHook arguments.
struct LoggerSettings {
  /// Log every `interval` iterations.
  int64_t interval = 10;
  /// Skip the last iterations of an epoch when fewer than `interval` remain.
  bool ignore_last = true;
  /// Clear the buffer's output after each log (always done by the last logger of a runner).
  bool reset_flag = false;
  /// Iterations counted within the epoch (EpochBasedRunner) or globally.
  bool by_epoch = true;
};

/// Base class of logger hooks (priority VERY_LOW).
class LoggerHook : public HookBase {
 public:
  /// A logger with MMCV's LoggerHook arguments.
  explicit LoggerHook(LoggerSettings settings);
  /// Forgets the logger in the per-runner record.
  ~LoggerHook() override;
  LoggerHook(const LoggerHook&) = delete;
  LoggerHook& operator=(const LoggerHook&) = delete;

  /// Writes the buffer's output (called when it is ready).
  virtual void log(RunnerBase& runner) = 0;

  /// Records the logger as the runner's last one so far.
  void before_run(RunnerBase& runner) override;
  /// Forgets the previous epoch's values.
  void before_train_epoch(RunnerBase& runner) override { runner.log_clear(); }
  void before_val_epoch(RunnerBase& runner) override { runner.log_clear(); }
  /// Averages the last `interval` values at MMCV's points and logs when ready.
  void after_train_iter(RunnerBase& runner) override;
  /// Logs what is ready (EvalHook's metrics, or an epoch's unlogged tail).
  void after_train_epoch(RunnerBase& runner) override;
  /// Averages the whole validation epoch and logs it.
  void after_val_epoch(RunnerBase& runner) override;
  /// VERY_LOW.
  int default_priority() const override { return static_cast<int>(HookPriority::very_low); }

  /// The logger hooks whose before_run saw `runner`, in the order it called them.
  static std::vector<LoggerHook*> loggers_of(const RunnerBase& runner);

  /// The arguments the logger was built with.
  const LoggerSettings& settings() const { return settings_; }

 protected:
  /// MMCV's get_mode: "train" while the output has `time`, else "val".
  static std::string get_mode(const RunnerBase& runner);
  /// MMCV's get_epoch: epoch + 1 in training, epoch in validation.
  static int64_t get_epoch(const RunnerBase& runner);
  /// MMCV's get_iter: inner_iter + 1 (by epoch, when `inner_iter`), else iter + 1.
  int64_t get_iter(const RunnerBase& runner, bool inner_iter) const;
  /// Whether the output is cleared after logging (reset_flag, or the runner's last logger).
  bool resets(const RunnerBase& runner) const;

  LoggerSettings settings_;

 private:
  void log_and_reset(RunnerBase& runner);
};

}  // namespace detkit::hooks
