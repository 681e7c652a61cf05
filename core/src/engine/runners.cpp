// The built-in runners (kind `runner`): EpochBasedRunner (`max_epochs`) and IterBasedRunner
// (`max_iters`), MMCV 1.x's names and arguments; both are a HostRunner (detkit/core/host_runner.h).
#include <memory>
#include <optional>
#include <string>

#include "detkit/build_context.h"
#include "detkit/core/host_runner.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// The arguments both runners accept; exactly one limit may be set, as MMCV's BaseRunner says.
Schema runner_schema(const char* summary) {
  Schema s(summary);
  s.add<std::optional<int64_t>>("max_epochs", std::nullopt, "training epochs").min(1);
  s.add<std::optional<int64_t>>("max_iters", std::nullopt, "training iterations").min(1);
  return s;
}

/// Builds a runner R (a HostRunner) counting epochs or iterations.
template <class R>
std::shared_ptr<R> make_runner(const ComponentConfig& cfg, const RunnerContext& context,
                               bool by_epoch) {
  const auto max_epochs = cfg.get<std::optional<int64_t>>("max_epochs");
  const auto max_iters = cfg.get<std::optional<int64_t>>("max_iters");
  if (max_epochs && max_iters) {
    cfg.fail("max_iters", "Only one of `max_epochs` or `max_iters` can be set.");
  }
  if (by_epoch && !max_epochs) {
    cfg.fail("max_epochs",
             "EpochBasedRunner needs max_epochs (for max_iters use "
             "IterBasedRunner)");
  }
  if (!by_epoch && !max_iters) {
    cfg.fail("max_iters",
             "IterBasedRunner needs max_iters (for max_epochs use "
             "EpochBasedRunner)");
  }
  if (context.model == nullptr) cfg.fail("type", cfg.type() + " needs a model to train");
  return std::make_shared<R>(*context.model, context.optimizer, context.work_dir, by_epoch,
                             max_epochs.value_or(0), max_iters.value_or(0));
}

/// MMCV's EpochBasedRunner.
class EpochBasedRunner : public HostRunner {
 public:
  using HostRunner::HostRunner;
  static Schema schema() {
    return runner_schema("Trains for max_epochs passes over the training set (MMCV).");
  }
  static std::shared_ptr<EpochBasedRunner> create(const ComponentConfig& cfg,
                                                  const RunnerContext& context) {
    return make_runner<EpochBasedRunner>(cfg, context, true);
  }
};

/// MMCV's IterBasedRunner.
class IterBasedRunner : public HostRunner {
 public:
  using HostRunner::HostRunner;
  static Schema schema() {
    return runner_schema(
        "Trains for max_iters iterations, the loader restarting as needed (MMCV).");
  }
  static std::shared_ptr<IterBasedRunner> create(const ComponentConfig& cfg,
                                                 const RunnerContext& context) {
    return make_runner<IterBasedRunner>(cfg, context, false);
  }
};

}  // namespace

DETKIT_REGISTER(runner, EpochBasedRunner);
DETKIT_REGISTER(runner, IterBasedRunner);

}  // namespace detkit
