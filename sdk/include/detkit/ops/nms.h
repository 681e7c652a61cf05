// Non-maximum suppression: nms and batched_nms, equal to torchvision.ops.nms / batched_nms.
#pragma once

#include <torch/types.h>

#include "detkit/export.h"

namespace detkit::ops {

/// Greedy NMS (torchvision.ops.nms): visits `boxes` (N, 4) xyxy in order of decreasing `scores`
/// (N,) and drops every later box whose IoU with a kept one is > `iou_threshold`. Returns the
/// kept indices (int64, on the boxes' device) in order of decreasing score; boxes with equal
/// scores are visited in index order (a stable sort), as torchvision 0.14's CPU kernel does.
/// Boxes and scores must share a floating dtype (float32 or float64 on CPU; also half on CUDA)
/// and a device; a CUDA kernel exists only where libdetkit was built with CUDA. Throws Error
/// otherwise.
DETKIT_API torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                             double iou_threshold);

/// NMS per category (torchvision.ops.batched_nms): boxes with different `idxs` (N,) integer
/// category ids never suppress each other. Returns the kept indices in order of decreasing
/// score. Like torchvision, it offsets each category's boxes by idx * (max coordinate + 1) and
/// runs one `nms`, except above 1000 boxes on CPU (5000 on other devices), where it runs one
/// `nms` per category and sorts the survivors by score with torchvision's (unstable) sort; both
/// give torchvision's indices in torchvision's order, ties included.
DETKIT_API torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                                     const torch::Tensor& idxs, double iou_threshold);

}  // namespace detkit::ops
