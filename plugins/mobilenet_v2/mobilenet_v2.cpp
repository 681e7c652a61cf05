// MobileNetV2 (Sandler et al., 2018) as MMDetection 2.x's backbone
// (mmdet/models/backbones/mobilenet_v2.py), registered as the backbone type `MobileNetV2`.
//
//   conv1    3x3/2 ConvModule, 32 channels                                  stride 2
//   layer1 .. layer7: InvertedResidual stages (expand ratio, channels, blocks, stride)
//            (1, 16, 1, 1) (6, 24, 2, 2) (6, 32, 3, 2) (6, 64, 4, 2) (6, 96, 3, 1)
//            (6, 160, 3, 2) (6, 320, 1, 1); channels times widen_factor, made divisible by 8
//   conv2    1x1 ConvModule to 1280 (int(1280 * widen_factor) when widen_factor > 1)
// out_indices count the eight modules after conv1: 0..6 are layer1..layer7, 7 is conv2
// (MMDetection 2.x; the default (1, 2, 4, 7) gives 24, 32, 96 and 1280 channels at strides 4, 8,
// 16 and 32). Parameters are named as in MMDetection: `conv1.conv.weight`, `conv1.bn.weight`,
// `layer2.0.expand_conv.conv.weight`, `layer1.0.depthwise_conv.bn.running_var`,
// `conv2.conv.weight`.
#include <torch/torch.h>  // before the SDK: conv_module.h uses torch::ExpandingArray

#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/backbone.h>
#include <detkit/modeling/base_module.h>
#include <detkit/modeling/conv_module.h>
#include <detkit/modeling/freezing.h>
#include <detkit/params.h>
#include <detkit/registry.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "inverted_residual.h"

namespace mobilenet_v2_plugin {

namespace {

/// One stage of MMDetection's MobileNetV2.arch_settings.
struct StageSetting {
  int64_t expand_ratio, channels, num_blocks, stride;
};
constexpr StageSetting kArchSettings[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2},
                                          {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2},
                                          {6, 320, 1, 1}};
constexpr int64_t kNumLayers = 7;
/// The channels MobileNetV2 takes (MMDetection builds conv1 with in_channels=3).
constexpr int64_t kImageChannels = 3;

/// A map node {type: TYPE}.
detkit::ConfigNode type_cfg(const char* type) {
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", type);
  return cfg;
}

/// MMDetection's make_divisible(value, divisor, min_ratio=0.9): the nearest multiple of
/// `divisor` (at least `divisor`), raised by one divisor if that loses more than 10%.
int64_t make_divisible(double value, int64_t divisor = 8) {
  int64_t rounded =
      std::max<int64_t>(divisor, static_cast<int64_t>(value + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * value) rounded += divisor;
  return rounded;
}

}  // namespace

/// Options of MobileNetV2; names and defaults as MMDetection 2.x's MobileNetV2.__init__.
struct MobileNetV2Options {
  /// Multiplier of every layer's channels.
  TORCH_ARG(double, widen_factor) = 1.0;
  /// Outputs returned by forward: 0..6 are layer1..layer7, 7 is conv2.
  TORCH_ARG(std::vector<int64_t>, out_indices) = std::vector<int64_t>{1, 2, 4, 7};
  /// -1: train all; 0: freeze conv1's parameters; k: also layer1..layerk (eval, no grad).
  TORCH_ARG(int64_t, frozen_stages) = -1;
  /// The convolution (conv_layer registry); null: Conv2d.
  TORCH_ARG(detkit::ConfigNode, conv_cfg);
  /// The normalisation (norm_layer registry).
  TORCH_ARG(detkit::ConfigNode, norm_cfg) = type_cfg("BN");
  /// The activation (activation_layer registry).
  TORCH_ARG(detkit::ConfigNode, act_cfg) = type_cfg("ReLU6");
  /// Keep every BatchNorm in eval mode (frozen statistics) while training.
  TORCH_ARG(bool, norm_eval) = false;
  /// Gradient checkpointing: not supported (must be false).
  TORCH_ARG(bool, with_cp) = false;
  /// Deprecated: a checkpoint to load, as init_cfg {type: Pretrained, checkpoint: ...}.
  TORCH_ARG(std::optional<std::string>, pretrained) = std::nullopt;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary(
        "MobileNetV2 backbone (MMDetection 2.x): conv1, 7 stages of inverted residual blocks, "
        "conv2 (1x1 to 1280); out_indices 0..6 are layer1..layer7, 7 is conv2.");
    DETKIT_PARAM(p, widen_factor, "multiplier of every layer's channels (made divisible by 8)")
        .greater_than(0);
    DETKIT_PARAM(p, out_indices, "outputs returned: 0..6 layer1..layer7, 7 conv2; increasing")
        .range(0, 7);
    DETKIT_PARAM(p, frozen_stages, "-1: none; 0: conv1; k: conv1 and layer1..layerk").range(-1, 7);
    DETKIT_PARAM(p, conv_cfg, "convolution layer config; null: Conv2d");
    DETKIT_PARAM(p, norm_cfg, "norm layer config");
    DETKIT_PARAM(p, act_cfg, "activation layer config");
    DETKIT_PARAM(p, norm_eval, "keep BatchNorm layers in eval mode while training");
    DETKIT_PARAM(p, with_cp, "gradient checkpointing: not supported, must be false");
    DETKIT_PARAM(p, pretrained, "deprecated: checkpoint to load (use init_cfg Pretrained)");
  }
};

