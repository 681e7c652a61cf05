// BaseInit: the arguments every MMCV weight initializer shares (bias, bias_prob, layer) and the
// walk that selects modules by MMCV class name.
#include <algorithm>
#include <string>
#include <vector>

#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "detkit/modeling/initializer.h"
#include "init_internal.h"

namespace detkit {

namespace {

/// `layer`: null (nothing), a class name, or a list of them.
std::vector<std::string> read_layer(const ComponentConfig& cfg) {
  const ConfigNode& node = cfg.node("layer");
  if (node.is_null()) return {};
  if (node.is_string()) return {node.as_string()};
  if (!node.is_list()) cfg.fail("layer", "layer must be a str or a list of str");
  std::vector<std::string> names;
  for (const auto& item : node.items()) {
    if (!item.is_string()) cfg.fail("layer", "layer must be a str or a list of str");
    names.push_back(item.as_string());
  }
  return names;
}

/// `bias`, replaced by bias_init_with_prob(bias_prob) when bias_prob is set.
InitNumber read_bias(const ComponentConfig& cfg) {
  const ConfigNode& prob = cfg.node("bias_prob");
  if (!prob.is_null()) {
    if (!prob.is_real()) {
      cfg.fail("bias_prob",
               "bias_prob must be a float (a probability such as 0.01), got " + prob.to_flow());
    }
    return InitNumber(bias_init_with_prob(prob.as_double()));
  }
  const ConfigNode& bias = cfg.node("bias");
  if (!bias.is_number()) cfg.fail("bias", "bias must be a number, got " + bias.to_flow());
  return InitNumber::from(bias);
}

}  // namespace

BaseInit::BaseInit(const ComponentConfig& cfg) : bias_(read_bias(cfg)), layer_(read_layer(cfg)) {}

BaseInit::BaseInit(InitNumber bias, std::vector<std::string> layer)
    : bias_(bias), layer_(std::move(layer)) {}

BaseInit::~BaseInit() = default;

bool BaseInit::selects(const torch::nn::Module& module) const {
  if (layer_.empty()) return false;
  const auto contains = [this](const std::string& name) {
    return std::find(layer_.begin(), layer_.end(), name) != layer_.end();
  };
  if (contains(mmcv_class_name(module))) return true;
  for (const auto& base : mmcv_base_names(module)) {
    if (contains(base)) return true;
  }
  return false;
}

void BaseInit::apply(torch::nn::Module& module, bool whole_module) {
  // nn.Module.apply: the children (recursively) first, then the module itself.
  for (const auto& child : module.children())
    apply(*child, whole_module);
  if (whole_module || selects(module)) init_module(module);
}

Schema BaseInit::common_schema(std::string summary) {
  Schema schema(std::move(summary));
  ParamSpec bias;
  bias.name = "bias";
  bias.type = ParamType::real;
  bias.default_value = ConfigNode(0);
  bias.doc = "value every initialised bias is set to";
  schema.add_spec(std::move(bias));
  schema
      .add<std::optional<double>>("bias_prob", std::nullopt,
                                  "prior probability p: biases become -log((1 - p) / p)")
      .greater_than(0)
      .less_than(1);
  schema
      .add<std::optional<std::string>>("layer", std::nullopt,
                                       "class names to initialise (Conv2d, Linear, _BatchNorm, "
                                       "GroupNorm, ...); none: only `override` acts")
      .or_one_of({param_spec_of<std::vector<std::string>>()});
  schema.any("override", ConfigNode(),
             "children to initialise as a whole: {name: child} (inherits this entry) or {name: "
             "child, type: ..., ...}, or a list of them");
  return schema;
}

}  // namespace detkit
