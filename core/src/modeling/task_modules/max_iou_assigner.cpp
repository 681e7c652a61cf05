// MaxIoUAssigner: MMDetection 2.x's IoU-threshold assigner (kind `assigner`),
// mmdet/core/bbox/assigners/max_iou_assigner.py.
//
// With overlaps (G, P) of the ground-truth boxes and the priors (the iou_calculator's):
//   0. priors whose largest IoF with an ignored box exceeds ignore_iof_thr (when > 0) get
//      overlap -1 with every ground truth (IoF over the prior when ignore_wrt_candidates, else
//      over the ignored box);
//   1. every prior starts ignored (-1);
//   2. priors whose max overlap is in [0, neg_iou_thr) (or [lo, hi) for a pair) are negative (0);
//   3. priors whose max overlap is >= pos_iou_thr go to their best ground truth;
//   4. with match_low_quality, for each ground truth i in order whose best overlap is
//      >= min_pos_iou, its best prior (all priors tied at that overlap with gt_max_assign_all)
//      is assigned to i, later ground truths overwriting earlier ones.
// No ground truth: every prior negative, max overlap 0. No priors: empty results.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

constexpr const char* kName = "MaxIoUAssigner";

/// `{type: BboxOverlaps2D}`.
ConfigNode default_iou_calculator() {
  ConfigNode cfg = ConfigNode::make_map();
  cfg.set("type", ConfigNode("BboxOverlaps2D"));
  return cfg;
}

/// neg_iou_thr: a number >= 0, or a [lo, hi] pair of them.
ParamSpec neg_iou_thr_spec() {
  ParamSpec pair = param_spec_of<std::vector<double>>();
  pair.length = 2;
  pair.min = 0;
  return pair;
}

std::string shape_text(const torch::Tensor& tensor) {
  if (!tensor.defined()) return "undefined";
  std::string text = "(";
  for (int64_t d = 0; d < tensor.dim(); ++d)
    text += (d ? ", " : "") + std::to_string(tensor.size(d));
  return text + ")";
}

void check_boxes(const torch::Tensor& boxes, const char* name) {
  if (!boxes.defined() || boxes.dim() != 2 || (boxes.size(1) != 4 && boxes.size(1) != 5)) {
    throw Error(std::string(kName) + ": " + name + " must be (N, 4) boxes, got " +
                shape_text(boxes));
  }
}

}  // namespace

/// Options of MaxIoUAssigner; names and defaults as MMDetection 2.x (pos_iou_thr and
/// neg_iou_thr have no default there: they must be set).
struct MaxIoUAssignerOptions {
  TORCH_ARG(std::optional<double>, pos_iou_thr) = std::nullopt;
  TORCH_ARG(ConfigNode, neg_iou_thr) = ConfigNode();
  TORCH_ARG(double, min_pos_iou) = 0.0;
  TORCH_ARG(bool, gt_max_assign_all) = true;
  TORCH_ARG(double, ignore_iof_thr) = -1.0;
  TORCH_ARG(bool, ignore_wrt_candidates) = true;
  TORCH_ARG(bool, match_low_quality) = true;
  TORCH_ARG(int64_t, gpu_assign_thr) = -1;
  TORCH_ARG(ConfigNode, iou_calculator) = default_iou_calculator();

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary(
        "MMDetection 2.x MaxIoUAssigner: positives at IoU >= pos_iou_thr, negatives below "
        "neg_iou_thr, plus each ground truth's best prior (match_low_quality).");
    DETKIT_PARAM(p, pos_iou_thr, "IoU at or above which a prior is positive (required)").min(0);
    ParamSpec number = param_spec_of<double>();
    number.min = 0;
    DETKIT_PARAM(p, neg_iou_thr, "IoU below which a prior is negative, or a [lo, hi) range")
        .or_one_of({number, neg_iou_thr_spec()});
    DETKIT_PARAM(p, min_pos_iou, "least IoU of a low-quality match").min(0);
    DETKIT_PARAM(p, gt_max_assign_all, "low-quality matching assigns every tied best prior");
    DETKIT_PARAM(p, ignore_iof_thr,
                 "IoF with an ignored box above which a prior is ignored "
                 "(<= 0: off)");
    DETKIT_PARAM(p, ignore_wrt_candidates, "IoF over the prior (true) or the ignored box");
    DETKIT_PARAM(p, match_low_quality, "assign each ground truth its best prior(s)");
    DETKIT_PARAM(p, gpu_assign_thr, "more ground truths than this: assign on the CPU (<= 0: off)");
    DETKIT_COMPONENT(p, iou_calculator, iou_calculator, "how overlaps are computed");
  }
};

/// The assigner (see the file comment).
class MaxIoUAssigner : public AssignerBase {
 public:
  using Options = MaxIoUAssignerOptions;
  /// Checks the options and builds the IoU calculator through the registry.
  explicit MaxIoUAssigner(const Options& options_) : options(options_) {
    check_options(options, kName);
    if (!options.pos_iou_thr()) {
      throw InvalidParameter("pos_iou_thr", std::string(kName) + ": pos_iou_thr must be set");
    }
    const ConfigNode& neg = options.neg_iou_thr();
    if (neg.is_null()) {
      throw InvalidParameter("neg_iou_thr", std::string(kName) + ": neg_iou_thr must be set");
    }
    if (neg.is_list()) {
      neg_low_ = neg.items().at(0).as_double();
      neg_high_ = neg.items().at(1).as_double();
      if (neg_low_ > neg_high_) {
        throw InvalidParameter("neg_iou_thr", std::string(kName) + ": neg_iou_thr range [" +
                                                  neg.items()[0].to_flow() + ", " +
                                                  neg.items()[1].to_flow() +
                                                  "] has its low end above its high end");
      }
    } else {
      neg_high_ = neg.as_double();
    }
    iou_calculator_ =
        build<IoUCalculatorBase>(options.iou_calculator(), std::string(kName) + ".iou_calculator");
  }

