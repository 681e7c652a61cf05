// CosineRestartLrUpdaterHook: MMCV 1.7.2's cosine annealing with restarts (lr_updater.py).
// With b the group's base lr, T the target (min_lr, or b * min_lr_ratio), p the epoch
// (by_epoch) or iteration, and C the cumulative sums of `periods`:
//
//   i     = the first index with p < C[i]
//   r     = C[i - 1] (0 when i = 0)
//   alpha = min((p - r) / periods[i], 1)
//   lr    = annealing_cos(b, T, alpha, restart_weights[i])
//
// i.e. each period anneals from restart_weights[i] * b + (1 - restart_weights[i]) * T down to
// T. MMCV fails in the middle of training once p passes the last period; detkit refuses such a
// run at before_run.
#include <algorithm>
#include <iterator>
#include <numeric>

#include "detkit/registry.h"
#include "updater_hook.h"

namespace detkit::schedulers {

/// Options of CosineRestartLrUpdaterHook; names and defaults as MMCV's.
struct CosineRestartLrUpdaterHookOptions : AnnealingOptions<ScheduleTarget::lr> {
  /// Length of each cosine cycle, in epochs (by_epoch) or iterations; required.
  TORCH_ARG(std::vector<int64_t>, periods) = {};
  /// Weight of the base lr at each restart (one per period).
  TORCH_ARG(std::vector<double>, restart_weights) = {1.0};

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Cosine LR annealing with restarts (MMCV CosineRestartLrUpdaterHook): one cosine "
        "from the base lr to min_lr per period.");
    DETKIT_PARAM(p, periods, "required: length of each cycle in epochs (by_epoch) or iterations")
        .min(1);
    DETKIT_PARAM(p, restart_weights, "weight of the base lr at each restart, one per period");
    declare_target(p);
    declare_updater(p);
  }
};

/// lr = annealing_cos(b, T, alpha, restart_weights[i]) (see the file comment).
class CosineRestartLrUpdaterHook : public UpdaterHook {
 public:
  using Options = CosineRestartLrUpdaterHookOptions;

  /// The policy for `options_`: periods required, as many restart weights as periods, exactly
  /// one of min_lr and min_lr_ratio.
  explicit CosineRestartLrUpdaterHook(const Options& options_ = {},
                                      const SchedulerContext& context = {})
      : UpdaterHook(kName, options_, context), options(options_) {
    require_exactly_one(kName, Options::kMin, options.min_value(), Options::kMinRatio,
                        options.min_ratio());
    const auto& periods = options.periods();
    if (periods.empty()) {
      throw InvalidParameter(
          "periods", std::string(kName) + ": periods is required (the length of each cycle)");
    }
    if (options.restart_weights().size() != periods.size()) {
      throw InvalidParameter(
          "restart_weights",
          std::string(kName) + ": periods and restart_weights should have the same length (" +
              std::to_string(periods.size()) + " periods, " +
              std::to_string(options.restart_weights().size()) + " restart_weights)");
    }
    std::partial_sum(periods.begin(), periods.end(), std::back_inserter(cumulative_));
  }

  /// The options the policy was built with.
  Options options;

 protected:
  /// The periods must cover the whole run.
  void check_run(const Position& run) const override {
    const int64_t length = max_progress(run);
    if (cumulative_.back() < length) {
      throw Error(std::string(kName) + ": the periods add up to " +
                  std::to_string(cumulative_.back()) + " " + unit() + " but the run has " +
                  std::to_string(length) + ": lengthen the periods in " + section());
    }
  }

  double regular_value(double base, const Position& at) const override {
    const int64_t p = progress(at);
    const auto found = std::upper_bound(cumulative_.begin(), cumulative_.end(), p);
    if (found == cumulative_.end()) {
      throw Error(std::string(kName) + ": progress " + std::to_string(p) +
                  " exceeds the cumulative periods (" + std::to_string(cumulative_.back()) + " " +
                  unit() + ")");
    }
    const auto i = static_cast<size_t>(found - cumulative_.begin());
    const int64_t restart = i == 0 ? 0 : cumulative_[i - 1];
    const double alpha =
        std::min(static_cast<double>(p - restart) / static_cast<double>(options.periods()[i]), 1.0);
    const double target = anneal_target(base, options.min_value(), options.min_ratio());
    return annealing_cos(base, target, alpha, options.restart_weights()[i]);
  }

 private:
  static constexpr const char* kName = "CosineRestartLrUpdaterHook";

  /// "epochs" or "iterations".
  const char* unit() const { return settings().by_epoch ? "epochs" : "iterations"; }

  std::vector<int64_t> cumulative_;
};

DETKIT_REGISTER(scheduler, CosineRestartLrUpdaterHook);

}  // namespace detkit::schedulers
