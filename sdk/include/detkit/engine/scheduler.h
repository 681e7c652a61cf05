// The LR / momentum policy interface (kind `scheduler`): what `lr_config: {policy: P}` and
// `momentum_config: {policy: P}` name. As in MMCV, a policy is a hook: the config's `policy: step`
// names the registered type `StepLrUpdaterHook` (`policy: cyclic` in momentum_config names
// `CyclicMomentumUpdaterHook`), so a plugin adds a policy by registering `<Name>LrUpdaterHook`.
//
// Contract: built with a SchedulerContext (the optimizer whose groups it drives); at
// before_run it records each group's initial value, and at before_train_epoch /
// before_train_iter it sets every group's lr (or momentum / Adam's beta1) to value_at().
#pragma once

#include <cstdint>

#include "detkit/engine/hook.h"

namespace detkit {

/// What a policy drives.
enum class ScheduleTarget { lr, momentum };

/// Base class of LR and momentum policies.
class DETKIT_API SchedulerBase : public HookBase {
 public:
  ~SchedulerBase() override;
  /// What this policy sets.
  virtual ScheduleTarget target() const = 0;
  /// The value of a group whose initial value is `base` at epoch `epoch` and global iteration
  /// `iter` (0-based) of a run of `max_epochs` / `max_iters`, warmup included.
  virtual double value_at(double base, int64_t epoch, int64_t iter, int64_t max_epochs,
                          int64_t max_iters) const = 0;
  /// LR policies run before other hooks (MMCV: VERY_HIGH).
  int default_priority() const override { return static_cast<int>(HookPriority::very_high); }
};

}  // namespace detkit
