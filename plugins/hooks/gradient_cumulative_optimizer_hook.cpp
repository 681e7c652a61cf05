// GradientCumulativeOptimizerHook (MMCV 1.7): accumulate the gradients of `cumulative_iters`
// iterations, then clip and step once, which approximates a batch `cumulative_iters` times
// larger. The loss is divided by cumulative_iters, and in the last max_iters % cumulative_iters
// iterations of training (too few for a full group) by their number.
#include <torch/torch.h>

#include "detkit/engine/dist_utils.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/modeling/detector.h"
#include "detkit/registry.h"
#include "hook_utils.h"
#include "optimizer_hook.h"

namespace detkit::hooks {

/// MMCV's GradientCumulativeOptimizerHook (priority ABOVE_NORMAL, as OptimizerHook).
class GradientCumulativeOptimizerHook : public OptimizerHook {
 public:
  using OptimizerHook::OptimizerHook;

  /// The schema (the same keys as OptimizerHook).
  static Schema schema() {
    return optimizer_hook_schema(
        "Accumulate gradients over `cumulative_iters` iterations, then clip and step (MMCV "
        "GradientCumulativeOptimizerHook).");
  }
  /// Builds the hook from its validated config.
  static std::shared_ptr<GradientCumulativeOptimizerHook> create(const ComponentConfig& cfg,
                                                                 const HookContext&) {
    return std::make_shared<GradientCumulativeOptimizerHook>(optimizer_hook_options(cfg));
  }

  /// Accumulates the scaled gradient; every `cumulative_iters` (and at the last iteration)
  /// clips, steps and zeroes the gradients.
  void after_train_iter(RunnerBase& runner) override {
    torch::optim::Optimizer& optimizer =
        require_optimizer(runner, "GradientCumulativeOptimizerHook").optimizer();
    if (!initialized_) init(runner);
    torch::Tensor loss = trainable_loss(runner, "GradientCumulativeOptimizerHook");
    if (options_.detect_anomalous_params) detect_anomalous_parameters(loss, runner);
    (loss / static_cast<double>(loss_factor(runner))).backward();
    if (every_n_iters(runner, options_.cumulative_iters) || is_last_iter(runner)) {
      average_gradients(runner);  // the accumulated gradients' mean over the ranks
      clip_grads(runner);
      optimizer.step();
      optimizer.zero_grad();
    }
  }

 private:
  /// MMCV's _init: warnings, and the split of max_iters into full groups and a remainder.
  void init(RunnerBase& runner) {
    const int64_t cumulative = options_.cumulative_iters;
    if (runner.iter() % cumulative != 0) {
      runner.log_info(
          "Resume iter number is not divisible by cumulative_iters in "
          "GradientCumulativeOptimizerHook, which means the gradient of some iters is lost and "
          "the result may be influenced slightly.");
    }
    if (cumulative > 1 && has_batch_norm(runner.model())) {
      runner.log_info(
          "GradientCumulativeOptimizerHook may slightly decrease performance if the model has "
          "BatchNorm layers.");
    }
    const int64_t max_iters = total_iters(runner);
    divisible_iters_ = max_iters / cumulative * cumulative;
    remainder_iters_ = max_iters - divisible_iters_;
    initialized_ = true;
  }

  /// What the loss is divided by in this iteration.
  int64_t loss_factor(RunnerBase& runner) {
    if (runner.iter() < total_iters(runner) - remainder_iters_) return options_.cumulative_iters;
    if (!remainder_warned_) {
      runner.log_info("Loss will be divided by " + std::to_string(remainder_iters_) +
                      " in the last " + std::to_string(remainder_iters_) +
                      " iterations because they are not enough for " +
                      std::to_string(options_.cumulative_iters) + " cumulative_iters.");
      remainder_warned_ = true;
    }
    return remainder_iters_;
  }

  /// Whether any submodule is a batch norm (MMCV's _BatchNorm: BatchNorm1d/2d/3d, SyncBN).
  static bool has_batch_norm(const torch::nn::Module& model) {
    for (const auto& module : model.modules(/*include_self=*/false)) {
      const std::string& name = module->name();
      if (name.find("BatchNorm") != std::string::npos || name.find("SyncBN") != std::string::npos)
        return true;
    }
    return false;
  }

  bool initialized_ = false;
  bool remainder_warned_ = false;
  int64_t divisible_iters_ = 0;
  int64_t remainder_iters_ = 0;
};

DETKIT_REGISTER(hook, GradientCumulativeOptimizerHook);

}  // namespace detkit::hooks
