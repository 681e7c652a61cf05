// SmoothL1Loss: MMDetection 2.25's smooth L1 loss (mmdet/models/losses/smooth_l1_loss.py).
#include <torch/torch.h>

#include "detkit/registry.h"
#include "loss_utils.h"

namespace detkit::losses {

/// Options of SmoothL1Loss; names and defaults as MMDetection's SmoothL1Loss.
struct SmoothL1LossOptions {
  /// Where the loss turns from quadratic to linear; must be > 0.
  TORCH_ARG(double, beta) = 1.0;
  /// Reduction of the element-wise loss (a call may override it).
  TORCH_ARG(Reduction, reduction) = Reduction::mean;
  /// Factor the reduced loss is multiplied by.
  TORCH_ARG(double, loss_weight) = 1.0;
};

/// Smooth L1 (Huber-like) loss element-wise, with d = |pred - target|:
/// 0.5 * d^2 / beta where d < beta, else d - 0.5 * beta. Shapes and `weight` as L1Loss; an empty
/// target gives pred.sum() * 0.
class SmoothL1LossImpl : public LossBase {
 public:
  explicit SmoothL1LossImpl(const SmoothL1LossOptions& options_ = {}) : options(options_) {
    check_option(
        options.beta() > 0, "beta",
        "beta must be > 0, got " + c10::str(options.beta()) + " (for a plain L1 loss use L1Loss)");
  }

  /// Parameters, as MMDetection's SmoothL1Loss.
  static Schema schema() {
    Schema s("Smooth L1 loss (MMDetection SmoothL1Loss): quadratic below beta, linear above.");
    s.add<double>("beta", 1.0, "threshold between the quadratic and linear parts; must be > 0");
    add_reduction_param(s);
    add_loss_weight_param(s);
    return s;
  }

  /// Builds the loss from its validated config.
  static std::shared_ptr<SmoothL1LossImpl> create(const ComponentConfig& cfg) {
    return make_loss<SmoothL1LossImpl>(cfg, SmoothL1LossOptions()
                                                .beta(cfg.get<double>("beta"))
                                                .reduction(reduction_param(cfg))
                                                .loss_weight(cfg.get<double>("loss_weight")));
  }

  /// The smooth L1 loss of `pred` against `target`, reduced and multiplied by loss_weight.
  torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                        const torch::Tensor& weight = {},
                        std::optional<double> avg_factor = std::nullopt,
                        std::optional<Reduction> reduction_override = std::nullopt) override {
    const Reduction reduction = effective_reduction(options.reduction(), reduction_override);
    const double beta = options.beta();
    return weighted_elementwise_loss("SmoothL1Loss", pred, target, weight, reduction, avg_factor,
                                     [beta](const torch::Tensor& p, const torch::Tensor& t) {
                                       // ATen's fused kernel computes MMDetection's formula:
                                       // 0.5 d^2 / beta below beta, d - 0.5 beta above.
                                       return torch::smooth_l1_loss(p, t, at::Reduction::None,
                                                                    beta);
                                     }) *
           options.loss_weight();
  }

  /// The options the loss was built with.
  SmoothL1LossOptions options;
};

TORCH_MODULE(SmoothL1Loss);
DETKIT_REGISTER_MODULE(loss, SmoothL1Loss);

}  // namespace detkit::losses
