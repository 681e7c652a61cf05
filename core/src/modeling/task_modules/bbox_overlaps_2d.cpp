// BboxOverlaps2D: MMDetection 2.x's 2D IoU calculator (kind `iou_calculator`), over
// detkit::ops::bbox_overlaps (mmdet/core/bbox/iou_calculators/iou2d_calculator.py).
#include <torch/torch.h>

#include <optional>
#include <string>

#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/ops/box_iou.h"
#include "detkit/params.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

constexpr const char* kName = "BboxOverlaps2D";

/// The (..., 4) boxes of (..., 4) or (..., 5) (box + score) rows, as MMDetection accepts them.
torch::Tensor box_columns(const torch::Tensor& boxes, const char* name) {
  const int64_t columns = boxes.dim() == 0 ? -1 : boxes.size(-1);
  if (columns != 0 && columns != 4 && columns != 5) {
    throw Error(std::string(kName) + ": " + name +
                " must be (..., 4) boxes or (..., 5) boxes with scores, got " +
                std::to_string(boxes.dim()) + " dims and last dim " + std::to_string(columns));
  }
  return columns == 5 ? boxes.narrow(-1, 0, 4) : boxes;
}

}  // namespace

/// Options of BboxOverlaps2D; names and defaults as MMDetection 2.x.
struct BboxOverlaps2DOptions {
  TORCH_ARG(double, scale) = 1.0;
  TORCH_ARG(std::optional<std::string>, dtype) = std::nullopt;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary(
        "MMDetection 2.x 2D IoU calculator: iou / iof / giou of two box sets, pairwise or "
        "aligned; boxes with a 5th (score) column are accepted.");
    DETKIT_PARAM(p, scale, "boxes are divided by this before an fp16 computation").greater_than(0);
    DETKIT_PARAM(p, dtype, "fp16: compute in half precision (saves memory); null: as given")
        .choices({"fp16"});
  }
};

/// The IoU calculator (see the file comment). In fp16 mode the boxes are divided by `scale` and
/// cast to half; off the GPU they are then computed in float32 (MMDetection returns float32
/// there too).
class BboxOverlaps2D : public IoUCalculatorBase {
 public:
  using Options = BboxOverlaps2DOptions;
  /// Checks the options (InvalidParameter names the offending one).
  explicit BboxOverlaps2D(const Options& options_) : options(options_) {
    check_options(options, kName);
  }

  torch::Tensor compute(const torch::Tensor& boxes1, const torch::Tensor& boxes2,
                        const std::string& mode = "iou", bool is_aligned = false) const override {
    const ops::OverlapMode overlap_mode = ops::overlap_mode_from_string(mode);
    torch::Tensor first = box_columns(boxes1, "boxes1");
    torch::Tensor second = box_columns(boxes2, "boxes2");
    if (options.dtype() == std::string("fp16")) {
      first = (first / options.scale()).to(torch::kHalf);
      second = (second / options.scale()).to(torch::kHalf);
      if (!first.is_cuda()) {
        // LibTorch's CPU kernels lack half clamp: the half-rounded boxes are computed in
        // float32, which is what MMDetection returns off the GPU.
        first = first.to(torch::kFloat32);
        second = second.to(torch::kFloat32);
      }
    }
    return ops::bbox_overlaps(first, second, overlap_mode, is_aligned);
  }

  Options options;
};

DETKIT_REGISTER(iou_calculator, BboxOverlaps2D);

}  // namespace detkit
