// MMCV 1.7.2's 1cycle policies (OneCycleLrUpdaterHook in lr_updater.py,
// OneCycleMomentumUpdaterHook in momentum_updater.py), counted in iterations only.
//
// LR: the base lr is replaced by b = max_lr / div_factor (and `initial_lr` is set to it when
// the group has none). With T = total_steps (default max_iters) and p = pct_start, the phases
// are (end iteration, start factor, end factor):
//   two phases:   (p*T - 1, 1, div_factor), (T - 1, div_factor, 1 / final_div_factor)
//   three phases: (p*T - 1, 1, div_factor), (2p*T - 2, div_factor, 1),
//                 (T - 1, 1, 1 / final_div_factor)
// The first phase with iter <= end gives lr = anneal(b * start, b * end, (iter - prev) /
// (end - prev)), prev being the previous phase's end (0 for the first).
//
// Momentum moves inversely, between max_momentum and base_momentum, over max_iters:
//   two phases:   (p*T - 1, max -> base), (T - 1, base -> max)
//   three phases: (p*T - 1, max -> base), (2p*T - 2, base -> max), (T - 1, max -> max)
// the last phase also taking any iteration past its end; before_run sets each group's momentum
// (Adam: beta1) to max_momentum.
#include <cmath>

#include "detkit/registry.h"
#include "updater_hook.h"

namespace detkit::schedulers {

namespace {

/// One phase of a 1cycle schedule: it ends at iteration `end`, going from `from` to `to`.
struct Phase {
  double end;
  double from;
  double to;
};

/// MMCV's walk over the phases (see the file comment); with `extend_last` the last phase also
/// takes iterations past its end (the momentum policy).
double walk_phases(const std::vector<Phase>& phases, int64_t iter, const std::string& strategy,
                   bool extend_last, const std::string& type) {
  double start = 0.0;
  const auto at = static_cast<double>(iter);
  for (size_t i = 0; i < phases.size(); ++i) {
    const Phase& phase = phases[i];
    if (at <= phase.end || (extend_last && i + 1 == phases.size())) {
      return anneal(strategy, phase.from, phase.to, (at - start) / (phase.end - start));
    }
    start = phase.end;
  }
  throw Error(type + ": iteration " + std::to_string(iter) +
              " is past the last phase, which ends at " + std::to_string(phases.back().end));
}

/// MMCV divides by zero at iteration 0 when the first phase ends at 0 (pct_start * T == 1).
void check_first_phase(const std::string& type, double pct_start, int64_t steps,
                       const char* steps_name, const char* section) {
  if (pct_start * static_cast<double>(steps) - 1.0 == 0.0) {
    throw Error(type + ": pct_start * " + steps_name +
                " = 1 makes the first phase 0 iterations "
                "long (it would divide by zero at iteration 0): change pct_start in " +
                section);
  }
}

}  // namespace

/// Options of OneCycleLrUpdaterHook; names and defaults as MMCV's.
struct OneCycleLrUpdaterHookOptions : LrUpdaterOptions {
  /// The peak lr: a number, or one per parameter group; required.
  TORCH_ARG(ConfigNode, max_lr) = ConfigNode();
  /// Length of the cycle in iterations; null: the run's max_iters.
  TORCH_ARG(std::optional<int64_t>, total_steps) = std::nullopt;
  /// Fraction of the cycle spent increasing the lr.
  TORCH_ARG(double, pct_start) = 0.3;
  /// "cos" or "linear".
  TORCH_ARG(std::string, anneal_strategy) = "cos";
  /// The starting lr is max_lr / div_factor.
  TORCH_ARG(double, div_factor) = 25.0;
  /// The final lr is max_lr / div_factor / final_div_factor.
  TORCH_ARG(double, final_div_factor) = 1e4;
  /// A third phase: up, back down to the starting lr, then down to the final lr.
  TORCH_ARG(bool, three_phase) = false;