/// The MobileNetV2 backbone: images (N, 3, H, W) in, the maps of out_indices out.
class MobileNetV2Impl : public detkit::BackboneBase, public detkit::BaseModule {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = MobileNetV2Options;

  /// Builds the layers. `init_cfg` is the config's; when null (and no `pretrained`),
  /// MMDetection's default: Kaiming on Conv2d, Constant 1 on _BatchNorm and GroupNorm.
  /// Throws detkit::InvalidParameter for a bad option.
  explicit MobileNetV2Impl(const MobileNetV2Options& options_, detkit::ConfigNode init_cfg = {})
      : options(options_) {
    set_init_cfg(std::move(init_cfg), "MobileNetV2.init_cfg");
    check();
    if (options.pretrained()) {
      detkit::model_warning(
          "DeprecationWarning: pretrained is deprecated, please use \"init_cfg\" instead");
      detkit::ConfigNode pretrained = type_cfg("Pretrained");
      pretrained.set("checkpoint", *options.pretrained());
      set_init_cfg(pretrained, "MobileNetV2.init_cfg");
    } else if (this->init_cfg().is_null()) {
      set_init_cfg(default_init_cfg(), "MobileNetV2.init_cfg");
    }
    build();
    freeze_stages();
  }

  /// Builds the backbone from its validated config; the pipeline's image channels must be 3.
  static std::shared_ptr<MobileNetV2Impl> create(const detkit::ComponentConfig& cfg,
                                                 const detkit::BackboneContext& context) {
    if (context.in_channels && *context.in_channels.value != kImageChannels) {
      cfg.fail("type", "MobileNetV2 takes 3-channel images (as MMDetection's), but " +
                           context.in_channels.origin + " produces " +
                           std::to_string(*context.in_channels.value) + " channels");
    }
    const auto options = detkit::options_from<MobileNetV2Options>(cfg);
    const detkit::ConfigNode* init_cfg = cfg.values().find("init_cfg");
    try {
      return std::make_shared<MobileNetV2Impl>(options,
                                               init_cfg ? *init_cfg : detkit::ConfigNode());
    } catch (const detkit::InvalidParameter& e) {
      cfg.fail(e.param(), e.what());
    }
  }

  /// The feature maps of out_indices, high to low resolution.
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override {
    if (images.dim() != 4 || images.size(1) != kImageChannels) {
      throw detkit::Error("MobileNetV2: expected images of shape (N, 3, H, W), got " +
                          c10::str(images.sizes()));
    }
    torch::Tensor x = conv1->forward(images);
    std::vector<torch::Tensor> outs;
    const auto& wanted = options.out_indices();
    for (int64_t i = 0; i <= kNumLayers; ++i) {
      x = i < kNumLayers ? layers[i]->forward(x) : conv2->forward(x);
      if (std::find(wanted.begin(), wanted.end(), i) != wanted.end()) outs.push_back(x);
    }
    return outs;
  }

  /// Channels and stride of each output of forward().
  std::vector<detkit::ShapeSpec> output_shapes() const override {
    std::vector<detkit::ShapeSpec> shapes;
    for (int64_t i : options.out_indices()) {
      detkit::ShapeSpec shape;
      shape.channels = channels_[i];
      shape.stride = strides_[i];
      shapes.push_back(shape);
    }
    return shapes;
  }

  /// Sets the mode, re-freezes the frozen stages and, when training with norm_eval, puts every
  /// BatchNorm in eval mode (MMDetection's MobileNetV2.train).
  void train(bool on = true) override {
    detkit::BackboneBase::train(on);
    freeze_stages();
    if (on && options.norm_eval()) detkit::batch_norms_to_eval(*this);
  }

