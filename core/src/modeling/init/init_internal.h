// Shared internals of weight initialisation (core/src/modeling/init): Python-style number
// formatting, the init session (MMCV's `_params_init_info` while a top-level init_weights
// runs), and the init state of modules that are not BaseModule subclasses.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "detkit/component_config.h"
#include "detkit/modeling/base_module.h"

namespace detkit::detail {

/// Python's repr() of a float: the shortest digits that read back to `value`, fixed notation
/// for exponents -4 < e <= 16 ("0.01", "1.0", "100000.0"), else "1e-05" / "1e+16".
std::string python_float_repr(double value);
/// Python's repr() of torch.Size: "torch.Size([4, 3, 3, 3])".
std::string torch_size_repr(at::IntArrayRef shape);

/// The class name a module not deriving from MmcvNamed was given by the registry (its `type`)
/// or by set_init_cfg(); "" if none.
std::string registered_class_name(const torch::nn::Module& module);

/// The parameter `name` registered directly on `module` ("weight", "bias"), or an undefined
/// tensor (MMCV's `hasattr(m, name) and m.<name> is not None`).
torch::Tensor direct_parameter(torch::nn::Module& module, const char* name);

/// MMCV's `_params_init_info` during one top-level init_weights: for every parameter of the
/// top module, the current record text and the mean the record was made at.
class InitSession {
 public:
  /// Starts recording for `top`, whose parameters all read "The value is the same before and
  /// after calling `init_weights` of <top_class> ".
  InitSession(torch::nn::Module& top, const std::string& top_class);
  /// Whether `module` is `top` or one of its descendants.
  bool contains(const torch::nn::Module& module) const;
  /// MMCV's update_init_info: records `info` for each parameter of `module` whose mean
  /// changed. Throws Error for a parameter that was not there when the session started.
  void update(torch::nn::Module& module, const std::string& info);
  /// The log, in the top module's named_parameters() order.
  InitLog log() const;

 private:
  struct Entry {
    std::string info;
    double mean = 0.0;
  };
  torch::nn::Module& top_;
  std::unordered_set<const torch::nn::Module*> modules_;
  std::unordered_map<const c10::TensorImpl*, Entry> params_;
};

/// Stops `session` (registered by its constructor) from answering session_of(); call before
/// destroying it.
void end_session(InitSession* session);
/// The innermost running session that `module` belongs to, or null.
InitSession* session_of(const torch::nn::Module& module);
/// Records `info` for the changed parameters of `module`, when a session holds it.
void update_init_info(torch::nn::Module& module, const std::string& info);

}  // namespace detkit::detail
