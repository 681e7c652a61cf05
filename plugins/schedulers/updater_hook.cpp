// UpdaterHook: MMCV 1.7.2's LrUpdaterHook / MomentumUpdaterHook (see updater_hook.h).
#include "updater_hook.h"

#include <cmath>

namespace detkit::schedulers {

double anneal(const std::string& strategy, double start, double end, double factor) {
  return strategy == "linear" ? annealing_linear(start, end, factor)
                              : annealing_cos(start, end, factor);
}

void require_exactly_one(const std::string& type, const char* absolute,
                         const std::optional<double>& absolute_value, const char* ratio,
                         const std::optional<double>& ratio_value) {
  if (absolute_value.has_value() == ratio_value.has_value()) {
    throw InvalidParameter(absolute_value ? ratio : absolute,
                           type + ": set exactly one of " + absolute + " (the value reached) and " +
                               ratio + " (a factor of the base value); " +
                               (absolute_value ? "both are set" : "neither is set"));
  }
}

UpdaterHook::UpdaterHook(UpdaterSettings settings, const SchedulerContext& context)
    : settings_(std::move(settings)), context_optimizer_(context.optimizer) {
  const UpdaterSettings& s = settings_;
  if (!s.warmup) return;
  // MMCV asserts these only when a warmup is set.
  if (s.warmup_iters <= 0) {
    throw InvalidParameter("warmup_iters", s.type +
                                               ": warmup_iters must be a positive integer "
                                               "when warmup is set, got " +
                                               std::to_string(s.warmup_iters));
  }
  if (!(s.warmup_ratio > 0.0 && s.warmup_ratio <= 1.0)) {
    throw InvalidParameter("warmup_ratio", s.type +
                                               ": warmup_ratio must be in (0, 1] when warmup "
                                               "is set, got " +
                                               std::to_string(s.warmup_ratio));
  }
}

int UpdaterHook::default_priority() const {
  return static_cast<int>(settings_.target == ScheduleTarget::lr ? HookPriority::very_high
                                                                 : HookPriority::high);
}

const char* UpdaterHook::section() const {
  return settings_.target == ScheduleTarget::lr ? "lr_config" : "momentum_config";
}

int64_t UpdaterHook::progress(const Position& at) const {
  return settings_.by_epoch ? at.epoch : at.iter;
}

int64_t UpdaterHook::max_progress(const Position& at) const {
  const int64_t total = settings_.by_epoch ? at.max_epochs : at.max_iters;
  if (total <= 0) {
    throw Error(type() + ": the run's length is unknown (" +
                (settings_.by_epoch ? "max_epochs" : "max_iters") + " = " + std::to_string(total) +
                ")");
  }
  return total;
}

double UpdaterHook::fraction(const Position& at) const {
  return static_cast<double>(progress(at)) / static_cast<double>(max_progress(at));
}

void UpdaterHook::check_run(const Position&) const {}

Position UpdaterHook::position_of(const RunnerBase& runner) {
  return {runner.epoch(), runner.iter(), runner.max_epochs(), runner.max_iters()};
}

int64_t UpdaterHook::warmup_iterations() const {
  if (!settings_.warmup_by_epoch) return settings_.warmup_iters;
  if (!warmup_iters_) {
    throw Error(type() +
                ": with warmup_by_epoch the warmup's length in iterations is known once "
                "the first training epoch starts");
  }
  return *warmup_iters_;
}

double UpdaterHook::warmed_up(double regular, int64_t iter) const {
  const double ratio = settings_.warmup_ratio;
  const double done = static_cast<double>(iter) / static_cast<double>(warmup_iterations());
  const std::string& kind = *settings_.warmup;
  double factor = ratio;  // constant
  if (kind == "linear") {
    factor = 1.0 - (1.0 - done) * (1.0 - ratio);
  } else if (kind == "exp") {
    factor = std::pow(ratio, 1.0 - done);
  }
  return settings_.target == ScheduleTarget::lr ? regular * factor : regular / factor;
}

double UpdaterHook::value_at(double base, int64_t epoch, int64_t iter, int64_t max_epochs,
                             int64_t max_iters) const {
  const double regular = regular_value(base, Position{epoch, iter, max_epochs, max_iters});
  if (!settings_.warmup || iter >= warmup_iterations()) return regular;
  return warmed_up(regular, iter);
}

std::vector<double> UpdaterHook::base_values(OptimizerBase& optimizer) {
  std::vector<double> bases;
  for (size_t g = 0; g < optimizer.num_groups(); ++g) {
    bases.push_back(settings_.target == ScheduleTarget::lr
                        ? optimizer.setdefault(g, "initial_lr", optimizer.lr(g))
                        : optimizer.setdefault(g, "initial_momentum", optimizer.momentum(g)));
  }
  return bases;
}

void UpdaterHook::before_run(RunnerBase& runner) {
  optimizer_ = context_optimizer_ ? context_optimizer_ : runner.optimizer();
  if (optimizer_ == nullptr) throw Error(type() + ": the runner has no optimizer to schedule");
  // MMCV's IterBasedRunner never calls before_train_epoch: a policy counting epochs would
  // silently leave the value alone, and warmup_by_epoch would fail on an empty assertion.
  if (!runner.by_epoch() && settings_.by_epoch) {
    throw Error(type() +
                ": by_epoch is true (the default) but the runner counts iterations "
                "(IterBasedRunner starts no epochs, so the " +
                (settings_.target == ScheduleTarget::lr ? "lr" : "momentum") +
                " would never change): set by_epoch: false in " + section());
  }
  if (!runner.by_epoch() && settings_.warmup_by_epoch) {
    throw Error(type() +
                ": warmup_by_epoch needs an epoch-based runner (IterBasedRunner starts "
                "no epochs): give warmup_iters in iterations and set "
                "warmup_by_epoch: false in " +
                section());
  }
  if (settings_.target == ScheduleTarget::momentum && !optimizer_->has_momentum()) {
    throw Error(type() +
                ": the optimizer has no momentum (SGD's momentum, Adam's beta1) to "
                "schedule: remove momentum_config or use another optimizer");
  }
  check_run(position_of(runner));
  warmup_iters_.reset();
  bases_ = base_values(*optimizer_);
}

void UpdaterHook::before_train_epoch(RunnerBase& runner) {
  if (settings_.warmup_by_epoch && !warmup_iters_)
    warmup_iters_ = settings_.warmup_iters * runner.iters_per_epoch();
  if (settings_.by_epoch) write(runner, /*warm=*/false);
}

void UpdaterHook::before_train_iter(RunnerBase& runner) {
  const int64_t iter = runner.iter();
  if (!settings_.by_epoch) {
    write(runner, settings_.warmup && iter < warmup_iterations());
  } else if (settings_.warmup && iter <= warmup_iterations()) {
    // By epoch: the warmup scales the epoch's regular value; at iter == warmup_iters the
    // regular value is restored, and after that only epoch boundaries change it.
    write(runner, iter < warmup_iterations());
  }
}

void UpdaterHook::write(RunnerBase& runner, bool warm) {
  if (optimizer_ == nullptr || bases_.size() != optimizer_->num_groups()) {
    throw Error(type() + ": before_run was not called (or the optimizer's groups changed since)");
  }
  const Position at = position_of(runner);
  for (size_t g = 0; g < bases_.size(); ++g) {
    double value = regular_value(bases_[g], at);
    if (warm) value = warmed_up(value, at.iter);
    if (settings_.target == ScheduleTarget::lr) {
      optimizer_->set_lr(g, value);
    } else {
      optimizer_->set_momentum(g, value);
    }
  }
}

}  // namespace detkit::schedulers
