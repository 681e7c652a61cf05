// The exponential moving average shared by MMCV's EMAHook and MMDetection's momentum EMA hooks:
// one `ema_<name with dots replaced by underscores>` buffer per averaged tensor, registered on
// the model when the hook is built (so a checkpoint saved with them loads them back on resume),
// updated as ema = (1 - m) * ema + m * value, and swapped with the model's values around each
// evaluation.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"

namespace detkit::hooks {

/// The averaged tensors of one model and their EMA buffers.
class EmaBuffers {
 public:
  /// Registers `ema_<name>` (a clone of the tensor) on `model` for each of `names` (parameter or
  /// buffer names of `model`); a buffer already there (a hook built again) is kept.
  void attach(torch::nn::Module& model, std::vector<std::string> names);
  /// Looks the tensors up again by name (after the host moved or reloaded the model).
  void bind(torch::nn::Module& model);
  /// Before a run (after the host's resume_from / load_from): binds, then restarts the EMA from
  /// the model's values — all of them for a run that starts at iteration 0 (MMCV clones the
  /// weights in before_run, so after load_from), else only those the resumed checkpoint did not
  /// hold (the buffers nothing was loaded into since attach()). A resumed checkpoint saved while
  /// the model held the raw weights (hook_msgs.ema_in_model false: the hook ran after
  /// CheckpointHook) is swapped once, so the next before_train_epoch brings the raw weights back.
  void restart(RunnerBase& runner);
  /// ema = (1 - momentum) * ema + momentum * value, for floating-point tensors.
  void update(double momentum);
  /// Exchanges the model's values and the EMA values; records in hook_msgs.ema_in_model whether
  /// the model now holds the EMA values (`ema_in_model`).
  void swap(RunnerBase& runner, bool ema_in_model);
  /// The buffer name of a tensor name: "ema_" + name with '.' replaced by '_'.
  static std::string buffer_name(const std::string& name);

 private:
  std::vector<std::string> names_;
  /// (model tensor, its EMA buffer), in the order of names_.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs_;
  /// The EMA buffers' version counters after attach() (a load bumps them).
  std::vector<int64_t> attached_versions_;
};

/// The model of a hook's context; throws detkit::Error naming `hook` without a runner.
torch::nn::Module& context_model(const HookContext& context, const char* hook);

}  // namespace detkit::hooks
