// CPU kernel of detkit::nms: greedy NMS over the boxes sorted by decreasing score, equal to
// torchvision's CPU kernel (same order, same float arithmetic, same `>` comparison) but faster:
// the boxes are gathered in score order with their areas precomputed, and each kept box is
// compared only with the boxes that are still alive, which are compacted as they go.
#include <ATen/Dispatch.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace detkit::ops {
namespace {

/// Greedy NMS for one floating type; returns the kept indices (int64) in visiting order.
template <typename scalar_t>
torch::Tensor nms_cpu_impl(const torch::Tensor& boxes, const torch::Tensor& scores,
                           double iou_threshold) {
  const int64_t n = boxes.size(0);
  // Ties are visited in index order (a stable sort): what torchvision 0.14's CPU kernel gives,
  // checked on exact ties by tests/reference/gen_ops.py.
  const torch::Tensor order_t =
      std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true)).contiguous();
  const torch::Tensor dets_t = boxes.contiguous();
  const int64_t* order = order_t.data_ptr<int64_t>();
  const scalar_t* dets = dets_t.data_ptr<scalar_t>();

  // Coordinates and areas in visiting order, so that the inner loop reads memory sequentially.
  std::vector<scalar_t> x1(n), y1(n), x2(n), y2(n), area(n);
  for (int64_t k = 0; k < n; ++k) {
    const scalar_t* box = dets + order[k] * 4;
    x1[k] = box[0];
    y1[k] = box[1];
    x2[k] = box[2];
    y2[k] = box[3];
    area[k] = (x2[k] - x1[k]) * (y2[k] - y1[k]);
  }

  // `alive` holds the positions (in visiting order) not yet kept nor suppressed, ascending.
  std::vector<int64_t> alive(n);
  for (int64_t k = 0; k < n; ++k)
    alive[k] = k;
  torch::Tensor keep_t = torch::empty({n}, boxes.options().dtype(torch::kLong));
  int64_t* keep = keep_t.data_ptr<int64_t>();
  int64_t num_kept = 0;
  int64_t num_alive = n;
  const bool skip_disjoint = iou_threshold >= 0;
  while (num_alive > 0) {
    const int64_t i = alive[0];
    keep[num_kept++] = order[i];
    const scalar_t ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = area[i];
    int64_t survivors = 0;
    for (int64_t a = 1; a < num_alive; ++a) {
      const int64_t j = alive[a];
      const scalar_t w =
          std::max(static_cast<scalar_t>(0), std::min(ix2, x2[j]) - std::max(ix1, x1[j]));
      const scalar_t h =
          std::max(static_cast<scalar_t>(0), std::min(iy2, y2[j]) - std::max(iy1, y1[j]));
      const scalar_t inter = w * h;
      // Disjoint boxes have IoU 0 (or NaN for two empty boxes, which suppresses nothing, as in
      // torchvision): with a threshold >= 0 they survive without the division.
      if (inter > 0 || !skip_disjoint) {
        const scalar_t iou = inter / (iarea + area[j] - inter);
        if (iou > iou_threshold) continue;
      }
      alive[survivors++] = j;
    }
    num_alive = survivors;
  }
  return keep_t.narrow(0, 0, num_kept);
}

/// The registered CPU kernel (inputs already validated by detkit::ops::nms).
torch::Tensor nms_cpu(const torch::Tensor& boxes, const torch::Tensor& scores,
                      double iou_threshold) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be (N, 4), got ",
              boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0),
              "nms: scores must be (N,), got ", scores.sizes(), " for ", boxes.size(0), " boxes");
  TORCH_CHECK(boxes.scalar_type() == scores.scalar_type(),
              "nms: boxes and scores must have the same dtype");
  if (boxes.size(0) == 0) return torch::empty({0}, boxes.options().dtype(torch::kLong));
  torch::Tensor result;
  AT_DISPATCH_FLOATING_TYPES(boxes.scalar_type(), "nms_cpu", [&] {
    result = nms_cpu_impl<scalar_t>(boxes, scores, iou_threshold);
  });
  return result;
}

}  // namespace
}  // namespace detkit::ops

TORCH_LIBRARY_IMPL(detkit, CPU, m) {
  m.impl("nms", TORCH_FN(detkit::ops::nms_cpu));
}
