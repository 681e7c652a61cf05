// TemplateNeck: a small feature pyramid (FPN, Lin et al., 2017), the template's example neck
// (kind `neck`, registered as `TemplateNeck`).
//
// Each input level i gets a 1x1 lateral conv to `out_channels`; from the coarsest level down,
// every level adds its coarser neighbour upsampled (nearest) to its own size; a 3x3 conv then
// smooths each level. Extra levels (num_outs > inputs) are max-pooled with stride 2 from the
// last output, as MMDetection's FPN does with add_extra_convs=False. The convs are the SDK's
// ConvModule, so parameter names follow MMDetection: `lateral_convs.0.conv.weight`,
// `fpn_convs.2.conv.bias` (and `...bn.weight` with `norm_cfg: {type: BN}`).
//
// Built with a NeckContext (the backbone's output shapes): `in_channels` defaults to the
// backbone's channels and, when the config states it, must equal them.
#include <torch/torch.h>  // before the SDK: conv_module.h uses torch::ExpandingArray

#include <detkit/build_context.h>
#include <detkit/component_config.h>
#include <detkit/error.h>
#include <detkit/modeling/conv_module.h>
#include <detkit/modeling/init.h>
#include <detkit/modeling/neck.h>
#include <detkit/params.h>
#include <detkit/registry.h>

#include <memory>
#include <string>
#include <vector>

namespace mobilenet_plugin {

/// Options of TemplateNeck; the config keys have the same names (MMDetection's FPN).
struct TemplateNeckOptions {
  /// Channels of each input level; empty: the backbone's (from the build context).
  TORCH_ARG(std::vector<int64_t>, in_channels) = {};
  /// Channels of every output level.
  TORCH_ARG(int64_t, out_channels) = 256;
  /// Number of output levels; -1: as many as inputs; more adds max-pooled levels.
  TORCH_ARG(int64_t, num_outs) = -1;
  /// The norm layer of every conv (`{type: GN, num_groups: 32}`); null: none.
  TORCH_ARG(detkit::ConfigNode, norm_cfg);

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary("Feature pyramid: 1x1 laterals, top-down nearest upsampling, 3x3 outputs.");
    DETKIT_PARAM(p, in_channels, "channels of each input level (default: the backbone's)").min(1);
    DETKIT_PARAM(p, out_channels, "channels of every output level").min(1);
    DETKIT_PARAM(p, num_outs, "output levels; -1: one per input, more: max-pooled extras").min(-1);
    DETKIT_PARAM(p, norm_cfg, "norm layer after every conv, e.g. {type: BN}; null: none");
  }
};

namespace {

/// The SDK's ConvModule (MMCV's): a `kernel` x `kernel` conv with a bias, the norm of
/// `norm_cfg` (null: none), no activation, as MMDetection's FPN; Xavier-uniform weights, zero
/// bias (FPN's default init).
detkit::ConvModule fpn_conv(int64_t in, int64_t out, int64_t kernel,
                            const detkit::ConfigNode& norm_cfg) {
  detkit::ConvModule conv(detkit::ConvModuleOptions(in, out, kernel)
                              .padding(kernel / 2)
                              .norm_cfg(norm_cfg)
                              .act_cfg(detkit::ConfigNode()));
  detkit::xavier_init(*conv->conv, /*gain=*/1, /*bias=*/0, "uniform");
  return conv;
}

}  // namespace

/// The neck: the backbone's maps (high to low resolution) in, `num_outs` maps of
/// `out_channels` out, in the same order.
class TemplateNeckImpl : public detkit::NeckBase {
 public:
  /// The declared options (the registry derives the schema from them).
  using Options = TemplateNeckOptions;

  /// Builds the layers for inputs of `options.in_channels()` whose strides are `in_strides`
  /// (empty: 4, 8, 16, ...). Throws detkit::InvalidParameter for inconsistent options.
  explicit TemplateNeckImpl(const TemplateNeckOptions& options_,
                            std::vector<int64_t> in_strides = {})
      : options(options_), in_strides_(std::move(in_strides)) {
    detkit::check_options(options, "TemplateNeck");
    const auto inputs = static_cast<int64_t>(options.in_channels().size());
    if (inputs == 0) throw detkit::InvalidParameter("in_channels", "TemplateNeck: no input level");
    if (options.num_outs() == -1) options.num_outs(inputs);
    if (options.num_outs() < inputs) {
      throw detkit::InvalidParameter("num_outs", "TemplateNeck: num_outs (" +
                                                     std::to_string(options.num_outs()) +
                                                     ") must be >= the number of inputs (" +
                                                     std::to_string(inputs) + ") or -1");
    }
    if (in_strides_.empty()) {
      for (int64_t i = 0; i < inputs; ++i)
        in_strides_.push_back(int64_t{4} << i);
    }
    for (int64_t i = 0; i < inputs; ++i) {
      const int64_t in = options.in_channels()[i], out = options.out_channels();
      lateral_convs->push_back(fpn_conv(in, out, 1, options.norm_cfg()));
      fpn_convs->push_back(fpn_conv(out, out, 3, options.norm_cfg()));
    }
    register_module("lateral_convs", lateral_convs);
    register_module("fpn_convs", fpn_convs);
  }

