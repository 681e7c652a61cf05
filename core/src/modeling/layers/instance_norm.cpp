// Instance normalisation, registered as the norm layers IN, IN1d, IN2d and IN3d (MMCV:
// nn.InstanceNorm{1,2,3}d; IN is 2-D). PyTorch's defaults: no affine parameters and no running
// statistics unless asked for.
#include <torch/torch.h>

#include <string>

#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"

namespace detkit::layers {

/// IN / IN1d / IN2d / IN3d.
class InstanceNormLayer : public NormLayerBase {
 public:
  static Schema schema() {
    Schema s("Instance normalisation (MMCV IN = nn.InstanceNorm2d; IN1d, IN3d).");
    s.add<bool>("requires_grad", true, "train weight and bias (with affine)");
    s.add<double>("eps", 1e-5, "added to the variance").greater_than(0);
    s.add<double>("momentum", 0.1, "running statistics momentum").range(0, 1);
    s.add<bool>("affine", false, "learn a per-channel weight and bias");
    s.add<bool>("track_running_stats", false, "keep running mean and variance for eval mode");
    return s;
  }

  static std::shared_ptr<InstanceNormLayer> create(const ComponentConfig& cfg,
                                                   const NormLayerContext& context) {
    if (context.num_features <= 0) {
      cfg.fail("type", cfg.type() + " needs a positive number of features, got " +
                           std::to_string(context.num_features));
    }
    return std::make_shared<InstanceNormLayer>(cfg, context.num_features);
  }

  InstanceNormLayer(const ComponentConfig& cfg, int64_t num_features)
      : type_(cfg.type()),
        num_features_(num_features),
        eps_(cfg.get<double>("eps")),
        momentum_(cfg.get<double>("momentum")),
        affine_(cfg.get<bool>("affine")),
        track_running_stats_(cfg.get<bool>("track_running_stats")) {
    if (affine_) {
      weight = register_parameter("weight", torch::ones({num_features}));
      bias = register_parameter("bias", torch::zeros({num_features}));
    }
    if (track_running_stats_) {
      running_mean = register_buffer("running_mean", torch::zeros({num_features}));
      running_var = register_buffer("running_var", torch::ones({num_features}));
      num_batches_tracked =
          register_buffer("num_batches_tracked", torch::zeros({}, torch::dtype(torch::kLong)));
    }
    set_requires_grad(*this, cfg.get<bool>("requires_grad"));
  }

  torch::Tensor forward(const torch::Tensor& input) override {
    if (type_ == "IN1d") {
      check_input_dims(input, {2, 3}, mmcv_class_name());
    } else if (type_ == "IN3d") {
      check_input_dims(input, {4, 5}, mmcv_class_name());
    } else {
      check_input_dims(input, {3, 4}, mmcv_class_name());
    }
    return torch::instance_norm(input, weight, bias, running_mean, running_var,
                                is_training() || !track_running_stats_, momentum_, eps_,
                                at::globalContext().userEnabledCuDNN());
  }

  std::string abbreviation() const override { return "in"; }
  std::string mmcv_class_name() const override {
    if (type_ == "IN1d") return "InstanceNorm1d";
    if (type_ == "IN3d") return "InstanceNorm3d";
    return "InstanceNorm2d";
  }
  std::vector<std::string> mmcv_base_names() const override { return {"_InstanceNorm"}; }
  void pretty_print(std::ostream& stream) const override {
    stream << mmcv_class_name() << "(" << num_features_ << ", eps=" << eps_
           << ", momentum=" << momentum_ << ", affine=" << py_bool(affine_)
           << ", track_running_stats=" << py_bool(track_running_stats_) << ")";
  }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  std::string type_;
  int64_t num_features_;
  double eps_;
  double momentum_;
  bool affine_;
  bool track_running_stats_;
};

DETKIT_REGISTER_AS(norm_layer, InstanceNormLayer, "IN");
DETKIT_REGISTER_AS(norm_layer, InstanceNormLayer, "IN1d");
DETKIT_REGISTER_AS(norm_layer, InstanceNormLayer, "IN2d");
DETKIT_REGISTER_AS(norm_layer, InstanceNormLayer, "IN3d");

}  // namespace detkit::layers
