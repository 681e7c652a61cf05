// MMDetection 2.25's EMA hooks (mmdet/core/hook/ema.py): BaseEMAHook averages the whole
// state_dict (parameters and buffers; parameters only with skip_buffers) every `interval`
// iterations with a momentum that depends on the iteration:
//   ExpMomentumEMAHook:    m = (1 - momentum) * exp(-(1 + iter) / total_iter) + momentum
//   LinearMomentumEMAHook: m = min(momentum ** interval, (1 + iter) / (warm_up + iter))
#include <algorithm>
#include <cmath>
#include <optional>

#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "ema_hook.h"

namespace detkit::hooks {

/// Options of ExpMomentumEMAHook (`Exp`) and LinearMomentumEMAHook (names and defaults as
/// MMDetection's; total_iter belongs to the first, warm_up to the second).
template <bool Exp>
struct MomentumEMAHookOptions {
  TORCH_ARG(double, momentum) = 0.0002;
  TORCH_ARG(int64_t, interval) = 1;
  TORCH_ARG(bool, skip_buffers) = false;
  TORCH_ARG(std::optional<std::string>, resume_from) = std::nullopt;
  TORCH_ARG(int64_t, total_iter) = 2000;
  TORCH_ARG(int64_t, warm_up) = 100;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(Exp ? "EMA with an exponentially decaying momentum (MMDetection "
                    "ExpMomentumEMAHook)."
                  : "EMA with a linearly warmed-up momentum (MMDetection "
                    "LinearMomentumEMAHook).");
    DETKIT_PARAM(p, momentum, "the EMA momentum (weight of the current values)")
        .greater_than(0)
        .less_than(1);
    DETKIT_PARAM(p, interval, "update every `interval` iterations").min(1);
    DETKIT_PARAM(p, skip_buffers, "average the parameters only (not BN statistics)");
    DETKIT_PARAM(p, resume_from, "not supported: use the top-level resume_from");
    if constexpr (Exp) {
      DETKIT_PARAM(p, total_iter, "iterations over which the momentum decays").min(1);
    } else {
      DETKIT_PARAM(p, warm_up, "iterations over which the momentum warms up").min(1);
    }
  }
};

/// MMDetection's BaseEMAHook with its momentum function (priority NORMAL; YOLOX uses 49 so
/// that the checkpoint holds the EMA weights).
template <bool Exp>
class MomentumEMAHook : public HookBase {
 public:
  using Options = MomentumEMAHookOptions<Exp>;

  /// Checks the options and registers the EMA buffers on the runner's model.
  MomentumEMAHook(const Options& options_, const HookContext& context) : options(options_) {
    check_options(options, type());
    if (options.resume_from()) {
      throw InvalidParameter("resume_from",
                             std::string(type()) +
                                 ": resume_from is not supported; use the top-level "
                                 "`resume_from` (the EMA buffers are registered when the hook "
                                 "is built, so the checkpoint restores them)");
    }
    torch::nn::Module& model = context_model(context, type());
    std::vector<std::string> names;
    for (const auto& item : model.named_parameters())
      names.push_back(item.key());
    if (!options.skip_buffers()) {
      for (const auto& item : model.named_buffers())
        names.push_back(item.key());
    }
    buffers_.attach(model, std::move(names));
  }

  /// The registered type name.
  static const char* type() { return Exp ? "ExpMomentumEMAHook" : "LinearMomentumEMAHook"; }

  /// The momentum after (global) iteration `iter`.
  double momentum(int64_t iter) const {
    const auto step = static_cast<double>(iter);
    const double m = options.momentum();
    if constexpr (Exp) {
      return (1.0 - m) * std::exp(-(1.0 + step) / static_cast<double>(options.total_iter())) + m;
    } else {
      return std::min(std::pow(m, static_cast<double>(options.interval())),
                      (1.0 + step) / (static_cast<double>(options.warm_up()) + step));
    }
  }

  /// Restarts the EMA from the model's weights (after load_from), or keeps what a resumed
  /// checkpoint holds.
  void before_run(RunnerBase& runner) override { buffers_.restart(runner); }

  /// Updates the EMA after every `interval`-th iteration.
  void after_train_iter(RunnerBase& runner) override {
    if ((runner.iter() + 1) % options.interval() != 0) return;
    buffers_.update(momentum(runner.iter()));
  }

  /// Swaps the EMA values in (for evaluation and checkpoints), and out again.
  void after_train_epoch(RunnerBase& runner) override { buffers_.swap(runner, true); }
  void before_train_epoch(RunnerBase& runner) override { buffers_.swap(runner, false); }

  /// The options the hook was built with (the registry prints them).
  Options options;

 private:
  EmaBuffers buffers_;
};

using ExpMomentumEMAHook = MomentumEMAHook<true>;
using LinearMomentumEMAHook = MomentumEMAHook<false>;

DETKIT_REGISTER(hook, ExpMomentumEMAHook);
DETKIT_REGISTER(hook, LinearMomentumEMAHook);

}  // namespace detkit::hooks
