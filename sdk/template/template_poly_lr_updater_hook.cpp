// TemplatePolyLrUpdaterHook: MMCV's polynomial LR decay, the template's example LR policy (kind
// `scheduler`). As in MMCV, `lr_config: {policy: P}` names the registered type
// `<P>LrUpdaterHook`, so this one is used as
//
//   lr_config: {policy: TemplatePoly, power: 0.9, min_lr: 1.0e-4, by_epoch: false,
//               warmup: linear, warmup_iters: 500, warmup_ratio: 0.001}
//
//   lr = (base_lr - min_lr) * (1 - progress / max_progress)^power + min_lr
//
// where progress / max_progress are epoch / max_epochs (by_epoch) or iter / max_iters, and
// base_lr is each parameter group's lr when the run starts. MMCV's warmup (constant, linear,
// exp) scales that value during the first warmup_iters iterations.
#include <detkit/build_context.h>
#include <detkit/engine/optimizer.h>
#include <detkit/engine/runner.h>
#include <detkit/engine/scheduler.h>
#include <detkit/error.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace mobilenet_plugin {

/// Options of TemplatePolyLrUpdaterHook; names and defaults as MMCV's PolyLrUpdaterHook.
struct TemplatePolyLrUpdaterHookOptions {
  /// Exponent of the decay.
  TORCH_ARG(double, power) = 1.0;
  /// The lr reached at the end of the run.
  TORCH_ARG(double, min_lr) = 0.0;
  /// Progress counted in epochs (the lr changes once per epoch) or in iterations.
  TORCH_ARG(bool, by_epoch) = true;
  /// Warmup: none (null), "constant", "linear" or "exp".
  TORCH_ARG(std::optional<std::string>, warmup) = std::nullopt;
  /// Iterations of warmup.
  TORCH_ARG(int64_t, warmup_iters) = 0;
  /// The warmup's starting factor of the lr.
  TORCH_ARG(double, warmup_ratio) = 0.1;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary("Polynomial LR decay (MMCV PolyLrUpdaterHook), with MMCV's warmup.");
    DETKIT_PARAM(p, power, "exponent of (1 - progress / max_progress)").min(0);
    DETKIT_PARAM(p, min_lr, "the lr at the end of the run").min(0);
    DETKIT_PARAM(p, by_epoch, "count progress in epochs (true) or iterations (false)");
    DETKIT_PARAM(p, warmup, "warmup type: null, constant, linear or exp")
        .choices({"constant", "linear", "exp"});
    DETKIT_PARAM(p, warmup_iters, "iterations of warmup").min(0);
    DETKIT_PARAM(p, warmup_ratio, "lr factor at the start of warmup").greater_than(0).max(1);
  }
};

/// The policy: a hook that sets every parameter group's lr to value_at() before each training
/// epoch (by_epoch) or iteration.
class TemplatePolyLrUpdaterHook : public detkit::SchedulerBase {
 public:
  /// The declared options (the registry reads them from the config and calls the constructor
  /// with the scheduler's build context).
  using Options = TemplatePolyLrUpdaterHookOptions;

  /// Keeps the optimizer of `context` (may be null: the runner's is used then).
  explicit TemplatePolyLrUpdaterHook(const TemplatePolyLrUpdaterHookOptions& options_ = {},
                                     const detkit::SchedulerContext& context = {})
      : options(options_), optimizer_(context.optimizer) {
    detkit::check_options(options, "TemplatePolyLrUpdaterHook");
  }

  /// This policy drives learning rates.
  detkit::ScheduleTarget target() const override { return detkit::ScheduleTarget::lr; }

  /// The poly value at this point (see the file comment), warmup included.
  double value_at(double base, int64_t epoch, int64_t iter, int64_t max_epochs,
                  int64_t max_iters) const override {
    const double progress = static_cast<double>(options.by_epoch() ? epoch : iter);
    const double max_progress = static_cast<double>(options.by_epoch() ? max_epochs : max_iters);
    if (max_progress <= 0) {
      throw detkit::Error("TemplatePolyLrUpdaterHook: the run's length is unknown (max_" +
                          std::string(options.by_epoch() ? "epochs" : "iters") + " = 0)");
    }
    const double coeff = std::pow(1.0 - progress / max_progress, options.power());
    const double regular = (base - options.min_lr()) * coeff + options.min_lr();
    if (!options.warmup() || iter >= options.warmup_iters()) return regular;
    // MMCV's LrUpdaterHook.get_warmup_lr.
    const double done = static_cast<double>(iter) / options.warmup_iters();
    const std::string& kind = *options.warmup();
    if (kind == "constant") return regular * options.warmup_ratio();
    if (kind == "linear") return regular * (1.0 - (1.0 - done) * (1.0 - options.warmup_ratio()));
    return regular * std::pow(options.warmup_ratio(), 1.0 - done);  // exp
  }

  /// Records each group's lr as its base value (MMCV's `initial_lr`).
  void before_run(detkit::RunnerBase& runner) override {
    base_lrs_.clear();
    for (auto& group : optimizer(runner).param_groups()) {
      base_lrs_.push_back(group.options().get_lr());
    }
  }

  /// By epoch: sets the epoch's lr.
  void before_train_epoch(detkit::RunnerBase& runner) override {
    if (options.by_epoch()) set_lrs(runner);
  }

  /// By iteration: sets the iteration's lr; by epoch: only during warmup and at its end.
  void before_train_iter(detkit::RunnerBase& runner) override {
    const bool warming = options.warmup() && runner.iter() <= options.warmup_iters();
    if (!options.by_epoch() || warming) set_lrs(runner);
  }

  /// The options the policy was built with.
  TemplatePolyLrUpdaterHookOptions options;

 private:
  /// The optimizer of the context, else the runner's.
  torch::optim::Optimizer& optimizer(detkit::RunnerBase& runner) {
    detkit::OptimizerBase* optimizer = optimizer_ ? optimizer_ : runner.optimizer();
    if (optimizer == nullptr) throw detkit::Error("TemplatePolyLrUpdaterHook: no optimizer");
    return optimizer->optimizer();
  }

  /// Sets every group's lr to value_at() for the runner's position.
  void set_lrs(detkit::RunnerBase& runner) {
    auto& groups = optimizer(runner).param_groups();
    if (groups.size() != base_lrs_.size()) {
      throw detkit::Error("TemplatePolyLrUpdaterHook: before_run was not called");
    }
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].options().set_lr(value_at(base_lrs_[i], runner.epoch(), runner.iter(),
                                          runner.max_epochs(), runner.max_iters()));
    }
  }

  detkit::OptimizerBase* optimizer_ = nullptr;
  std::vector<double> base_lrs_;
};

DETKIT_REGISTER(scheduler, TemplatePolyLrUpdaterHook);

}  // namespace mobilenet_plugin
