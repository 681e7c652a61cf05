// Internals of the COCO evaluator shared by its source files (not installed).
#pragma once

#include <cstdint>
#include <vector>

#include "detkit/core/coco_eval.h"

namespace detkit::coco_detail {

/// Flag bits of one detection at one (area range, IoU threshold).
constexpr uint8_t kMatched = 1;  // matched to a ground truth whose id is nonzero (dtm != 0)
constexpr uint8_t kIgnored = 2;  // dtIgnore

/// pycocotools' evalImgs for one category: one entry per image (in sorted image-id order) that
/// has ground truth or detections of the category.
struct CategoryMatches {
  /// Entry e's detections are [det_begin[e], det_begin[e + 1]): sorted by score (stable), at
  /// most max_dets.back() of them.
  std::vector<uint32_t> det_begin{0};
  /// Score of each detection.
  std::vector<double> scores;
  /// flags[(n * A + a) * T + t]: kMatched / kIgnored of detection n.
  std::vector<uint8_t> flags;
  /// Ground truths that are not ignored, per area range (npig before the per-setting sums).
  std::vector<int64_t> num_positive;

  size_t num_entries() const { return det_begin.size() - 1; }
};

/// The boxes and flags of one (image, category) pair, as evaluateImg sees them.
struct ImageCategoryInput {
  /// Ground truth in file order.
  std::vector<const CocoAnnotation*> gts;
  /// Detections in file order.
  std::vector<const CocoDetection*> dets;
};

/// Reusable buffers of one worker thread.
struct MatchScratch {
  std::vector<const CocoDetection*> dets;
  std::vector<double> ious;
  std::vector<uint8_t> gt_base_ignore, gt_ignore, gt_taken;
  std::vector<uint32_t> gt_position;
};

/// evaluateImg for every area range: appends one entry to `out`.
void match_image(ImageCategoryInput& input, const CocoEvalParams& params, MatchScratch& scratch,
                 CategoryMatches& out);

/// accumulate() for category k: fills its slices of result.precision and result.recall (both
/// pre-filled with -1).
void accumulate_category(const CategoryMatches& matches, size_t k, CocoEvalResult& result);

/// summarize(): the 12 stats and the per-category AP from precision and recall.
void summarize(CocoEvalResult& result);

}  // namespace detkit::coco_detail
