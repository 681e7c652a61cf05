// DefaultOptimizerConstructor (kind `optimizer_constructor`): MMCV 1.7's parameter grouping
// (mmcv/runner/optimizer/default_constructor.py), and build_optimizer, which pops `constructor`
// and `paramwise_cfg` from the optimizer config as MMCV's build_optimizer does.
//
// Without paramwise_cfg: one group with every parameter. With it, every parameter is its own
// group, walked in named_parameters() order; for the full name "prefix.name":
//   1. custom_keys ({substring: {lr_mult, decay_mult}}), keys tried alphabetically and then by
//      decreasing length, the first contained in the name wins and skips the other rules;
//   2. otherwise bias_lr_mult scales the lr of `bias` outside norm layers, and the decay is
//      norm_decay_mult (norm layers' weight and bias), dwconv_decay_mult (depth-wise convs:
//      in_channels == groups) or bias_decay_mult (other biases), first match wins.
// Parameters that do not require grad get a group with the defaults. A *_decay_mult without a
// weight_decay in the optimizer is an error, as in MMCV.
#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/core/optimizers.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/modeling/layers.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// One custom_keys entry.
struct CustomKey {
  std::string key;
  double lr_mult = 1.0;
  std::optional<double> decay_mult;
};

/// MMCV's paramwise_cfg.
struct ParamwiseOptions {
  double bias_lr_mult = 1.0, bias_decay_mult = 1.0, norm_decay_mult = 1.0, dwconv_decay_mult = 1.0,
         dcn_offset_lr_mult = 1.0;
  bool has_bias_decay = false, has_norm_decay = false, has_dwconv_decay = false;
  bool bypass_duplicate = false;
  /// Sorted as MMCV tries them.
  std::vector<CustomKey> custom_keys;
};

/// Whether `module` is a normalisation layer (MMCV: _BatchNorm, _InstanceNorm, GroupNorm,
/// LayerNorm).
bool is_norm(const torch::nn::Module& module) {
  return dynamic_cast<const NormLayerBase*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::BatchNorm3dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::InstanceNorm1dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::InstanceNorm2dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::InstanceNorm3dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::GroupNormImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::LayerNormImpl*>(&module) != nullptr;
}

/// Whether `module` is a depth-wise 2-D convolution (in_channels == groups, which for a weight
/// of shape (out, in / groups, kh, kw) means a second dimension of 1).
bool is_depthwise_conv(const torch::nn::Module& module) {
  if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(&module)) {
    return conv->options.in_channels() == conv->options.groups();
  }
  if (dynamic_cast<const ConvLayerBase*>(&module) == nullptr) return false;
  const torch::Tensor* weight = module.named_parameters(false).find("weight");
  return weight != nullptr && weight->dim() == 4 && weight->size(1) == 1;
}

/// The constructor (see the file comment).
class DefaultOptimizerConstructor : public OptimizerConstructorBase {
 public:
  static Schema schema() {
    Schema s("MMCV's DefaultOptimizerConstructor: parameter groups from paramwise_cfg.");
    s.dict("optimizer_cfg", ConfigNode::make_map(),
           "the optimizer config (its lr and weight_decay)");
    s.dict("paramwise_cfg", ConfigNode(), "per-parameter multipliers (see the README)");
    return s;
  }

  static std::shared_ptr<DefaultOptimizerConstructor> create(
      const ComponentConfig& cfg, const OptimizerConstructorContext& context) {
    if (context.model == nullptr) cfg.fail("type", "DefaultOptimizerConstructor needs a model");
    return std::make_shared<DefaultOptimizerConstructor>(cfg, *context.model);
  }