  /// "MobileNetV2(widen_factor=1.0, out_indices=[1, 2, 4, 7], ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("MobileNetV2", options);
  }
  /// "MobileNetV2".
  std::string mmcv_class_name() const override { return "MobileNetV2"; }

  /// The options the backbone was built with.
  MobileNetV2Options options;
  /// The stem: 3x3 stride-2 ConvModule.
  detkit::ConvModule conv1{nullptr};
  /// layer1 .. layer7 (plain Sequentials of InvertedResidual, as MMDetection's nn.Sequential).
  std::vector<torch::nn::Sequential> layers;
  /// The last 1x1 ConvModule.
  detkit::ConvModule conv2{nullptr};

 private:
  /// Checks what the declaration cannot express.
  void check() const {
    detkit::check_options(options, "MobileNetV2");
    const auto& out = options.out_indices();
    if (out.empty()) {
      throw detkit::InvalidParameter("out_indices", "MobileNetV2: out_indices must not be empty");
    }
    for (size_t i = 1; i < out.size(); ++i) {
      if (out[i] <= out[i - 1]) {
        throw detkit::InvalidParameter(
            "out_indices",
            "MobileNetV2: out_indices must be strictly increasing (outputs come "
            "in stage order), got " +
                std::to_string(out[i - 1]) + " then " + std::to_string(out[i]));
      }
    }
    if (options.with_cp()) {
      throw detkit::InvalidParameter(
          "with_cp",
          "MobileNetV2: with_cp (gradient checkpointing) is not supported: it needs "
          "torch.utils.checkpoint's recomputation in the backward pass, which LibTorch's C++ "
          "autograd does not provide; set with_cp: false");
    }
    if (options.pretrained() && !init_cfg().is_null()) {
      throw detkit::InvalidParameter(
          "pretrained",
          "MobileNetV2: init_cfg and pretrained cannot be specified at the same time");
    }
  }

  /// MMDetection's default init_cfg: Kaiming on Conv2d, Constant 1 on _BatchNorm/GroupNorm.
  static detkit::ConfigNode default_init_cfg() {
    detkit::ConfigNode kaiming = type_cfg("Kaiming");
    kaiming.set("layer", "Conv2d");
    detkit::ConfigNode norm_layers = detkit::ConfigNode::make_list();
    norm_layers.push_back("_BatchNorm");
    norm_layers.push_back("GroupNorm");
    detkit::ConfigNode constant = type_cfg("Constant");
    constant.set("val", 1);
    constant.set("layer", norm_layers);
    detkit::ConfigNode init_cfg = detkit::ConfigNode::make_list();
    init_cfg.push_back(kaiming);
    init_cfg.push_back(constant);
    return init_cfg;
  }

  /// A ConvModule of the backbone's conv/norm/act configs.
  detkit::ConvModule conv_module(int64_t in, int64_t out, int64_t kernel, int64_t stride) const {
    return detkit::ConvModule(detkit::ConvModuleOptions(in, out, kernel)
                                  .stride(stride)
                                  .padding(kernel / 2)
                                  .conv_cfg(options.conv_cfg())
                                  .norm_cfg(options.norm_cfg())
                                  .act_cfg(options.act_cfg()));
  }

  /// Creates and registers conv1, layer1..layer7 and conv2; records channels and strides.
  void build() {
    int64_t in = make_divisible(32 * options.widen_factor());
    conv1 = register_module("conv1", conv_module(kImageChannels, in, 3, 2));
    int64_t stride = 2;
    for (int64_t i = 0; i < kNumLayers; ++i) {
      const StageSetting& stage = kArchSettings[i];
      const int64_t out = make_divisible(stage.channels * options.widen_factor());
      torch::nn::Sequential layer;
      for (int64_t block = 0; block < stage.num_blocks; ++block) {
        layer->push_back(InvertedResidual(InvertedResidualOptions(in, out, in * stage.expand_ratio)
                                              .stride(block == 0 ? stage.stride : 1)
                                              .with_expand_conv(stage.expand_ratio != 1)
                                              .conv_cfg(options.conv_cfg())
                                              .norm_cfg(options.norm_cfg())
                                              .act_cfg(options.act_cfg())));
        in = out;
      }
      layers.push_back(register_module("layer" + std::to_string(i + 1), layer));
      stride *= stage.stride;
      channels_.push_back(out);
      strides_.push_back(stride);
    }
    const int64_t last = options.widen_factor() > 1.0
                             ? static_cast<int64_t>(1280 * options.widen_factor())
                             : int64_t{1280};
    conv2 = register_module("conv2", conv_module(in, last, 1, 1));
    channels_.push_back(last);
    strides_.push_back(stride);
  }

  /// MMDetection's _freeze_stages: conv1's parameters stop learning (conv1 keeps its mode);
  /// layer1..layer<frozen_stages> go to eval mode without gradients.
  void freeze_stages() {
    if (options.frozen_stages() >= 0) {
      for (auto& parameter : conv1->parameters())
        parameter.set_requires_grad(false);
    }
    for (int64_t i = 0; i < options.frozen_stages(); ++i)
      detkit::freeze_module(*layers[i]);
  }

  /// Channels and stride of each of the 8 possible outputs.
  std::vector<int64_t> channels_, strides_;
};
/// A ModuleHolder (shared pointer) of MobileNetV2Impl.
TORCH_MODULE(MobileNetV2);

DETKIT_REGISTER_MODULE(backbone, MobileNetV2);

}  // namespace mobilenet_v2_plugin
