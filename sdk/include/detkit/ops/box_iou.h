// Box overlaps: torchvision's box_iou / generalized_box_iou and MMDetection's bbox_overlaps.
#pragma once

#include <torch/types.h>

#include <string>

#include "detkit/export.h"

namespace detkit::ops {

/// Pairwise IoU of (M, 4) and (N, 4) xyxy boxes: (M, N) on the boxes' device, float64 for
/// float64 boxes and float32 otherwise (torchvision.ops.box_iou, with its upcast of half and
/// integer boxes; no epsilon, so two zero-area boxes give NaN).
DETKIT_API torch::Tensor box_iou(const torch::Tensor& boxes1, const torch::Tensor& boxes2);

/// Pairwise generalized IoU of (M, 4) and (N, 4) xyxy boxes: (M, N), values in [-1, 1]
/// (torchvision.ops.generalized_box_iou).
DETKIT_API torch::Tensor generalized_box_iou(const torch::Tensor& boxes1,
                                             const torch::Tensor& boxes2);

/// What bbox_overlaps measures: intersection over union, intersection over the first box's
/// area ("foreground"), or generalized IoU.
enum class OverlapMode { iou, iof, giou };

/// "iou" / "iof" / "giou".
DETKIT_API const char* overlap_mode_name(OverlapMode mode);
/// Parses "iou" / "iof" / "giou"; throws Error for anything else.
DETKIT_API OverlapMode overlap_mode_from_string(const std::string& text);

/// MMDetection 2.x bbox_overlaps: `boxes1` (..., M, 4) against `boxes2` (..., N, 4) with equal
/// leading batch dims; returns (..., M, N), or (..., M) for `is_aligned` (then M must equal N),
/// in the boxes' floating dtype (integer boxes give float32) and device. Denominators (union,
/// the first box's area for iof, the enclosing area for giou) are clamped to at least `eps`.
/// Empty inputs give empty results. Throws Error on bad shapes.
DETKIT_API torch::Tensor bbox_overlaps(const torch::Tensor& boxes1, const torch::Tensor& boxes2,
                                       OverlapMode mode = OverlapMode::iou, bool is_aligned = false,
                                       double eps = 1e-6);

}  // namespace detkit::ops
