// nms / batched_nms: the `detkit::nms` operator schema, the entry point that validates its
// inputs and calls the dispatcher (which picks the CPU or CUDA kernel), and batched_nms on top.
#include "detkit/ops/nms.h"

#include <torch/library.h>
#include <torch/torch.h>

#include "detkit/error.h"

// The schema; the kernels register themselves per backend (cpu/nms_kernel.cpp,
// cuda/nms_kernel.cu).
TORCH_LIBRARY_FRAGMENT(detkit, m) {
  m.def("nms(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor");
}

namespace detkit::ops {
namespace {

/// The dispatcher's handle of detkit::nms.
const c10::TypedOperatorHandle<torch::Tensor(const torch::Tensor&, const torch::Tensor&, double)>&
nms_operator() {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("detkit::nms", "")
          .typed<torch::Tensor(const torch::Tensor&, const torch::Tensor&, double)>();
  return op;
}

/// Throws Error unless detkit::nms has a kernel for the device of `boxes`.
void check_has_kernel(const char* function, const torch::Tensor& boxes) {
  const auto key = c10::computeDispatchKey(boxes.scalar_type(), boxes.layout(), boxes.device());
  if (!nms_operator().hasKernelForDispatchKey(key)) {
    throw Error(std::string(function) + ": no kernel for boxes on " + boxes.device().str() +
                " in this libdetkit (CPU always; CUDA when it was built against a LibTorch with "
                "CUDA); move the boxes with .to(torch::kCPU)");
  }
}

/// Throws Error unless `boxes` (N, 4) and `scores` (N,) are floating tensors of one dtype and
/// device.
void check_nms_inputs(const char* function, const torch::Tensor& boxes,
                      const torch::Tensor& scores) {
  const std::string prefix = std::string(function) + ": ";
  if (!boxes.defined() || !scores.defined()) throw Error(prefix + "boxes or scores is undefined");
  if (boxes.dim() != 2 || boxes.size(1) != 4) {
    throw Error(prefix + "boxes must be an (N, 4) xyxy tensor, got shape " +
                c10::str(boxes.sizes()));
  }
  if (scores.dim() != 1 || scores.size(0) != boxes.size(0)) {
    throw Error(prefix + "scores must be an (N,) tensor with one score per box, got shape " +
                c10::str(scores.sizes()) + " for " + std::to_string(boxes.size(0)) + " boxes");
  }
  if (!boxes.is_floating_point() || boxes.scalar_type() != scores.scalar_type()) {
    throw Error(prefix + "boxes and scores must have the same floating dtype, got " +
                std::string(c10::toString(boxes.scalar_type())) + " and " +
                c10::toString(scores.scalar_type()));
  }
  if (boxes.device() != scores.device()) {
    throw Error(prefix + "boxes are on " + boxes.device().str() + " but scores on " +
                scores.device().str());
  }
  if (boxes.is_cpu() && boxes.scalar_type() != torch::kFloat32 &&
      boxes.scalar_type() != torch::kFloat64) {
    throw Error(prefix + "on CPU, boxes must be float32 or float64, got " +
                c10::toString(boxes.scalar_type()) + " (convert them with .to(torch::kFloat32))");
  }
  check_has_kernel(function, boxes);
}

/// torchvision's coordinate trick: every category is shifted by idx * (max coordinate + 1) so
/// that boxes of different categories never overlap, then one NMS runs over all of them.
torch::Tensor batched_nms_by_offsets(const torch::Tensor& boxes, const torch::Tensor& scores,
                                     const torch::Tensor& idxs, double iou_threshold) {
  const auto offsets = idxs.to(boxes.options()) * (boxes.max() + 1);
  return nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
}

/// One NMS per category; the survivors of all categories sorted by decreasing score with the
/// same unstable sort as torchvision's _batched_nms_vanilla, so tied survivors come out in the
/// same order.
torch::Tensor batched_nms_per_category(const torch::Tensor& boxes, const torch::Tensor& scores,
                                       const torch::Tensor& idxs, double iou_threshold) {
  auto keep_mask = torch::zeros_like(scores, scores.options().dtype(torch::kBool));
  const auto categories = std::get<0>(torch::_unique(idxs));
  for (int64_t c = 0; c < categories.size(0); ++c) {
    const auto members = torch::nonzero(idxs == categories[c]).squeeze(1);
    const auto kept = nms(boxes.index({members}), scores.index({members}), iou_threshold);
    keep_mask.index_put_({members.index({kept})}, true);
  }
  const auto keep = torch::nonzero(keep_mask).squeeze(1);
  return keep.index({std::get<1>(scores.index({keep}).sort(0, /*descending=*/true))});
}

}  // namespace

torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold) {
  check_nms_inputs("nms", boxes, scores);
  if (boxes.size(0) == 0) return torch::empty({0}, boxes.options().dtype(torch::kLong));
  return nms_operator().call(boxes, scores, iou_threshold);
}

torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                          const torch::Tensor& idxs, double iou_threshold) {
  check_nms_inputs("batched_nms", boxes, scores);
  if (!idxs.defined() || idxs.dim() != 1 || idxs.size(0) != boxes.size(0)) {
    throw Error("batched_nms: idxs must be an (N,) tensor with one category per box, got " +
                (idxs.defined() ? "shape " + c10::str(idxs.sizes()) : "an undefined tensor") +
                " for " + std::to_string(boxes.size(0)) + " boxes");
  }
  if (boxes.size(0) == 0) return torch::empty({0}, boxes.options().dtype(torch::kLong));
  // torchvision's switch between its two strategies (benchmarked in pytorch/vision#1311).
  const int64_t per_category_above = boxes.is_cpu() ? 4000 : 20000;
  if (boxes.numel() > per_category_above) {
    return batched_nms_per_category(boxes, scores, idxs.to(boxes.device()), iou_threshold);
  }
  return batched_nms_by_offsets(boxes, scores, idxs.to(boxes.device()), iou_threshold);
}

}  // namespace detkit::ops
