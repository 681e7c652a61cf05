// Group normalisation, registered as the norm layer GN (MMCV: nn.GroupNorm), and layer
// normalisation, LN (nn.LayerNorm over the last dimension, of size num_features, as MMCV's
// build_norm_layer builds it). Parameters `weight` and `bias` are registered directly.
#include <torch/torch.h>

#include <string>

#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"

namespace detkit::layers {

/// GN: `num_groups` groups over the channels.
class GroupNormLayer : public NormLayerBase {
 public:
  static Schema schema() {
    Schema s("Group normalisation (MMCV GN = nn.GroupNorm). Parameters weight, bias.");
    s.required<int64_t>("num_groups", "number of channel groups (must divide the channels)").min(1);
    s.add<bool>("requires_grad", true, "train weight and bias");
    s.add<double>("eps", 1e-5, "added to the variance").greater_than(0);
    s.add<bool>("affine", true, "learn a per-channel weight and bias");
    return s;
  }

  static std::shared_ptr<GroupNormLayer> create(const ComponentConfig& cfg,
                                                const NormLayerContext& context) {
    const int64_t groups = cfg.get<int64_t>("num_groups");
    if (context.num_features <= 0 || context.num_features % groups != 0) {
      cfg.fail("num_groups", "num_channels must be divisible by num_groups: " +
                                 std::to_string(context.num_features) + " channels, " +
                                 std::to_string(groups) + " groups");
    }
    return std::make_shared<GroupNormLayer>(cfg, context.num_features);
  }

  GroupNormLayer(const ComponentConfig& cfg, int64_t num_channels)
      : num_groups_(cfg.get<int64_t>("num_groups")),
        num_channels_(num_channels),
        eps_(cfg.get<double>("eps")),
        affine_(cfg.get<bool>("affine")) {
    if (affine_) {
      weight = register_parameter("weight", torch::ones({num_channels}));
      bias = register_parameter("bias", torch::zeros({num_channels}));
    }
    set_requires_grad(*this, cfg.get<bool>("requires_grad"));
  }

  torch::Tensor forward(const torch::Tensor& input) override {
    return torch::group_norm(input, num_groups_, weight, bias, eps_,
                             at::globalContext().userEnabledCuDNN());
  }
  std::string abbreviation() const override { return "gn"; }
  std::string mmcv_class_name() const override { return "GroupNorm"; }
  std::vector<std::string> mmcv_base_names() const override { return {"Module"}; }
  void pretty_print(std::ostream& stream) const override {
    stream << "GroupNorm(" << num_groups_ << ", " << num_channels_ << ", eps=" << eps_
           << ", affine=" << py_bool(affine_) << ")";
  }

  torch::Tensor weight, bias;

 private:
  int64_t num_groups_;
  int64_t num_channels_;
  double eps_;
  bool affine_;
};
DETKIT_REGISTER_AS(norm_layer, GroupNormLayer, "GN");

/// LN: normalises the last dimension (of size num_features).
class LayerNormLayer : public NormLayerBase {
 public:
  static Schema schema() {
    Schema s(
        "Layer normalisation over the last dimension (MMCV LN = nn.LayerNorm(num_features)). "
        "Parameters weight, bias.");
    s.add<bool>("requires_grad", true, "train weight and bias");
    s.add<double>("eps", 1e-5, "added to the variance").greater_than(0);
    s.add<bool>("elementwise_affine", true, "learn a per-element weight and bias");
    return s;
  }

  static std::shared_ptr<LayerNormLayer> create(const ComponentConfig& cfg,
                                                const NormLayerContext& context) {
    if (context.num_features <= 0) {
      cfg.fail("type", "LN needs a positive number of features, got " +
                           std::to_string(context.num_features));
    }
    return std::make_shared<LayerNormLayer>(cfg, context.num_features);
  }

  LayerNormLayer(const ComponentConfig& cfg, int64_t num_features)
      : num_features_(num_features),
        eps_(cfg.get<double>("eps")),
        affine_(cfg.get<bool>("elementwise_affine")) {
    if (affine_) {
      weight = register_parameter("weight", torch::ones({num_features}));
      bias = register_parameter("bias", torch::zeros({num_features}));
    }
    set_requires_grad(*this, cfg.get<bool>("requires_grad"));
  }

  torch::Tensor forward(const torch::Tensor& input) override {
    return torch::layer_norm(input, {num_features_}, weight, bias, eps_,
                             at::globalContext().userEnabledCuDNN());
  }
  std::string abbreviation() const override { return "ln"; }
  std::string mmcv_class_name() const override { return "LayerNorm"; }
  std::vector<std::string> mmcv_base_names() const override { return {"Module"}; }
  void pretty_print(std::ostream& stream) const override {
    stream << "LayerNorm((" << num_features_ << ",), eps=" << eps_
           << ", elementwise_affine=" << py_bool(affine_) << ")";
  }

  torch::Tensor weight, bias;

 private:
  int64_t num_features_;
  double eps_;
  bool affine_;
};
DETKIT_REGISTER_AS(norm_layer, LayerNormLayer, "LN");

}  // namespace detkit::layers
