// Box overlaps: torchvision's box_iou / generalized_box_iou and MMDetection's bbox_overlaps.
// Pure tensor arithmetic, so every device and floating dtype works and autograd flows through.
#include "detkit/ops/box_iou.h"

#include <torch/torch.h>

#include "detkit/error.h"

namespace detkit::ops {
namespace {

using torch::indexing::Ellipsis;
using torch::indexing::Slice;

/// Integer boxes become float32 and half / bfloat16 ones float32 (torchvision's _upcast keeps
/// float32 and float64 as they are); the device never changes.
torch::Tensor upcast(const torch::Tensor& boxes) {
  const auto dtype = boxes.scalar_type();
  if (dtype == torch::kFloat32 || dtype == torch::kFloat64) return boxes;
  return boxes.to(torch::kFloat32);
}

/// Checks that `boxes` is (N, 4) for the torchvision-style functions.
void check_boxes_2d(const torch::Tensor& boxes, const char* function, const char* name) {
  if (!boxes.defined() || boxes.dim() != 2 || boxes.size(1) != 4) {
    throw Error(std::string(function) + ": " + name + " must be an (N, 4) xyxy tensor, got " +
                (boxes.defined() ? "shape " + c10::str(boxes.sizes()) : "an undefined tensor"));
  }
}

/// (..., ) areas of (..., 4) xyxy boxes.
torch::Tensor areas(const torch::Tensor& boxes) {
  return (boxes.select(-1, 2) - boxes.select(-1, 0)) * (boxes.select(-1, 3) - boxes.select(-1, 1));
}

/// Area of the intersection of two broadcastable (..., 4) box tensors (0 when disjoint).
torch::Tensor intersection(const torch::Tensor& a, const torch::Tensor& b) {
  const auto lt = torch::max(a.index({Ellipsis, Slice(0, 2)}), b.index({Ellipsis, Slice(0, 2)}));
  const auto rb = torch::min(a.index({Ellipsis, Slice(2, 4)}), b.index({Ellipsis, Slice(2, 4)}));
  const auto wh = (rb - lt).clamp_min(0);
  return wh.select(-1, 0) * wh.select(-1, 1);
}

/// Area of the smallest box enclosing both of two broadcastable (..., 4) box tensors.
torch::Tensor enclosing_area(const torch::Tensor& a, const torch::Tensor& b) {
  const auto lt = torch::min(a.index({Ellipsis, Slice(0, 2)}), b.index({Ellipsis, Slice(0, 2)}));
  const auto rb = torch::max(a.index({Ellipsis, Slice(2, 4)}), b.index({Ellipsis, Slice(2, 4)}));
  const auto wh = (rb - lt).clamp_min(0);
  return wh.select(-1, 0) * wh.select(-1, 1);
}

/// Pairwise (M, N) intersection and union of (M, 4) and (N, 4) boxes (torchvision's
/// _box_inter_union).
std::pair<torch::Tensor, torch::Tensor> inter_union(const torch::Tensor& boxes1,
                                                    const torch::Tensor& boxes2) {
  const auto inter = intersection(boxes1.unsqueeze(1), boxes2.unsqueeze(0));
  const auto union_ = areas(boxes1).unsqueeze(1) + areas(boxes2).unsqueeze(0) - inter;
  return {inter, union_};
}

}  // namespace

torch::Tensor box_iou(const torch::Tensor& boxes1, const torch::Tensor& boxes2) {
  check_boxes_2d(boxes1, "box_iou", "boxes1");
  check_boxes_2d(boxes2, "box_iou", "boxes2");
  const auto [inter, union_] = inter_union(upcast(boxes1), upcast(boxes2));
  return inter / union_;
}

torch::Tensor generalized_box_iou(const torch::Tensor& boxes1, const torch::Tensor& boxes2) {
  check_boxes_2d(boxes1, "generalized_box_iou", "boxes1");
  check_boxes_2d(boxes2, "generalized_box_iou", "boxes2");
  const auto a = upcast(boxes1), b = upcast(boxes2);
  const auto [inter, union_] = inter_union(a, b);
  const auto enclosing = enclosing_area(a.unsqueeze(1), b.unsqueeze(0));
  return inter / union_ - (enclosing - union_) / enclosing;
}

const char* overlap_mode_name(OverlapMode mode) {
  switch (mode) {
    case OverlapMode::iou:
      return "iou";
    case OverlapMode::iof:
      return "iof";
    case OverlapMode::giou:
      return "giou";
  }
  return "?";
}

OverlapMode overlap_mode_from_string(const std::string& text) {
  if (text == "iou") return OverlapMode::iou;
  if (text == "iof") return OverlapMode::iof;
  if (text == "giou") return OverlapMode::giou;
  throw Error("unknown overlap mode '" + text + "' (expected iou, iof or giou)");
}

torch::Tensor bbox_overlaps(const torch::Tensor& boxes1, const torch::Tensor& boxes2,
                            OverlapMode mode, bool is_aligned, double eps) {
  // Floating dtypes stay as they are (MMDetection computes half boxes in half); integer boxes
  // become float32. A flat empty tensor (MMDetection's torch.FloatTensor([])) means no boxes.
  auto as_boxes = [](const torch::Tensor& boxes, const char* name) {
    if (!boxes.defined()) throw Error(std::string("bbox_overlaps: ") + name + " is undefined");
    auto out = boxes.is_floating_point() ? boxes : boxes.to(torch::kFloat32);
    if (out.dim() == 1 && out.numel() == 0) return out.reshape({0, 4});
    if (out.dim() < 2 || out.size(-1) != 4) {
      throw Error(std::string("bbox_overlaps: ") + name +
                  " must be a (..., N, 4) xyxy tensor, got shape " + c10::str(out.sizes()));
    }
    return out;
  };
  const auto b1 = as_boxes(boxes1, "boxes1"), b2 = as_boxes(boxes2, "boxes2");
  const auto batch = b1.sizes().slice(0, b1.dim() - 2);
  if (batch != b2.sizes().slice(0, b2.dim() - 2)) {
    throw Error("bbox_overlaps: the batch dimensions differ: boxes1 has shape " +
                c10::str(b1.sizes()) + ", boxes2 " + c10::str(b2.sizes()));
  }
  const int64_t rows = b1.size(-2), cols = b2.size(-2);
  if (is_aligned && rows != cols) {
    throw Error("bbox_overlaps: is_aligned needs as many boxes1 as boxes2, got " +
                std::to_string(rows) + " and " + std::to_string(cols));
  }
  if (rows == 0 || cols == 0) {
    std::vector<int64_t> shape(batch.begin(), batch.end());
    shape.push_back(rows);
    if (!is_aligned) shape.push_back(cols);
    return torch::zeros(shape, b1.options());
  }

  // Aligned: box i against box i; pairwise: (..., M, 1, 4) against (..., 1, N, 4).
  const auto a = is_aligned ? b1 : b1.unsqueeze(-2);
  const auto b = is_aligned ? b2 : b2.unsqueeze(-3);
  const auto area1 = is_aligned ? areas(b1) : areas(b1).unsqueeze(-1);
  const auto area2 = is_aligned ? areas(b2) : areas(b2).unsqueeze(-2);
  const auto overlap = intersection(a, b);
  const auto union_ = (mode == OverlapMode::iof ? area1 : area1 + area2 - overlap).clamp_min(eps);
  const auto ious = overlap / union_;
  if (mode != OverlapMode::giou) return ious;
  const auto enclosing = enclosing_area(a, b).clamp_min(eps);
  return ious - (enclosing - union_) / enclosing;
}

}  // namespace detkit::ops
