// FocalLoss: MMDetection 2.25's sigmoid focal loss (mmdet/models/losses/focal_loss.py).
#include <torch/torch.h>

#include "detkit/registry.h"
#include "focal_loss_kernel.h"
#include "loss_utils.h"

namespace detkit::losses {

namespace F = torch::nn::functional;

/// Options of FocalLoss; names and defaults as MMDetection's FocalLoss.
struct FocalLossOptions {
  /// Must be true: only the sigmoid focal loss exists (as in MMDetection).
  TORCH_ARG(bool, use_sigmoid) = true;
  /// Focusing parameter: easy examples are down-weighted by (1 - p_t)^gamma.
  TORCH_ARG(double, gamma) = 2.0;
  /// Weight of positives; negatives get 1 - alpha.
  TORCH_ARG(double, alpha) = 0.25;
  /// Reduction of the element-wise loss (a call may override it).
  TORCH_ARG(Reduction, reduction) = Reduction::mean;
  /// Factor the reduced loss is multiplied by.
  TORCH_ARG(double, loss_weight) = 1.0;
  /// Whether pred already holds probabilities (no sigmoid is applied).
  TORCH_ARG(bool, activated) = false;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Sigmoid focal loss (MMDetection FocalLoss) on (N, num_classes) class scores.");
    DETKIT_PARAM(p, use_sigmoid, "must be true: only the sigmoid focal loss exists");
    DETKIT_PARAM(p, gamma, "focusing parameter: weight (1 - p_t)^gamma").min(0);
    DETKIT_PARAM(p, alpha, "weight of positives (negatives get 1 - alpha)").range(0, 1);
    DETKIT_PARAM(p, reduction, "how the element-wise loss is reduced: none, mean or sum")
        .choices({"none", "mean", "sum"});
    DETKIT_PARAM(p, loss_weight, "factor the reduced loss is multiplied by").min(0);
    DETKIT_PARAM(p, activated, "pred holds probabilities already (no sigmoid applied)");
  }
};

/// Sigmoid focal loss (Lin et al., 2017) on class scores of shape (N, num_classes).
///
/// `target` is either class indices of shape (N,) (integer; index == num_classes is background,
/// i.e. an all-zero one-hot row) or a tensor of pred's shape (one-hot or soft targets). `weight`
/// is per sample (N,), per element (N, num_classes), or per element flattened (N * num_classes,).
class FocalLossImpl : public LossBase {
 public:
  using Options = FocalLossOptions;

  explicit FocalLossImpl(const FocalLossOptions& options_ = {}) : options(options_) {
    check_options(options, "FocalLoss");
    if (!options.use_sigmoid()) {
      throw InvalidParameter("use_sigmoid",
                             "only the sigmoid focal loss is supported (as in MMDetection): "
                             "use_sigmoid must be true");
    }
  }

  /// The focal loss of `pred` against `target` (see the class comment), reduced and multiplied
  /// by loss_weight.
  torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                        const torch::Tensor& weight = {},
                        std::optional<double> avg_factor = std::nullopt,
                        std::optional<Reduction> reduction_override = std::nullopt) override {
    const Reduction reduction = effective_reduction(options.reduction(), reduction_override);
    // Logits go through the fused kernel (focal_loss_kernel.h). The tensor ops below are its
    // reference formula; they compute probabilities (activated) and report bad inputs.
    std::optional<torch::Tensor> fused;
    if (!options.activated()) {
      fused = fused_sigmoid_focal_loss(pred, target, options.gamma(), options.alpha());
    }
    torch::Tensor loss;
    if (fused) {
      loss = *fused;
    } else {
      const torch::Tensor t = target_like(pred, target);
      // MMDetection's py_sigmoid_focal_loss / py_focal_loss_with_prob.
      const torch::Tensor p = options.activated() ? pred : pred.sigmoid();
      const torch::Tensor pt = (1 - p) * t + p * (1 - t);
      const double alpha = options.alpha();
      const torch::Tensor focal_weight =
          (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(options.gamma());
      const auto none = F::BinaryCrossEntropyFuncOptions().reduction(torch::kNone);
      const torch::Tensor bce =
          options.activated()
              ? F::binary_cross_entropy(pred, t, none)
              : F::binary_cross_entropy_with_logits(
                    pred, t, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
      loss = bce * focal_weight;
    }
    return weight_reduce_loss(loss, weight_like(weight, loss), reduction, avg_factor) *
           options.loss_weight();
  }

  /// Class scores (N, C) with labels in [0, C] (C: background) or targets of their shape.
  LossInput input_form() const override { return LossInput::sigmoid_scores; }

  /// The options the loss was built with.
  FocalLossOptions options;

 private:
  /// The target as a tensor of pred's shape and dtype: labels become MMDetection's
  /// one_hot(target, num_classes + 1)[:, :num_classes]; same-shape targets are cast.
  static torch::Tensor target_like(const torch::Tensor& pred, const torch::Tensor& target) {
    if (target.dim() == pred.dim()) {
      check_same_shape("FocalLoss", pred, target);
      return target.to(pred.dtype());
    }
    check_input(pred.dim() == 2 && target.dim() == 1 && target.size(0) == pred.size(0), "FocalLoss",
                "expected pred (N, num_classes) with labels (N,) or a target of pred's shape, got "
                "pred " +
                    shape_text(pred) + " and target " + shape_text(target));
    check_input(
        !target.is_floating_point() && !target.is_complex() && target.scalar_type() != torch::kBool,
        "FocalLoss", "class labels of shape (N,) must be an integer tensor");
    const int64_t num_classes = pred.size(1);
    if (target.numel() > 0) {
      const int64_t low = target.min().item<int64_t>(), high = target.max().item<int64_t>();
      check_input(low >= 0 && high <= num_classes, "FocalLoss",
                  "class labels must be in [0, num_classes] = [0, " + std::to_string(num_classes) +
                      "] (num_classes means background), got labels in [" + std::to_string(low) +
                      ", " + std::to_string(high) + "]");
    }
    return F::one_hot(target.to(torch::kLong), num_classes + 1)
        .slice(1, 0, num_classes)
        .to(pred.dtype());
  }

  /// `weight` shaped like MMDetection's sigmoid_focal_loss does: (N,) -> (N, 1); a flat weight
  /// with one value per element -> the loss's shape.
  static torch::Tensor weight_like(const torch::Tensor& weight, const torch::Tensor& loss) {
    torch::Tensor w = floating_weight(weight);
    if (!w.defined() || w.sizes() == loss.sizes()) return w;
    if (loss.dim() == 2 && w.dim() >= 1 && w.size(0) == loss.size(0) && w.numel() == loss.size(0)) {
      return w.reshape({loss.size(0), 1});
    }
    check_input(w.numel() == loss.numel(), "FocalLoss",
                "weight of shape " + shape_text(w) + " matches neither the samples (" +
                    std::to_string(loss.dim() > 0 ? loss.size(0) : 0) +
                    ") nor the elements of the loss " + shape_text(loss));
    return w.reshape(loss.sizes());
  }
};

TORCH_MODULE(FocalLoss);
DETKIT_REGISTER_MODULE(loss, FocalLoss);

}  // namespace detkit::losses