 public:
  /// The cycle counts iterations (by_epoch true is refused).
  OneCycleLrUpdaterHookOptions() { by_epoch(false); }

  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "1cycle LR (MMCV OneCycleLrUpdaterHook): from max_lr / div_factor up to max_lr, "
        "then down to max_lr / div_factor / final_div_factor.");
    DETKIT_PARAM(p, max_lr, "required: the peak lr, or one per parameter group")
        .or_one_of({param_spec_of<double>(), param_spec_of<std::vector<double>>()});
    DETKIT_PARAM(p, total_steps, "cycle length in iterations (>= max_iters); null: max_iters")
        .min(1);
    DETKIT_PARAM(p, pct_start, "fraction of the cycle spent increasing the lr").range(0, 1);
    DETKIT_PARAM(p, anneal_strategy, "cos or linear").choices({"cos", "linear"});
    DETKIT_PARAM(p, div_factor, "the starting lr is max_lr / div_factor").greater_than(0);
    DETKIT_PARAM(p, final_div_factor, "the final lr is the starting lr / final_div_factor")
        .greater_than(0);
    DETKIT_PARAM(p, three_phase, "go back to the starting lr before the final decay");
    declare_updater(p);
  }
};

/// The 1cycle LR (see the file comment).
class OneCycleLrUpdaterHook : public UpdaterHook {
 public:
  using Options = OneCycleLrUpdaterHookOptions;

  /// The policy for `options_`: max_lr required, by_epoch false.
  explicit OneCycleLrUpdaterHook(const Options& options_ = {}, const SchedulerContext& context = {})
      : UpdaterHook(kName, options_, context), options(options_) {
    if (options.by_epoch()) {
      throw InvalidParameter("by_epoch", std::string(kName) +
                                             ": currently only by_epoch: false is supported "
                                             "(the cycle is counted in iterations)");
    }
    const ConfigNode& max_lr = options.max_lr();
    if (max_lr.is_null() || (max_lr.is_list() && max_lr.size() == 0)) {
      throw InvalidParameter("max_lr", std::string(kName) +
                                           ": max_lr is required (the peak lr, a number or one "
                                           "per parameter group)");
    }
  }

  /// The options the policy was built with.
  Options options;

 protected:
  /// total_steps must cover the run, and the first phase must last.
  void check_run(const Position& run) const override {
    const int64_t steps = options.total_steps().value_or(run.max_iters);
    if (steps < run.max_iters) {
      throw Error(std::string(kName) + ": total_steps (" + std::to_string(steps) +
                  ") must be >= the run's max_iters (" + std::to_string(run.max_iters) +
                  "): raise total_steps or remove it from " + section());
    }
    check_first_phase(kName, options.pct_start(), steps, "total_steps", section());
  }

  /// MMCV's before_run: base = max_lr / div_factor (per group); `initial_lr` is set to it when
  /// the group has none.
  std::vector<double> base_values(OptimizerBase& optimizer) override {
    const size_t groups = optimizer.num_groups();
    const ConfigNode& max_lr = options.max_lr();
    std::vector<double> peaks(groups, max_lr.is_number() ? max_lr.as_double() : 0.0);
    if (max_lr.is_list()) {
      peaks = ConfigValue<std::vector<double>>::from(max_lr);
      if (peaks.size() != groups) {
        throw Error(std::string(kName) + ": expected " + std::to_string(groups) +
                    " values for max_lr (one per parameter group), got " +
                    std::to_string(peaks.size()));
      }
    }
    std::vector<double> bases;
    for (size_t g = 0; g < groups; ++g) {
      bases.push_back(peaks[g] / options.div_factor());
      optimizer.setdefault(g, "initial_lr", bases.back());
    }
    return bases;
  }

  double regular_value(double base, const Position& at) const override {
    const auto steps = static_cast<double>(options.total_steps().value_or(at.max_iters));
    const double pct = options.pct_start(), div = options.div_factor();
    const double final_lr = base / options.final_div_factor();
    std::vector<Phase> phases;
    if (options.three_phase()) {
      phases = {{pct * steps - 1, base, base * div},
                {2 * pct * steps - 2, base * div, base},
                {steps - 1, base, final_lr}};
    } else {
      phases = {{pct * steps - 1, base, base * div}, {steps - 1, base * div, final_lr}};
    }
    return walk_phases(phases, at.iter, options.anneal_strategy(), /*extend_last=*/false, kName);
  }

