// OptimizerHook and GradientCumulativeOptimizerHook (MMCV 1.7's mmcv/runner/hooks/optimizer.py):
// after each training iteration, back-propagate the step's loss, clip the gradients and step
// the optimizer. Built from the config's `optimizer_config` (its schema equals the one `detkit
// config check` validates that section with: type, grad_clip {max_norm, norm_type},
// cumulative_iters, detect_anomalous_params).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "detkit/build_context.h"
#include "detkit/component_config.h"
#include "detkit/engine/hook.h"
#include "detkit/schema.h"

namespace detkit::hooks {

/// `grad_clip`: torch.nn.utils.clip_grad_norm_'s arguments.
struct GradClipOptions {
  double max_norm = 0.0;
  double norm_type = 2.0;
};

/// Options of the optimizer hooks (names as MMCV's arguments).
struct OptimizerHookOptions {
  /// Clip gradients before each step; none = no clipping.
  std::optional<GradClipOptions> grad_clip;
  /// Log the parameters that are not in the loss's graph (slow; for debugging).
  bool detect_anomalous_params = false;
  /// Iterations whose gradients are accumulated before each step.
  int64_t cumulative_iters = 1;
};

/// The schema of `optimizer_config` (both hooks accept the same keys).
Schema optimizer_hook_schema(const std::string& summary);
/// The options a validated config holds.
OptimizerHookOptions optimizer_hook_options(const ComponentConfig& cfg);

/// MMCV's OptimizerHook: zero_grad, loss.backward(), clip_grad_norm_ (the norm logged as
/// `grad_norm`), optimizer.step(). Priority ABOVE_NORMAL.
class OptimizerHook : public HookBase {
 public:
  /// A hook with `options` (cumulative_iters is not used).
  explicit OptimizerHook(OptimizerHookOptions options);

  /// The schema (MMCV's arguments; cumulative_iters must stay 1 here).
  static Schema schema();
  /// Builds the hook from its validated config.
  static std::shared_ptr<OptimizerHook> create(const ComponentConfig& cfg, const HookContext&);

  /// zero_grad, backward, clip, step.
  void after_train_iter(RunnerBase& runner) override;
  /// ABOVE_NORMAL.
  int default_priority() const override { return static_cast<int>(HookPriority::above_normal); }

  /// The options the hook was built with.
  const OptimizerHookOptions& options() const { return options_; }

 protected:
  /// clip_grad_norm_ over the model's parameters that require a gradient and have one; logs
  /// the total norm as `grad_norm` (count = the step's samples). Nothing without grad_clip.
  void clip_grads(RunnerBase& runner) const;
  /// In a distributed run: replaces the gradients by their mean over the ranks (DDP), and logs
  /// the seconds it took as `allreduce_time`.
  void average_gradients(RunnerBase& runner) const;
  /// MMCV's detect_anomalous_parameters: logs every trainable parameter the loss's autograd
  /// graph does not reach.
  void detect_anomalous_parameters(const torch::Tensor& loss, RunnerBase& runner) const;

  OptimizerHookOptions options_;
};

/// The optimizer of `runner`; throws detkit::Error naming `hook` when the runner has none.
OptimizerBase& require_optimizer(RunnerBase& runner, const char* hook);
/// The step's loss, checked to be a scalar that requires grad (else detkit::Error).
torch::Tensor trainable_loss(const RunnerBase& runner, const char* hook);

}  // namespace detkit::hooks