  /// Builds the neck from its validated config and the backbone's output shapes: `in_channels`
  /// agrees with the context (a contradiction is a ConfigError naming both values).
  static std::shared_ptr<TemplateNeckImpl> create(const detkit::ComponentConfig& cfg,
                                                  const detkit::NeckContext& context) {
    auto options = detkit::options_from<TemplateNeckOptions>(cfg);
    detkit::Known<std::vector<int64_t>> known;
    std::vector<int64_t> strides;
    if (!context.input_shapes.empty()) {
      std::vector<int64_t> channels;
      for (const auto& shape : context.input_shapes) {
        channels.push_back(shape.channels);
        strides.push_back(shape.stride);
      }
      known = detkit::Known<std::vector<int64_t>>(channels, context.input_origin);
    }
    options.in_channels(cfg.agree("in_channels", known));
    if (options.in_channels().empty()) {
      cfg.fail("in_channels", "TemplateNeck: set in_channels (no backbone shapes are known)");
    }
    return std::make_shared<TemplateNeckImpl>(options, strides);
  }

  /// The pyramid of `features` (one map per input level, high to low resolution).
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features) override {
    const size_t inputs = options.in_channels().size();
    if (features.size() != inputs) {
      throw detkit::Error("TemplateNeck: expected " + std::to_string(inputs) +
                          " feature maps, got " + std::to_string(features.size()));
    }
    std::vector<torch::Tensor> laterals;
    for (size_t i = 0; i < inputs; ++i) {
      laterals.push_back(lateral_convs[i]->as<detkit::ConvModuleImpl>()->forward(features[i]));
    }
    namespace F = torch::nn::functional;
    for (size_t i = inputs - 1; i > 0; --i) {  // top-down: coarse levels into finer ones
      const auto size = laterals[i - 1].sizes().slice(2).vec();
      laterals[i - 1] =
          laterals[i - 1] +
          F::interpolate(laterals[i], F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
    }
    std::vector<torch::Tensor> outs;
    for (size_t i = 0; i < inputs; ++i) {
      outs.push_back(fpn_convs[i]->as<detkit::ConvModuleImpl>()->forward(laterals[i]));
    }
    while (static_cast<int64_t>(outs.size()) < options.num_outs()) {
      outs.push_back(F::max_pool2d(outs.back(), F::MaxPool2dFuncOptions(1).stride(2)));
    }
    return outs;
  }

  /// `out_channels` at every level; the inputs' strides, then doubling for extra levels.
  std::vector<detkit::ShapeSpec> output_shapes() const override {
    std::vector<detkit::ShapeSpec> shapes;
    for (int64_t i = 0; i < options.num_outs(); ++i) {
      detkit::ShapeSpec shape;
      shape.channels = options.out_channels();
      shape.stride =
          i < static_cast<int64_t>(in_strides_.size()) ? in_strides_[i] : shapes.back().stride * 2;
      shapes.push_back(shape);
    }
    return shapes;
  }

  /// "mobilenet_plugin::TemplateNeck(in_channels=[64, 128], out_channels=256, num_outs=3)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("mobilenet_plugin::TemplateNeck", options);
  }

  /// The options the neck was built with (num_outs resolved).
  TemplateNeckOptions options;
  /// The 1x1 lateral convs, one per input level.
  torch::nn::ModuleList lateral_convs;
  /// The 3x3 output convs, one per input level.
  torch::nn::ModuleList fpn_convs;

 private:
  std::vector<int64_t> in_strides_;
};
/// A ModuleHolder (shared pointer) of TemplateNeckImpl.
TORCH_MODULE(TemplateNeck);

DETKIT_REGISTER_MODULE(neck, TemplateNeck);

}  // namespace mobilenet_plugin
