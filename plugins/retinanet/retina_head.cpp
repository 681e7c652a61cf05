// RetinaHead: MMDetection 2.x's RetinaNet head (Lin et al., 2017), a dense head (kind
// `dense_head`, type `RetinaHead`) on the SDK's AnchorHead (detkit/modeling/anchor_head.h),
// which provides the anchors, targets, losses and predictions.
//
// Layers (MMDetection's names, so MMDetection checkpoints load as they are), shared by every
// level:
//   cls_convs.i   stacked_convs ConvModules (3x3, conv_cfg, norm_cfg, ReLU): `cls_convs.i.conv`
//   reg_convs.i   the same for regression:                                    `reg_convs.i.conv`
//   retina_cls    3x3 conv feat_channels -> A * cls_out_channels (A anchors per location)
//   retina_reg    3x3 conv feat_channels -> A * 4
// forward() returns {cls_scores, bbox_preds}: per level (N, A * C, H, W) and (N, A * 4, H, W).
//
// Defaults as MMDetection 2.x's RetinaHead: anchor_generator {type: AnchorGenerator,
// octave_base_scale: 4, scales_per_octave: 3, ratios: [0.5, 1.0, 2.0], strides: [8, 16, 32, 64,
// 128]}, init_cfg {type: Normal, layer: Conv2d, std: 0.01, override: {type: Normal, name:
// retina_cls, std: 0.01, bias_prob: 0.01}}; the rest is AnchorHead's.
#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/anchor_head.h>
#include <detkit/modeling/conv_module.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace retinanet_plugin {

namespace {

/// RetinaHead's default anchor generator (MMDetection 2.x).
detkit::ConfigNode retina_anchor_generator_cfg() {
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", detkit::ConfigNode("AnchorGenerator"));
  cfg.set("octave_base_scale", detkit::ConfigNode(int64_t{4}));
  cfg.set("scales_per_octave", detkit::ConfigNode(int64_t{3}));
  cfg.set("ratios", detkit::ConfigValue<std::vector<double>>::to({0.5, 1.0, 2.0}));
  cfg.set("strides", detkit::ConfigValue<std::vector<int64_t>>::to({8, 16, 32, 64, 128}));
  return cfg;
}

/// RetinaHead's default init_cfg: Normal(std 0.01) on every Conv2d, retina_cls with the focal
/// prior bias (foreground probability 0.01).
detkit::ConfigNode retina_init_cfg() {
  detkit::ConfigNode override_cfg = detkit::ConfigNode::make_map();
  override_cfg.set("type", detkit::ConfigNode("Normal"));
  override_cfg.set("name", detkit::ConfigNode("retina_cls"));
  override_cfg.set("std", detkit::ConfigNode(0.01));
  override_cfg.set("bias_prob", detkit::ConfigNode(0.01));
  detkit::ConfigNode cfg = detkit::ConfigNode::make_map();
  cfg.set("type", detkit::ConfigNode("Normal"));
  cfg.set("layer", detkit::ConfigNode("Conv2d"));
  cfg.set("std", detkit::ConfigNode(0.01));
  cfg.set("override", override_cfg);
  return cfg;
}

}  // namespace

/// Options of RetinaHead: AnchorHead's plus the conv tower's; the config keys have the same
/// names.
struct RetinaHeadOptions : detkit::AnchorHeadOptions {
  /// RetinaHead's defaults (its anchor generator).
  RetinaHeadOptions() { anchor_generator(retina_anchor_generator_cfg()); }

  /// 3x3 ConvModules of each branch.
  TORCH_ARG(int64_t, stacked_convs) = 4;
  /// The convolution of the ConvModules (`conv_layer` registry); null: Conv2d.
  TORCH_ARG(detkit::ConfigNode, conv_cfg);
  /// The norm of the ConvModules (`norm_layer` registry); null: none.
  TORCH_ARG(detkit::ConfigNode, norm_cfg);

 public:
  /// The parameters, declared once (AnchorHead's, then the tower's).
  template <class P>
  void declare(P& p) {
    p.summary(
        "RetinaNet head: stacked 3x3 conv towers for classes and boxes, 9 anchors per "
        "location, focal-loss prior.");
    AnchorHeadOptions::declare(p);
    DETKIT_PARAM(p, stacked_convs, "3x3 ConvModules in each branch").min(0);
    DETKIT_PARAM(p, conv_cfg, "the tower's convolution, e.g. {type: Conv2d}; null: Conv2d");
    DETKIT_PARAM(p, norm_cfg,
                 "the tower's norm layer, e.g. {type: GN, num_groups: 32}; null: "
                 "none");
  }
};

