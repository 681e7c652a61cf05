// PAFPN: MMDetection 2.x's path aggregation network neck (mmdet/models/necks/pafpn.py; Liu et
// al., 2018): an FPN (fpn.h) whose outputs go through an extra bottom-up path.
//
// After FPN's laterals, top-down path (nearest upsampling to the finer size) and 3x3 convs, each
// level from the second on adds the previous level downsampled by a 3x3 stride-2 ConvModule
// (`downsample_convs`, in order from fine to coarse, so each sum feeds the next), and is then
// smoothed by a 3x3 ConvModule (`pafpn_convs`); the first level passes unchanged. Extra levels
// are FPN's, taken from these outputs. Parameters are FPN's without upsample_cfg; parameter
// names are MMDetection's (`downsample_convs.0.conv.weight`, `pafpn_convs.2.conv.bias`).
#include <detkit/registry.h>

#include "fpn.h"

namespace detkit::necks {

/// The path aggregation neck: FPN's levels, then the bottom-up path.
class PAFPNImpl : public FPNImpl {
 public:
  /// FPN's options (upsample_cfg must keep its default).
  using Options = FPNOptions;

  /// Builds FPN's layers, then the bottom-up path's. Throws InvalidParameter as FPN does, and
  /// for a non-default upsample_cfg.
  explicit PAFPNImpl(const FPNOptions& options, std::vector<int64_t> in_strides = {})
      : FPNImpl(options, std::move(in_strides), "PAFPN", /*upsample=*/false) {
    const int64_t out = this->options.out_channels();
    for (int64_t i = this->options.start_level() + 1; i < backbone_end_level_; ++i) {
      downsample_convs->push_back(make_conv(out, out, 3, 2, /*with_norm=*/true));
      pafpn_convs->push_back(make_conv(out, out, 3, 1, /*with_norm=*/true));
    }
    register_module("downsample_convs", downsample_convs);
    register_module("pafpn_convs", pafpn_convs);
  }

  /// FPN's declared parameters without upsample_cfg; out_channels and num_outs required.
  static Schema schema() {
    Schema schema =
        pyramid_schema(schema_of<FPNOptions>(), {"out_channels", "num_outs"}, {"upsample_cfg"});
    schema.set_summary(
        "Path aggregation network (MMDetection PAFPN): FPN plus a bottom-up path of stride-2 "
        "convs, extra levels by max-pool or stride-2 convs.");
    return schema;
  }

  /// Builds the neck from its validated config and the backbone's output shapes, as FPN.
  static std::shared_ptr<PAFPNImpl> create(const ComponentConfig& cfg, const NeckContext& context) {
    return create_as<PAFPNImpl>(cfg, context);
  }

  /// The pyramid of `features` (one map per backbone level, high to low resolution).
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features) override {
    check_features(features);
    const std::vector<torch::Tensor> laterals = top_down(features);
    std::vector<torch::Tensor> inner;
    for (size_t i = 0; i < laterals.size(); ++i) {
      inner.push_back(conv_at(fpn_convs, i).forward(laterals[i]));
    }
    for (size_t i = 0; i + 1 < inner.size(); ++i) {  // bottom-up: fine levels into coarser ones
      inner[i + 1] = inner[i + 1] + conv_at(downsample_convs, i).forward(inner[i]);
    }
    std::vector<torch::Tensor> outs{inner[0]};
    for (size_t i = 1; i < inner.size(); ++i) {
      outs.push_back(conv_at(pafpn_convs, i - 1).forward(inner[i]));
    }
    add_extra_levels(outs, features, laterals);
    return outs;
  }

  /// {"FPN"} (MMDetection's PAFPN derives from FPN).
  std::vector<std::string> mmcv_base_names() const override { return {"FPN"}; }

  /// "PAFPN(in_channels=[...], out_channels=..., ...)" (no upsample_cfg).
  void pretty_print(std::ostream& stream) const override {
    ConfigNode values = values_of(options);
    values.erase("upsample_cfg");
    stream << format_component("PAFPN", values);
  }

  /// The 3x3 stride-2 ConvModules of the bottom-up path, one per used level but the first.
  torch::nn::ModuleList downsample_convs;
  /// The 3x3 ConvModules after each bottom-up sum, one per used level but the first.
  torch::nn::ModuleList pafpn_convs;
};
/// A ModuleHolder (shared pointer) of PAFPNImpl.
TORCH_MODULE(PAFPN);

DETKIT_REGISTER_MODULE(neck, PAFPN);

}  // namespace detkit::necks
