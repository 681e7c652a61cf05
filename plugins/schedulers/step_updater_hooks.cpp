// MMCV 1.7.2's step policies (StepLrUpdaterHook in lr_updater.py, StepMomentumUpdaterHook in
// momentum_updater.py). With b the group's base value and p the epoch (by_epoch) or iteration:
//
//   e = p // step                    (step: an int, the decay interval)
//   e = number of milestones <= p    (step: a list of epochs or iterations)
//   value = max(b * gamma^e, min)    (min_lr / min_momentum; no clipping when null)
//
// MMDetection's 1x schedule is `lr_config: {policy: step, step: [8, 11], warmup: linear,
// warmup_iters: 500, warmup_ratio: 0.001}`.
#include <algorithm>
#include <cmath>

#include "detkit/registry.h"
#include "updater_hook.h"

namespace detkit::schedulers {

namespace {

/// MMCV's `step`: the decay interval, or the milestones (increasing).
struct StepRule {
  std::optional<int64_t> interval;
  std::vector<int64_t> milestones;

  /// Reads `step` for `type`; InvalidParameter("step") when missing, empty, <= 0 or unsorted.
  static StepRule from(const ConfigNode& step, const std::string& type) {
    StepRule rule;
    if (step.is_null()) {
      throw InvalidParameter("step", type +
                                         ": step is required: an int (decay every `step` "
                                         "epochs or iterations) or a list of milestones");
    }
    if (step.is_int()) {
      rule.interval = step.as_int();
      if (*rule.interval <= 0) {
        throw InvalidParameter("step",
                               type + ": step must be > 0, got " + std::to_string(*rule.interval));
      }
      return rule;
    }
    if (!step.is_list() || step.size() == 0) {
      throw InvalidParameter("step", type +
                                         ": step must be an int or a non-empty list of ints, "
                                         "got " +
                                         step.to_flow());
    }
    rule.milestones = ConfigValue<std::vector<int64_t>>::from(step);
    for (size_t i = 0; i < rule.milestones.size(); ++i) {
      if (rule.milestones[i] <= 0) {
        throw InvalidParameter("step", type + ": every step must be > 0, got " + step.to_flow());
      }
      // MMCV counts the milestones before the first one above p: an unsorted list silently
      // skips decays.
      if (i > 0 && rule.milestones[i] <= rule.milestones[i - 1]) {
        throw InvalidParameter("step",
                               type + ": the steps must be increasing, got " + step.to_flow());
      }
    }
    return rule;
  }

  /// The exponent of gamma at progress p.
  int64_t exponent(int64_t p) const {
    if (interval) return p / *interval;
    return std::upper_bound(milestones.begin(), milestones.end(), p) - milestones.begin();
  }
};

/// Declares `step` (a ConfigNode field) as int | list[int].
template <class P>
void declare_step(P& p, ConfigNode& field, const char* what) {
  ParamSpec interval = param_spec_of<int64_t>();
  ParamSpec milestones = param_spec_of<std::vector<int64_t>>();
  p.param("step", field,
          std::string("required: decay ") + what +
              " every `step` epochs/iterations (int) or at each milestone (list)")
      .or_one_of({interval, milestones});
}

}  // namespace

/// Options of StepLrUpdaterHook; names and defaults as MMCV's.
struct StepLrUpdaterHookOptions : LrUpdaterOptions {
  /// The decay interval (int) or milestones (list); required.
  TORCH_ARG(ConfigNode, step) = ConfigNode();
  /// Factor applied at each step.
  TORCH_ARG(double, gamma) = 0.1;
  /// Lower bound of the lr; null: no clipping.
  TORCH_ARG(std::optional<double>, min_lr) = std::nullopt;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Step LR decay (MMCV StepLrUpdaterHook): lr = max(base_lr * gamma^steps_passed, "
        "min_lr).");
    declare_step(p, step_, "the lr");
    DETKIT_PARAM(p, gamma, "factor applied at each step");
    DETKIT_PARAM(p, min_lr, "lower bound of the lr; null: no clipping");
    declare_updater(p);
  }
};

/// lr = max(b * gamma^e, min_lr) (see the file comment).
class StepLrUpdaterHook : public UpdaterHook {
 public:
  using Options = StepLrUpdaterHookOptions;
  /// The policy for `options_`; `step` must be set.
  explicit StepLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : UpdaterHook("StepLrUpdaterHook", options_, context),
        options(options_),
        rule_(StepRule::from(options.step(), "StepLrUpdaterHook")) {}
  /// The options the policy was built with.
  Options options;

 protected:
  double regular_value(double base, const Position& at) const override {
    const double lr =
        base * std::pow(options.gamma(), static_cast<double>(rule_.exponent(progress(at))));
    return options.min_lr() ? std::max(lr, *options.min_lr()) : lr;
  }

 private:
  StepRule rule_;
};

/// Options of StepMomentumUpdaterHook; names and defaults as MMCV's.
struct StepMomentumUpdaterHookOptions : MomentumUpdaterOptions {
  /// The decay interval (int) or milestones (list); required.
  TORCH_ARG(ConfigNode, step) = ConfigNode();
  /// Factor applied at each step.
  TORCH_ARG(double, gamma) = 0.5;
  /// Lower bound of the momentum; null: no clipping.
  TORCH_ARG(std::optional<double>, min_momentum) = std::nullopt;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Step momentum decay (MMCV StepMomentumUpdaterHook): momentum = "
        "max(base_momentum * gamma^steps_passed, min_momentum).");
    declare_step(p, step_, "the momentum");
    DETKIT_PARAM(p, gamma, "factor applied at each step");
    DETKIT_PARAM(p, min_momentum, "lower bound of the momentum; null: no clipping");
    declare_updater(p);
  }
};

/// momentum = max(b * gamma^e, min_momentum) (see the file comment).
class StepMomentumUpdaterHook : public UpdaterHook {
 public:
  using Options = StepMomentumUpdaterHookOptions;
  /// The policy for `options_`; `step` must be set.
  explicit StepMomentumUpdaterHook(const Options& options_ = {},
                                   const SchedulerContext& context = {})
      : UpdaterHook("StepMomentumUpdaterHook", options_, context),
        options(options_),
        rule_(StepRule::from(options.step(), "StepMomentumUpdaterHook")) {}
  /// The options the policy was built with.
  Options options;

 protected:
  double regular_value(double base, const Position& at) const override {
    const double momentum =
        base * std::pow(options.gamma(), static_cast<double>(rule_.exponent(progress(at))));
    return options.min_momentum() ? std::max(momentum, *options.min_momentum()) : momentum;
  }

 private:
  StepRule rule_;
};

DETKIT_REGISTER(scheduler, StepLrUpdaterHook);
DETKIT_REGISTER(scheduler, StepMomentumUpdaterHook);

}  // namespace detkit::schedulers