/// The head (see the file comment).
class RetinaHeadImpl : public detkit::AnchorHead {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = RetinaHeadOptions;

  /// Builds the towers and (through AnchorHead) the anchors, coder, losses, assigner and
  /// sampler; `input` (the neck's shapes, may be empty) must match the anchor strides.
  explicit RetinaHeadImpl(const RetinaHeadOptions& options_, const std::string& path = "RetinaHead",
                          const std::vector<detkit::ShapeSpec>& input = {},
                          const std::string& input_origin = {})
      : AnchorHead(options_, path, retina_init_cfg(), input, input_origin), options(options_) {
    cls_convs = register_module("cls_convs", torch::nn::ModuleList());
    reg_convs = register_module("reg_convs", torch::nn::ModuleList());
    for (int64_t i = 0; i < options.stacked_convs(); ++i) {
      const int64_t in = i == 0 ? options.in_channels() : options.feat_channels();
      cls_convs->push_back(tower_conv(in));
      reg_convs->push_back(tower_conv(in));
    }
    const int64_t tower_out =
        options.stacked_convs() > 0 ? options.feat_channels() : options.in_channels();
    const int64_t anchors = num_base_priors();
    retina_cls = register_module(
        "retina_cls",
        torch::nn::Conv2d(
            torch::nn::Conv2dOptions(tower_out, anchors * cls_out_channels(), 3).padding(1)));
    retina_reg = register_module(
        "retina_reg",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(tower_out, anchors * 4, 3).padding(1)));
  }

  /// Builds the head from its validated config and its context: `num_classes` agrees with the
  /// dataset's, `in_channels` with the neck's (every level alike), the anchor strides with the
  /// neck's strides.
  static std::shared_ptr<RetinaHeadImpl> create(const detkit::ComponentConfig& cfg,
                                                const detkit::HeadContext& context) {
    auto options = detkit::options_from<RetinaHeadOptions>(cfg);
    detkit::agree_anchor_head_context(cfg, context, options);
    try {
      return std::make_shared<RetinaHeadImpl>(options, cfg.path(), context.input_shapes,
                                              context.input_origin);
    } catch (const detkit::InvalidParameter& e) {
      cfg.fail(e.param(), e.what());
    }
  }

  /// {cls_scores, bbox_preds}: per level (N, A * C, H, W) logits and (N, A * 4, H, W) deltas.
  detkit::MultiLevelOutputs forward(const std::vector<torch::Tensor>& features) override {
    detkit::MultiLevelOutputs outputs(2);
    for (const auto& feature : features) {
      torch::Tensor cls_feat = feature, reg_feat = feature;
      for (const auto& conv : *cls_convs)
        cls_feat = conv->as<detkit::ConvModule>()->forward(cls_feat);
      for (const auto& conv : *reg_convs)
        reg_feat = conv->as<detkit::ConvModule>()->forward(reg_feat);
      outputs[0].push_back(retina_cls(cls_feat));
      outputs[1].push_back(retina_reg(reg_feat));
    }
    return outputs;
  }

  /// MMDetection's base class of RetinaHead.
  std::vector<std::string> mmcv_base_names() const override { return {"AnchorHead"}; }

  /// "retinanet_plugin::RetinaHead(num_classes=80, in_channels=256, ...)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("retinanet_plugin::RetinaHead", options);
  }

  /// The options the head was built with (context values filled in).
  RetinaHeadOptions options;
  /// The two towers (ConvModules) and the predictors.
  torch::nn::ModuleList cls_convs{nullptr}, reg_convs{nullptr};
  torch::nn::Conv2d retina_cls{nullptr}, retina_reg{nullptr};

 private:
  /// One ConvModule of a tower: 3x3, stride 1, padding 1, conv_cfg, norm_cfg, ReLU.
  detkit::ConvModule tower_conv(int64_t in) const {
    return detkit::ConvModule(detkit::ConvModuleOptions(in, options.feat_channels(), 3)
                                  .padding(1)
                                  .conv_cfg(options.conv_cfg())
                                  .norm_cfg(options.norm_cfg()));
  }
};
/// A ModuleHolder (shared pointer) of RetinaHeadImpl.
TORCH_MODULE(RetinaHead);

DETKIT_REGISTER_MODULE(dense_head, RetinaHead);

}  // namespace retinanet_plugin
