// The optimizer interfaces (kinds `optimizer` and `optimizer_constructor`).
//
// Contract: an optimizer constructor (MMCV's DefaultOptimizerConstructor; built with an
// OptimizerConstructorContext holding the model) turns the model's named parameters and the
// `paramwise_cfg` into parameter groups; an optimizer (SGD, Adam, AdamW; built with an
// OptimizerContext holding those groups) wraps a torch::optim::Optimizer whose param groups
// are in the same order, each group's options holding its lr / weight_decay. LR and momentum
// policies and the runner act on it through optimizer().
#pragma once

#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detkit/kind.h"

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace detkit {

/// A parameter with its name in the model ("backbone.layer1.0.conv1.weight").
struct DETKIT_API NamedParameter {
  std::string name;
  torch::Tensor tensor;
};

/// One parameter group: its parameters and the values that differ from the optimizer's
/// defaults (set by paramwise_cfg).
struct DETKIT_API ParamGroup {
  std::vector<NamedParameter> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

/// Base class of optimizers.
class DETKIT_API OptimizerBase {
 public:
  virtual ~OptimizerBase();
  /// The LibTorch optimizer (param groups in the order of the context's groups).
  virtual torch::optim::Optimizer& optimizer() = 0;
  /// Whether the optimizer has a momentum (SGD) or betas (Adam: beta1 plays momentum).
  virtual bool has_momentum() const = 0;

  // ---- SDK 1.1 ----

  /// Number of parameter groups.
  size_t num_groups();
  /// The learning rate of group `group`.
  double lr(size_t group);
  /// Sets the learning rate of group `group`.
  void set_lr(size_t group, double value);
  /// The momentum of group `group`: SGD's momentum, Adam's and AdamW's beta1; 0 without one.
  virtual double momentum(size_t group) const = 0;
  /// Sets the momentum (or beta1) of group `group`; ignored by optimizers without one.
  virtual void set_momentum(size_t group, double value) = 0;
  /// Python's group.setdefault(key, value) on the values kept with a group and saved with the
  /// optimizer's state (MMCV's `initial_lr`, `initial_momentum`): returns the stored value,
  /// storing `value` first when the group has none.
  virtual double setdefault(size_t group, const std::string& key, double value) = 0;
};

/// Base class of optimizer constructors.
class DETKIT_API OptimizerConstructorBase {
 public:
  virtual ~OptimizerConstructorBase();
  /// The parameter groups for the model the constructor was built with.
  virtual std::vector<ParamGroup> param_groups() const = 0;
};

}  // namespace detkit
