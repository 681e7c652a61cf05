// The weight initializer interface (kind `initializer`): what an `init_cfg` entry names
// (MMCV's INITIALIZERS: Constant, Xavier, Normal, TruncNormal, Uniform, Kaiming, Caffe2Xavier,
// Pretrained). A plugin adds one by deriving from BaseInit (or InitializerBase) and registering
// it: DETKIT_REGISTER(initializer, MyInit) with a static schema() and create(cfg).
//
// Contract: initialize() (detkit/modeling/init.h) builds one initializer per init_cfg entry
// (no context) and calls apply() on the module the entry belongs to — selecting descendants by
// `layer` — and, for each `override`, on the named child with whole_module set. After each
// apply() the host compares every parameter's mean with its previous one and, where it
// changed, writes record() into the init log (MMCV's update_init_info), so an initializer
// reports nothing itself.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "detkit/component_config.h"
#include "detkit/config_node.h"
#include "detkit/kind.h"
#include "detkit/schema.h"

namespace detkit {

/// A number as the config wrote it, int or float: MMCV's init log prints them as Python does
/// ("bias=0" for 0, "bias=0.0" for 0.0), so initializers keep the distinction.
struct DETKIT_API InitNumber {
  double value = 0.0;
  bool integer = false;

  InitNumber() = default;
  InitNumber(int v) : value(v), integer(true) {}
  InitNumber(int64_t v) : value(static_cast<double>(v)), integer(true) {}
  InitNumber(double v) : value(v), integer(false) {}
  /// The number a config node holds; throws ConfigError (at the node) for anything else.
  static InitNumber from(const ConfigNode& node);
  /// Python's repr of the value: "0", "0.01", "-4.59511985013459", "1e-05", "inf".
  std::string str() const;
};

/// Base class of initializers.
class DETKIT_API InitializerBase {
 public:
  virtual ~InitializerBase();
  /// MMCV's `initializer(module)`: initialises `module` and the descendants the entry selects
  /// (by `layer`), or, with `whole_module` (the target of an `override`), `module` and every
  /// descendant.
  virtual void apply(torch::nn::Module& module, bool whole_module) = 0;
  /// The init log's text for this initializer (MMCV's `_get_init_info`), e.g. "NormalInit:
  /// mean=0, std=0.01, bias=0".
  virtual std::string record() const = 0;
};

/// MMCV's BaseInit: the keyword arguments every weight initializer shares — `bias` (the
/// constant every touched bias is set to, default 0), `bias_prob` (when set, the bias is
/// bias_init_with_prob(bias_prob) instead), `layer` (class names to select) — and the walk that
/// applies init_module() to each selected module, descendants first (nn.Module.apply order).
class DETKIT_API BaseInit : public InitializerBase {
 public:
  /// Reads bias, bias_prob and layer from a validated config (see common_schema()).
  explicit BaseInit(const ComponentConfig& cfg);
  /// The final bias value and the class names to select.
  BaseInit(InitNumber bias, std::vector<std::string> layer);
  ~BaseInit() override;

  /// Calls init_module() on the selected modules (all of them with whole_module): a module is
  /// selected when `layer` holds its MMCV class name or the name of a direct base class
  /// (mmcv_class_name(), mmcv_base_names()). Without `layer`, nothing is selected.
  void apply(torch::nn::Module& module, bool whole_module) override;
  /// Sets one selected module's `weight` and `bias` parameters (MMCV's normal_init(m, ...) and
  /// friends); each only when the module has it.
  virtual void init_module(torch::nn::Module& module) = 0;
  /// Whether `layer` selects `module`.
  bool selects(const torch::nn::Module& module) const;

  /// A schema with the shared parameters: bias, bias_prob, layer and override. Add the
  /// initializer's own parameters to it.
  static Schema common_schema(std::string summary);

  const InitNumber& bias() const { return bias_; }
  const std::vector<std::string>& layer() const { return layer_; }

 protected:
  InitNumber bias_;
  std::vector<std::string> layer_;
};

}  // namespace detkit