 private:
  static constexpr const char* kName = "OneCycleLrUpdaterHook";
};

/// Options of OneCycleMomentumUpdaterHook; names and defaults as MMCV's.
struct OneCycleMomentumUpdaterHookOptions : MomentumUpdaterOptions {
  /// The momentum at the lr's peak (the lowest).
  TORCH_ARG(double, base_momentum) = 0.85;
  /// The momentum at the start and the end of the cycle (the highest).
  TORCH_ARG(double, max_momentum) = 0.95;
  /// Fraction of the cycle spent decreasing the momentum.
  TORCH_ARG(double, pct_start) = 0.3;
  /// "cos" or "linear".
  TORCH_ARG(std::string, anneal_strategy) = "cos";
  /// A third phase that holds max_momentum (pairs with the LR's three_phase).
  TORCH_ARG(bool, three_phase) = false;

 public:
  /// The cycle counts iterations (by_epoch true is refused).
  OneCycleMomentumUpdaterHookOptions() { by_epoch(false); }

  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "1cycle momentum (MMCV OneCycleMomentumUpdaterHook): from max_momentum down to "
        "base_momentum while the lr rises, then back up.");
    DETKIT_PARAM(p, base_momentum, "the lowest momentum, at the lr's peak");
    DETKIT_PARAM(p, max_momentum, "the highest momentum, at the start and the end");
    DETKIT_PARAM(p, pct_start, "fraction of the cycle spent decreasing the momentum").range(0, 1);
    DETKIT_PARAM(p, anneal_strategy, "cos or linear").choices({"cos", "linear"});
    DETKIT_PARAM(p, three_phase, "hold max_momentum in a third phase");
    declare_updater(p);
  }
};

/// The 1cycle momentum (see the file comment). value_at() does not depend on `base`: the
/// policy moves between base_momentum and max_momentum whatever the optimizer's momentum.
class OneCycleMomentumUpdaterHook : public UpdaterHook {
 public:
  using Options = OneCycleMomentumUpdaterHookOptions;

  /// The policy for `options_`: by_epoch false.
  explicit OneCycleMomentumUpdaterHook(const Options& options_ = {},
                                       const SchedulerContext& context = {})
      : UpdaterHook(kName, options_, context), options(options_) {
    if (options.by_epoch()) {
      throw InvalidParameter("by_epoch", std::string(kName) +
                                             ": currently only by_epoch: false is supported "
                                             "(the cycle is counted in iterations)");
    }
  }

  /// The options the policy was built with.
  Options options;

 protected:
  /// The first phase must last.
  void check_run(const Position& run) const override {
    check_first_phase(kName, options.pct_start(), run.max_iters, "max_iters", section());
  }

  /// MMCV's before_run: every group's momentum (Adam: beta1) becomes max_momentum.
  std::vector<double> base_values(OptimizerBase& optimizer) override {
    for (size_t g = 0; g < optimizer.num_groups(); ++g)
      optimizer.set_momentum(g, options.max_momentum());
    return std::vector<double>(optimizer.num_groups(), options.max_momentum());
  }

  double regular_value(double, const Position& at) const override {
    const auto steps = static_cast<double>(at.max_iters);
    const double pct = options.pct_start();
    const double low = options.base_momentum(), high = options.max_momentum();
    std::vector<Phase> phases;
    if (options.three_phase()) {
      phases = {
          {pct * steps - 1, high, low}, {2 * pct * steps - 2, low, high}, {steps - 1, high, high}};
    } else {
      phases = {{pct * steps - 1, high, low}, {steps - 1, low, high}};
    }
    return walk_phases(phases, at.iter, options.anneal_strategy(), /*extend_last=*/true, kName);
  }

 private:
  static constexpr const char* kName = "OneCycleMomentumUpdaterHook";
};

DETKIT_REGISTER(scheduler, OneCycleLrUpdaterHook);
DETKIT_REGISTER(scheduler, OneCycleMomentumUpdaterHook);

}  // namespace detkit::schedulers
