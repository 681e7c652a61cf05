// IterTimerHook (MMCV 1.7's mmcv/runner/hooks/iter_timer.py): records `data_time` (the wait
// for the batch) before each iteration and `time` (the whole iteration) after it, in seconds,
// into the log buffer, in training and validation alike.
#include <chrono>

#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"
#include "detkit/params.h"
#include "detkit/registry.h"

namespace detkit::hooks {

/// IterTimerHook has no parameters.
struct IterTimerHookOptions {
  /// The (empty) declaration.
  template <class P>
  void declare(P& p) {
    p.summary("Log `data_time` and `time` of every iteration (MMCV IterTimerHook).");
  }
};

/// MMCV's IterTimerHook; MMDetection registers it with priority LOW.
class IterTimerHook : public HookBase {
 public:
  using Options = IterTimerHookOptions;
  /// Nothing to configure.
  explicit IterTimerHook(const IterTimerHookOptions& = {}) {}

  /// Starts the clock at each epoch, records data_time before and time after each iteration.
  void before_train_epoch(RunnerBase&) override { start(); }
  void before_val_epoch(RunnerBase&) override { start(); }
  void before_train_iter(RunnerBase& runner) override { before_iter(runner); }
  void before_val_iter(RunnerBase& runner) override { before_iter(runner); }
  void after_train_iter(RunnerBase& runner) override { after_iter(runner); }
  void after_val_iter(RunnerBase& runner) override { after_iter(runner); }
  int default_priority() const override { return static_cast<int>(HookPriority::low); }

 private:
  using Clock = std::chrono::steady_clock;

  void start() { t_ = Clock::now(); }
  /// Seconds since the last mark.
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t_).count(); }
  void before_iter(RunnerBase& runner) { runner.log_update("data_time", elapsed()); }
  void after_iter(RunnerBase& runner) {
    runner.log_update("time", elapsed());
    start();
  }

  Clock::time_point t_ = Clock::now();
};

DETKIT_REGISTER(hook, IterTimerHook);

}  // namespace detkit::hooks
