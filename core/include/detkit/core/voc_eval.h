// VOC-style mAP with MMDetection 2.25's eval_map semantics (mmdet/core/evaluation/mean_ap.py):
// per class and image, tpfp_default matching (highest score first; a detection whose best-IoU
// ground truth is ignored/difficult counts as neither TP nor FP), optional scale ranges, AP as
// the area under the precision envelope ('area') or the 11-point VOC07 mean ('11points'), one
// mAP per IoU threshold, and MMDetection's summary table. Arithmetic follows mmdet's float32 /
// float64 mix so that the numbers agree with it to float32 precision.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "detkit/error.h"

namespace detkit {

/// The ground truth of one image (MMDetection's annotation dict: bboxes, labels, bboxes_ignore,
/// labels_ignore). Boxes are [x1, y1, x2, y2]; labels are 0-based class indices.
struct VocImageAnnotations {
  std::vector<std::array<float, 4>> boxes;
  std::vector<int> labels;
  /// Difficult / ignored objects: matching them is neither a TP nor an FP.
  std::vector<std::array<float, 4>> ignored_boxes;
  std::vector<int> ignored_labels;
};

/// One detection: [x1, y1, x2, y2], score and 0-based class index.
struct VocDetection {
  std::array<float, 4> box{};
  float score = 0;
  int label = 0;
};

/// How AP is computed from a precision/recall curve.
enum class VocApMode {
  /// Area under the monotone precision envelope (VOC2010+, MMDetection's default).
  area,
  /// Mean of the best precision at recall >= 0, 0.1, ..., 1 (VOC2007, dataset 'voc07').
  eleven_points,
};

/// Options of evaluate_voc (eval_map's arguments).
struct VocEvalOptions {
  /// Number of classes; labels must be in [0, num_classes).
  int num_classes = 0;
  /// Class names for the table; empty = "0", "1", ... (as MMDetection without a dataset).
  std::vector<std::string> class_names;
  /// One mAP per threshold (VOCDataset.evaluate's iou_thr list).
  std::vector<double> iou_thresholds = {0.5};
  /// (min, max) object scales; a box counts in a range when min^2 <= area < max^2. Empty = one
  /// range holding everything.
  std::vector<std::pair<double, double>> scale_ranges;
  VocApMode mode = VocApMode::area;
  /// Widths and heights as x2 - x1 + 1 (mmdet 1.x / the VOC devkit; VOCDataset sets this).
  bool use_legacy_coordinate = false;
  /// Worker threads; 0 = one per core.
  int num_threads = 0;
};

/// The result of one class at one IoU threshold.
struct VocClassResult {
  /// Ground truths (not ignored) per scale range.
  std::vector<int64_t> num_gts;
  int64_t num_dets = 0;
  /// Recall after all detections, per scale range (float32, as MMDetection's table shows it).
  std::vector<float> recall;
  /// AP per scale range (float32, as MMDetection computes it).
  std::vector<float> ap;
};

/// eval_map's result at one IoU threshold.
struct VocThresholdResult {
  double iou_threshold = 0.5;
  std::vector<VocClassResult> classes;
  /// mAP per scale range: the mean AP over the classes that have ground truth in that range
  /// (0 when none has).
  std::vector<double> mean_ap;
};

/// The whole evaluation.
struct VocEvalResult {
  std::vector<VocThresholdResult> thresholds;
  /// The mean over thresholds of the (first scale range's) mAP: VOCDataset's "mAP".
  double mean_ap = 0;
  std::vector<std::string> class_names;
  std::vector<std::pair<double, double>> scale_ranges;
};

/// Evaluates detections against ground truth; annotations[i] and detections[i] belong to the same
/// image. Throws Error on mismatched sizes, labels out of range or non-finite numbers.
DETKIT_API VocEvalResult evaluate_voc(const std::vector<VocImageAnnotations>& annotations,
                                      const std::vector<std::vector<VocDetection>>& detections,
                                      const VocEvalOptions& options);

/// MMDetection's summary: per IoU threshold a "---iou_thr: T---" line and, per scale range, the
/// table class | gts | dets | recall | ap with a closing mAP row.
DETKIT_API std::string format_voc_table(const VocEvalResult& result);

}  // namespace detkit
