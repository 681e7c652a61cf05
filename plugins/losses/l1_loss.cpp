// L1Loss: MMDetection 2.25's L1 loss (mmdet/models/losses/smooth_l1_loss.py: l1_loss).
#include <torch/torch.h>

#include "detkit/registry.h"
#include "loss_utils.h"

namespace detkit::losses {

/// Options of L1Loss; names and defaults as MMDetection's L1Loss.
struct L1LossOptions {
  /// Reduction of the element-wise loss (a call may override it).
  TORCH_ARG(Reduction, reduction) = Reduction::mean;
  /// Factor the reduced loss is multiplied by.
  TORCH_ARG(double, loss_weight) = 1.0;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("L1 loss |pred - target| (MMDetection L1Loss).");
    DETKIT_PARAM(p, reduction, "how the element-wise loss is reduced: none, mean or sum")
        .choices({"none", "mean", "sum"});
    DETKIT_PARAM(p, loss_weight, "factor the reduced loss is multiplied by").min(0);
  }
};

/// |pred - target| element-wise (pred and target of equal shape, usually (N, 4)); `weight`
/// multiplies element-wise (broadcasting). An empty target gives pred.sum() * 0.
class L1LossImpl : public LossBase {
 public:
  using Options = L1LossOptions;

  explicit L1LossImpl(const L1LossOptions& options_ = {}) : options(options_) {
    check_options(options, "L1Loss");
  }


  /// The L1 loss of `pred` against `target`, reduced and multiplied by loss_weight.
  torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                        const torch::Tensor& weight = {},
                        std::optional<double> avg_factor = std::nullopt,
                        std::optional<Reduction> reduction_override = std::nullopt) override {
    const Reduction reduction = effective_reduction(options.reduction(), reduction_override);
    return weighted_elementwise_loss(
               "L1Loss", pred, target, weight, reduction, avg_factor,
               [](const torch::Tensor& p, const torch::Tensor& t) { return (p - t).abs(); }) *
           options.loss_weight();
  }

  /// Any tensor against one of its shape.
  LossInput input_form() const override { return LossInput::elementwise; }

  /// The options the loss was built with.
  L1LossOptions options;
};

TORCH_MODULE(L1Loss);
DETKIT_REGISTER_MODULE(loss, L1Loss);

}  // namespace detkit::losses
