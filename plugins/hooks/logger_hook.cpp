// MMCV's LoggerHook logic, and the per-runner record of logger hooks.
#include "logger_hook.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "detkit/error.h"
#include "hook_utils.h"

namespace detkit::hooks {

namespace {

/// The logger hooks of each runner, in before_run order.
struct LoggerRecord {
  std::mutex mutex;
  std::map<const RunnerBase*, std::vector<LoggerHook*>> loggers;

  static LoggerRecord& get() {
    static LoggerRecord record;
    return record;
  }
  /// Removes `hook` from every runner's list.
  void forget(const LoggerHook* hook) {
    for (auto it = loggers.begin(); it != loggers.end();) {
      auto& list = it->second;
      list.erase(std::remove(list.begin(), list.end(), hook), list.end());
      it = list.empty() ? loggers.erase(it) : std::next(it);
    }
  }
};

}  // namespace

LoggerHook::LoggerHook(LoggerSettings settings) : settings_(settings) {}

LoggerHook::~LoggerHook() {
  LoggerRecord& record = LoggerRecord::get();
  std::lock_guard<std::mutex> lock(record.mutex);
  record.forget(this);
}

void LoggerHook::before_run(RunnerBase& runner) {
  LoggerRecord& record = LoggerRecord::get();
  std::lock_guard<std::mutex> lock(record.mutex);
  auto& list = record.loggers[&runner];
  list.erase(std::remove(list.begin(), list.end(), this), list.end());
  list.push_back(this);
}

std::vector<LoggerHook*> LoggerHook::loggers_of(const RunnerBase& runner) {
  LoggerRecord& record = LoggerRecord::get();
  std::lock_guard<std::mutex> lock(record.mutex);
  auto it = record.loggers.find(&runner);
  return it == record.loggers.end() ? std::vector<LoggerHook*>{} : it->second;
}

bool LoggerHook::resets(const RunnerBase& runner) const {
  if (settings_.reset_flag) return true;
  const auto loggers = loggers_of(runner);
  return !loggers.empty() && loggers.back() == this;
}

void LoggerHook::after_train_iter(RunnerBase& runner) {
  if (settings_.by_epoch && every_n_inner_iters(runner, settings_.interval)) {
    runner.log_average(settings_.interval);
  } else if (!settings_.by_epoch && every_n_iters(runner, settings_.interval)) {
    runner.log_average(settings_.interval);
  } else if (end_of_epoch(runner) && !settings_.ignore_last) {
    // Not precise (the tail is shorter than interval) but more stable, as MMCV says.
    runner.log_average(settings_.interval);
  }
  if (runner.log_ready()) log_and_reset(runner);
}

void LoggerHook::after_train_epoch(RunnerBase& runner) {
  if (runner.log_ready()) log_and_reset(runner);
}

void LoggerHook::after_val_epoch(RunnerBase& runner) {
  runner.log_average(0);
  log_and_reset(runner);
}

void LoggerHook::log_and_reset(RunnerBase& runner) {
  log(runner);
  if (resets(runner)) runner.log_clear_output();
}

std::string LoggerHook::get_mode(const RunnerBase& runner) {
  const std::string& mode = runner.mode();
  if (mode == "val") return "val";
  if (mode != "train") {
    throw Error("runner mode should be 'train' or 'val', but got '" + mode + "'");
  }
  for (const auto& [key, value] : runner.log_output()) {
    if (key == "time") return "train";
  }
  return "val";
}

int64_t LoggerHook::get_epoch(const RunnerBase& runner) {
  // In validation, runner.epoch has already been incremented by the training epoch before it.
  return runner.mode() == "train" ? runner.epoch() + 1 : runner.epoch();
}

int64_t LoggerHook::get_iter(const RunnerBase& runner, bool inner_iter) const {
  if (settings_.by_epoch && inner_iter) return runner.inner_iter() + 1;
  return runner.iter() + 1;
}

}  // namespace detkit::hooks
