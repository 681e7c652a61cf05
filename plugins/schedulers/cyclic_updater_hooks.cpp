// MMCV 1.7.2's cyclic policies (CyclicLrUpdaterHook in lr_updater.py, CyclicMomentumUpdaterHook
// in momentum_updater.py), counted in iterations only. With b the group's base value,
// (r0, r1) = target_ratio, L = max_iters // cyclic_times and U = int(step_ratio_up * L):
//
//   c = iter % L, s = gamma^(iter // L)
//   c <  U:  value = anneal(b, b * (1 - s + r0 * s), c / U)          (up to r0)
//   c >= U:  value = anneal(b * (1 - s + r0 * s), b * r1, (c - U) / (L - U))
//
// anneal is annealing_cos or annealing_linear (anneal_strategy). A single ratio r means
// (r, r / 1e5). The documented pairing for 3D detection is an LR cycle with target_ratio
// [10, 1.0e-4] and a momentum cycle with [0.8947, 1] (the momentum falls while the LR rises).
#include <cmath>

#include "detkit/registry.h"
#include "updater_hook.h"

namespace detkit::schedulers {

/// The arguments of the cyclic policies (T = lr or momentum), after the base arguments.
template <ScheduleTarget T>
struct CyclicOptions : UpdaterOptions<T> {
  /// The peak ratio and the final ratio of the base value (a single number r: (r, r / 1e5)).
  TORCH_ARG(ConfigNode, target_ratio) = ConfigValue<std::vector<double>>::to(
      T == ScheduleTarget::lr ? std::vector<double>{10.0, 1e-4}
                              : std::vector<double>{0.85 / 0.95, 1.0});
  /// Number of cycles in the run.
  TORCH_ARG(int64_t, cyclic_times) = 1;
  /// Fraction of a cycle spent going from the base value to the peak.
  TORCH_ARG(double, step_ratio_up) = 0.4;
  /// "cos" or "linear".
  TORCH_ARG(std::string, anneal_strategy) = "cos";
  /// Each cycle's amplitude is gamma times the previous one's.
  TORCH_ARG(double, gamma) = 1.0;

 public:
  /// By default the cycle counts iterations (by_epoch true is refused).
  CyclicOptions() { this->by_epoch(false); }

  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    const bool lr = T == ScheduleTarget::lr;
    p.summary(lr ? "Cyclic LR (MMCV CyclicLrUpdaterHook): per cycle, up from the base lr to "
                   "target_ratio[0] * base_lr, then down to target_ratio[1] * base_lr."
                 : "Cyclic momentum (MMCV CyclicMomentumUpdaterHook): per cycle, from the base "
                   "momentum to target_ratio[0] * base, then to target_ratio[1] * base.");
    ParamSpec ratios = param_spec_of<std::vector<double>>();
    DETKIT_PARAM(p, target_ratio,
                 "[peak ratio, final ratio] of the base value, or one ratio r "
                 "meaning [r, r / 1e5]")
        .or_one_of({param_spec_of<double>(), ratios});
    DETKIT_PARAM(p, cyclic_times, "number of cycles in the run").min(1);
    DETKIT_PARAM(p, step_ratio_up, "fraction of a cycle spent going to the peak")
        .min(0)
        .less_than(1);
    DETKIT_PARAM(p, anneal_strategy, "cos or linear").choices({"cos", "linear"});
    DETKIT_PARAM(p, gamma, "amplitude factor per cycle").greater_than(0).max(1);
    this->declare_updater(p);
  }
};

/// A cyclic policy (see the file comment) over options O.
template <class O>
class CyclicHook : public UpdaterHook {
 public:
  using Options = O;
  /// The options the policy was built with.
  Options options;

 protected:
  /// Checks the options: by_epoch false, one or two ratios.
  CyclicHook(const char* type, const Options& options_, const SchedulerContext& context)
      : UpdaterHook(type, options_, context), options(options_) {
    if (options.by_epoch()) {
      throw InvalidParameter("by_epoch", std::string(type) +
                                             ": currently only by_epoch: false is supported "
                                             "(the cycle is counted in iterations)");
    }
    const ConfigNode& ratio = options.target_ratio();
    std::vector<double> values;
    if (ratio.is_number()) {
      values = {ratio.as_double()};
    } else if (ratio.is_list()) {
      values = ConfigValue<std::vector<double>>::from(ratio);
    }
    if (values.size() == 1) values.push_back(values[0] / 1e5);
    if (values.size() != 2) {
      throw InvalidParameter("target_ratio", std::string(type) +
                                                 ": target_ratio must be a number or a list of "
                                                 "two numbers, got " +
                                                 ratio.to_flow());
    }
    peak_ = values[0];
    end_ = values[1];
  }

  /// A cycle must last at least one iteration.
  void check_run(const Position& run) const override {
    if (run.max_iters / options.cyclic_times() < 1) {
      throw Error(type() + ": cyclic_times (" + std::to_string(options.cyclic_times()) +
                  ") is more than the run's " + std::to_string(run.max_iters) +
                  " iterations: lower cyclic_times in " + section());
    }
  }

  double regular_value(double base, const Position& at) const override {
    const int64_t length = at.max_iters / options.cyclic_times();
    if (length < 1) check_run(at);
    const auto up = static_cast<int64_t>(options.step_ratio_up() * static_cast<double>(length));
    const int64_t c = at.iter % length;
    const double scale = std::pow(options.gamma(), static_cast<double>(at.iter / length));
    const double peak = 1.0 - scale + peak_ * scale;
    if (c < up) {
      return anneal(options.anneal_strategy(), base, base * peak,
                    static_cast<double>(c) / static_cast<double>(up));
    }
    return anneal(options.anneal_strategy(), base * peak, base * end_,
                  static_cast<double>(c - up) / static_cast<double>(length - up));
  }

 private:
  double peak_ = 0.0;
  double end_ = 0.0;
};

/// Options of CyclicLrUpdaterHook; names and defaults as MMCV's.
struct CyclicLrUpdaterHookOptions : CyclicOptions<ScheduleTarget::lr> {};

/// The cyclic LR (see the file comment).
class CyclicLrUpdaterHook : public CyclicHook<CyclicLrUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit CyclicLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : CyclicHook("CyclicLrUpdaterHook", options_, context) {}
};

/// Options of CyclicMomentumUpdaterHook; names and defaults as MMCV's.
struct CyclicMomentumUpdaterHookOptions : CyclicOptions<ScheduleTarget::momentum> {};

/// The cyclic momentum (see the file comment).
class CyclicMomentumUpdaterHook : public CyclicHook<CyclicMomentumUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit CyclicMomentumUpdaterHook(const Options& options_ = {},
                                     const SchedulerContext& context = {})
      : CyclicHook("CyclicMomentumUpdaterHook", options_, context) {}
};

DETKIT_REGISTER(scheduler, CyclicLrUpdaterHook);
DETKIT_REGISTER(scheduler, CyclicMomentumUpdaterHook);

}  // namespace detkit::schedulers
