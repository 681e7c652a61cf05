// TemplateL2Loss: a weighted mean-squared-error loss, the template's example loss (kind `loss`,
// registered as `TemplateL2Loss`), with MMDetection's loss call and reduction semantics.
//
//   model:
//     bbox_head:
//       loss_bbox: {type: TemplateL2Loss, loss_weight: 2.0}
//
// loss = loss_weight * reduce(weight * (pred - target)^2), where reduce() is detkit's
// weight_reduce_loss (none / sum / mean, mean over `avg_factor` when given).
#include <detkit/error.h>
#include <detkit/modeling/loss.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/torch.h>

#include <optional>

namespace mobilenet_plugin {

/// Options of TemplateL2Loss; names and defaults as MMDetection's MSELoss.
struct TemplateL2LossOptions {
  /// How the element-wise loss is reduced (a call may override it).
  TORCH_ARG(detkit::Reduction, reduction) = detkit::Reduction::mean;
  /// Factor the reduced loss is multiplied by.
  TORCH_ARG(double, loss_weight) = 1.0;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary("Weighted mean squared error (pred - target)^2 (MMDetection MSELoss).");
    DETKIT_PARAM(p, reduction, "how the element-wise loss is reduced: none, mean or sum")
        .choices({"none", "mean", "sum"});
    DETKIT_PARAM(p, loss_weight, "factor the reduced loss is multiplied by").min(0);
  }
};

/// (pred - target)^2 on tensors of one shape; `weight` (optional) multiplies element-wise and
/// must broadcast to that shape. Built by the registry from its options alone (no factory
/// function: a loss has no build context).
class TemplateL2LossImpl : public detkit::LossBase {
 public:
  /// The declared options (the registry reads them from the config and calls the constructor).
  using Options = TemplateL2LossOptions;

  /// Checks the options against their declaration (InvalidParameter on a violation).
  explicit TemplateL2LossImpl(const TemplateL2LossOptions& options_ = {}) : options(options_) {
    detkit::check_options(options, "TemplateL2Loss");
  }

  /// The loss of `pred` against `target`, reduced and multiplied by loss_weight.
  torch::Tensor forward(
      const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& weight = {},
      std::optional<double> avg_factor = std::nullopt,
      std::optional<detkit::Reduction> reduction_override = std::nullopt) override {
    if (pred.sizes() != target.sizes()) {
      throw detkit::Error("TemplateL2Loss: pred and target must have the same shape, got " +
                          c10::str(pred.sizes()) + " and " + c10::str(target.sizes()));
    }
    const torch::Tensor loss = (pred - target.to(pred.dtype())).pow(2);
    const torch::Tensor w = weight.defined() ? weight.to(pred.dtype()) : weight;
    return detkit::weight_reduce_loss(loss, w, reduction_override.value_or(options.reduction()),
                                      avg_factor) *
           options.loss_weight();
  }

  /// pred and target of any one shape.
  detkit::LossInput input_form() const override { return detkit::LossInput::elementwise; }

  /// "mobilenet_plugin::TemplateL2Loss(reduction='mean', loss_weight=1.0)".
  void pretty_print(std::ostream& stream) const override {
    stream << detkit::repr_of("mobilenet_plugin::TemplateL2Loss", options);
  }

  /// The options the loss was built with.
  TemplateL2LossOptions options;
};
/// A ModuleHolder (shared pointer) of TemplateL2LossImpl.
TORCH_MODULE(TemplateL2Loss);

DETKIT_REGISTER_MODULE(loss, TemplateL2Loss);

}  // namespace mobilenet_plugin
