// Batch normalisation, registered as the norm layers BN, BN1d, BN2d, BN3d and SyncBN (MMCV's
// NORM_LAYERS: nn.BatchNorm1d/2d/3d and nn.SyncBatchNorm). Parameters and buffers are registered
// directly — weight, bias, running_mean, running_var, num_batches_tracked — so
// `bn1.running_mean` is named as in MMDetection, and the arithmetic is PyTorch's
// _BatchNorm.forward (momentum null: cumulative moving average). SyncBN training in a
// distributed run normalises with the statistics of all ranks' batches together
// (sync_batch_norm.cpp); in eval mode, or in one process, it is plain batch norm.
#include <torch/torch.h>

#include <optional>
#include <string>

#include "detkit/engine/dist_utils.h"
#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"
#include "sync_batch_norm.h"

namespace detkit::layers {

/// BN / BN1d / BN2d / BN3d / SyncBN.
class BatchNormLayer : public NormLayerBase {
 public:
  static Schema schema() {
    Schema s(
        "Batch normalisation (MMCV BN = nn.BatchNorm2d; BN1d/BN3d; SyncBN = nn.SyncBatchNorm: all "
        "ranks' batch statistics when training distributed, else plain batch norm). Parameters "
        "weight, bias; buffers running_mean, running_var, num_batches_tracked.");
    s.add<bool>("requires_grad", true, "train weight and bias");
    s.add<double>("eps", 1e-5, "added to the variance").greater_than(0);
    s.add<std::optional<double>>("momentum", 0.1,
                                 "running statistics momentum; null: cumulative average")
        .range(0, 1);
    s.add<bool>("affine", true, "learn a per-channel weight and bias");
    s.add<bool>("track_running_stats", true, "keep running mean and variance for eval mode");
    return s;
  }

  static std::shared_ptr<BatchNormLayer> create(const ComponentConfig& cfg,
                                                const NormLayerContext& context) {
    if (context.num_features <= 0) {
      cfg.fail("type", cfg.type() + " needs a positive number of features, got " +
                           std::to_string(context.num_features));
    }
    return std::make_shared<BatchNormLayer>(cfg, context.num_features);
  }

  BatchNormLayer(const ComponentConfig& cfg, int64_t num_features)
      : type_(cfg.type()),
        num_features_(num_features),
        eps_(cfg.get<double>("eps")),
        momentum_(cfg.get<std::optional<double>>("momentum")),
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
    if (type_ == "BN1d") {
      check_input_dims(input, {2, 3}, mmcv_class_name());
    } else if (type_ == "BN3d") {
      check_input_dims(input, {5}, mmcv_class_name());
    } else if (type_ == "SyncBN") {
      if (input.dim() < 2) check_input_dims(input, {2}, mmcv_class_name());
    } else {
      check_input_dims(input, {4}, mmcv_class_name());
    }
    double factor = momentum_.value_or(0.0);
    if (is_training() && track_running_stats_) {
      num_batches_tracked.add_(1);
      factor = momentum_ ? *momentum_ : 1.0 / num_batches_tracked.item<double>();
    }
    if (type_ == "SyncBN" && is_training() && dist_world_size() > 1) {
      if (input.size(1) != num_features_) {
        throw Error(mmcv_class_name() + ": expected " + std::to_string(num_features_) +
                    " channels, got " + std::to_string(input.size(1)));
      }
      return sync_batch_norm(input, weight, bias, running_mean, running_var, factor, eps_);
    }
    const bool use_batch_stats = is_training() || !track_running_stats_;
    const bool pass_stats = !is_training() || track_running_stats_;
    return torch::batch_norm(input, weight, bias, pass_stats ? running_mean : torch::Tensor(),
                             pass_stats ? running_var : torch::Tensor(), use_batch_stats, factor,
                             eps_, at::globalContext().userEnabledCuDNN());
  }

  std::string abbreviation() const override { return "bn"; }

  std::string mmcv_class_name() const override {
    if (type_ == "BN1d") return "BatchNorm1d";
    if (type_ == "BN3d") return "BatchNorm3d";
    if (type_ == "SyncBN") return "SyncBatchNorm";
    return "BatchNorm2d";
  }
  std::vector<std::string> mmcv_base_names() const override { return {"_BatchNorm"}; }

  void pretty_print(std::ostream& stream) const override {
    stream << mmcv_class_name() << "(" << num_features_ << ", eps=" << eps_ << ", momentum=";
    if (momentum_) {
      stream << *momentum_;
    } else {
      stream << "None";
    }
    stream << ", affine=" << py_bool(affine_)
           << ", track_running_stats=" << py_bool(track_running_stats_) << ")";
  }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  std::string type_;
  int64_t num_features_;
  double eps_;
  std::optional<double> momentum_;
  bool affine_;
  bool track_running_stats_;
};

DETKIT_REGISTER_AS(norm_layer, BatchNormLayer, "BN");
DETKIT_REGISTER_AS(norm_layer, BatchNormLayer, "BN1d");
DETKIT_REGISTER_AS(norm_layer, BatchNormLayer, "BN2d");
DETKIT_REGISTER_AS(norm_layer, BatchNormLayer, "BN3d");
DETKIT_REGISTER_AS(norm_layer, BatchNormLayer, "SyncBN");

}  // namespace detkit::layers
