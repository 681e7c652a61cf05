// CheckInvalidLossHook (MMDetection 2.25's mmdet/core/hook/checkloss_hook.py): every `interval`
// training iterations (every one with interval 1), stops training with an error when a logged
// loss is NaN or infinite, naming the loss, its value, the epoch and iteration, and the last
// checkpoint (which is kept).
#include <torch/torch.h>

#include <cmath>

#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "hook_utils.h"

namespace detkit::hooks {

/// Options of CheckInvalidLossHook; names and defaults as MMDetection's.
struct CheckInvalidLossHookOptions {
  TORCH_ARG(int64_t, interval) = 50;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Stop training when a loss becomes NaN or infinite (MMDetection "
        "CheckInvalidLossHook).");
    DETKIT_PARAM(p, interval, "check every `interval` iterations (1: every one)").min(1);
  }
};

/// MMDetection's CheckInvalidLossHook (priority VERY_LOW: after the other hooks of the
/// iteration, so the log line of a bad iteration is still written).
class CheckInvalidLossHook : public HookBase {
 public:
  using Options = CheckInvalidLossHookOptions;

  /// Checks the options (InvalidParameter on a violation).
  explicit CheckInvalidLossHook(const CheckInvalidLossHookOptions& options_) : options(options_) {
    check_options(options, "CheckInvalidLossHook");
  }

  /// Every `interval` iterations: throws detkit::Error on the first NaN or infinite loss.
  void after_train_iter(RunnerBase& runner) override {
    if (!every_n_iters(runner, options.interval())) return;
    for (const auto& [name, value] : runner.step_log_vars()) {
      if (!std::isfinite(value)) fail(runner, name, value);
    }
    const torch::Tensor loss = runner.step_loss();
    if (loss.defined() && loss.numel() == 1) {
      const double value = loss.detach().item<double>();
      if (!std::isfinite(value)) fail(runner, "loss", value);
    }
  }

  /// VERY_LOW.
  int default_priority() const override { return static_cast<int>(HookPriority::very_low); }

  /// The options the hook was built with (the registry prints them).
  CheckInvalidLossHookOptions options;

 private:
  [[noreturn]] static void fail(RunnerBase& runner, const std::string& name, double value) {
    std::string checkpoint = "no checkpoint was saved yet";
    if (const ConfigNode* last = hook_msgs(runner).find("last_ckpt");
        last != nullptr && last->is_string()) {
      checkpoint = "the last checkpoint, " + last->as_string() + ", is kept";
    }
    const std::string text = std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
    throw Error("loss became infinite or NaN: " + name + " = " + text + " at epoch " +
                std::to_string(runner.epoch() + 1) + ", iteration " +
                std::to_string(runner.inner_iter() + 1) + " of " +
                std::to_string(runner.iters_per_epoch()) + " (" +
                std::to_string(runner.iter() + 1) + " in all); training stopped, " + checkpoint +
                " (lower the learning rate, add warmup or grad_clip)");
  }
};

DETKIT_REGISTER(hook, CheckInvalidLossHook);

}  // namespace detkit::hooks
