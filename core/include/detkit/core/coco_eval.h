// COCO bbox evaluation that reproduces pycocotools 2.0's COCOeval (iouType 'bbox') number for
// number: crowd regions (IoU = intersection / detection area), area ranges on the annotation's
// `area`, maxDets 1/10/100, stable score sorting, 101-point interpolated precision, the 12
// summary stats and the text summarize() prints. Works on in-memory ground truth and detections
// (a metric component passes what it has; the CLI passes what it read from files), and runs the
// per-image matching and the accumulation on several threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "detkit/core/coco_json.h"

namespace detkit {

/// One COCOeval area range: objects with lo <= area <= hi are evaluated, the others ignored.
struct CocoAreaRange {
  std::string label;
  double lo = 0;
  double hi = 0;
};

/// COCOeval's parameters; the defaults are pycocotools' bbox defaults.
struct DETKIT_API CocoEvalParams {
  /// IoU thresholds (default .50:.05:.95, computed as numpy's linspace does).
  std::vector<double> iou_thresholds;
  /// Recall thresholds (default 0:.01:1, 101 points).
  std::vector<double> recall_thresholds;
  /// Max detections per image, ascending (default 1, 10, 100).
  std::vector<int> max_dets;
  /// Area ranges (default all, small, medium, large).
  std::vector<CocoAreaRange> area_ranges;
  /// Also treat annotations marked `ignore: 1` as ignored. pycocotools does not (its _prepare
  /// overwrites the flag with iscrowd), so this is off to match it.
  bool use_ignore_flag = false;
  /// Worker threads; 0 = one per core.
  int num_threads = 0;

  /// pycocotools' defaults.
  CocoEvalParams();
};

/// Names of the 12 summary stats, in summarize() order (bbox_mAP, bbox_mAP_50, ..., AR_l@100).
DETKIT_API const std::array<const char*, 12>& coco_stat_names();

/// What COCOeval's accumulate() and summarize() give.
struct DETKIT_API CocoEvalResult {
  CocoEvalParams params;
  /// Evaluated categories, sorted by id (COCOeval's order), and their names.
  std::vector<int64_t> category_ids;
  std::vector<std::string> category_names;
  /// precision[T][R][K][A][M] (flattened, row-major); -1 where a setting has no ground truth.
  std::vector<double> precision;
  /// recall[T][K][A][M] (flattened); -1 where a setting has no ground truth.
  std::vector<double> recall;
  /// AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (summarize() order).
  std::array<double, 12> stats{};
  /// AP@[.50:.95] of each category (area all, the largest maxDets); -1 without ground truth.
  std::vector<double> per_category_ap;

  /// One precision entry.
  double precision_at(size_t t, size_t r, size_t k, size_t a, size_t m) const;
  /// One recall entry.
  double recall_at(size_t t, size_t k, size_t a, size_t m) const;
};

/// COCOeval in two steps, as pycocotools runs it: evaluate() matches detections to ground truth
/// per image and category, accumulate() builds precision/recall and the summary. `ground_truth`
/// and `detections` must outlive the evaluator.
class DETKIT_API CocoEvaluator {
 public:
  /// `detections_origin` names the detections in messages (e.g. the result file's path).
  CocoEvaluator(const CocoGroundTruth& ground_truth, const std::vector<CocoDetection>& detections,
                CocoEvalParams params = {}, std::string detections_origin = "detections");
  ~CocoEvaluator();
  CocoEvaluator(const CocoEvaluator&) = delete;
  CocoEvaluator& operator=(const CocoEvaluator&) = delete;

  /// Per-image matching (pycocotools' evaluate()). Throws DataError when a detection names an
  /// image or category the ground truth does not have, or has a non-finite box or score.
  void evaluate();
  /// Precision, recall, the 12 stats and per-category AP (accumulate() + summarize()). Calls
  /// evaluate() first if it has not run.
  CocoEvalResult accumulate();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// evaluate() + accumulate() in one call.
DETKIT_API CocoEvalResult evaluate_coco(const CocoGroundTruth& ground_truth,
                                        const std::vector<CocoDetection>& detections,
                                        const CocoEvalParams& params = {},
                                        const std::string& detections_origin = "detections");

/// The 12 lines pycocotools' summarize() prints, e.g.
/// " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.370".
DETKIT_API std::string format_coco_summary(const CocoEvalResult& result);

/// MMDetection's classwise table: up to three (category, AP) column pairs per row, AP with
/// three decimals ("nan" for categories without ground truth).
DETKIT_API std::string format_coco_per_category(const CocoEvalResult& result);

/// The result as JSON: {"stats": [12 numbers], "metrics": {name: value}, "per_category_ap":
/// {"<category id>": ap}, "per_category_name": {"<category id>": name}}.
DETKIT_API std::string coco_result_to_json(const CocoEvalResult& result);

}  // namespace detkit