  DefaultOptimizerConstructor(const ComponentConfig& cfg, torch::nn::Module& model)
      : model_(model) {
    const ConfigNode& optimizer_cfg = cfg.node("optimizer_cfg");
    if (const ConfigNode* lr = optimizer_cfg.find("lr"); lr != nullptr && lr->is_number())
      base_lr_ = lr->as_double();
    if (const ConfigNode* wd = optimizer_cfg.find("weight_decay"); wd != nullptr && wd->is_number())
      base_wd_ = wd->as_double();
    const ConfigNode& paramwise = cfg.node("paramwise_cfg");
    if (paramwise.is_null()) return;
    if (!paramwise.is_map()) cfg.fail("paramwise_cfg", "paramwise_cfg must be a map");
    ParamwiseOptions o;
    const std::set<std::string> known = {
        "bias_lr_mult",       "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult",
        "dcn_offset_lr_mult", "custom_keys",     "bypass_duplicate"};
    for (const auto& entry : paramwise.entries()) {
      if (!known.count(entry.key)) {
        cfg.fail("paramwise_cfg", "unknown key '" + entry.key +
                                      "' in paramwise_cfg; known: bias_lr_mult, bias_decay_mult, "
                                      "norm_decay_mult, dwconv_decay_mult, dcn_offset_lr_mult, "
                                      "custom_keys, bypass_duplicate");
      }
    }
    auto number = [&](const char* key, double& out) {
      const ConfigNode* v = paramwise.find(key);
      if (v == nullptr || v->is_null()) return false;
      if (!v->is_number()) cfg.fail("paramwise_cfg", std::string(key) + " must be a number");
      out = v->as_double();
      return true;
    };
    number("bias_lr_mult", o.bias_lr_mult);
    number("dcn_offset_lr_mult", o.dcn_offset_lr_mult);
    o.has_bias_decay = number("bias_decay_mult", o.bias_decay_mult);
    o.has_norm_decay = number("norm_decay_mult", o.norm_decay_mult);
    o.has_dwconv_decay = number("dwconv_decay_mult", o.dwconv_decay_mult);
    if (const ConfigNode* b = paramwise.find("bypass_duplicate"); b != nullptr && !b->is_null()) {
      if (!b->is_bool()) cfg.fail("paramwise_cfg", "bypass_duplicate must be true or false");
      o.bypass_duplicate = b->as_bool();
    }
    if ((o.has_bias_decay || o.has_norm_decay || o.has_dwconv_decay) && !base_wd_) {
      cfg.fail("paramwise_cfg",
               "base_wd should not be None: a *_decay_mult needs the optimizer's weight_decay");
    }
    if (const ConfigNode* keys = paramwise.find("custom_keys");
        keys != nullptr && !keys->is_null()) {
      if (!keys->is_map()) {
        cfg.fail("paramwise_cfg",
                 "custom_keys must be a map {name substring: {lr_mult, decay_mult}}");
      }
      for (const auto& entry : keys->entries()) {
        CustomKey key;
        key.key = entry.key;
        if (!entry.value.is_map())
          cfg.fail("paramwise_cfg", "custom_keys." + entry.key + " must be a map");
        for (const auto& field : entry.value.entries()) {
          if ((field.key != "lr_mult" && field.key != "decay_mult") || !field.value.is_number()) {
            cfg.fail("paramwise_cfg", "custom_keys." + entry.key + "." + field.key +
                                          ": expected lr_mult or decay_mult, a number");
          }
          if (field.key == "lr_mult") key.lr_mult = field.value.as_double();
          if (field.key == "decay_mult") key.decay_mult = field.value.as_double();
        }
        o.custom_keys.push_back(key);
      }
      // MMCV: sorted(sorted(keys), key=len, reverse=True), a stable sort.
      std::sort(o.custom_keys.begin(), o.custom_keys.end(),
                [](const CustomKey& a, const CustomKey& b) { return a.key < b.key; });
      std::stable_sort(
          o.custom_keys.begin(), o.custom_keys.end(),
          [](const CustomKey& a, const CustomKey& b) { return a.key.size() > b.key.size(); });
    }
    paramwise_ = o;
  }

  std::vector<ParamGroup> param_groups() const override {
    std::vector<ParamGroup> groups;
    if (!paramwise_) {
      ParamGroup all;
      for (const auto& item : model_.named_parameters())
        all.params.push_back({item.key(), item.value()});
      groups.push_back(std::move(all));
      return groups;
    }
    std::set<const void*> seen;
    add_params(model_, "", groups, seen);
    return groups;
  }

