// The schedulers plugin: every LR and momentum policy driven as MMCV's runners drive them
// (detkit/core/schedule.h's simulation runner over a test optimizer wrapping LibTorch's SGD or
// Adam), compared iteration by iteration with tests/reference/gen_schedules.py (MMCV's
// formulas, run at test time), MMDetection's 1x worked example pinned by hand, and every
// configuration MMCV rejects (or silently misreads) refused with a message naming the problem.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/core/schedule.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/scheduler.h"
#include "detkit/error.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

/// LibTorch's SGD or Adam over one parameter per group, with MMCV's per-group `setdefault`.
class TestOptimizer : public OptimizerBase {
 public:
  /// SGD (momentum `momentum`) or Adam (betas (momentum, 0.999)), one group per lr.
  TestOptimizer(const std::vector<double>& lrs, double momentum, bool adam) : adam_(adam) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (double lr : lrs) {
      std::vector<torch::Tensor> params{torch::zeros({1}, torch::requires_grad())};
      if (adam) {
        groups.emplace_back(params, std::make_unique<torch::optim::AdamOptions>(
                                        torch::optim::AdamOptions(lr).betas({momentum, 0.999})));
      } else {
        groups.emplace_back(params, std::make_unique<torch::optim::SGDOptions>(
                                        torch::optim::SGDOptions(lr).momentum(momentum)));
      }
    }
    if (adam) {
      optimizer_ = std::make_unique<torch::optim::Adam>(groups);
    } else {
      optimizer_ = std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(0.1));
    }
  }

  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  bool has_momentum() const override { return has_momentum_; }
  double momentum(size_t g) const override {
    const auto& options = optimizer_->param_groups().at(g).options();
    if (adam_) return std::get<0>(static_cast<const torch::optim::AdamOptions&>(options).betas());
    return static_cast<const torch::optim::SGDOptions&>(options).momentum();
  }
  void set_momentum(size_t g, double value) override {
    auto& options = optimizer_->param_groups().at(g).options();
    if (adam_) {
      auto& adam = static_cast<torch::optim::AdamOptions&>(options);
      adam.betas({value, std::get<1>(adam.betas())});
    } else {
      static_cast<torch::optim::SGDOptions&>(options).momentum(value);
    }
  }
  double setdefault(size_t g, const std::string& key, double value) override {
    return stored[g].emplace(key, value).first->second;
  }

  /// The values kept with each group (initial_lr, initial_momentum).
  std::map<size_t, std::map<std::string, double>> stored;
  bool has_momentum_ = true;

 private:
  bool adam_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

/// Parses YAML (or JSON) text.
ConfigNode yaml(const std::string& text) {
  return parse_yaml_text(text, "test.yaml");
}

/// Builds the policy of `section` ("lr_config" / "momentum_config") from a YAML map, mapping
/// `policy:` to the type exactly as the config check does.
std::shared_ptr<SchedulerBase> build_policy(const ConfigNode& cfg, const std::string& section,
                                            OptimizerBase* optimizer) {
  testing::load_in_tree_plugins();
  const ParamSpec* spec = top_level_schema().find(section);
  EXPECT_NE(spec, nullptr) << section;
  return build<SchedulerBase>(cfg, section, SchedulerContext{optimizer}, nullptr,
                              spec ? spec->type_key : TypeKey{});
}

