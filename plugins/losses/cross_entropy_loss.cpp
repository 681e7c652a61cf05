// CrossEntropyLoss: MMDetection 2.25's softmax and sigmoid cross-entropy
// (mmdet/models/losses/cross_entropy_loss.py: cross_entropy, binary_cross_entropy).
#include <torch/torch.h>

#include <vector>

#include "detkit/registry.h"
#include "loss_utils.h"

namespace detkit::losses {

namespace F = torch::nn::functional;

/// Options of CrossEntropyLoss; names and defaults as MMDetection's CrossEntropyLoss (without
/// `use_mask`, see README.md).
struct CrossEntropyLossOptions {
  /// Per-class sigmoid + binary cross-entropy instead of softmax cross-entropy.
  TORCH_ARG(bool, use_sigmoid) = false;
  /// Reduction of the element-wise loss (a call may override it).
  TORCH_ARG(Reduction, reduction) = Reduction::mean;
  /// Weight of each class (softmax: F.cross_entropy's weight; sigmoid: BCE's pos_weight).
  TORCH_ARG(std::optional<std::vector<double>>, class_weight) = std::nullopt;
  /// Label excluded from the loss; nullopt means -100 (F.cross_entropy's default).
  TORCH_ARG(std::optional<int64_t>, ignore_index) = std::nullopt;
  /// Factor the reduced loss is multiplied by.
  TORCH_ARG(double, loss_weight) = 1.0;
  /// With reduction 'mean' and no avg_factor, average over the non-ignored elements only.
  TORCH_ARG(bool, avg_non_ignore) = false;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Softmax or sigmoid cross-entropy (MMDetection CrossEntropyLoss).");
    DETKIT_PARAM(p, use_sigmoid, "per-class sigmoid + binary cross-entropy, not softmax");
    DETKIT_PARAM(p, reduction, "how the element-wise loss is reduced: none, mean or sum")
        .choices({"none", "mean", "sum"});
    DETKIT_PARAM(p, class_weight,
                 "weight of each class (softmax: class weight; sigmoid: BCE pos_weight); null = "
                 "none")
        .min(0);
    DETKIT_PARAM(p, ignore_index, "label excluded from the loss; null means -100");
    DETKIT_PARAM(p, loss_weight, "factor the reduced loss is multiplied by").min(0);
    DETKIT_PARAM(p, avg_non_ignore,
                 "mean reduction averages over non-ignored labels only (as F.cross_entropy)");
  }
};

/// Cross-entropy on class scores `pred` of shape (N, C).
///
/// Softmax (use_sigmoid false): `target` holds class indices (N,) in [0, C) or ignore_index;
/// `weight` is per sample. The mean divides by N (ignored samples included), not by the summed
/// class weights, exactly as MMDetection; avg_non_ignore divides by the non-ignored count.
/// Sigmoid (use_sigmoid true): `target` is either labels (N,) — expanded to one-hot (N, C),
/// where labels < 0, == ignore_index or >= C give an all-zero row and ignored / negative labels
/// get weight 0 — or a tensor of pred's shape (masked where < 0 or == ignore_index).
class CrossEntropyLossImpl : public LossBase {
 public:
  using Options = CrossEntropyLossOptions;

  explicit CrossEntropyLossImpl(const CrossEntropyLossOptions& options_ = {}) : options(options_) {
    check_options(options, "CrossEntropyLoss");
  }


