// InvertedResidual: the block of MobileNetV2 (Sandler et al., 2018) as MMDetection 2.x writes it
// (mmdet/models/utils/inverted_residual.py): an optional 1x1 expand conv, a 3x3 depthwise conv
// and a 1x1 linear conv (no activation), each an MMCV ConvModule, with a residual connection
// when the block keeps resolution and width. Children `expand_conv`, `depthwise_conv`,
// `linear_conv`, so parameters are named `layer2.0.expand_conv.conv.weight`,
// `layer2.0.depthwise_conv.bn.running_mean`, ... as in MMDetection checkpoints.
#pragma once

#include <torch/torch.h>  // before the SDK: conv_module.h uses torch::ExpandingArray

#include <detkit/config_node.h>
#include <detkit/modeling/base_module.h>
#include <detkit/modeling/conv_module.h>

#include <cstdint>
#include <string>

namespace mobilenet_v2_plugin {

/// What one InvertedResidual is built from (MMDetection's constructor arguments).
struct InvertedResidualOptions {
  InvertedResidualOptions(int64_t in_channels, int64_t out_channels, int64_t mid_channels)
      : in_channels_(in_channels), out_channels_(out_channels), mid_channels_(mid_channels) {}

  /// Channels of the input.
  TORCH_ARG(int64_t, in_channels);
  /// Channels of the output.
  TORCH_ARG(int64_t, out_channels);
  /// Channels of the depthwise conv (in_channels * expand_ratio).
  TORCH_ARG(int64_t, mid_channels);
  /// Stride of the depthwise conv: 1 or 2.
  TORCH_ARG(int64_t, stride) = 1;
  /// Whether a 1x1 conv expands in_channels to mid_channels (false: they must be equal).
  TORCH_ARG(bool, with_expand_conv) = true;
  /// The convolution (conv_layer registry); null: Conv2d.
  TORCH_ARG(detkit::ConfigNode, conv_cfg);
  /// The normalisation (norm_layer registry).
  TORCH_ARG(detkit::ConfigNode, norm_cfg);
  /// The activation after the expand and depthwise convs (MobileNetV2: ReLU6).
  TORCH_ARG(detkit::ConfigNode, act_cfg);
};

/// Expand (1x1), depthwise (3x3), linear (1x1) convs; x + out when stride 1 and in == out.
class InvertedResidualImpl : public torch::nn::Module, public detkit::BaseModule {
 public:
  /// Builds the ConvModules; throws detkit::InvalidParameter for a stride other than 1 or 2,
  /// or mid_channels != in_channels without an expand conv.
  explicit InvertedResidualImpl(const InvertedResidualOptions& options);

  /// The block's output for x (N, in_channels, H, W).
  torch::Tensor forward(const torch::Tensor& x);

  /// "InvertedResidual".
  std::string mmcv_class_name() const override { return "InvertedResidual"; }

 private:
  bool with_res_shortcut_ = false;
  detkit::ConvModule expand_conv_{nullptr};
  detkit::ConvModule depthwise_conv_{nullptr};
  detkit::ConvModule linear_conv_{nullptr};
};
/// A ModuleHolder (shared pointer) of InvertedResidualImpl.
TORCH_MODULE(InvertedResidual);

}  // namespace mobilenet_v2_plugin