 private:
  /// MMCV's add_params: the parameters of `module` itself, then its children.
  void add_params(const torch::nn::Module& module, const std::string& prefix,
                  std::vector<ParamGroup>& groups, std::set<const void*>& seen) const {
    const ParamwiseOptions& o = *paramwise_;
    const bool norm = is_norm(module);
    const bool dwconv = is_depthwise_conv(module);
    for (const auto& item : module.named_parameters(/*recurse=*/false)) {
      const std::string& name = item.key();
      const std::string full = prefix + "." + name;
      const torch::Tensor& param = item.value();
      const std::string dotted = prefix.empty() ? name : prefix + "." + name;
      if (!seen.insert(param.unsafeGetTensorImpl()).second) {
        if (o.bypass_duplicate) continue;
        throw Error("DefaultOptimizerConstructor: parameter '" + dotted +
                    "' appears in more than one parameter group (a shared parameter); set "
                    "paramwise_cfg.bypass_duplicate: true to skip the repeats");
      }
      ParamGroup group;
      group.params.push_back({dotted, param});
      if (!param.requires_grad()) {
        groups.push_back(std::move(group));
        continue;
      }
      bool custom = false;
      for (const auto& key : o.custom_keys) {
        if (full.find(key.key) == std::string::npos) continue;
        group.lr = base_lr_ * key.lr_mult;
        if (base_wd_) group.weight_decay = *base_wd_ * key.decay_mult.value_or(1.0);
        custom = true;
        break;
      }
      if (!custom) {
        if (name == "bias" && !norm) group.lr = base_lr_ * o.bias_lr_mult;
        if (base_wd_) {
          if (norm) {
            group.weight_decay = *base_wd_ * o.norm_decay_mult;
          } else if (dwconv) {
            group.weight_decay = *base_wd_ * o.dwconv_decay_mult;
          } else if (name == "bias") {
            group.weight_decay = *base_wd_ * o.bias_decay_mult;
          }
        }
      }
      groups.push_back(std::move(group));
    }
    for (const auto& child : module.named_children()) {
      const std::string child_prefix = prefix.empty() ? child.key() : prefix + "." + child.key();
      add_params(*child.value(), child_prefix, groups, seen);
    }
  }

  torch::nn::Module& model_;
  double base_lr_ = 0.0;
  std::optional<double> base_wd_;
  std::optional<ParamwiseOptions> paramwise_;
};

/// `cfg` without the keys build_optimizer pops.
ConfigNode without_builder_keys(const ConfigNode& cfg) {
  ConfigNode copy = cfg;
  copy.erase("constructor");
  copy.erase("paramwise_cfg");
  return copy;
}

}  // namespace

DETKIT_REGISTER(optimizer_constructor, DefaultOptimizerConstructor);

std::shared_ptr<OptimizerBase> build_optimizer(torch::nn::Module& model, const ConfigNode& cfg,
                                               const std::string& path) {
  if (!cfg.is_map())
    throw ConfigError(
        located_message(cfg.mark(), path, "the optimizer must be a map {type: SGD, lr: ...}"));
  ConfigNode constructor_cfg = ConfigNode::make_map();
  const ConfigNode* type = cfg.find("constructor");
  constructor_cfg.set("type", type != nullptr && !type->is_null()
                                  ? *type
                                  : ConfigNode("DefaultOptimizerConstructor"));
  constructor_cfg.set("optimizer_cfg", without_builder_keys(cfg));
  const ConfigNode* paramwise = cfg.find("paramwise_cfg");
  constructor_cfg.set("paramwise_cfg", paramwise != nullptr ? *paramwise : ConfigNode());
  constructor_cfg.set_mark(cfg.mark());
  OptimizerConstructorContext constructor_context;
  constructor_context.model = &model;
  auto constructor =
      build<OptimizerConstructorBase>(constructor_cfg, path + ".constructor", constructor_context);
  return build_optimizer_for_groups(constructor->param_groups(), without_builder_keys(cfg), path);
}

std::shared_ptr<OptimizerBase> build_optimizer_for_groups(std::vector<ParamGroup> groups,
                                                          const ConfigNode& cfg,
                                                          const std::string& path) {
  OptimizerContext context;
  context.param_groups = std::move(groups);
  return build<OptimizerBase>(cfg, path, context);
}

}  // namespace detkit