  /// The cross-entropy of `pred` against `target` (see the class comment), reduced and
  /// multiplied by loss_weight.
  torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                        const torch::Tensor& weight = {},
                        std::optional<double> avg_factor = std::nullopt,
                        std::optional<Reduction> reduction_override = std::nullopt) override {
    const Reduction reduction = effective_reduction(options.reduction(), reduction_override);
    const torch::Tensor loss =
        options.use_sigmoid() ? binary_cross_entropy(pred, target, weight, reduction, avg_factor)
                              : cross_entropy(pred, target, weight, reduction, avg_factor);
    return loss * options.loss_weight();
  }

  /// Class scores with labels: sigmoid ([0, C], C: background) or softmax ([0, C)).
  LossInput input_form() const override {
    return options.use_sigmoid() ? LossInput::sigmoid_scores : LossInput::softmax_scores;
  }

  /// The options the loss was built with.
  CrossEntropyLossOptions options;

 private:
  /// The type name, for messages.
  static constexpr const char* kName = "CrossEntropyLoss";

  /// The label to ignore (-100 when not configured).
  int64_t ignore_index() const { return options.ignore_index().value_or(-100); }

  /// class_weight as a tensor like `pred` (undefined when not set); its length must be
  /// `num_classes` (or 1 when `allow_one`, which broadcasts).
  torch::Tensor class_weight_tensor(const torch::Tensor& pred, int64_t num_classes,
                                    bool allow_one) const {
    if (!options.class_weight()) return {};
    const auto& values = *options.class_weight();
    const auto n = static_cast<int64_t>(values.size());
    check_input(n == num_classes || (allow_one && n == 1), kName,
                "class_weight has " + std::to_string(n) + " values but pred has " +
                    std::to_string(num_classes) + " classes");
    return torch::tensor(values, torch::kDouble).to(pred.options().requires_grad(false));
  }

  /// MMDetection's cross_entropy.
  torch::Tensor cross_entropy(const torch::Tensor& pred, const torch::Tensor& target,
                              const torch::Tensor& weight, Reduction reduction,
                              std::optional<double> avg_factor) const {
    check_input(pred.dim() >= 2, kName,
                "softmax cross-entropy expects pred of shape (N, C), got " + shape_text(pred));
    std::vector<int64_t> label_shape = pred.sizes().vec();
    label_shape.erase(label_shape.begin() + 1);
    check_input(target.sizes() == label_shape && !target.is_floating_point() &&
                    !target.is_complex() && target.scalar_type() != torch::kBool,
                kName,
                "softmax cross-entropy expects integer class labels of shape " +
                    shape_text(label_shape) + ", got " +
                    std::string(c10::toString(target.scalar_type())) + " " + shape_text(target));
    const int64_t num_classes = pred.size(1);
    const int64_t ignore = ignore_index();
    const torch::Tensor labels = target.to(torch::kLong);
    const torch::Tensor bad = ((labels < 0) | (labels >= num_classes)) & (labels != ignore);
    if (bad.any().item<bool>()) {
      const int64_t example = labels.masked_select(bad)[0].item<int64_t>();
      check_input(false, kName,
                  "label " + std::to_string(example) + " is outside [0, " +
                      std::to_string(num_classes) + ") and is not ignore_index (" +
                      std::to_string(ignore) + ")");
    }
    const torch::Tensor loss =
        F::cross_entropy(pred, labels,
                         F::CrossEntropyFuncOptions()
                             .weight(class_weight_tensor(pred, num_classes,
                                                         /*allow_one=*/false))
                             .reduction(torch::kNone)
                             .ignore_index(ignore));
    if (!avg_factor && options.avg_non_ignore() && reduction == Reduction::mean) {
      avg_factor = static_cast<double>(labels.numel() - (labels == ignore).sum().item<int64_t>());
    }
    const torch::Tensor w = floating_weight(weight);
    check_weight_broadcasts(kName, w, loss);
    return weight_reduce_loss(loss, w, reduction, avg_factor);
  }

  /// MMDetection's binary_cross_entropy (with _expand_onehot_labels).
  torch::Tensor binary_cross_entropy(const torch::Tensor& pred, const torch::Tensor& target,
                                     const torch::Tensor& weight, Reduction reduction,
                                     std::optional<double> avg_factor) const {
    const int64_t ignore = ignore_index();
    torch::Tensor label, valid_mask, w = floating_weight(weight);
    if (pred.dim() != target.dim()) {
      check_input(pred.dim() == 2 && target.dim() == 1 && target.size(0) == pred.size(0), kName,
                  "expected pred (N, C) with labels (N,) or a target of pred's shape, got pred " +
                      shape_text(pred) + " and target " + shape_text(target));
      check_input(!target.is_floating_point() && !target.is_complex() &&
                      target.scalar_type() != torch::kBool,
                  kName, "class labels of shape (N,) must be an integer tensor");
      const int64_t n = pred.size(0), channels = pred.size(1);
      const torch::Tensor labels = target.to(torch::kLong);
      const torch::Tensor valid = (labels >= 0) & (labels != ignore);
      label = torch::zeros({n, channels}, pred.options().requires_grad(false));
      const torch::Tensor inds = torch::nonzero(valid & (labels < channels)).reshape({-1});
      if (inds.numel() > 0) label.index_put_({inds, labels.index({inds})}, 1);
      valid_mask = valid.reshape({n, 1}).expand({n, channels}).to(pred.dtype());
      if (w.defined()) {
        check_input(w.numel() == n, kName,
                    "with labels of shape (N,), weight must have N = " + std::to_string(n) +
                        " values, got " + shape_text(w));
        w = w.reshape({n, 1}).repeat({1, channels}) * valid_mask;
      } else {
        w = valid_mask;
      }
    } else {
      check_same_shape(kName, pred, target);
      valid_mask = ((target >= 0) & (target != ignore)).to(pred.dtype());
      check_weight_broadcasts(kName, w, valid_mask);
      w = w.defined() ? w * valid_mask : valid_mask;
      label = target.to(pred.dtype());
    }
    if (!avg_factor && options.avg_non_ignore() && reduction == Reduction::mean) {
      avg_factor = valid_mask.sum().item<double>();
    }
    const int64_t channels = pred.dim() > 0 ? pred.size(-1) : 1;
    const torch::Tensor loss = F::binary_cross_entropy_with_logits(
        pred, label,
        F::BinaryCrossEntropyWithLogitsFuncOptions()
            .pos_weight(class_weight_tensor(pred, channels, /*allow_one=*/true))
            .reduction(torch::kNone));
    return weight_reduce_loss(loss, w, reduction, avg_factor);
  }
};

TORCH_MODULE(CrossEntropyLoss);
DETKIT_REGISTER_MODULE(loss, CrossEntropyLoss);

}  // namespace detkit::losses
