// ResNet (He et al., 2016) as MMDetection 2.x's backbone (mmdet/models/backbones/resnet.py):
// the same parameters, defaults and state_dict keys, so MMDetection and torchvision checkpoints
// load as they are.
//
//   stem     conv1 7x7/2 + bn1 + ReLU (deep_stem: `stem`, three 3x3 convs), maxpool 3x3/2
//   layer1   stage_blocks[0] blocks, base_channels * expansion channels       stride 4
//   layer2 .. layer4: each doubles the width; strides[i] (default 2) halves the resolution
// forward() returns the outputs of the stages in out_indices (C2..C5 for 0..3).
//
// Example (YAML): {type: ResNet, depth: 50, frozen_stages: 1, norm_eval: true}
#pragma once

#include <torch/torch.h>  // before the SDK: conv_module.h uses torch::ExpandingArray

#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/config_node.h>
#include <detkit/modeling/backbone.h>
#include <detkit/modeling/base_module.h>
#include <detkit/params.h>
#include <detkit/schema.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "res_blocks.h"

namespace resnet_plugin {

/// {type: BN, requires_grad: true}: ResNet's default norm_cfg.
detkit::ConfigNode default_resnet_norm_cfg();

/// Options of ResNet; names and defaults as MMDetection 2.x's ResNet.__init__.
struct ResNetOptions {
  /// 18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck); required.
  TORCH_ARG(std::optional<int64_t>, depth) = std::nullopt;
  /// Channels of the input images.
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Channels of the stem; null: base_channels.
  TORCH_ARG(std::optional<int64_t>, stem_channels) = std::nullopt;
  /// Inner width of the first stage (doubled each stage).
  TORCH_ARG(int64_t, base_channels) = 64;
  /// Number of stages built (1..4).
  TORCH_ARG(int64_t, num_stages) = 4;
  /// Stride of the first block of each stage.
  TORCH_ARG(std::vector<int64_t>, strides) = std::vector<int64_t>{1, 2, 2, 2};
  /// Dilation of the 3x3 convs of each stage.
  TORCH_ARG(std::vector<int64_t>, dilations) = std::vector<int64_t>{1, 1, 1, 1};
  /// Stages whose outputs forward() returns, increasing, each < num_stages.
  TORCH_ARG(std::vector<int64_t>, out_indices) = std::vector<int64_t>{0, 1, 2, 3};
  /// "pytorch": stride on the 3x3 conv; "caffe": on the first 1x1 conv (Bottleneck).
  TORCH_ARG(std::string, style) = "pytorch";
  /// Three 3x3 convs instead of the 7x7 stem (ResNet-C).
  TORCH_ARG(bool, deep_stem) = false;
  /// Shortcuts downsample by AvgPool2d then a stride-1 conv (ResNet-D).
  TORCH_ARG(bool, avg_down) = false;
  /// -1: train all; 0: freeze the stem; k: the stem and stages 1..k (eval, no gradients).
  TORCH_ARG(int64_t, frozen_stages) = -1;
  /// The convolution (conv_layer registry); null: Conv2d.
  TORCH_ARG(detkit::ConfigNode, conv_cfg);
  /// The normalisation (norm_layer registry).
  TORCH_ARG(detkit::ConfigNode, norm_cfg) = default_resnet_norm_cfg();
  /// Keep every BatchNorm in eval mode (frozen statistics) while training.
  TORCH_ARG(bool, norm_eval) = true;
  /// Deformable convs: not supported (must be null).
  TORCH_ARG(detkit::ConfigNode, dcn);
  /// Stages that use dcn: not supported (all false).
  TORCH_ARG(std::vector<bool>, stage_with_dcn) = std::vector<bool>{false, false, false, false};
  /// Extra block plugins (attention, context blocks): not supported (must be null).
  TORCH_ARG(detkit::ConfigNode, plugins);
  /// Gradient checkpointing: not supported (must be false).
  TORCH_ARG(bool, with_cp) = false;
  /// Zero the last norm of every block at init_weights() (with the default init_cfg).
  TORCH_ARG(bool, zero_init_residual) = true;
  /// Deprecated: a checkpoint to load, as init_cfg {type: Pretrained, checkpoint: ...}.
  TORCH_ARG(std::optional<std::string>, pretrained) = std::nullopt;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary(
        "ResNet backbone (MMDetection 2.x): stem, then up to 4 stages of BasicBlock (depth 18, "
        "34) or Bottleneck (50, 101, 152) blocks; returns the stages in out_indices.");
    DETKIT_PARAM(p, depth, "18, 34, 50, 101 or 152 (required)");
    DETKIT_PARAM(p, in_channels, "channels of the input images (must match the pipeline's)").min(1);
    DETKIT_PARAM(p, stem_channels, "channels of the stem; null: base_channels").min(1);
    DETKIT_PARAM(p, base_channels, "inner width of the first stage, doubled per stage").min(1);
    DETKIT_PARAM(p, num_stages, "number of stages").range(1, 4);
    DETKIT_PARAM(p, strides, "stride of the first block of each stage").min(1);
    DETKIT_PARAM(p, dilations, "dilation of the 3x3 convs of each stage").min(1);
    DETKIT_PARAM(p, out_indices, "stages returned by forward, increasing, < num_stages").min(0);
    DETKIT_PARAM(p, style, "pytorch: stride on the 3x3 conv; caffe: on the first 1x1")
        .choices({"pytorch", "caffe"});
    DETKIT_PARAM(p, deep_stem, "three 3x3 stem convs instead of one 7x7 (ResNet-C)");
    DETKIT_PARAM(p, avg_down, "shortcut = AvgPool2d + stride-1 conv (ResNet-D)");
    DETKIT_PARAM(p, frozen_stages, "-1: none; 0: the stem; k: the stem and stages 1..k").min(-1);
    DETKIT_PARAM(p, conv_cfg, "convolution layer config; null: Conv2d");
    DETKIT_PARAM(p, norm_cfg, "norm layer config, e.g. {type: GN, num_groups: 32}");
    DETKIT_PARAM(p, norm_eval, "keep BatchNorm layers in eval mode while training");
    DETKIT_PARAM(p, dcn, "deformable convs: not supported, must be null");
    DETKIT_PARAM(p, stage_with_dcn, "stages with dcn: not supported, all false");
    DETKIT_PARAM(p, plugins, "block plugins: not supported, must be null");
    DETKIT_PARAM(p, with_cp, "gradient checkpointing: not supported, must be false");
    DETKIT_PARAM(p, zero_init_residual, "zero the last norm of each block at init");
    DETKIT_PARAM(p, pretrained, "deprecated: checkpoint to load (use init_cfg Pretrained)");
  }
};

