// The built-in metric components (kind `metric`) and the conversions they share with
// `detkit test --out`: CocoMetric (MMDetection's CocoDataset.evaluate, metric 'bbox') and
// VOCMetric (VOCDataset.evaluate, metric 'mAP').
#pragma once

#include <string>
#include <vector>

#include "detkit/core/coco_json.h"
#include "detkit/core/voc_eval.h"
#include "detkit/evaluation/metric.h"

namespace detkit {

/// Throws Error unless there is one prediction per dataset sample, each with scores.
DETKIT_API void check_predictions(const DatasetBase& dataset,
                                  const std::vector<Instances>& predictions);

/// The predictions as COCO results: label -> the dataset's category id, xyxy -> xywh (no +1,
/// as MMDetection 2.x), image id from each sample's DataInfo.
DETKIT_API std::vector<CocoDetection> predictions_to_coco(
    const DatasetBase& dataset, const std::vector<Instances>& predictions);

/// The dataset's annotations as COCO ground truth: its images (DataInfo image ids, sizes), its
/// classes as categories (with the dataset's category ids), gt boxes with their `area` field
/// when present (else w*h), and ignore boxes with known labels as crowd regions of their class.
DETKIT_API CocoGroundTruth dataset_to_coco(const DatasetBase& dataset);

/// The dataset's annotations as VOC ground truth (ignored boxes need their labels: datasets
/// without labels for ignored boxes contribute none).
DETKIT_API std::vector<VocImageAnnotations> dataset_to_voc(const DatasetBase& dataset);

/// The predictions as VOC detections.
DETKIT_API std::vector<std::vector<VocDetection>> predictions_to_voc(
    const std::vector<Instances>& predictions);

}  // namespace detkit
