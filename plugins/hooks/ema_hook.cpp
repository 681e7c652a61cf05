// EMAHook (MMCV 1.7's mmcv/runner/hooks/ema.py) and the EMA buffers it shares with
// MMDetection's ExpMomentumEMAHook and LinearMomentumEMAHook.
#include "ema_hook.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "hook_utils.h"

namespace detkit::hooks {

std::string EmaBuffers::buffer_name(const std::string& name) {
  std::string out = "ema_" + name;
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

void EmaBuffers::attach(torch::nn::Module& model, std::vector<std::string> names) {
  torch::NoGradGuard no_grad;
  std::unordered_map<std::string, torch::Tensor> tensors;
  for (const auto& item : model.named_parameters())
    tensors[item.key()] = item.value();
  for (const auto& item : model.named_buffers())
    tensors[item.key()] = item.value();
  const auto own = model.named_buffers(/*recurse=*/false);
  for (const auto& name : names) {
    const std::string buffer = buffer_name(name);
    if (own.find(buffer) == nullptr)
      model.register_buffer(buffer, tensors.at(name).detach().clone());
  }
  names_ = std::move(names);
  bind(model);
  attached_versions_.clear();
  for (const auto& pair : pairs_)
    attached_versions_.push_back(pair.second._version());
}

void EmaBuffers::restart(RunnerBase& runner) {
  bind(runner.model());
  const bool fresh_run = runner.iter() == 0;
  bool any_loaded = false;
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < pairs_.size(); ++i) {
      auto& [value, ema] = pairs_[i];
      const bool loaded = i < attached_versions_.size() && ema._version() != attached_versions_[i];
      any_loaded = any_loaded || loaded;
      if (fresh_run || !loaded) ema.copy_(value.detach());
    }
  }
  const ConfigNode* in_model = hook_msgs(runner).find("ema_in_model");
  const bool ema_in_model = in_model != nullptr && in_model->is_bool() && in_model->as_bool();
  if (!fresh_run && any_loaded && !ema_in_model) swap(runner, true);
  hook_msgs(runner).set("ema_in_model", !fresh_run && any_loaded);
}

void EmaBuffers::bind(torch::nn::Module& model) {
  std::unordered_map<std::string, torch::Tensor> tensors;
  for (const auto& item : model.named_parameters())
    tensors[item.key()] = item.value();
  for (const auto& item : model.named_buffers())
    tensors[item.key()] = item.value();
  pairs_.clear();
  for (const auto& name : names_) {
    const auto value = tensors.find(name);
    const auto ema = tensors.find(buffer_name(name));
    if (value == tensors.end() || ema == tensors.end()) {
      throw Error("EMA: the model no longer has '" + name + "' or its buffer '" +
                  buffer_name(name) + "'");
    }
    pairs_.emplace_back(value->second, ema->second);
  }
}

void EmaBuffers::update(double momentum) {
  torch::NoGradGuard no_grad;
  for (auto& [value, ema] : pairs_) {
    if (!value.is_floating_point()) continue;
    ema.mul_(1.0 - momentum).add_(value.detach(), momentum);
  }
}

void EmaBuffers::swap(RunnerBase& runner, bool ema_in_model) {
  hook_msgs(runner).set("ema_in_model", ema_in_model);
  torch::NoGradGuard no_grad;
  for (auto& [value, ema] : pairs_) {
    const torch::Tensor saved = value.detach().clone();
    value.detach().copy_(ema);
    ema.copy_(saved);
  }
}

torch::nn::Module& context_model(const HookContext& context, const char* hook) {
  if (context.runner == nullptr) {
    throw Error(std::string(hook) + " needs the runner whose model it averages (HookContext)");
  }
  return context.runner->model();
}

/// Options of EMAHook; names and defaults as MMCV's.
struct EMAHookOptions {
  TORCH_ARG(double, momentum) = 0.0002;
  TORCH_ARG(int64_t, interval) = 1;
  TORCH_ARG(int64_t, warm_up) = 100;
  TORCH_ARG(std::optional<std::string>, resume_from) = std::nullopt;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary(
        "Exponential moving average of the parameters, swapped in for evaluation and "
        "checkpoints (MMCV EMAHook).");
    DETKIT_PARAM(p, momentum, "weight of the current parameters in each update")
        .greater_than(0)
        .less_than(1);
    DETKIT_PARAM(p, interval, "update every `interval` iterations").min(1);
    DETKIT_PARAM(p, warm_up, "iterations over which the momentum grows to `momentum`").min(1);
    DETKIT_PARAM(p, resume_from, "not supported: use the top-level resume_from");
  }
};

/// MMCV's EMAHook: after iteration i (every interval-th), ema = (1 - m) * ema + m * param with
/// m = min(momentum ** interval, (1 + i) / (warm_up + i)); the EMA values replace the
/// parameters from after_train_epoch (evaluation, checkpoint) to the next before_train_epoch.
/// Priority NORMAL; set a priority below CheckpointHook's (e.g. 49) to save the EMA weights.
class EMAHook : public HookBase {
 public:
  using Options = EMAHookOptions;

  /// Checks the options and registers the EMA buffers on the runner's model.
  EMAHook(const EMAHookOptions& options_, const HookContext& context) : options(options_) {
    check_options(options, "EMAHook");
    if (options.resume_from()) {
      throw InvalidParameter(
          "resume_from",
          "EMAHook: resume_from is not supported; use the top-level `resume_from` (the EMA "
          "buffers are registered when the hook is built, so the checkpoint restores them)");
    }
    momentum_ = std::pow(options.momentum(), static_cast<double>(options.interval()));
    torch::nn::Module& model = context_model(context, "EMAHook");
    std::vector<std::string> names;
    for (const auto& item : model.named_parameters())
      names.push_back(item.key());
    buffers_.attach(model, std::move(names));
  }

  /// Restarts the EMA from the model's weights (after load_from), or keeps what a resumed
  /// checkpoint holds.
  void before_run(RunnerBase& runner) override { buffers_.restart(runner); }

  /// Updates the EMA every `interval` iterations.
  void after_train_iter(RunnerBase& runner) override {
    const auto step = static_cast<double>(runner.iter());
    const double momentum =
        std::min(momentum_, (1.0 + step) / (static_cast<double>(options.warm_up()) + step));
    if (runner.iter() % options.interval() != 0) return;
    buffers_.update(momentum);
  }

  /// Swaps the EMA values in (for evaluation and checkpoints), and out again.
  void after_train_epoch(RunnerBase& runner) override { buffers_.swap(runner, true); }
  void before_train_epoch(RunnerBase& runner) override { buffers_.swap(runner, false); }

  /// The options the hook was built with (the registry prints them).
  EMAHookOptions options;

 private:
  double momentum_ = 0.0;
  EmaBuffers buffers_;
};

DETKIT_REGISTER(hook, EMAHook);

}  // namespace detkit::hooks
