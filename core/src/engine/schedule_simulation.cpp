// The schedule simulation behind `detkit schedule` (detkit/core/schedule.h): a runner that
// only counts, driving LR / momentum policies as MMCV's EpochBasedRunner and IterBasedRunner
// call their hooks, and the construction of the optimizer and policies from a config.
#include <torch/torch.h>

#include <algorithm>

#include "detkit/build_context.h"
#include "detkit/core/config_check.h"
#include "detkit/core/schedule.h"
#include "detkit/core/text.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// A runner without model or data: it advances epoch and iteration and calls the policies'
/// hooks at MMCV's points. What a policy cannot need (the model, losses, logs, checkpoints)
/// throws.
class ScheduleRunner : public RunnerBase {
 public:
  ScheduleRunner(OptimizerBase& optimizer, std::vector<std::shared_ptr<SchedulerBase>> policies,
                 const ScheduleRun& run)
      : optimizer_(optimizer), policies_(std::move(policies)), run_(run) {
    std::stable_sort(policies_.begin(), policies_.end(), [](const auto& a, const auto& b) {
      return a->default_priority() < b->default_priority();
    });
  }

  /// The trace of the whole run.
  ScheduleTrace trace() {
    trace_ = ScheduleTrace();
    trace_.run = run_;
    trace_.has_momentum = optimizer_.has_momentum();
    run();
    return std::move(trace_);
  }

  void run() override {
    epoch_ = iter_ = inner_iter_ = 0;
    for (auto& policy : policies_)
      policy->before_run(*this);
    if (run_.by_epoch) {
      for (; epoch_ < run_.max_epochs; ++epoch_) {
        for (auto& policy : policies_)
          policy->before_train_epoch(*this);
        for (inner_iter_ = 0; inner_iter_ < run_.iters_per_epoch; ++inner_iter_)
          step();
      }
    } else {
      // IterBasedRunner: no before_train_epoch; the epoch mirrors the loader's.
      while (iter_ < run_.max_iters) {
        epoch_ = iter_ / run_.iters_per_epoch;
        inner_iter_ = iter_ % run_.iters_per_epoch;
        step();
      }
    }
  }

  int64_t epoch() const override { return epoch_; }
  int64_t iter() const override { return iter_; }
  int64_t inner_iter() const override { return inner_iter_; }
  int64_t max_epochs() const override { return run_.max_epochs; }
  int64_t max_iters() const override { return run_.max_iters; }
  const std::string& work_dir() const override { return empty_; }
  DetectorBase& model() override { unavailable("model"); }
  OptimizerBase* optimizer() override { return &optimizer_; }
  const std::string& mode() const override { return mode_; }
  int64_t iters_per_epoch() const override { return run_.iters_per_epoch; }
  bool by_epoch() const override { return run_.by_epoch; }
  torch::Tensor step_loss() const override { unavailable("step_loss"); }
  NamedValues step_log_vars() const override { unavailable("step_log_vars"); }
  int64_t step_num_samples() const override { unavailable("step_num_samples"); }
  void log_update(const std::string&, double, int64_t) override {}
  void log_average(int64_t) override {}
  NamedValues log_output() const override { return {}; }
  void log_put_output(const std::string&, double) override {}
  bool log_ready() const override { return false; }
  void log_clear_output() override {}
  void log_clear() override {}
  void log_info(const std::string&) override {}
  const std::string& timestamp() const override { return empty_; }
  ConfigNode& meta() override { return meta_; }
  std::string save_checkpoint(const std::string&, const std::string&, bool, const ConfigNode&,
                              bool) override {
    unavailable("save_checkpoint");
  }
  NamedValues evaluate(const ConfigNode&) override { unavailable("evaluate"); }
  std::vector<std::string> dataset_classes() const override { unavailable("dataset_classes"); }

 private:
  [[noreturn]] static void unavailable(const char* what) {
    throw Error(std::string("a schedule simulation has no ") + what +
                " (only LR and momentum policies run in it)");
  }

  /// One training iteration: before_train_iter, the values optimizer.step() would use, iter++.
  void step() {
    for (auto& policy : policies_)
      policy->before_train_iter(*this);
    std::vector<double> lr, momentum;
    for (size_t g = 0; g < optimizer_.num_groups(); ++g) {
      lr.push_back(optimizer_.lr(g));
      momentum.push_back(trace_.has_momentum ? optimizer_.momentum(g) : 0.0);
    }
    trace_.lr.push_back(std::move(lr));
    trace_.momentum.push_back(std::move(momentum));
    ++iter_;
  }

  OptimizerBase& optimizer_;
  std::vector<std::shared_ptr<SchedulerBase>> policies_;
  ScheduleRun run_;
  ScheduleTrace trace_;
  int64_t epoch_ = 0, iter_ = 0, inner_iter_ = 0;
  const std::string mode_ = "train";
  const std::string empty_;
  ConfigNode meta_ = ConfigNode::make_map();
};

/// A positive integer at `runner.<key>`, or nullopt when absent / null.
std::optional<int64_t> positive(const ConfigNode& runner, const char* key) {
  const ConfigNode* value = runner.find(key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_int() || value->as_int() <= 0) {
    throw ConfigError(located_message(value->mark(), child_path("runner", key),
                                      "must be a positive integer, got " + value->to_flow()));
  }
  return value->as_int();
}

