// FPN: MMDetection 2.x's feature pyramid network (mmdet/models/necks/fpn.py; Lin et al., 2017),
// the neck of RetinaNet, Faster R-CNN and most detectors, and the base of PAFPN (pafpn.cpp).
//
// Of the backbone's levels, those from `start_level` to `end_level` (inclusive; -1: the last)
// each get a 1x1 lateral ConvModule to `out_channels`; from the coarsest down, every lateral adds
// its coarser neighbour upsampled (`upsample_cfg`: nearest to the finer level's size, or by a
// `scale_factor`); a 3x3 ConvModule then smooths each level. Levels beyond those (num_outs >
// used levels) are max_pool2d(kernel 1, stride 2) of the last output, or, with
// `add_extra_convs`, 3x3 stride-2 ConvModules on the last input (`on_input`, also `true`), the
// last lateral (`on_lateral`) or the last output (`on_output`), each further one on the previous
// extra level (after a ReLU with `relu_before_extra_convs`).
//
// Children and parameter names are MMDetection's: `lateral_convs.<i>.conv.weight`,
// `fpn_convs.<i>.conv.bias` (extra convs continue `fpn_convs`), `...gn.weight` with a norm.
// The default init_cfg is MMDetection's: Xavier(layer=Conv2d, distribution=uniform).
#pragma once

#include <torch/torch.h>  // before the SDK: conv_module.h uses torch::ExpandingArray

#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/config_node.h>
#include <detkit/modeling/base_module.h>
#include <detkit/modeling/conv_module.h>
#include <detkit/modeling/layers.h>
#include <detkit/modeling/neck.h>
#include <detkit/params.h>
#include <detkit/schema.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace detkit::necks {

/// MMDetection's `upsample_cfg` of FPN (the keyword arguments of F.interpolate).
struct UpsampleOptions {
  /// The interpolation (an upsample layer of detkit's registry: nearest or bilinear).
  TORCH_ARG(std::string, mode) = "nearest";
  /// Upsample by this factor; unset: to the size of the finer level.
  TORCH_ARG(std::optional<double>, scale_factor) = std::nullopt;
  /// bilinear only: align the corner pixels.
  TORCH_ARG(std::optional<bool>, align_corners) = std::nullopt;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, mode, "interpolation of the coarser level").choices({"nearest", "bilinear"});
    DETKIT_PARAM(p, scale_factor, "upsampling factor; null: to the finer level's size")
        .greater_than(0);
    DETKIT_PARAM(p, align_corners, "bilinear only: align the corner pixels");
  }
};

/// Options of FPN (and PAFPN, which has no upsample_cfg); names and defaults as MMDetection's.
struct FPNOptions {
  /// The options of a pyramid over inputs of `in_channels` with `num_outs` levels of
  /// `out_channels` each (the two that MMDetection requires).
  FPNOptions(std::vector<int64_t> in_channels, int64_t out_channels, int64_t num_outs);
  /// Unset options (out_channels and num_outs 0, which check_options rejects): what a config
  /// reader fills in.
  FPNOptions() = default;

  /// Channels of each backbone level; empty: the backbone's (from the build context).
  TORCH_ARG(std::vector<int64_t>, in_channels) = {};
  /// Channels of every output level (required in a config).
  TORCH_ARG(int64_t, out_channels) = 0;
  /// Number of output levels (required in a config).
  TORCH_ARG(int64_t, num_outs) = 0;
  /// The first backbone level used.
  TORCH_ARG(int64_t, start_level) = 0;
  /// The last backbone level used (inclusive); -1: the last one.
  TORCH_ARG(int64_t, end_level) = -1;
  /// Extra levels by convs: false (max-pool), true (= on_input), on_input, on_lateral, on_output.
  TORCH_ARG(ConfigNode, add_extra_convs) = ConfigNode(false);
  /// Apply a ReLU before each extra conv after the first.
  TORCH_ARG(bool, relu_before_extra_convs) = false;
  /// No norm layer in the lateral convs.
  TORCH_ARG(bool, no_norm_on_lateral) = false;
  /// The convolution of every ConvModule; null: Conv2d.
  TORCH_ARG(ConfigNode, conv_cfg);
  /// The norm layer of every ConvModule; null: none.
  TORCH_ARG(ConfigNode, norm_cfg);
  /// The activation of every ConvModule; null: none.
  TORCH_ARG(ConfigNode, act_cfg);
  /// How a coarser level is upsampled (FPN only).
  TORCH_ARG(UpsampleOptions, upsample_cfg) = {};

 public:
  /// The parameters, declared once (params.h); PAFPN's schema leaves out upsample_cfg.
  template <class P>
  void declare(P& p) {
    p.summary(
        "Feature pyramid network (MMDetection FPN): 1x1 laterals, top-down upsampling, "
        "3x3 outputs, extra levels by max-pool or stride-2 convs.");
    DETKIT_PARAM(p, in_channels, "channels of each backbone level (default: the backbone's)")
        .min(1);
    DETKIT_PARAM(p, out_channels, "channels of every output level").min(1);
    DETKIT_PARAM(p, num_outs, "number of output levels").min(1);
    DETKIT_PARAM(p, start_level, "first backbone level used").min(0);
    DETKIT_PARAM(p, end_level, "last backbone level used (inclusive); -1: the last").min(-1);
    ParamSpec where = param_spec_of<std::string>();
    where.choices = {"on_input", "on_lateral", "on_output"};
    DETKIT_PARAM(p, add_extra_convs,
                 "extra levels by 3x3 stride-2 convs on the last input, lateral or output "
                 "(true: on_input); false: max-pool")
        .or_one_of({param_spec_of<bool>(), where});
    DETKIT_PARAM(p, relu_before_extra_convs, "ReLU before each extra conv after the first");
    DETKIT_PARAM(p, no_norm_on_lateral, "no norm layer in the lateral convs");
    DETKIT_COMPONENT(p, conv_cfg, conv_layer, "convolution of every ConvModule; null: Conv2d")
        .nullable();
    DETKIT_COMPONENT(p, norm_cfg, norm_layer, "norm layer of every ConvModule; null: none")
        .nullable();
    DETKIT_COMPONENT(p, act_cfg, activation_layer, "activation of every ConvModule; null: none")
        .nullable();
    DETKIT_NESTED(p, upsample_cfg, "upsampling of coarser levels (F.interpolate's arguments)");
  }
};

