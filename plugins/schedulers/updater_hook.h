// What every LR and momentum policy of this plugin shares: MMCV 1.7.2's LrUpdaterHook and
// MomentumUpdaterHook base classes (mmcv/runner/hooks/{lr,momentum}_updater.py), i.e. the base
// arguments (by_epoch, warmup, warmup_iters, warmup_ratio, warmup_by_epoch), when values are
// written (before_run / before_train_epoch / before_train_iter) and the warmup formulas; plus the
// annealing helpers and checks the policies have in common. A policy only supplies MMCV's
// get_lr / get_momentum (regular_value) and its own checks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/engine/scheduler.h"
#include "detkit/error.h"
#include "detkit/params.h"

namespace detkit::schedulers {

/// The base arguments of MMCV's LrUpdaterHook (T = lr) and MomentumUpdaterHook (T = momentum):
/// a policy's options derive from it and call declare_updater() in their declare().
template <ScheduleTarget T>
struct UpdaterOptions {
  /// Change the value once per epoch (true) or every iteration (false).
  TORCH_ARG(bool, by_epoch) = true;
  /// Warmup: null (none), "constant", "linear" or "exp".
  TORCH_ARG(std::optional<std::string>, warmup) = std::nullopt;
  /// Length of the warmup, in iterations (in epochs with warmup_by_epoch).
  TORCH_ARG(int64_t, warmup_iters) = 0;
  /// The warmup's starting factor (the LR is multiplied by it, the momentum divided).
  TORCH_ARG(double, warmup_ratio) = T == ScheduleTarget::lr ? 0.1 : 0.9;
  /// warmup_iters counts epochs (LR policies only, as in MMCV).
  TORCH_ARG(bool, warmup_by_epoch) = false;

 public:
  /// Declares the base arguments (after the policy's own, in MMCV's order).
  template <class P>
  void declare_updater(P& p) {
    const char* what = T == ScheduleTarget::lr ? "lr" : "momentum";
    DETKIT_PARAM(p, by_epoch,
                 std::string("change the ") + what + " per epoch (true) or per iteration (false)");
    DETKIT_PARAM(p, warmup, "warmup kind; null: no warmup").choices({"constant", "linear", "exp"});
    DETKIT_PARAM(p, warmup_iters,
                 T == ScheduleTarget::lr ? "warmup length in iterations (epochs with "
                                           "warmup_by_epoch); > 0 when warmup is set"
                                         : "warmup length in iterations; > 0 when warmup is set");
    DETKIT_PARAM(p, warmup_ratio,
                 T == ScheduleTarget::lr
                     ? "warmup starts at warmup_ratio * lr; in (0, 1] when warmup is set"
                     : "warmup starts at momentum / warmup_ratio; in (0, 1] when warmup is set");
    if constexpr (T == ScheduleTarget::lr)
      DETKIT_PARAM(p, warmup_by_epoch, "warmup_iters counts epochs, not iterations");
  }
};

using LrUpdaterOptions = UpdaterOptions<ScheduleTarget::lr>;
using MomentumUpdaterOptions = UpdaterOptions<ScheduleTarget::momentum>;

/// The base arguments plus the annealing target of the annealing policies: min_lr /
/// min_lr_ratio (LR) or min_momentum / min_momentum_ratio (momentum), exactly one of them set.
template <ScheduleTarget T>
struct AnnealingOptions : UpdaterOptions<T> {
  /// The value reached at the end (min_lr / min_momentum).
  TORCH_ARG(std::optional<double>, min_value) = std::nullopt;
  /// The value reached, as a factor of the base value (min_lr_ratio / min_momentum_ratio).
  TORCH_ARG(std::optional<double>, min_ratio) = std::nullopt;

 public:
  /// The names of the two parameters in configs.
  static constexpr const char* kMin = T == ScheduleTarget::lr ? "min_lr" : "min_momentum";
  static constexpr const char* kMinRatio =
      T == ScheduleTarget::lr ? "min_lr_ratio" : "min_momentum_ratio";

  /// Declares the two target parameters.
  template <class P>
  void declare_target(P& p) {
    p.param(kMin, min_value_, "the value annealed to (set this or the ratio)");
    p.param(kMinRatio, min_ratio_, "the value annealed to, as a factor of the base value");
  }
};

/// The base arguments of one policy, with its registered name (for messages).
struct UpdaterSettings {
  std::string type;
  ScheduleTarget target = ScheduleTarget::lr;
  bool by_epoch = true;
  std::optional<std::string> warmup;
  int64_t warmup_iters = 0;
  double warmup_ratio = 0.1;
  bool warmup_by_epoch = false;