/// Builds the policy of `section` (lr_config / momentum_config) and records its type in
/// `type`; null when the section is absent or null.
std::shared_ptr<SchedulerBase> build_policy(const ConfigNode& config, const char* section,
                                            ScheduleTarget target, OptimizerBase& optimizer,
                                            std::string& type) {
  const ConfigNode* cfg = config.find(section);
  if (cfg == nullptr || cfg->is_null()) return nullptr;
  // The same `policy:` -> type mapping as config check (MMCV's P.title() + suffix rule).
  const ParamSpec* spec = top_level_schema().find(section);
  const SchedulerContext context{&optimizer};
  const BuiltComponent built = build_component(Kind::scheduler, *cfg, section, &context, nullptr,
                                               spec != nullptr ? spec->type_key : TypeKey{});
  check_built_type(built, Kind::scheduler, typeid(SchedulerBase));
  auto policy = std::static_pointer_cast<SchedulerBase>(built.object);
  type = built.type;
  if (policy->target() != target) {
    throw ConfigError(located_message(
        cfg->mark(), section,
        std::string("names a ") + (target == ScheduleTarget::lr ? "momentum" : "learning-rate") +
            " policy; " + section + " needs " +
            (target == ScheduleTarget::lr ? "an LR policy (<P>LrUpdaterHook)"
                                          : "a momentum policy (<P>MomentumUpdaterHook)")));
  }
  return policy;
}

}  // namespace

ScheduleTrace simulate_schedule(OptimizerBase& optimizer,
                                const std::vector<std::shared_ptr<SchedulerBase>>& policies,
                                const ScheduleRun& run) {
  if (run.iters_per_epoch <= 0) throw Error("a schedule simulation needs iters_per_epoch > 0");
  return ScheduleRunner(optimizer, policies, run).trace();
}

ScheduleRun schedule_run_of(const ConfigNode& config, int64_t iters_per_epoch) {
  const ConfigNode* runner = config.is_map() ? config.find("runner") : nullptr;
  if (runner == nullptr || !runner->is_map()) {
    throw ConfigError(
        "the config has no 'runner' section (e.g. runner: {type: EpochBasedRunner, "
        "max_epochs: 12} or {type: IterBasedRunner, max_iters: 90000})");
  }
  const ConfigNode* type = runner->find("type");
  const std::vector<std::string> known = {"EpochBasedRunner", "IterBasedRunner"};
  if (type == nullptr || !type->is_string() ||
      std::find(known.begin(), known.end(), type->as_string()) == known.end()) {
    const std::string given = type != nullptr ? type->to_flow() : "nothing";
    throw ConfigError(located_message(
        type != nullptr ? type->mark() : runner->mark(), "runner.type",
        "must be EpochBasedRunner or IterBasedRunner (the runners a schedule can be simulated "
        "for), got " +
            given +
            (type != nullptr && type->is_string() ? did_you_mean(type->as_string(), known)
                                                  : std::string())));
  }
  const std::optional<int64_t> epochs = positive(*runner, "max_epochs");
  const std::optional<int64_t> iters = positive(*runner, "max_iters");
  if (epochs && iters) {
    throw ConfigError(located_message(runner->mark(), "runner",
                                      "only one of `max_epochs` or `max_iters` can be set"));
  }
  ScheduleRun run;
  run.runner_type = type->as_string();
  run.by_epoch = run.runner_type == "EpochBasedRunner";
  run.iters_per_epoch = iters_per_epoch;
  if (run.by_epoch) {
    if (!epochs) {
      throw ConfigError(located_message(runner->mark(), "runner",
                                        "EpochBasedRunner needs max_epochs (max_iters is for "
                                        "IterBasedRunner)"));
    }
    run.max_epochs = *epochs;
    run.max_iters = *epochs * iters_per_epoch;
  } else {
    if (!iters) {
      throw ConfigError(located_message(runner->mark(), "runner",
                                        "IterBasedRunner needs max_iters (max_epochs is for "
                                        "EpochBasedRunner)"));
    }
    run.max_iters = *iters;
  }
  return run;
}

ScheduleTrace simulate_config_schedule(const ConfigNode& config, int64_t iters_per_epoch) {
  if (iters_per_epoch <= 0) throw Error("iters_per_epoch must be > 0");
  const ScheduleRun run = schedule_run_of(config, iters_per_epoch);
  const ConfigNode* optimizer_cfg = config.find("optimizer");
  if (optimizer_cfg == nullptr || !optimizer_cfg->is_map()) {
    throw ConfigError(
        "the config has no 'optimizer' section (e.g. optimizer: {type: SGD, lr: 0.02, "
        "momentum: 0.9})");
  }
  // MMCV's build_optimizer pops these two before building the optimizer class; the schedule
  // has a single group, so paramwise_cfg has nothing to act on.
  ConfigNode cfg = *optimizer_cfg;
  cfg.erase("constructor");
  cfg.erase("paramwise_cfg");
  NamedParameter parameter{"parameter", torch::zeros({1}, torch::requires_grad())};
  ParamGroup group;
  group.params.push_back(parameter);
  auto optimizer = build<OptimizerBase>(cfg, "optimizer", OptimizerContext{{group}});

  std::vector<std::shared_ptr<SchedulerBase>> policies;
  std::string lr_type, momentum_type;
  if (auto lr = build_policy(config, "lr_config", ScheduleTarget::lr, *optimizer, lr_type))
    policies.push_back(lr);
  if (auto momentum = build_policy(config, "momentum_config", ScheduleTarget::momentum, *optimizer,
                                   momentum_type))
    policies.push_back(momentum);
  ScheduleTrace trace = simulate_schedule(*optimizer, policies, run);
  trace.lr_policy = lr_type;
  trace.momentum_policy = momentum_type;
  return trace;
}

}  // namespace detkit