/// The message of the detkit::Error `run` throws ("" when it throws none).
template <class Run>
std::string error_of(Run run) {
  try {
    run();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// An SGD (lr 0.02, momentum 0.9) schedule of `lr_config` (and `momentum_config` unless null).
ScheduleTrace simulate(const std::string& lr_config, const std::string& momentum_config,
                       const std::string& runner, int64_t iters_per_epoch,
                       TestOptimizer* optimizer = nullptr) {
  TestOptimizer sgd({0.02}, 0.9, false);
  if (optimizer == nullptr) optimizer = &sgd;
  std::vector<std::shared_ptr<SchedulerBase>> policies;
  if (!lr_config.empty()) policies.push_back(build_policy(yaml(lr_config), "lr_config", optimizer));
  if (!momentum_config.empty())
    policies.push_back(build_policy(yaml(momentum_config), "momentum_config", optimizer));
  const ConfigNode config = yaml("{runner: " + runner + "}");
  return simulate_schedule(*optimizer, policies, schedule_run_of(config, iters_per_epoch));
}

/// |a - b| within a relative 1e-12 (absolute 1e-15 near 0).
bool close(double a, double b) {
  return std::abs(a - b) <= 1e-12 * std::max(std::abs(a), std::abs(b)) + 1e-15;
}

// ---- against the reference ------------------------------------------------------------------

TEST(Schedulers, EveryPolicyMatchesTheReferenceAtEveryIteration) {
  const std::string script = std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_schedules.py";
  const auto generated = testing::run_process({"/usr/bin/python3", script});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const ConfigNode cases = yaml(generated.out);
  ASSERT_GE(cases.size(), 19u);
  std::map<std::string, int> types;
  for (const ConfigNode& c : cases.items()) {
    const std::string name = c.at("name").as_string();
    SCOPED_TRACE(name);
    const ConfigNode& config = c.at("config");
    const ConfigNode& optimizer_cfg = config.at("optimizer");
    const bool adam = optimizer_cfg.at("type").as_string() == "Adam";
    const double momentum = adam ? optimizer_cfg.at("betas").items()[0].as_double()
                                 : optimizer_cfg.at("momentum").as_double();
    TestOptimizer optimizer(ConfigValue<std::vector<double>>::from(c.at("groups")), momentum, adam);
    std::vector<std::shared_ptr<SchedulerBase>> policies;
    for (const char* section : {"lr_config", "momentum_config"}) {
      if (const ConfigNode* cfg = config.find(section)) {
        policies.push_back(build_policy(*cfg, section, &optimizer));
        ++types[std::string(section) + ":" + cfg->at("policy").as_string()];
      }
    }
    const ScheduleTrace trace = simulate_schedule(
        optimizer, policies, schedule_run_of(config, c.at("iters_per_epoch").as_int()));
    const ConfigNode& lr = c.at("lr");
    const ConfigNode& momentum_values = c.at("momentum");
    ASSERT_EQ(trace.lr.size(), lr.size());
    int reported = 0;
    for (size_t i = 0; i < lr.size() && reported < 5; ++i) {
      for (size_t g = 0; g < lr.items()[i].size(); ++g) {
        const double want_lr = lr.items()[i].items()[g].as_double();
        const double want_momentum = momentum_values.items()[i].items()[g].as_double();
        if (!close(trace.lr[i][g], want_lr) || !close(trace.momentum[i][g], want_momentum)) {
          ADD_FAILURE() << "iteration " << i << " group " << g << ": lr " << trace.lr[i][g]
                        << " (reference " << want_lr << "), momentum " << trace.momentum[i][g]
                        << " (reference " << want_momentum << ")";
          ++reported;
        }
      }
    }
  }
  // Every policy of the plugin is among the cases.
  for (const char* lr :
       {"step", "Fixed", "Exp", "poly", "Inv", "CosineAnnealing", "FlatCosineAnnealing",
        "CosineRestart", "cyclic", "OneCycle", "LinearAnnealing"})
    EXPECT_GT(types[std::string("lr_config:") + lr], 0) << lr;
  for (const char* momentum : {"step", "CosineAnnealing", "LinearAnnealing", "cyclic", "OneCycle"})
    EXPECT_GT(types[std::string("momentum_config:") + momentum], 0) << momentum;
}

// ---- pinned by hand --------------------------------------------------------------------------

TEST(Schedulers, MMDetections1xScheduleGivesTheWorkedExample) {
  const std::string lr_1x =
      "{policy: step, warmup: linear, warmup_iters: 500, warmup_ratio: 0.001, step: [8, 11]}";
  // 100 iterations per epoch: the warmup ends inside epoch 5.
  ScheduleTrace t = simulate(lr_1x, "", "{type: EpochBasedRunner, max_epochs: 12}", 100);
  ASSERT_EQ(t.lr.size(), 1200u);
  EXPECT_NEAR(t.lr[0][0], 2e-5, 1e-15);
  EXPECT_NEAR(t.lr[250][0], 0.02 * (1 - 0.5 * 0.999), 1e-15);  // 0.01001
  EXPECT_NEAR(t.lr[250][0], 0.01001, 1e-12);
  EXPECT_NEAR(t.lr[499][0], 0.02 * (1 - (1 - 499.0 / 500) * 0.999), 1e-15);
  for (size_t i : {500, 650, 799})
    EXPECT_DOUBLE_EQ(t.lr[i][0], 0.02) << i;
  for (size_t i : {800, 1099})
    EXPECT_NEAR(t.lr[i][0], 0.002, 1e-15) << i;
  for (size_t i : {1100, 1199})
    EXPECT_NEAR(t.lr[i][0], 0.0002, 1e-15) << i;
  EXPECT_DOUBLE_EQ(t.momentum[700][0], 0.9);  // no momentum policy: SGD's own

  // 60 iterations per epoch: the step at epoch 8 (iteration 480) comes inside the warmup,
  // which multiplies the *current* regular lr.
  t = simulate(lr_1x, "", "{type: EpochBasedRunner, max_epochs: 12}", 60);
  ASSERT_EQ(t.lr.size(), 720u);
  EXPECT_NEAR(t.lr[479][0], 0.02 * (1 - (21.0 / 500) * 0.999), 1e-15);
  EXPECT_NEAR(t.lr[479][0], 0.01916, 1e-5);
  EXPECT_NEAR(t.lr[480][0], 0.002 * (1 - (20.0 / 500) * 0.999), 1e-15);
  EXPECT_NEAR(t.lr[480][0], 0.00192, 1e-5);
  EXPECT_NEAR(t.lr[500][0], 0.002, 1e-15);
  EXPECT_NEAR(t.lr[660][0], 0.0002, 1e-15);
}

TEST(Schedulers, PoliciesFollowTheirFormulas) {
  TestOptimizer sgd({0.1}, 0.9, false);
  const double pi = M_PI;
  auto at = [&](const std::string& cfg, int64_t epoch, int64_t iter, int64_t max_epochs,
                int64_t max_iters) {
    return build_policy(yaml(cfg), "lr_config", &sgd)
        ->value_at(0.1, epoch, iter, max_epochs, max_iters);
  };
  // poly: (b - min) * (1 - p/P)^power + min.
  EXPECT_NEAR(at("{policy: poly, power: 2.0, min_lr: 0.01}", 3, 0, 10, 0), 0.09 * 0.7 * 0.7 + 0.01,
              1e-15);
  // Inv: b * (1 + gamma p)^-power.
  EXPECT_NEAR(at("{policy: Inv, gamma: 0.5, power: 2.0}", 4, 0, 10, 0), 0.1 / 9.0, 1e-15);
  // Exp by iteration.
  EXPECT_NEAR(at("{policy: Exp, gamma: 0.5, by_epoch: false}", 0, 3, 0, 10), 0.0125, 1e-15);
  // Cosine: T + (b - T)(cos(pi p/P) + 1)/2.
  EXPECT_NEAR(at("{policy: CosineAnnealing, min_lr: 0.02}", 1, 0, 3, 0),
              0.02 + 0.04 * (std::cos(pi / 3) + 1), 1e-15);
  // Linear annealing with a ratio: b + (bT - b) p/P.
  EXPECT_NEAR(at("{policy: LinearAnnealing, min_lr_ratio: 0.5}", 1, 0, 4, 0), 0.0875, 1e-15);
  // FlatCosine: start = round(101 * 0.5) = 50 (half to even), so 50 is the cosine's start.
  const std::string flat =
      "{policy: FlatCosineAnnealing, start_percent: 0.5, min_lr: 0.0, "
      "by_epoch: false}";
  EXPECT_DOUBLE_EQ(at(flat, 0, 49, 0, 101), 0.1);
  EXPECT_DOUBLE_EQ(at(flat, 0, 50, 0, 101), 0.1);
  EXPECT_NEAR(at(flat, 0, 51, 0, 101), 0.05 * (std::cos(pi / 51) + 1), 1e-15);
  // CosineRestart: the second period restarts at weight 0.5 above the target.
  const std::string restart =
      "{policy: CosineRestart, periods: [10, 10], restart_weights: [1, "
      "0.5], min_lr: 0.0, by_epoch: false}";
  EXPECT_DOUBLE_EQ(at(restart, 0, 10, 0, 20), 0.05);
  EXPECT_NEAR(at(restart, 0, 15, 0, 20), 0.025 * (std::cos(pi / 2) + 1), 1e-15);
  // Cyclic, L = 100, U = 40: up to 10b at 40, then down to 1e-4 b.
  const std::string cyclic = "{policy: cyclic}";
  EXPECT_DOUBLE_EQ(at(cyclic, 0, 0, 0, 100), 0.1);
  EXPECT_NEAR(at(cyclic, 0, 40, 0, 100), 1.0, 1e-15);
  EXPECT_NEAR(at(cyclic, 0, 20, 0, 100), 1.0 + 0.5 * (0.1 - 1.0) * (std::cos(pi / 2) + 1), 1e-15);
  // OneCycle: base = max_lr / 25 at 0, max_lr at pct*T - 1 = 29.
  TestOptimizer one({0.1}, 0.9, false);
  auto cycle = build_policy(yaml("{policy: OneCycle, max_lr: 0.5}"), "lr_config", &one);
  EXPECT_NEAR(cycle->value_at(0.02, 0, 0, 0, 100), 0.02, 1e-15);
  EXPECT_NEAR(cycle->value_at(0.02, 0, 29, 0, 100), 0.5, 1e-15);
  EXPECT_NEAR(cycle->value_at(0.02, 0, 99, 0, 100), 0.02 / 1e4, 1e-18);
}

TEST(Schedulers, WarmupKindsScaleTheRegularValue) {
  TestOptimizer sgd({0.1}, 0.9, false);
  auto warm = [&](const std::string& kind, const char* section, int64_t iter) {
    const std::string policy = std::string(section) == "lr_config"
                                   ? "{policy: Fixed, by_epoch: false, warmup: "
                                   : "{policy: step, step: 100, by_epoch: false, warmup: ";
    return build_policy(yaml(policy + kind + ", warmup_iters: 10, warmup_ratio: 0.25}"), section,
                        &sgd)
        ->value_at(0.8, 0, iter, 0, 100);
  };
  EXPECT_NEAR(warm("constant", "lr_config", 4), 0.2, 1e-15);
  EXPECT_NEAR(warm("linear", "lr_config", 4), 0.8 * (1 - 0.6 * 0.75), 1e-15);
  EXPECT_NEAR(warm("exp", "lr_config", 4), 0.8 * std::pow(0.25, 0.6), 1e-15);
  EXPECT_DOUBLE_EQ(warm("linear", "lr_config", 10), 0.8);
  // Momentum warmup divides: it starts above the base value (and may pass 1, unchecked).
  EXPECT_NEAR(warm("constant", "momentum_config", 4), 3.2, 1e-15);
  EXPECT_NEAR(warm("linear", "momentum_config", 4), 0.8 / (1 - 0.6 * 0.75), 1e-15);
  EXPECT_NEAR(warm("exp", "momentum_config", 4), 0.8 / std::pow(0.25, 0.6), 1e-15);
}

TEST(Schedulers, AdamsBeta1PlaysMomentum) {
  TestOptimizer adam({0.001}, 0.9, /*adam=*/true);
  const ScheduleTrace t = simulate("{policy: Fixed}", "{policy: step, step: 1, gamma: 0.5}",
                                   "{type: EpochBasedRunner, max_epochs: 3}", 2, &adam);
  ASSERT_EQ(t.momentum.size(), 6u);
  EXPECT_DOUBLE_EQ(t.momentum[0][0], 0.9);
  EXPECT_DOUBLE_EQ(t.momentum[2][0], 0.45);
  EXPECT_DOUBLE_EQ(t.momentum[5][0], 0.225);
  const auto& options =
      static_cast<const torch::optim::AdamOptions&>(adam.optimizer().param_groups()[0].options());
  EXPECT_DOUBLE_EQ(std::get<0>(options.betas()), 0.225);
  EXPECT_DOUBLE_EQ(std::get<1>(options.betas()), 0.999);  // beta2 untouched
  EXPECT_DOUBLE_EQ(adam.stored[0].at("initial_momentum"), 0.9);
}

TEST(Schedulers, BaseValuesComeFromInitialLrAsWhenResuming) {
  // A resumed optimizer keeps `initial_lr`: the schedule restarts from it, not from the lr the
  // optimizer holds now (MMCV's group.setdefault('initial_lr', group['lr'])).
  TestOptimizer sgd({0.001}, 0.9, false);
  sgd.stored[0]["initial_lr"] = 0.04;
  const ScheduleTrace t =
      simulate("{policy: step, step: [1]}", "", "{type: EpochBasedRunner, max_epochs: 2}", 3, &sgd);
  EXPECT_DOUBLE_EQ(t.lr[0][0], 0.04);
  EXPECT_NEAR(t.lr[3][0], 0.004, 1e-15);
  // A fresh optimizer gets its lr recorded.
  TestOptimizer fresh({0.03}, 0.9, false);
  simulate("{policy: Fixed}", "", "{type: EpochBasedRunner, max_epochs: 1}", 1, &fresh);
  EXPECT_DOUBLE_EQ(fresh.stored[0].at("initial_lr"), 0.03);
}

TEST(Schedulers, PolicyNamesAndPrioritiesAreMMCVs) {
  // P.title() only when P is all lower case, then the suffix (MMCV's register_lr_hook).
  const TypeKey& lr = top_level_schema().find("lr_config")->type_key;
  const TypeKey& momentum = top_level_schema().find("momentum_config")->type_key;
  EXPECT_EQ(lr.resolve("step"), "StepLrUpdaterHook");
  EXPECT_EQ(lr.resolve("CosineAnnealing"), "CosineAnnealingLrUpdaterHook");
  EXPECT_EQ(lr.resolve("onecycle"), "OnecycleLrUpdaterHook");  // does not exist, as in MMCV
  EXPECT_EQ(lr.resolve("oneCycle"), "oneCycleLrUpdaterHook");  // not all lower case: as is
  EXPECT_EQ(lr.resolve("flat_cosine"), "Flat_CosineLrUpdaterHook");
  EXPECT_EQ(lr.resolve("poly2x"), "Poly2XLrUpdaterHook");  // Python: 'poly2x'.title()
  EXPECT_EQ(momentum.resolve("cyclic"), "CyclicMomentumUpdaterHook");
  TestOptimizer sgd({0.1}, 0.9, false);
  EXPECT_EQ(build_policy(yaml("{policy: step, step: 2}"), "lr_config", &sgd)->default_priority(),
            10);
  auto m = build_policy(yaml("{policy: step, step: 2}"), "momentum_config", &sgd);
  EXPECT_EQ(m->default_priority(), 30);
  EXPECT_EQ(m->target(), ScheduleTarget::momentum);
  const std::string unknown =
      error_of([&] { build_policy(yaml("{policy: onecycle, max_lr: 0.1}"), "lr_config", &sgd); });
  EXPECT_NE(unknown.find("OnecycleLrUpdaterHook"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("OneCycleLrUpdaterHook"), std::string::npos) << unknown;  // suggested
}

// ---- validation --------------------------------------------------------------------------------

/// The message building `cfg` in `section` fails with.
std::string build_error(const std::string& cfg, const char* section = "lr_config") {
  TestOptimizer sgd({0.1}, 0.9, false);
  return error_of([&] { build_policy(yaml(cfg), section, &sgd); });
}

/// The message simulating the policies fails with.
std::string run_error(const std::string& lr, const std::string& momentum, const std::string& runner,
                      TestOptimizer* optimizer = nullptr) {
  return error_of([&] { simulate(lr, momentum, runner, 10, optimizer); });
}

/// `text` contains every one of `parts`.
::testing::AssertionResult says(const std::string& text, std::vector<std::string> parts) {
  for (const auto& part : parts) {
    if (text.find(part) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
  }
  return ::testing::AssertionSuccess();
}

TEST(SchedulersValidation, BaseArgumentsAreChecked) {
  EXPECT_TRUE(says(build_error("{policy: step, step: [8], warmup: cosine}"),
                   {"lr_config.warmup", "'cosine'", "constant|linear|exp"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: [8], warmup: linear, warmup_iters: 0}"),
                   {"lr_config.warmup_iters", "warmup_iters must be a positive integer"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: [8], warmup: exp, warmup_iters: 5, "
                               "warmup_ratio: 0}"),
                   {"lr_config.warmup_ratio", "must be in (0, 1]"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: [8], warmup: exp, warmup_iters: 5, "
                               "warmup_ratio: 1.5}",
                               "momentum_config"),
                   {"momentum_config.warmup_ratio", "StepMomentumUpdaterHook", "(0, 1]"}));
  // Without a warmup MMCV does not look at them.
  EXPECT_EQ(build_error("{policy: step, step: [8], warmup_ratio: 5.0}"), "");
  EXPECT_TRUE(
      says(build_error("{policy: step, step: [8], warmup_by_epoch: true}", "momentum_config"),
           {"warmup_by_epoch"}));  // LR policies only
}

TEST(SchedulersValidation, PolicyArgumentsAreChecked) {
  EXPECT_TRUE(says(build_error("{policy: step}"), {"lr_config.step", "step is required"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: 0}"), {"step must be > 0"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: [8, 0]}"), {"every step must be > 0"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: [11, 8]}"), {"must be increasing"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: 2.5}"), {"lr_config.step", "int"}));
  EXPECT_TRUE(says(build_error("{policy: Exp}"), {"lr_config.gamma", "gamma is required"}));
  EXPECT_TRUE(says(build_error("{policy: Inv}"), {"gamma is required"}));
  EXPECT_TRUE(says(build_error("{policy: CosineAnnealing}"),
                   {"CosineAnnealingLrUpdaterHook", "exactly one of min_lr", "neither"}));
  EXPECT_TRUE(says(build_error("{policy: LinearAnnealing, min_lr: 0.0, min_lr_ratio: 0.1}"),
                   {"lr_config.min_lr_ratio", "both are set"}));
  EXPECT_TRUE(says(build_error("{policy: CosineAnnealing}", "momentum_config"),
                   {"min_momentum", "min_momentum_ratio"}));
  EXPECT_TRUE(says(build_error("{policy: FlatCosineAnnealing, min_lr: 0.0, start_percent: 1.5}"),
                   {"lr_config.start_percent", "in [0, 1]"}));
  EXPECT_TRUE(says(build_error("{policy: CosineRestart, periods: [5, 5], min_lr: 0.0}"),
                   {"lr_config.restart_weights", "same length"}));
  EXPECT_TRUE(says(build_error("{policy: CosineRestart, min_lr: 0.0}"), {"periods is required"}));
  EXPECT_TRUE(says(build_error("{policy: cyclic, by_epoch: true}"),
                   {"lr_config.by_epoch", "only by_epoch: false"}));
  EXPECT_TRUE(says(build_error("{policy: cyclic, by_epoch: true}", "momentum_config"),
                   {"CyclicMomentumUpdaterHook", "only by_epoch: false"}));
  EXPECT_TRUE(says(build_error("{policy: cyclic, target_ratio: [1, 2, 3]}"),
                   {"lr_config.target_ratio", "a list of two numbers"}));
  EXPECT_TRUE(says(build_error("{policy: cyclic, step_ratio_up: 1.0}"), {"step_ratio_up"}));
  EXPECT_TRUE(says(build_error("{policy: cyclic, gamma: 0}"), {"lr_config.gamma"}));
  EXPECT_TRUE(says(build_error("{policy: cyclic, anneal_strategy: cosine}"), {"cos|linear"}));
  EXPECT_TRUE(says(build_error("{policy: OneCycle}"), {"lr_config.max_lr", "max_lr is required"}));
  EXPECT_TRUE(says(build_error("{policy: OneCycle, max_lr: 0.1, by_epoch: true}"),
                   {"only by_epoch: false"}));
  EXPECT_TRUE(says(build_error("{policy: OneCycle, max_lr: 0.1, pct_start: 2.0}"),
                   {"lr_config.pct_start"}));
  EXPECT_TRUE(says(build_error("{policy: step, step: 1, typo: 3}"), {"typo"}));
}

TEST(SchedulersValidation, RunsThePolicyCannotFollowAreRefusedAtBeforeRun) {
  const std::string iter_runner = "{type: IterBasedRunner, max_iters: 100}";
  // MMCV's IterBasedRunner never starts an epoch: a by-epoch policy would do nothing.
  EXPECT_TRUE(says(run_error("{policy: step, step: [8]}", "", iter_runner),
                   {"StepLrUpdaterHook", "set by_epoch: false in lr_config"}));
  EXPECT_TRUE(says(run_error("", "{policy: CosineAnnealing, min_momentum: 0.8}", iter_runner),
                   {"set by_epoch: false in momentum_config"}));
  EXPECT_TRUE(says(run_error("{policy: Fixed, by_epoch: false, warmup: linear, warmup_iters: 1, "
                             "warmup_by_epoch: true}",
                             "", iter_runner),
                   {"warmup_by_epoch needs an epoch-based runner"}));
  EXPECT_TRUE(says(run_error("{policy: OneCycle, max_lr: 0.1, total_steps: 50}", "", iter_runner),
                   {"total_steps (50) must be >= the run's max_iters (100)"}));
  EXPECT_TRUE(says(run_error("{policy: OneCycle, max_lr: 0.1, pct_start: 0.01}", "", iter_runner),
                   {"first phase 0 iterations long"}));
  EXPECT_TRUE(says(run_error("{policy: OneCycle, max_lr: [0.1, 0.2]}", "", iter_runner),
                   {"expected 1 values for max_lr"}));
  EXPECT_TRUE(says(run_error("{policy: cyclic, cyclic_times: 200}", "", iter_runner),
                   {"cyclic_times (200) is more than the run's 100 iterations"}));
  EXPECT_TRUE(says(run_error("{policy: CosineRestart, periods: [40, 40], restart_weights: [1, 1], "
                             "min_lr: 0.0, by_epoch: false}",
                             "", iter_runner),
                   {"the periods add up to 80 iterations but the run has 100"}));
  TestOptimizer no_momentum({0.1}, 0.0, false);
  no_momentum.has_momentum_ = false;
  EXPECT_TRUE(says(run_error("", "{policy: step, step: 1}",
                             "{type: EpochBasedRunner, max_epochs: 2}", &no_momentum),
                   {"the optimizer has no momentum"}));
}

TEST(SchedulersValidation, RunnerSectionIsChecked) {
  EXPECT_TRUE(says(error_of([] { schedule_run_of(yaml("{}"), 10); }), {"no 'runner' section"}));
  EXPECT_TRUE(says(error_of([] {
                     schedule_run_of(yaml("{runner: {type: EpochBasedRunner, max_epochs: 2, "
                                          "max_iters: 10}}"),
                                     10);
                   }),
                   {"only one of `max_epochs` or `max_iters` can be set"}));
  EXPECT_TRUE(says(
      error_of([] { schedule_run_of(yaml("{runner: {type: EpochRunner, max_epochs: 2}}"), 10); }),
      {"runner.type", "EpochBasedRunner"}));
  EXPECT_TRUE(says(error_of([] {
                     schedule_run_of(yaml("{runner: {type: EpochBasedRunner, max_epochs: 0}}"), 10);
                   }),
                   {"runner.max_epochs", "positive integer"}));
  const ScheduleRun run =
      schedule_run_of(yaml("{runner: {type: EpochBasedRunner, max_epochs: 3}}"), 7);
  EXPECT_EQ(run.max_iters, 21);
  EXPECT_TRUE(run.by_epoch);
}

}  // namespace
}  // namespace detkit