  AssignResult assign(const torch::Tensor& priors, const torch::Tensor& gt_boxes,
                      const torch::Tensor& gt_labels,
                      const torch::Tensor& gt_ignore = {}) const override {
    // Empty box sets may come as (0,) as well as (0, 4).
    const torch::Tensor anchors =
        priors.defined() && priors.numel() == 0 ? priors.reshape({0, 4}) : priors;
    check_boxes(anchors, "priors");
    const torch::Tensor gts =
        gt_boxes.defined() && gt_boxes.numel() == 0 ? gt_boxes.reshape({0, 4}) : gt_boxes;
    check_boxes(gts, "gt_boxes");
    if (gt_labels.defined() && (gt_labels.dim() != 1 || gt_labels.size(0) != gts.size(0))) {
      throw Error(std::string(kName) + ": gt_labels must be (G,) for G = " +
                  std::to_string(gts.size(0)) + " gt_boxes, got " + shape_text(gt_labels));
    }
    const bool has_ignore = gt_ignore.defined() && gt_ignore.numel() > 0;
    if (has_ignore) check_boxes(gt_ignore, "gt_ignore");
    const torch::Device device = anchors.device();
    const bool on_cpu = options.gpu_assign_thr() > 0 && gts.size(0) > options.gpu_assign_thr();
    const torch::Device work = on_cpu ? torch::Device(torch::kCPU) : device;
    const torch::Tensor boxes = anchors.to(work);
    torch::Tensor overlaps = iou_calculator_->compute(gts.to(work), boxes);
    if (options.ignore_iof_thr() > 0 && has_ignore && boxes.numel() > 0) {
      const torch::Tensor ignore = gt_ignore.to(work);
      const torch::Tensor ignore_max =
          options.ignore_wrt_candidates()
              ? std::get<0>(iou_calculator_->compute(boxes, ignore, "iof").max(1))
              : std::get<0>(iou_calculator_->compute(ignore, boxes, "iof").max(0));
      overlaps.index_put_({torch::indexing::Slice(), ignore_max > options.ignore_iof_thr()}, -1);
    }
    AssignResult result =
        assign_wrt_overlaps(overlaps, gt_labels.defined() ? gt_labels.to(work) : gt_labels);
    if (on_cpu) {
      result.gt_inds = result.gt_inds.to(device);
      result.max_overlaps = result.max_overlaps.to(device);
      result.labels = result.labels.to(device);
    }
    return result;
  }

  /// Steps 1-4 of the file comment on overlaps (G, P); labels are -1 where there is none (and
  /// everywhere when `gt_labels` is undefined).
  AssignResult assign_wrt_overlaps(const torch::Tensor& overlaps,
                                   const torch::Tensor& gt_labels) const {
    const int64_t num_gts = overlaps.size(0);
    const int64_t num_priors = overlaps.size(1);
    const auto long_options = overlaps.options().dtype(torch::kInt64);
    AssignResult result;
    result.num_gts = num_gts;
    result.gt_inds = torch::full({num_priors}, -1, long_options);
    result.labels = torch::full({num_priors}, -1, long_options);
    if (num_gts == 0 || num_priors == 0) {
      result.max_overlaps = torch::zeros({num_priors}, overlaps.options());
      if (num_gts == 0) result.gt_inds.zero_();
      return result;
    }
    auto [max_overlaps, argmax_overlaps] = overlaps.max(0);
    auto [gt_max_overlaps, gt_argmax_overlaps] = overlaps.max(1);
    torch::Tensor& gt_inds = result.gt_inds;
    gt_inds.masked_fill_((max_overlaps >= neg_low_) & (max_overlaps < neg_high_), 0);
    const torch::Tensor positive = max_overlaps >= *options.pos_iou_thr();
    gt_inds = torch::where(positive, argmax_overlaps + 1, gt_inds);
    if (options.match_low_quality()) {
      // matches[i, p]: ground truth i claims prior p. The sequential loop's last claim wins, so
      // each prior takes the largest claiming i.
      const torch::Tensor qualified = (gt_max_overlaps >= options.min_pos_iou()).unsqueeze(1);
      torch::Tensor matches;
      if (options.gt_max_assign_all()) {
        matches = overlaps == gt_max_overlaps.unsqueeze(1);
      } else {
        matches = torch::zeros_like(overlaps, overlaps.options().dtype(torch::kBool))
                      .scatter_(1, gt_argmax_overlaps.unsqueeze(1), true);
      }
      const torch::Tensor gt_numbers = torch::arange(1, num_gts + 1, long_options).unsqueeze(1);
      const torch::Tensor claim = std::get<0>(
          torch::where(matches & qualified, gt_numbers, torch::zeros_like(gt_numbers)).max(0));
      gt_inds = torch::where(claim > 0, claim, gt_inds);
    }
    if (gt_labels.defined()) {
      const torch::Tensor assigned = gt_inds > 0;
      const torch::Tensor label_of =
          gt_labels.to(torch::kInt64).index_select(0, (gt_inds - 1).clamp_min(0));
      result.labels = torch::where(assigned, label_of, result.labels);
    }
    result.max_overlaps = max_overlaps;
    return result;
  }

  Options options;

 private:
  double neg_low_ = 0.0;
  double neg_high_ = 0.0;
  std::shared_ptr<IoUCalculatorBase> iou_calculator_;
};

DETKIT_REGISTER(assigner, MaxIoUAssigner);

}  // namespace detkit
