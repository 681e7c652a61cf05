// The metric interface (kind `metric`): evaluates predictions against a dataset's annotations
// (MMDetection 2.x's dataset.evaluate(results, metric=...)).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "detkit/data/dataset.h"

namespace detkit {

/// Named numbers (MMDetection's keys: bbox_mAP, bbox_mAP_50, ..., mAP, AP50) and the text
/// report (tables) to log.
struct DETKIT_API MetricResult {
  std::vector<std::pair<std::string, double>> values;
  std::string report;
  /// The value named `key`; throws Error if absent.
  double at(const std::string& key) const;
};

/// Base class of metrics.
class DETKIT_API MetricBase {
 public:
  virtual ~MetricBase();
  /// `predictions[i]` are the detections of dataset sample i in original-image coordinates.
  virtual MetricResult evaluate(const DatasetBase& dataset,
                                const std::vector<Instances>& predictions) = 0;
};

}  // namespace detkit
