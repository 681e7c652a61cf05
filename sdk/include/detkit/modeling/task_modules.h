// The task-module interfaces dense and RoI heads are assembled from (MMDetection's
// IOU_CALCULATORS, ANCHOR_GENERATORS, BBOX_ASSIGNERS, BBOX_SAMPLERS and BBOX_CODERS), each a
// kind so that a config (`train_cfg.assigner`, `bbox_coder`, ...) or a plugin can swap them.
//
// Contract (all built without context, all device-agnostic: results live on the inputs'
// device; boxes are (N, 4) xyxy float tensors in the padded batch's pixels):
//   - IoUCalculatorBase: overlaps (M, N) of two box sets, or (M,) when aligned;
//   - AnchorGeneratorBase: the anchors of every level for given feature-map sizes;
//   - AssignerBase: for each prior, the 1-based index of the ground-truth box it is assigned
//     to (0 = negative, -1 = ignored), its max IoU and the assigned label (-1 when none);
//   - SamplerBase: which assigned priors are used as positives and negatives;
//   - BBoxCoderBase: boxes <-> regression targets relative to priors.
// Called by heads during loss() and predict().
#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "detkit/kind.h"

namespace detkit {

/// Pairwise (M, N) or aligned (M,) overlaps (kind `iou_calculator`: BboxOverlaps2D).
class DETKIT_API IoUCalculatorBase {
 public:
  virtual ~IoUCalculatorBase();
  /// `mode` is "iou", "iof" or "giou".
  virtual torch::Tensor compute(const torch::Tensor& boxes1, const torch::Tensor& boxes2,
                                const std::string& mode = "iou", bool is_aligned = false) const = 0;
};

/// Anchors (priors) per level (kind `anchor_generator`: AnchorGenerator, ...).
class DETKIT_API AnchorGeneratorBase {
 public:
  virtual ~AnchorGeneratorBase();
  /// For each level, (H_l * W_l * A_l, 4) anchors in MMDetection's order (location-major,
  /// then base anchor), for feature maps of the given (H, W) sizes.
  virtual std::vector<torch::Tensor> grid_priors(
      const std::vector<std::pair<int64_t, int64_t>>& featmap_sizes,
      const torch::TensorOptions& options) const = 0;
  /// A_l: anchors per location of each level.
  virtual std::vector<int64_t> num_base_priors() const = 0;
  /// The stride of each level.
  virtual std::vector<int64_t> strides() const = 0;
};

/// The result of an assignment (MMDetection's AssignResult).
struct DETKIT_API AssignResult {
  int64_t num_gts = 0;
  /// (P,) int64: 0 = negative, -1 = ignored, k > 0 = assigned to ground-truth box k - 1.
  torch::Tensor gt_inds;
  /// (P,) float: the IoU with the assigned (or best) ground truth.
  torch::Tensor max_overlaps;
  /// (P,) int64: the assigned label, -1 where none.
  torch::Tensor labels;
};

/// Assigns priors to ground truth (kind `assigner`: MaxIoUAssigner, ...).
class DETKIT_API AssignerBase {
 public:
  virtual ~AssignerBase();
  /// Assigns `priors` (P, 4) to `gt_boxes` (G, 4) with `gt_labels` (G,); `gt_ignore` (I, 4)
  /// may be undefined or empty.
  virtual AssignResult assign(const torch::Tensor& priors, const torch::Tensor& gt_boxes,
                              const torch::Tensor& gt_labels,
                              const torch::Tensor& gt_ignore = {}) const = 0;
};

/// Which priors are trained on (MMDetection's SamplingResult).
struct DETKIT_API SamplingResult {
  /// Indices into the priors of the positives and negatives.
  torch::Tensor pos_inds;
  torch::Tensor neg_inds;
  /// For each positive, the 0-based index of its ground-truth box.
  torch::Tensor pos_assigned_gt_inds;
  /// For each positive, its ground-truth box (num_pos, 4).
  torch::Tensor pos_gt_bboxes;
};

/// Samples positives and negatives (kind `sampler`: PseudoSampler, RandomSampler, ...).
class DETKIT_API SamplerBase {
 public:
  virtual ~SamplerBase();
  /// Samples from an assignment of `priors` to `gt_boxes`.
  virtual SamplingResult sample(const AssignResult& assignment, const torch::Tensor& priors,
                                const torch::Tensor& gt_boxes) const = 0;
};

/// Encodes boxes as regression targets and back (kind `bbox_coder`: DeltaXYWHBBoxCoder, ...).
class DETKIT_API BBoxCoderBase {
 public:
  virtual ~BBoxCoderBase();
  /// Targets (N, encode_size()) that move `priors` (N, 4) onto `gt_boxes` (N, 4).
  virtual torch::Tensor encode(const torch::Tensor& priors, const torch::Tensor& gt_boxes) const = 0;
  /// Boxes (N, 4) from `priors` and predicted `deltas`; clipped to `max_shape` (H, W) when given.
  virtual torch::Tensor decode(const torch::Tensor& priors, const torch::Tensor& deltas,
                               std::pair<int64_t, int64_t> max_shape = {0, 0}) const = 0;
  /// Values per box in the encoding (4 for deltas).
  virtual int64_t encode_size() const { return 4; }
};

}  // namespace detkit
