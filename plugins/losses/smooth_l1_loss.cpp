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

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Smooth L1 loss (MMDetection SmoothL1Loss): quadratic below beta, linear above.");
    DETKIT_PARAM(p, beta, "threshold between the quadratic and linear parts (for a plain L1 "
                          "loss use L1Loss)")
        .greater_than(0);
    DETKIT_PARAM(p, reduction, "how the element-wise loss is reduced: none, mean or sum")
        .choices({"none", "mean", "sum"});
    DETKIT_PARAM(p, loss_weight, "factor the reduced loss is multiplied by").min(0);
  }
};

/// Smooth L1 (Huber-like) loss element-wise, with d = |pred - target|:
/// 0.5 * d^2 / beta where d < beta, else d - 0.5 * beta. Shapes and `weight` as L1Loss; an empty
/// target gives pred.sum() * 0.
class SmoothL1LossImpl : public LossBase {
 public:
  using Options = SmoothL1LossOptions;

  explicit SmoothL1LossImpl(const SmoothL1LossOptions& options_ = {}) : options(options_) {
    check_options(options, "SmoothL1Loss");
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

  /// Any tensor against one of its shape.
  LossInput input_form() const override { return LossInput::elementwise; }

  /// The options the loss was built with.
  SmoothL1LossOptions options;
};

TORCH_MODULE(SmoothL1Loss);
DETKIT_REGISTER_MODULE(loss, SmoothL1Loss);

}  // namespace detkit::losses
