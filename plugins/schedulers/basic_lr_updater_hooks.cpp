// MMCV 1.7.2's closed-form LR policies (mmcv/runner/hooks/lr_updater.py), with b the group's
// base lr, p the epoch (by_epoch) or iteration and P max_epochs or max_iters:
//
//   FixedLrUpdaterHook   lr = b
//   ExpLrUpdaterHook     lr = b * gamma^p
//   PolyLrUpdaterHook    lr = (b - min_lr) * (1 - p / P)^power + min_lr
//   InvLrUpdaterHook     lr = b * (1 + gamma * p)^(-power)
//
// Each also takes the base arguments (updater_hook.h): by_epoch, warmup, warmup_iters,
// warmup_ratio, warmup_by_epoch.
#include <cmath>

#include "detkit/registry.h"
#include "updater_hook.h"

namespace detkit::schedulers {

/// Options of FixedLrUpdaterHook: the base arguments only.
struct FixedLrUpdaterHookOptions : LrUpdaterOptions {
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Constant LR (MMCV FixedLrUpdaterHook), with an optional warmup.");
    declare_updater(p);
  }
};

/// lr = b: the base lr, after the optional warmup.
class FixedLrUpdaterHook : public UpdaterHook {
 public:
  using Options = FixedLrUpdaterHookOptions;
  /// The policy for `options_`, driving the context's optimizer (else the runner's).
  explicit FixedLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : UpdaterHook("FixedLrUpdaterHook", options_, context), options(options_) {}
  /// The options the policy was built with.
  Options options;

 protected:
  double regular_value(double base, const Position&) const override { return base; }
};

/// Options of ExpLrUpdaterHook; names as MMCV's (gamma is required there).
struct ExpLrUpdaterHookOptions : LrUpdaterOptions {
  /// Factor per epoch (by_epoch) or iteration; required.
  TORCH_ARG(std::optional<double>, gamma) = std::nullopt;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Exponential LR decay (MMCV ExpLrUpdaterHook): lr = base_lr * gamma^progress.");
    DETKIT_PARAM(p, gamma, "factor per epoch (by_epoch) or iteration; required").min(0);
    declare_updater(p);
  }
};

/// lr = b * gamma^p.
class ExpLrUpdaterHook : public UpdaterHook {
 public:
  using Options = ExpLrUpdaterHookOptions;
  /// The policy for `options_`; gamma must be set.
  explicit ExpLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : UpdaterHook("ExpLrUpdaterHook", options_, context), options(options_) {
    if (!options.gamma())
      throw InvalidParameter("gamma", "ExpLrUpdaterHook: gamma is required (the factor per step)");
  }
  /// The options the policy was built with.
  Options options;

 protected:
  double regular_value(double base, const Position& at) const override {
    return base * std::pow(*options.gamma(), static_cast<double>(progress(at)));
  }
};

/// Options of PolyLrUpdaterHook; names and defaults as MMCV's.
struct PolyLrUpdaterHookOptions : LrUpdaterOptions {
  /// Exponent of the decay.
  TORCH_ARG(double, power) = 1.0;
  /// The lr reached at the end of the run.
  TORCH_ARG(double, min_lr) = 0.0;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Polynomial LR decay (MMCV PolyLrUpdaterHook): "
        "(base_lr - min_lr) * (1 - progress / max_progress)^power + min_lr.");
    DETKIT_PARAM(p, power, "exponent of (1 - progress / max_progress)");
    DETKIT_PARAM(p, min_lr, "the lr the decay ends at");
    declare_updater(p);
  }
};

/// lr = (b - min_lr) * (1 - p / P)^power + min_lr.
class PolyLrUpdaterHook : public UpdaterHook {
 public:
  using Options = PolyLrUpdaterHookOptions;
  /// The policy for `options_`.
  explicit PolyLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : UpdaterHook("PolyLrUpdaterHook", options_, context), options(options_) {}
  /// The options the policy was built with.
  Options options;

 protected:
  double regular_value(double base, const Position& at) const override {
    const double coeff = std::pow(1.0 - fraction(at), options.power());
    return (base - options.min_lr()) * coeff + options.min_lr();
  }
};

/// Options of InvLrUpdaterHook; names and defaults as MMCV's (gamma is required there).
struct InvLrUpdaterHookOptions : LrUpdaterOptions {
  /// Rate of the decay; required.
  TORCH_ARG(std::optional<double>, gamma) = std::nullopt;
  /// Exponent of the decay.
  TORCH_ARG(double, power) = 1.0;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Inverse LR decay (MMCV InvLrUpdaterHook): "
        "lr = base_lr * (1 + gamma * progress)^(-power).");
    DETKIT_PARAM(p, gamma, "rate of the decay; required");
    DETKIT_PARAM(p, power, "exponent of the decay");
    declare_updater(p);
  }
};

/// lr = b * (1 + gamma * p)^(-power).
class InvLrUpdaterHook : public UpdaterHook {
 public:
  using Options = InvLrUpdaterHookOptions;
  /// The policy for `options_`; gamma must be set.
  explicit InvLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : UpdaterHook("InvLrUpdaterHook", options_, context), options(options_) {
    if (!options.gamma())
      throw InvalidParameter("gamma", "InvLrUpdaterHook: gamma is required (the rate of decay)");
  }
  /// The options the policy was built with.
  Options options;

 protected:
  double regular_value(double base, const Position& at) const override {
    return base *
           std::pow(1.0 + *options.gamma() * static_cast<double>(progress(at)), -options.power());
  }
};

DETKIT_REGISTER(scheduler, FixedLrUpdaterHook);
DETKIT_REGISTER(scheduler, ExpLrUpdaterHook);
DETKIT_REGISTER(scheduler, PolyLrUpdaterHook);
DETKIT_REGISTER(scheduler, InvLrUpdaterHook);

}  // namespace detkit::schedulers
