// DeltaXYWHBBoxCoder: MMDetection 2.x's (dx, dy, dw, dh) box coder (kind `bbox_coder`),
// mmdet/core/bbox/coder/delta_xywh_bbox_coder.py's bbox2delta / delta2bbox.
//
// encode (bbox2delta): with p = prior, g = ground truth, centres px = (x1 + x2) / 2, widths
// pw = x2 - x1 (no +1): dx = (gx - px) / pw, dy = (gy - py) / ph, dw = log(gw / pw),
// dh = log(gh / ph), then (d - target_means) / target_stds.
// decode (delta2bbox): d * target_stds + target_means; dw, dh clamped to +-|log(16 / 1000)|
// (with add_ctr_clamp: dw, dh only from above, and the centre shift pw * dx to +-ctr_clamp);
// centre p + pw * dx, size pw * exp(dw); clipped to [0, W] x [0, H] when clip_border and a
// max_shape (H, W) is given.
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

constexpr const char* kName = "DeltaXYWHBBoxCoder";
/// MMDetection's wh_ratio_clip: predicted sizes stay within 1000/16 of the prior's.
constexpr double kWhRatioClip = 16.0 / 1000.0;

std::string shape_text(const torch::Tensor& tensor) {
  std::string text = "(";
  for (int64_t d = 0; d < tensor.dim(); ++d)
    text += (d ? ", " : "") + std::to_string(tensor.size(d));
  return text + ")";
}

}  // namespace

/// Options of DeltaXYWHBBoxCoder; names and defaults as MMDetection 2.x.
struct DeltaXYWHBBoxCoderOptions {
  TORCH_ARG(std::vector<double>, target_means) = std::vector<double>({0.0, 0.0, 0.0, 0.0});
  TORCH_ARG(std::vector<double>, target_stds) = std::vector<double>({1.0, 1.0, 1.0, 1.0});
  TORCH_ARG(bool, clip_border) = true;
  TORCH_ARG(bool, add_ctr_clamp) = false;
  TORCH_ARG(double, ctr_clamp) = 32;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary("MMDetection 2.x delta (dx, dy, dw, dh) box coder: bbox2delta / delta2bbox.");
    DETKIT_PARAM(p, target_means, "means subtracted from the deltas (dx, dy, dw, dh)").length(4);
    DETKIT_PARAM(p, target_stds, "stds the deltas are divided by").length(4).greater_than(0);
    DETKIT_PARAM(p, clip_border, "clip decoded boxes to max_shape when one is given");
    DETKIT_PARAM(p, add_ctr_clamp, "clamp the decoded centre shift to +-ctr_clamp pixels");
    DETKIT_PARAM(p, ctr_clamp, "the centre-shift bound of add_ctr_clamp, in pixels").min(0);
  }
};

/// The coder (see the file comment).
class DeltaXYWHBBoxCoder : public BBoxCoderBase {
 public:
  using Options = DeltaXYWHBBoxCoderOptions;
  /// Checks the options (InvalidParameter names the offending one).
  explicit DeltaXYWHBBoxCoder(const Options& options_) : options(options_) {
    check_options(options, kName);
  }

  torch::Tensor encode(const torch::Tensor& priors, const torch::Tensor& gt_boxes) const override {
    if (priors.dim() != 2 || priors.size(-1) != 4 || gt_boxes.dim() != 2 ||
        gt_boxes.size(-1) != 4 || priors.size(0) != gt_boxes.size(0)) {
      throw Error(std::string(kName) +
                  ": encode needs priors and gt_boxes of the same (N, 4) "
                  "shape, got priors " +
                  shape_text(priors) + " and gt_boxes " + shape_text(gt_boxes));
    }
    const torch::Tensor p = priors.to(torch::kFloat32);
    const torch::Tensor g = gt_boxes.to(p.device(), torch::kFloat32);
    const torch::Tensor px = (p.select(1, 0) + p.select(1, 2)) * 0.5;
    const torch::Tensor py = (p.select(1, 1) + p.select(1, 3)) * 0.5;
    const torch::Tensor pw = p.select(1, 2) - p.select(1, 0);
    const torch::Tensor ph = p.select(1, 3) - p.select(1, 1);
    const torch::Tensor gx = (g.select(1, 0) + g.select(1, 2)) * 0.5;
    const torch::Tensor gy = (g.select(1, 1) + g.select(1, 3)) * 0.5;
    const torch::Tensor gw = g.select(1, 2) - g.select(1, 0);
    const torch::Tensor gh = g.select(1, 3) - g.select(1, 1);
    const torch::Tensor deltas = torch::stack(
        {(gx - px) / pw, (gy - py) / ph, torch::log(gw / pw), torch::log(gh / ph)}, -1);
    const auto f32 = p.options();
    return (deltas - torch::tensor(options.target_means(), f32).unsqueeze(0)) /
           torch::tensor(options.target_stds(), f32).unsqueeze(0);
  }

