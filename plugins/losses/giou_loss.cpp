// GIoULoss: MMDetection 2.25's generalized IoU loss (mmdet/models/losses/iou_loss.py) with
// mmdet.core.bbox_overlaps(mode='giou', is_aligned=True).
#include <torch/torch.h>

#include "detkit/registry.h"
#include "loss_utils.h"

namespace detkit::losses {

/// Options of GIoULoss; names and defaults as MMDetection's GIoULoss.
struct GIoULossOptions {
  /// Lower bound of the union and the enclosing area (avoids division by zero).
  TORCH_ARG(double, eps) = 1e-6;
  /// Reduction of the element-wise loss (a call may override it).
  TORCH_ARG(Reduction, reduction) = Reduction::mean;
  /// Factor the reduced loss is multiplied by.
  TORCH_ARG(double, loss_weight) = 1.0;

 public:
  /// The parameters, declared once (params.h).
  template <class P>
  void declare(P& p) {
    p.summary("Generalized IoU loss 1 - GIoU (MMDetection GIoULoss) on aligned (N, 4) boxes.");
    DETKIT_PARAM(p, eps, "lower bound of the union and enclosing areas").min(0);
    DETKIT_PARAM(p, reduction, "how the element-wise loss is reduced: none, mean or sum")
        .choices({"none", "mean", "sum"});
    DETKIT_PARAM(p, loss_weight, "factor the reduced loss is multiplied by").min(0);
  }
};

namespace {

/// The generalized IoU of boxes `a` and `b` (x1, y1, x2, y2 in the last dimension, equal
/// shapes), pair by pair: MMDetection's bbox_overlaps(a, b, mode='giou', is_aligned=True, eps).
torch::Tensor aligned_giou(const torch::Tensor& a, const torch::Tensor& b, double eps) {
  using torch::indexing::Ellipsis;
  using torch::indexing::Slice;
  const auto area = [](const torch::Tensor& box) {
    return (box.index({Ellipsis, 2}) - box.index({Ellipsis, 0})) *
           (box.index({Ellipsis, 3}) - box.index({Ellipsis, 1}));
  };
  const torch::Tensor a_lt = a.index({Ellipsis, Slice(0, 2)}), a_rb = a.index({Ellipsis, Slice(2)});
  const torch::Tensor b_lt = b.index({Ellipsis, Slice(0, 2)}), b_rb = b.index({Ellipsis, Slice(2)});
  const torch::Tensor wh = (torch::min(a_rb, b_rb) - torch::max(a_lt, b_lt)).clamp_min(0);
  const torch::Tensor overlap = wh.index({Ellipsis, 0}) * wh.index({Ellipsis, 1});
  const torch::Tensor eps_t = torch::full({1}, eps, overlap.options().requires_grad(false));
  const torch::Tensor union_area = torch::max(area(a) + area(b) - overlap, eps_t);
  const torch::Tensor ious = overlap / union_area;
  const torch::Tensor enclose_wh = (torch::max(a_rb, b_rb) - torch::min(a_lt, b_lt)).clamp_min(0);
  const torch::Tensor enclose_area =
      torch::max(enclose_wh.index({Ellipsis, 0}) * enclose_wh.index({Ellipsis, 1}), eps_t);
  return ious - (enclose_area - union_area) / enclose_area;
}

}  // namespace

/// 1 - GIoU(pred, target) per box pair; pred and target are (N, 4) boxes (x1, y1, x2, y2).
/// `weight` is per box (N,) or per coordinate (N, 4), then averaged over the coordinates; an
/// all-zero (or empty) weight returns (pred * weight).sum(), a zero connected to pred.
class GIoULossImpl : public LossBase {
 public:
  using Options = GIoULossOptions;

  explicit GIoULossImpl(const GIoULossOptions& options_ = {}) : options(options_) {
    check_options(options, kName);
  }


  /// The GIoU loss of `pred` against `target` (see the class comment), reduced and multiplied
  /// by loss_weight.
  torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                        const torch::Tensor& weight = {},
                        std::optional<double> avg_factor = std::nullopt,
                        std::optional<Reduction> reduction_override = std::nullopt) override {
    check_input(pred.dim() >= 1 && pred.size(-1) == 4, kName,
                "pred must hold boxes (..., 4), got " + shape_text(pred));
    check_same_shape(kName, pred, target);
    torch::Tensor w = floating_weight(weight);
    if (w.defined() && !(w > 0).any().item<bool>()) {
      // MMDetection's shortcut: no positive weight, a zero that still depends on pred.
      if (pred.dim() == w.dim() + 1) w = w.unsqueeze(1);
      check_weight_broadcasts(kName, w, pred);
      return (pred * w).sum();
    }
    const Reduction reduction = effective_reduction(options.reduction(), reduction_override);
    if (w.defined() && w.dim() > 1) {
      check_input(w.sizes() == pred.sizes(), kName,
                  "a weight with more than one dimension must have pred's shape " +
                      shape_text(pred) + ", got " + shape_text(w));
      w = w.mean(-1);
    }
    const torch::Tensor loss = 1 - aligned_giou(pred, target, options.eps());
    check_weight_broadcasts(kName, w, loss);
    return weight_reduce_loss(loss, w, reduction, avg_factor) * options.loss_weight();
  }

  /// Boxes (N, 4) against boxes.
  LossInput input_form() const override { return LossInput::boxes; }

  /// The options the loss was built with.
  GIoULossOptions options;

 private:
  /// The type name, for messages.
  static constexpr const char* kName = "GIoULoss";
};

TORCH_MODULE(GIoULoss);
DETKIT_REGISTER_MODULE(loss, GIoULoss);

}  // namespace detkit::losses
