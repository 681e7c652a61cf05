// MMCV 1.7.2's annealing policies (lr_updater.py, momentum_updater.py). With b the group's base
// value, T the target (min_lr, or b * min_lr_ratio; likewise for momentum), p the epoch
// (by_epoch) or iteration and P max_epochs or max_iters:
//
//   CosineAnnealingLrUpdaterHook / CosineAnnealingMomentumUpdaterHook
//       value = annealing_cos(b, T, p / P)
//   LinearAnnealingLrUpdaterHook / LinearAnnealingMomentumUpdaterHook
//       value = annealing_linear(b, T, p / P)
//   FlatCosineAnnealingLrUpdaterHook
//       s = round(P * start_percent) (Python's round: halves to even)
//       value = b while p < s, else annealing_cos(b, T, (p - s) / (P - s))
#include <cmath>

#include "detkit/registry.h"
#include "updater_hook.h"

namespace detkit::schedulers {

/// An annealing policy over options O (an AnnealingOptions): from the base value at the start
/// of the run to the target at its end, along a cosine or a line.
template <class O>
class AnnealingHook : public UpdaterHook {
 public:
  using Options = O;
  /// The options the policy was built with.
  Options options;

 protected:
  /// Checks the options; exactly one of the two targets must be set.
  AnnealingHook(const char* type, bool cosine, const Options& options_,
                const SchedulerContext& context)
      : UpdaterHook(type, options_, context), options(options_), cosine_(cosine) {
    require_exactly_one(type, Options::kMin, options.min_value(), Options::kMinRatio,
                        options.min_ratio());
  }

  double regular_value(double base, const Position& at) const override {
    const double target = anneal_target(base, options.min_value(), options.min_ratio());
    return cosine_ ? annealing_cos(base, target, fraction(at))
                   : annealing_linear(base, target, fraction(at));
  }

 private:
  bool cosine_;
};

/// Options of CosineAnnealingLrUpdaterHook; names as MMCV's.
struct CosineAnnealingLrUpdaterHookOptions : AnnealingOptions<ScheduleTarget::lr> {
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Cosine LR annealing (MMCV CosineAnnealingLrUpdaterHook) from the base lr to "
        "min_lr (or base_lr * min_lr_ratio).");
    declare_target(p);
    declare_updater(p);
  }
};

/// lr = annealing_cos(b, T, p / P).
class CosineAnnealingLrUpdaterHook : public AnnealingHook<CosineAnnealingLrUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit CosineAnnealingLrUpdaterHook(const Options& options_ = {},
                                        const SchedulerContext& context = {})
      : AnnealingHook("CosineAnnealingLrUpdaterHook", /*cosine=*/true, options_, context) {}
};

/// Options of LinearAnnealingLrUpdaterHook; names as MMCV's.
struct LinearAnnealingLrUpdaterHookOptions : AnnealingOptions<ScheduleTarget::lr> {
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Linear LR annealing (MMCV LinearAnnealingLrUpdaterHook) from the base lr to "
        "min_lr (or base_lr * min_lr_ratio).");
    declare_target(p);
    declare_updater(p);
  }
};

/// lr = annealing_linear(b, T, p / P).
class LinearAnnealingLrUpdaterHook : public AnnealingHook<LinearAnnealingLrUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit LinearAnnealingLrUpdaterHook(const Options& options_ = {},
                                        const SchedulerContext& context = {})
      : AnnealingHook("LinearAnnealingLrUpdaterHook", /*cosine=*/false, options_, context) {}
};

/// Options of CosineAnnealingMomentumUpdaterHook; names as MMCV's.
struct CosineAnnealingMomentumUpdaterHookOptions : AnnealingOptions<ScheduleTarget::momentum> {
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Cosine momentum annealing (MMCV CosineAnnealingMomentumUpdaterHook) from the "
        "base momentum to min_momentum (or base * min_momentum_ratio).");
    declare_target(p);
    declare_updater(p);
  }
};

/// momentum = annealing_cos(b, T, p / P).
class CosineAnnealingMomentumUpdaterHook
    : public AnnealingHook<CosineAnnealingMomentumUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit CosineAnnealingMomentumUpdaterHook(const Options& options_ = {},
                                              const SchedulerContext& context = {})
      : AnnealingHook("CosineAnnealingMomentumUpdaterHook", /*cosine=*/true, options_, context) {}
};

/// Options of LinearAnnealingMomentumUpdaterHook; names as MMCV's.
struct LinearAnnealingMomentumUpdaterHookOptions : AnnealingOptions<ScheduleTarget::momentum> {
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Linear momentum annealing (MMCV LinearAnnealingMomentumUpdaterHook) from the "
        "base momentum to min_momentum (or base * min_momentum_ratio).");
    declare_target(p);
    declare_updater(p);
  }
};

/// momentum = annealing_linear(b, T, p / P).
class LinearAnnealingMomentumUpdaterHook
    : public AnnealingHook<LinearAnnealingMomentumUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit LinearAnnealingMomentumUpdaterHook(const Options& options_ = {},
                                              const SchedulerContext& context = {})
      : AnnealingHook("LinearAnnealingMomentumUpdaterHook", /*cosine=*/false, options_, context) {}
};

/// Options of FlatCosineAnnealingLrUpdaterHook; names and defaults as MMCV's.
struct FlatCosineAnnealingLrUpdaterHookOptions : AnnealingOptions<ScheduleTarget::lr> {
  /// The fraction of the run kept at the base lr before the cosine starts.
  TORCH_ARG(double, start_percent) = 0.75;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Flat, then cosine LR annealing (MMCV FlatCosineAnnealingLrUpdaterHook): the "
        "base lr until start_percent of the run, then a cosine to min_lr.");
    DETKIT_PARAM(p, start_percent, "fraction of the run at the base lr before the cosine")
        .range(0, 1);
    declare_target(p);
    declare_updater(p);
  }
};

/// lr = b until s = round(P * start_percent), then annealing_cos(b, T, (p - s) / (P - s)).
class FlatCosineAnnealingLrUpdaterHook
    : public AnnealingHook<FlatCosineAnnealingLrUpdaterHookOptions> {
 public:
  /// The policy for `options_`.
  explicit FlatCosineAnnealingLrUpdaterHook(const Options& options_ = {},
                                            const SchedulerContext& context = {})
      : AnnealingHook("FlatCosineAnnealingLrUpdaterHook", /*cosine=*/true, options_, context) {}

 protected:
  double regular_value(double base, const Position& at) const override {
    const int64_t total = max_progress(at);
    // Python's round() rounds halves to even, as nearbyint does in the default rounding mode.
    const auto start =
        static_cast<int64_t>(std::nearbyint(static_cast<double>(total) * options.start_percent()));
    const int64_t progressed = progress(at) - start;
    if (progressed < 0) return base;
    const double target = anneal_target(base, options.min_value(), options.min_ratio());
    return annealing_cos(base, target,
                         static_cast<double>(progressed) / static_cast<double>(total - start));
  }
};

DETKIT_REGISTER(scheduler, CosineAnnealingLrUpdaterHook);
DETKIT_REGISTER(scheduler, FlatCosineAnnealingLrUpdaterHook);
DETKIT_REGISTER(scheduler, LinearAnnealingLrUpdaterHook);
DETKIT_REGISTER(scheduler, CosineAnnealingMomentumUpdaterHook);
DETKIT_REGISTER(scheduler, LinearAnnealingMomentumUpdaterHook);

}  // namespace detkit::schedulers
