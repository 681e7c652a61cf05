// The residual blocks of MMDetection 2.x's ResNet (mmdet/models/backbones/resnet.py): BasicBlock
// (ResNet-18/34) and Bottleneck (ResNet-50/101/152), and ResLayer (mmdet/models/utils/
// res_layer.py), the stage that stacks them behind an optional downsample branch.
//
// Child names follow MMDetection, so parameters are named as in its checkpoints: `conv1`, the
// norm layers under build_norm_layer's names (`bn1`, `bn2`, `bn3` for BN; `gn1`... for GN),
// `downsample.0` (conv) / `downsample.1` (norm), or with avg_down `downsample.0` (AvgPool2d),
// `.1` (conv), `.2` (norm).
#pragma once

#include <torch/torch.h>  // before the SDK: conv_module.h uses torch::ExpandingArray

#include <detkit/config_node.h>
#include <detkit/modeling/base_module.h>
#include <detkit/modeling/layers.h>

#include <cstdint>
#include <memory>
#include <string>

namespace resnet_plugin {

/// What one residual block is built from (MMDetection's block constructor arguments).
struct ResBlockOptions {
  /// Channels of the block's input.
  TORCH_ARG(int64_t, inplanes) = 64;
  /// Channels of the block's inner convs (the output has planes * expansion).
  TORCH_ARG(int64_t, planes) = 64;
  /// Stride of the block (on the 3x3 conv for style "pytorch", on the first 1x1 for "caffe").
  TORCH_ARG(int64_t, stride) = 1;
  /// Dilation (and padding) of the 3x3 conv that carries the stride.
  TORCH_ARG(int64_t, dilation) = 1;
  /// "pytorch" or "caffe" (Bottleneck only; BasicBlock has a single stride position).
  TORCH_ARG(std::string, style) = "pytorch";
  /// The convolution (conv_layer registry); null: Conv2d.
  TORCH_ARG(detkit::ConfigNode, conv_cfg);
  /// The normalisation (norm_layer registry), e.g. {type: BN, requires_grad: true}.
  TORCH_ARG(detkit::ConfigNode, norm_cfg);
};

/// The shortcut branch when a block changes resolution or width (null: identity).
using Downsample = torch::nn::Sequential;

/// A conv without bias of the given geometry, from the conv_layer registry (`conv_cfg`).
std::shared_ptr<detkit::ConvLayerBase> make_conv(const detkit::ConfigNode& conv_cfg, int64_t in,
                                                 int64_t out, int64_t kernel, int64_t stride = 1,
                                                 int64_t padding = 0, int64_t dilation = 1);

/// Two 3x3 convs with a residual connection (expansion 1): ResNet-18 and ResNet-34.
class BasicBlockImpl : public torch::nn::Module, public detkit::BaseModule {
 public:
  /// Output channels per `planes`.
  static constexpr int64_t expansion = 1;

  /// Builds conv1 (3x3, stride, dilation), norm1, conv2 (3x3), norm2 and registers
  /// `downsample` (may be null) as `downsample`.
  BasicBlockImpl(const ResBlockOptions& options, Downsample downsample);

  /// relu(norm2(conv2(relu(norm1(conv1(x))))) + shortcut(x)).
  torch::Tensor forward(const torch::Tensor& x);

  /// The name of the last norm layer ("bn2", "gn2"): zero_init_residual's override target.
  const std::string& last_norm_name() const { return norm2_name_; }
  /// "BasicBlock".
  std::string mmcv_class_name() const override { return "BasicBlock"; }

 private:
  std::shared_ptr<detkit::ConvLayerBase> conv1_, conv2_;
  std::shared_ptr<detkit::NormLayerBase> norm1_, norm2_;
  std::string norm2_name_;
  Downsample downsample_{nullptr};
};
/// A ModuleHolder (shared pointer) of BasicBlockImpl.
TORCH_MODULE(BasicBlock);

/// 1x1 reduce, 3x3, 1x1 expand (expansion 4) with a residual connection: ResNet-50/101/152.
class BottleneckImpl : public torch::nn::Module, public detkit::BaseModule {
 public:
  /// Output channels per `planes`.
  static constexpr int64_t expansion = 4;

  /// Builds conv1/norm1 (1x1), conv2/norm2 (3x3, dilation), conv3/norm3 (1x1 to
  /// planes * 4); the stride goes on conv2 for style "pytorch", on conv1 for "caffe".
  BottleneckImpl(const ResBlockOptions& options, Downsample downsample);

  /// relu(norm3(conv3(...)) + shortcut(x)).
  torch::Tensor forward(const torch::Tensor& x);

  /// The name of the last norm layer ("bn3", "gn3"): zero_init_residual's override target.
  const std::string& last_norm_name() const { return norm3_name_; }
  /// "Bottleneck".
  std::string mmcv_class_name() const override { return "Bottleneck"; }

 private:
  std::shared_ptr<detkit::ConvLayerBase> conv1_, conv2_, conv3_;
  std::shared_ptr<detkit::NormLayerBase> norm1_, norm2_, norm3_;
  std::string norm3_name_;
  Downsample downsample_{nullptr};
};
/// A ModuleHolder (shared pointer) of BottleneckImpl.
TORCH_MODULE(Bottleneck);

/// The block type of a ResNet depth.
enum class BlockType { basic, bottleneck };

/// Output channels per `planes` of a block type (1 or 4).
int64_t expansion_of(BlockType block);

/// What make_res_layer needs besides the per-block options.
struct ResLayerOptions {
  /// Block options of the stage's first block (inplanes, planes, stride, dilation, ...).
  ResBlockOptions block;
  /// Number of blocks.
  int64_t num_blocks = 1;
  /// Shortcut as an AvgPool2d then a stride-1 conv (ResNet-D) instead of a strided conv.
  bool avg_down = false;
  /// Give each block the init_cfg {type: Constant, val: 0, override: {name: <its last norm>}}
  /// (MMDetection's zero_init_residual; MMDetection names the child `norm3`/`norm2`, a Python
  /// property for `bn3`/`bn2`, so here the override names the child itself).
  bool zero_init_residual = false;
};

/// MMDetection's ResLayer: `num_blocks` blocks in an MMCV Sequential (children "0", "1", ...);
/// the first one carries the stride and, when resolution or width change, the downsample.
detkit::Sequential make_res_layer(BlockType block, const ResLayerOptions& options);

}  // namespace resnet_plugin
