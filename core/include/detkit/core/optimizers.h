// Optimizers and their construction from a config: MMCV's build_optimizer (optimizer `type`,
// `constructor`, `paramwise_cfg`) over the registries of kinds `optimizer` and
// `optimizer_constructor`, and the optimizer state detkit saves in checkpoints.
//
//   auto optimizer = detkit::build_optimizer(*model, config.at("optimizer"), "optimizer");
//   optimizer->optimizer().step();
//
// Built-ins: SGD, Adam, AdamW (LibTorch's implementations of PyTorch's algorithms, with
// PyTorch's defaults) and DefaultOptimizerConstructor (MMCV's paramwise_cfg rules).
#pragma once

#include <ATen/core/ivalue.h>

#include <memory>
#include <string>

#include "detkit/config_node.h"
#include "detkit/engine/optimizer.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace detkit {

/// An optimizer whose state detkit saves and restores in PyTorch's own layout
/// (`{"state": {index: {...}}, "param_groups": [{"lr": ..., "params": [indices], ...}]}`), so a
/// checkpoint's `optimizer` entry reads in Python as `optimizer.state_dict()` does. The
/// built-in optimizers implement it.
class DETKIT_API SerializableOptimizer {
 public:
  virtual ~SerializableOptimizer();
  /// The state as PyTorch's optimizer.state_dict() lays it out.
  virtual c10::IValue state_dict() const = 0;
  /// Restores a state saved by state_dict() (or by Python for the same optimizer type): the
  /// group settings (lr, momentum, initial_lr, ...) and the per-parameter buffers. Throws Error
  /// naming what does not fit (number of groups or parameters, buffer shapes).
  virtual void load_state_dict(const c10::IValue& state) = 0;
};

/// MMCV's build_optimizer(model, cfg): pops `constructor` (default
/// DefaultOptimizerConstructor) and `paramwise_cfg` from the optimizer config, builds the
/// constructor with `{optimizer_cfg, paramwise_cfg}` and the model, then the optimizer of
/// `type` with the constructor's parameter groups. `path` names the config section in errors.
DETKIT_API std::shared_ptr<OptimizerBase> build_optimizer(torch::nn::Module& model,
                                                          const ConfigNode& cfg,
                                                          const std::string& path = "optimizer");

/// Builds the optimizer of `cfg` (without `constructor` / `paramwise_cfg`) over the given
/// groups: what `detkit schedule` uses with a single group.
DETKIT_API std::shared_ptr<OptimizerBase> build_optimizer_for_groups(
    std::vector<ParamGroup> groups, const ConfigNode& cfg, const std::string& path = "optimizer");

}  // namespace detkit
