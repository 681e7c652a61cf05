// ConvModule: MMCV's conv / norm / activation block (mmcv/cnn/bricks/conv_module.py), the
// building block of MMDetection's necks and heads, with MMDetection's child names: `conv`, the
// norm layer under its abbreviation (`bn`, `gn`, ...), `activate` (and `padding_layer` for
// reflect/replicate/zero padding), so its parameters are named `conv.weight`, `bn.running_mean`,
// `activate.weight` (PReLU) as in MMDetection checkpoints.
//
// The layers come from the registries (conv_cfg, norm_cfg, act_cfg), so a plugin's norm layer
// or convolution works here too. As in MMCV, `bias` "auto" (std::nullopt) means a bias only
// without norm; the activation gets `inplace` unless it is Tanh, PReLU, Sigmoid, HSigmoid,
// Swish or GELU (or takes no such parameter); the norm layer normalises out_channels when it
// comes after the conv in `order`, else in_channels; and the constructor initialises the conv
// by kaiming_init (fan_out; leaky_relu with the activation's negative_slope for LeakyReLU)
// unless the conv has its own init_weights, and the norm to weight 1, bias 0. A parent's
// init_weights() calls ConvModule's init_weights() again (MMCV's ConvModule defines one).
//
//   auto lateral = detkit::ConvModule(detkit::ConvModuleOptions(256, 256, 1)
//                                         .norm_cfg(parse("{type: GN, num_groups: 32}"))
//                                         .act_cfg(ConfigNode()));
#pragma once

#include <torch/nn/module.h>
#include <torch/expanding_array.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/layers.h"

namespace detkit {

/// `{type: ReLU}`: ConvModule's default act_cfg.
DETKIT_API ConfigNode default_act_cfg();

/// Options of ConvModule; names and defaults as MMCV's.
struct DETKIT_API ConvModuleOptions {
  ConvModuleOptions(int64_t in_channels, int64_t out_channels,
                    torch::ExpandingArray<2> kernel_size);

  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  TORCH_ARG(torch::ExpandingArray<2>, dilation) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  /// Whether the conv has a bias; std::nullopt is MMCV's "auto" (a bias only without norm).
  TORCH_ARG(std::optional<bool>, bias) = std::nullopt;
  /// The convolution (`conv_layer` registry); null is {type: Conv2d}.
  TORCH_ARG(ConfigNode, conv_cfg);
  /// The normalisation (`norm_layer` registry); null: no norm.
  TORCH_ARG(ConfigNode, norm_cfg);
  /// The activation (`activation_layer` registry); null: no activation.
  TORCH_ARG(ConfigNode, act_cfg) = default_act_cfg();
  /// The activation's `inplace`, when act_cfg does not set it.
  TORCH_ARG(bool, inplace) = true;
  /// Spectral normalisation of the conv weight: not supported (true is an InvalidParameter).
  TORCH_ARG(bool, with_spectral_norm) = false;
  /// "zeros" or "circular" (the conv pads), "reflect", "replicate" or "zero" (a
  /// `padding_layer` child pads, the conv does not).
  TORCH_ARG(std::string, padding_mode) = "zeros";
  /// The order of "conv", "norm" and "act" in forward() (a permutation of the three).
  TORCH_ARG(std::vector<std::string>, order) = std::vector<std::string>{"conv", "norm", "act"};
};

/// MMCV's ConvModule: conv, optional norm, optional activation, in `order`.
class DETKIT_API ConvModuleImpl : public torch::nn::Module, public BaseModule {
 public:
  /// Builds the layers from the registries and initialises them (see the file comment).
  /// Throws InvalidParameter for a bad order, padding_mode or spectral norm, and ConfigError
  /// for a bad conv_cfg / norm_cfg / act_cfg.
  explicit ConvModuleImpl(const ConvModuleOptions& options);

  /// The layers in `order`; `activate` = false skips the activation, `norm` = false the norm.
  torch::Tensor forward(const torch::Tensor& x, bool activate = true, bool norm = true);
  /// MMCV's ConvModule.init_weights(): kaiming_init of the conv (unless it has its own
  /// init_weights), constant_init(norm, 1, bias 0). No init_cfg, no is_init bookkeeping.
  void init_weights() override;

  /// "ConvModule".
  std::string mmcv_class_name() const override;
  /// {"Module"} (MMCV's ConvModule is a plain nn.Module with an init_weights).
  std::vector<std::string> mmcv_base_names() const override;
  /// "ConvModule(in, out, kernel_size=..., norm=bn, act=ReLU, order=conv-norm-act)".
  void pretty_print(std::ostream& stream) const override;

  /// The norm layer, or null without norm.
  std::shared_ptr<NormLayerBase> norm() const { return norm_; }
  /// The norm layer's child name ("bn", "gn", ...); "" without norm.
  const std::string& norm_name() const { return norm_name_; }
  bool with_norm() const { return norm_ != nullptr; }
  bool with_activation() const { return activate != nullptr; }
  /// Whether the conv has a bias (after resolving "auto").
  bool with_bias() const { return with_bias_; }

  /// The options it was built with.
  ConvModuleOptions options;
  /// The convolution (child `conv`).
  std::shared_ptr<ConvLayerBase> conv;
  /// The activation (child `activate`), or null.
  std::shared_ptr<ActivationLayerBase> activate;
  /// The explicit padding (child `padding_layer`: ReflectionPad2d, ReplicationPad2d or
  /// ZeroPad2d), or null.
  std::shared_ptr<torch::nn::Module> padding_layer;

 private:
  std::shared_ptr<NormLayerBase> norm_;
  std::string norm_name_;
  bool with_bias_ = false;
  /// Padding done in forward() before the conv: (left, right, top, bottom), and its mode
  /// ("reflect", "replicate", "constant" or "circular"); empty when the conv pads itself.
  std::vector<int64_t> explicit_pad_;
  std::string pad_mode_;
};
/// A ModuleHolder (shared pointer) of ConvModuleImpl.
TORCH_MODULE(ConvModule);

}  // namespace detkit