  torch::Tensor decode(const torch::Tensor& priors, const torch::Tensor& deltas,
                       std::pair<int64_t, int64_t> max_shape = {0, 0}) const override {
    if (priors.dim() != 2 || priors.size(-1) != 4 || deltas.dim() != 2 ||
        deltas.size(-1) % 4 != 0 || deltas.size(-1) == 0 || deltas.size(0) != priors.size(0)) {
      throw Error(std::string(kName) +
                  ": decode needs priors (N, 4) and deltas (N, 4 * k) "
                  "with the same N, got priors " +
                  shape_text(priors) + " and deltas " + shape_text(deltas));
    }
    if (max_shape.first < 0 || max_shape.second < 0) {
      throw Error(std::string(kName) + ": decode's max_shape (H, W) must not be negative, got (" +
                  std::to_string(max_shape.first) + ", " + std::to_string(max_shape.second) + ")");
    }
    const int64_t num_boxes = deltas.size(0);
    if (num_boxes == 0) return deltas;
    const int64_t per_box = deltas.size(1) / 4;
    const torch::Tensor flat = deltas.reshape({-1, 4});
    const auto options_like = flat.options();
    const torch::Tensor denorm =
        flat * torch::tensor(options.target_stds(), options_like).view({1, -1}) +
        torch::tensor(options.target_means(), options_like).view({1, -1});
    torch::Tensor dxy = denorm.slice(1, 0, 2);
    torch::Tensor dwh = denorm.slice(1, 2, 4);
    const torch::Tensor rois =
        priors.to(flat.device(), flat.scalar_type()).repeat({1, per_box}).reshape({-1, 4});
    const torch::Tensor pxy = (rois.slice(1, 0, 2) + rois.slice(1, 2, 4)) * 0.5;
    const torch::Tensor pwh = rois.slice(1, 2, 4) - rois.slice(1, 0, 2);
    torch::Tensor dxy_wh = pwh * dxy;
    const double max_ratio = std::abs(std::log(kWhRatioClip));
    if (options.add_ctr_clamp()) {
      dxy_wh = torch::clamp(dxy_wh, -options.ctr_clamp(), options.ctr_clamp());
      dwh = torch::clamp_max(dwh, max_ratio);
    } else {
      dwh = torch::clamp(dwh, -max_ratio, max_ratio);
    }
    const torch::Tensor gxy = pxy + dxy_wh;
    const torch::Tensor gwh = pwh * dwh.exp();
    torch::Tensor boxes = torch::cat({gxy - gwh * 0.5, gxy + gwh * 0.5}, -1);
    const bool has_shape = max_shape.first > 0 || max_shape.second > 0;
    if (options.clip_border() && has_shape) {
      const double height = static_cast<double>(max_shape.first);
      const double width = static_cast<double>(max_shape.second);
      boxes =
          torch::stack({boxes.select(1, 0).clamp(0, width), boxes.select(1, 1).clamp(0, height),
                        boxes.select(1, 2).clamp(0, width), boxes.select(1, 3).clamp(0, height)},
                       1);
    }
    return boxes.reshape({num_boxes, -1});
  }

  Options options;
};

DETKIT_REGISTER(bbox_coder, DeltaXYWHBBoxCoder);

}  // namespace detkit