  /// The settings `options` hold, for the policy registered as `type`.
  template <ScheduleTarget T>
  static UpdaterSettings of(std::string type, const UpdaterOptions<T>& options) {
    return {std::move(type),          T,
            options.by_epoch(),       options.warmup(),
            options.warmup_iters(),   options.warmup_ratio(),
            options.warmup_by_epoch()};
  }
};

/// Where a run is: what MMCV's policies read from the runner.
struct Position {
  int64_t epoch = 0;
  int64_t iter = 0;
  int64_t max_epochs = 0;
  int64_t max_iters = 0;
};

/// MMCV's annealing_cos: from weight * start + (1 - weight) * end at factor 0 to `end` at 1.
inline double annealing_cos(double start, double end, double factor, double weight = 1.0) {
  return end + 0.5 * weight * (start - end) * (std::cos(M_PI * factor) + 1.0);
}
/// MMCV's annealing_linear: from `start` at factor 0 to `end` at 1.
inline double annealing_linear(double start, double end, double factor) {
  return start + (end - start) * factor;
}
/// annealing_cos or annealing_linear, by MMCV's anneal_strategy ("cos" or "linear").
double anneal(const std::string& strategy, double start, double end, double factor);

/// Throws InvalidParameter unless exactly one of the two values is set (MMCV asserts
/// `(min_lr is None) ^ (min_lr_ratio is None)`).
void require_exactly_one(const std::string& type, const char* absolute,
                         const std::optional<double>& absolute_value, const char* ratio,
                         const std::optional<double>& ratio_value);
/// The annealing target: base * ratio when the ratio is set, else the absolute value.
inline double anneal_target(double base, const std::optional<double>& absolute,
                            const std::optional<double>& ratio) {
  return ratio ? base * *ratio : absolute.value_or(0.0);
}

/// Base class of the plugin's policies: MMCV's LrUpdaterHook / MomentumUpdaterHook.
///
/// before_run records each group's base value (setdefault `initial_lr` / `initial_momentum`);
/// before_train_epoch sets the epoch's regular value (by_epoch); before_train_iter sets the
/// iteration's regular value (not by_epoch), or the warmup value while iter < warmup_iters,
/// and the regular value at iter == warmup_iters (by_epoch). The warmup scales the *current*
/// regular value: the LR is multiplied (constant r; linear 1 - (1 - i/W)(1 - r); exp
/// r^(1 - i/W)), the momentum divided by the same factor.
class UpdaterHook : public SchedulerBase {
 public:
  /// What the policy drives.
  ScheduleTarget target() const override { return settings_.target; }
  /// LR policies VERY_HIGH (10), momentum policies HIGH (30), as MMCV registers them.
  int default_priority() const override;
  /// The regular value at this position, with the warmup applied while iter < warmup_iters.
  double value_at(double base, int64_t epoch, int64_t iter, int64_t max_epochs,
                  int64_t max_iters) const override;

  /// Checks the runner fits the policy and records each group's base value.
  void before_run(RunnerBase& runner) override;
  /// Resolves warmup_by_epoch; by_epoch: sets the epoch's regular value.
  void before_train_epoch(RunnerBase& runner) override;
  /// Sets the iteration's value (see the class comment).
  void before_train_iter(RunnerBase& runner) override;

 protected:
  /// Checks `options` against their declaration (options built in C++) and the base arguments
  /// (InvalidParameter naming the argument); `type` is the registered name.
  template <class Options>
  UpdaterHook(const char* type, const Options& options, const SchedulerContext& context)
      : UpdaterHook(checked_settings(type, options), context) {}
  /// Checks the base arguments (InvalidParameter naming the argument).
  UpdaterHook(UpdaterSettings settings, const SchedulerContext& context);

  /// MMCV's get_lr / get_momentum: the value without warmup for a group whose base is `base`.
  virtual double regular_value(double base, const Position& at) const = 0;
  /// The groups' base values at before_run. Default: MMCV's
  /// group.setdefault('initial_lr' / 'initial_momentum', current value).
  virtual std::vector<double> base_values(OptimizerBase& optimizer);
  /// Checks that need the run's length, at before_run (throw Error).
  virtual void check_run(const Position& run) const;

  /// epoch (by_epoch) or iter.
  int64_t progress(const Position& at) const;
  /// max_epochs (by_epoch) or max_iters; throws Error when it is not > 0.
  int64_t max_progress(const Position& at) const;
  /// progress / max_progress.
  double fraction(const Position& at) const;
  /// The registered type name, for messages ("StepLrUpdaterHook").
  const std::string& type() const { return settings_.type; }
  /// The config section the policy comes from ("lr_config" / "momentum_config").
  const char* section() const;
  /// The base arguments.
  const UpdaterSettings& settings() const { return settings_; }

 private:
  /// The base arguments of `options`, after checking every declared constraint.
  template <class Options>
  static UpdaterSettings checked_settings(const char* type, const Options& options) {
    check_options(options, type);
    return UpdaterSettings::of(type, options);
  }
  /// The runner's position.
  static Position position_of(const RunnerBase& runner);
  /// The warmup length in iterations; throws before warmup_by_epoch is resolved.
  int64_t warmup_iterations() const;
  /// `regular` scaled by the warmup at iteration `iter`.
  double warmed_up(double regular, int64_t iter) const;
  /// Writes every group's value: the regular one, or the warmup one when `warm`.
  void write(RunnerBase& runner, bool warm);

  UpdaterSettings settings_;
  OptimizerBase* context_optimizer_ = nullptr;
  OptimizerBase* optimizer_ = nullptr;
  std::vector<double> bases_;
  std::optional<int64_t> warmup_iters_;
};

}  // namespace detkit::schedulers