/// `declared` with `required` parameters marked required (no default) and `dropped` ones left
/// out: the schema of FPN and PAFPN, whose out_channels and num_outs MMDetection requires.
Schema pyramid_schema(const Schema& declared, const std::vector<std::string>& required,
                      const std::vector<std::string>& dropped = {});

/// The feature pyramid: the backbone's maps (high to low resolution) in, `num_outs` maps of
/// `out_channels` out, high to low resolution.
class FPNImpl : public NeckBase, public BaseModule {
 public:
  /// The declared options (the schema marks out_channels and num_outs required).
  using Options = FPNOptions;

  /// Builds the layers for inputs of `options.in_channels()` whose strides are `in_strides`
  /// (empty: 4, 8, 16, ...). Throws InvalidParameter for inconsistent options.
  explicit FPNImpl(const FPNOptions& options, std::vector<int64_t> in_strides = {});

  /// The schema: the declared parameters, out_channels and num_outs required.
  static Schema schema();
  /// Builds the neck from its validated config and the backbone's output shapes: `in_channels`
  /// agrees with the context (a contradiction is a ConfigError naming both values and origins).
  static std::shared_ptr<FPNImpl> create(const ComponentConfig& cfg, const NeckContext& context);

  /// The pyramid of `features` (one map per backbone level, high to low resolution).
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features) override;
  /// `out_channels` at every level; the used inputs' strides, then doubling for extra levels.
  std::vector<ShapeSpec> output_shapes() const override;
  /// {"BaseModule"} (MMDetection's FPN derives from BaseModule).
  std::vector<std::string> mmcv_base_names() const override;
  /// "FPN(in_channels=[...], out_channels=..., ...)".
  void pretty_print(std::ostream& stream) const override;

  /// The options the neck was built with (in_channels resolved).
  FPNOptions options;
  /// The 1x1 lateral ConvModules, one per used backbone level.
  torch::nn::ModuleList lateral_convs;
  /// The 3x3 output ConvModules, one per used backbone level, then the extra-level convs.
  torch::nn::ModuleList fpn_convs;

 protected:
  /// For subclasses (PAFPN): `type` names the component in messages; `upsample` is false for
  /// a subclass without upsample_cfg (it must keep the default).
  FPNImpl(const FPNOptions& options, std::vector<int64_t> in_strides, std::string type,
          bool upsample);

  /// The builder of create(): in_channels and strides from `context`, then `make(options,
  /// strides)`, an InvalidParameter turned into a ConfigError at the parameter's line.
  template <class Impl>
  static std::shared_ptr<Impl> create_as(const ComponentConfig& cfg, const NeckContext& context);

  /// A 3x3 (or `kernel`) ConvModule of FPN: the options' conv/norm/act cfgs, no inplace
  /// activation; `with_norm` false leaves the norm out.
  ConvModule make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                       bool with_norm) const;
  /// The ConvModule at `index` of `list`.
  static ConvModuleImpl& conv_at(const torch::nn::ModuleList& list, size_t index);
  /// Checks `features` against in_channels: their number, rank and channels.
  void check_features(const std::vector<torch::Tensor>& features) const;
  /// The laterals of the used levels, with the top-down path added (coarse into fine).
  std::vector<torch::Tensor> top_down(const std::vector<torch::Tensor>& features) const;
  /// Appends the extra levels to `outs` (max-pool or the extra convs of fpn_convs).
  void add_extra_levels(std::vector<torch::Tensor>& outs,
                        const std::vector<torch::Tensor>& features,
                        const std::vector<torch::Tensor>& laterals) const;

  /// The component's name in messages ("FPN", "PAFPN").
  std::string type_;
  /// One past the last backbone level used (MMDetection's backbone_end_level).
  int64_t backbone_end_level_ = 0;
  /// Where the extra convs read: "" (max-pool), "on_input", "on_lateral" or "on_output".
  std::string extra_convs_on_;

 private:
  std::vector<int64_t> in_strides_;
  std::shared_ptr<UpsampleLayerBase> upsample_;
};
/// A ModuleHolder (shared pointer) of FPNImpl.
TORCH_MODULE(FPN);

template <class Impl>
std::shared_ptr<Impl> FPNImpl::create_as(const ComponentConfig& cfg, const NeckContext& context) {
  auto options = options_from<FPNOptions>(cfg);
  Known<std::vector<int64_t>> known;
  std::vector<int64_t> strides;
  if (!context.input_shapes.empty()) {
    std::vector<int64_t> channels;
    for (const auto& shape : context.input_shapes) {
      channels.push_back(shape.channels);
      strides.push_back(shape.stride);
    }
    known = Known<std::vector<int64_t>>(channels, context.input_origin);
  }
  options.in_channels(cfg.agree("in_channels", known));
  if (options.in_channels().empty()) {
    cfg.fail("in_channels", cfg.type() + ": set in_channels (no backbone shapes are known)");
  }
  try {
    return std::make_shared<Impl>(options, strides);
  } catch (const InvalidParameter& e) {
    cfg.fail(e.param(), e.what());
  }
}

}  // namespace detkit::necks