/// The ResNet backbone: images (N, in_channels, H, W) in, the maps of out_indices out.
class ResNetImpl : public detkit::BackboneBase, public detkit::BaseModule {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = ResNetOptions;

  /// Builds the layers. `init_cfg` is the config's; when null, MMDetection's default applies
  /// (Kaiming on Conv2d, Constant 1 on _BatchNorm/GroupNorm, and with zero_init_residual a
  /// Constant 0 override of each block's last norm). Throws detkit::InvalidParameter for a bad
  /// option (naming it and the values it may take).
  explicit ResNetImpl(const ResNetOptions& options_, detkit::ConfigNode init_cfg = {});

  /// The schema: the declaration with `depth` required.
  static detkit::Schema schema();
  /// Builds the backbone from its validated config: `in_channels` must agree with the
  /// context's image channels (a ConfigError naming both otherwise).
  static std::shared_ptr<ResNetImpl> create(const detkit::ComponentConfig& cfg,
                                            const detkit::BackboneContext& context);

  /// The feature maps of the stages in out_indices, high to low resolution.
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  /// Channels (planes * expansion) and stride of each output of forward().
  std::vector<detkit::ShapeSpec> output_shapes() const override;
  /// Sets the mode, then re-freezes the frozen stages and, when training with norm_eval, puts
  /// every BatchNorm in eval mode (MMDetection's ResNet.train).
  void train(bool on = true) override;
  /// "ResNet(depth=50, ...)".
  void pretty_print(std::ostream& stream) const override;
  /// "ResNet" (or the subclass's name).
  std::string mmcv_class_name() const override { return type_name_; }

  /// The options the backbone was built with (stem_channels resolved).
  ResNetOptions options;

 protected:
  /// For subclasses (ResNetV1d): the type name used in messages and printing.
  ResNetImpl(const ResNetOptions& options_, detkit::ConfigNode init_cfg, std::string type_name);

 private:
  /// Checks the options, builds stem and stages, applies the freezing.
  void build(detkit::ConfigNode init_cfg);
  /// Checks what the declaration cannot express (depth, lengths, out_indices, unsupported).
  void check() const;
  /// The 7x7 stem (conv1 + norm1) or the deep stem (`stem`: 3 x conv/norm/ReLU).
  void make_stem();
  /// Eval mode and no gradients for the stem and stages 1..frozen_stages.
  void freeze_stages();

  std::string type_name_;
  BlockType block_ = BlockType::basic;
  std::shared_ptr<detkit::ConvLayerBase> conv1_;
  std::shared_ptr<detkit::NormLayerBase> norm1_;
  torch::nn::Sequential stem_{nullptr};
  std::vector<detkit::Sequential> res_layers_;
};
/// A ModuleHolder (shared pointer) of ResNetImpl.
TORCH_MODULE(ResNet);

/// MMDetection's ResNetV1d: ResNet with deep_stem and avg_down (which it does not accept as
/// parameters). State_dict: `stem.0..8`, shortcuts `downsample.0` (AvgPool2d), `.1`, `.2`.
class ResNetV1dImpl : public ResNetImpl {
 public:
  using Options = ResNetOptions;
  /// Builds a ResNet with deep_stem and avg_down set.
  explicit ResNetV1dImpl(ResNetOptions options_, detkit::ConfigNode init_cfg = {});
  /// ResNet's schema without deep_stem and avg_down.
  static detkit::Schema schema();
  /// As ResNet::create.
  static std::shared_ptr<ResNetV1dImpl> create(const detkit::ComponentConfig& cfg,
                                               const detkit::BackboneContext& context);
};
/// A ModuleHolder (shared pointer) of ResNetV1dImpl.
TORCH_MODULE(ResNetV1d);

}  // namespace resnet_plugin
