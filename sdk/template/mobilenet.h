// MobileNet: a small MobileNet-style backbone (depthwise-separable convolutions, Howard et al.,
// 2017), the example component of detkit's out-of-tree plugin template.
//
// Layout (widen_factor 1.0):
//   conv1   3x3 conv, stride 2, 32 channels, BN + ReLU                       stride 2
//   layer1  stage_blocks[0] depthwise-separable blocks, 128 channels        stride 4
//   layer2  stage_blocks[1] blocks, 256 channels                            stride 8
//   layer3  stage_blocks[2] blocks, 512 channels                            stride 16
//   layer4  stage_blocks[3] blocks, 1024 channels                           stride 32
// The first block of every stage has stride 2. A block is a depthwise 3x3 conv and a pointwise
// 1x1 conv, each followed by BatchNorm and ReLU. Parameter names follow MMCV's ConvModule:
// `conv1.conv.weight`, `layer2.0.depthwise.bn.running_mean`, `layer4.1.pointwise.conv.weight`.
//
// Example:
//   auto backbone = MobileNet(MobileNetOptions().widen_factor(0.5).out_indices({2, 3}));
//   std::vector<torch::Tensor> features = backbone(torch::randn({1, 3, 64, 64}));
//   // features[0]: (1, 256, 4, 4) at stride 16; features[1]: (1, 512, 2, 2) at stride 32
#pragma once

#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/modeling/backbone.h>
#include <detkit/params.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <vector>

namespace mobilenet_plugin {

/// Options of MobileNet; the config keys have the same names.
struct MobileNetOptions {
  /// Multiplier of every layer's channel count (> 0; rounded to a multiple of 8).
  TORCH_ARG(double, widen_factor) = 1.0;
  /// Stages whose outputs forward() returns, each in 0..3 (strides 4, 8, 16, 32).
  TORCH_ARG(std::vector<int64_t>, out_indices) = {1, 2, 3};
  /// Number of depthwise-separable blocks of each of the four stages.
  TORCH_ARG(std::vector<int64_t>, stage_blocks) = {2, 2, 6, 2};
  /// -1 freezes nothing; 0 freezes the stem; k > 0 freezes the stem and the first k stages.
  TORCH_ARG(int64_t, frozen_stages) = -1;
  /// Keep every BatchNorm in eval mode (frozen statistics) while training.
  TORCH_ARG(bool, norm_eval) = false;
  /// Channels of the input images.
  TORCH_ARG(int64_t, in_channels) = 3;

 public:
  /// The parameters, declared once: this yields the schema (`detkit plugins describe
  /// MobileNet`), the reading of a config, the checks and the printed form.
  template <class P>
  void declare(P& p) {
    p.summary(
        "MobileNet-style backbone: conv stem, then 4 stages of depthwise-separable blocks "
        "(strides 4, 8, 16, 32).");
    DETKIT_PARAM(p, widen_factor, "multiplier of every layer's channels (rounded to x8)")
        .greater_than(0);
    DETKIT_PARAM(p, out_indices, "stages whose feature maps are returned, increasing").range(0, 3);
    DETKIT_PARAM(p, stage_blocks, "depthwise-separable blocks in each of the 4 stages")
        .length(4)
        .min(1);
    DETKIT_PARAM(p, frozen_stages,
                 "-1: train all; 0: freeze the stem; k: freeze the stem and stages 0..k-1")
        .range(-1, 4);
    DETKIT_PARAM(p, norm_eval, "keep BatchNorm layers in eval mode (frozen statistics)");
    DETKIT_PARAM(p, in_channels, "channels of the input images (must match the pipeline's)")
        .min(1);
  }
};

/// A convolution without bias, then BatchNorm and ReLU (MMCV's ConvModule: `conv`, `bn`).
class ConvBnReluImpl : public torch::nn::Module {
 public:
  /// A `kernel` x `kernel` conv (padding kernel / 2) from `in` to `out` channels; `groups`
  /// equal to `in` makes it depthwise.
  ConvBnReluImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups = 1);
  /// relu(bn(conv(x))).
  torch::Tensor forward(const torch::Tensor& x);

  /// The convolution (no bias: the BatchNorm shifts).
  torch::nn::Conv2d conv{nullptr};
  /// The BatchNorm after it.
  torch::nn::BatchNorm2d bn{nullptr};
};
/// A ModuleHolder (shared pointer) of ConvBnReluImpl.
TORCH_MODULE(ConvBnRelu);

/// One depthwise-separable block: depthwise 3x3 (stride `stride`), then pointwise 1x1.
class DepthwiseSeparableImpl : public torch::nn::Module {
 public:
  /// A block from `in` to `out` channels whose depthwise conv has stride `stride`.
  DepthwiseSeparableImpl(int64_t in, int64_t out, int64_t stride);
  /// pointwise(depthwise(x)).
  torch::Tensor forward(const torch::Tensor& x);

  /// Depthwise 3x3 conv (groups = channels) + BN + ReLU.
  ConvBnRelu depthwise{nullptr};
  /// Pointwise 1x1 conv + BN + ReLU: mixes channels and sets the output width.
  ConvBnRelu pointwise{nullptr};
};
/// A ModuleHolder (shared pointer) of DepthwiseSeparableImpl.
TORCH_MODULE(DepthwiseSeparable);

/// The MobileNet backbone: images (N, in_channels, H, W) in, the feature maps of the stages in
/// `out_indices` out (in stage order, from high to low resolution).
class MobileNetImpl : public detkit::BackboneBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = MobileNetOptions;

  /// Builds the layers; throws detkit::InvalidParameter if an option is invalid.
  explicit MobileNetImpl(const MobileNetOptions& options_ = {});

  /// Builds the backbone from its validated config and its build context: `in_channels`, when
  /// the config states it, must equal the channels the pipeline produces.
  static std::shared_ptr<MobileNetImpl> create(const detkit::ComponentConfig& cfg,
                                               const detkit::BackboneContext& context);

  /// Kaiming-normal conv weights (fan_out, ReLU), unit BN scale, zero BN shift.
  void reset_parameters();

  /// The feature maps of the stages in `out_indices`.
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  /// Channels and stride of each output of forward(), in order.
  std::vector<detkit::ShapeSpec> output_shapes() const override;
  /// Sets training mode, then keeps the frozen stages (and, with norm_eval, every BatchNorm) in
  /// eval mode, as MMDetection's backbones do.
  void train(bool on = true) override;
  /// "mobilenet_plugin::MobileNet(widen_factor=1, out_indices=[1, 2, 3], ...)".
  void pretty_print(std::ostream& stream) const override;

  /// The options the backbone was built with.
  MobileNetOptions options;
  /// The stem: 3x3 conv with stride 2.
  ConvBnRelu conv1{nullptr};
  /// The four stages, registered as layer1 .. layer4.
  std::vector<torch::nn::Sequential> layers;

 private:
  /// Creates and registers every layer, then initialises them; called once by the constructor.
  void reset();
  /// Stops gradients of the frozen stages and puts them in eval mode.
  void freeze_stages();

  /// Output channels of the stem and of each stage (after widen_factor).
  int64_t stem_channels_ = 0;
  std::vector<int64_t> stage_channels_;
};
/// A ModuleHolder (shared pointer) of MobileNetImpl: `MobileNet(MobileNetOptions())`.
TORCH_MODULE(MobileNet);

}  // namespace mobilenet_plugin
