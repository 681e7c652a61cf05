// The detector interface (kind `detector`): RetinaNet, FasterRCNN, ...
//
// Contract: built with a DetectorContext (the dataset's class names, when the host knows them;
// heads' `num_classes` must agree). A detector builds its parts (backbone, neck, heads) itself,
// passing each the context it needs (shapes, number of classes). loss() takes a padded,
// normalised batch whose samples carry ground truth and returns the losses; predict() returns
// per image the detections in original-image pixels, sorted by decreasing score. Called by the
// runner (training and validation) and by `detkit test` / `detkit infer`.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "detkit/kind.h"
#include "detkit/modeling/detection_types.h"
#include "detkit/structures/image_batch.h"

namespace detkit {

/// Base class of detectors.
class DETKIT_API DetectorBase : public torch::nn::Module {
 public:
  ~DetectorBase() override;
  /// Training losses of a batch.
  virtual LossDict loss(const ImageBatch& batch) = 0;
  /// Detections per image of a batch.
  virtual std::vector<Instances> predict(const ImageBatch& batch) = 0;
  /// The class names the detector predicts (index = label).
  virtual std::vector<std::string> class_names() const = 0;
};

}  // namespace detkit
