// The RoI head interface (kind `roi_head`): StandardRoIHead, ...
//
// Contract: built with a RoIHeadContext (the neck's output shapes and the dataset's number of
// classes). loss() samples the proposals against each sample's ground truth, extracts RoI
// features and returns the bbox (and mask) losses; predict() returns per image the final
// detections in original-image pixels, sorted by decreasing score. Proposals are per image
// (K, 4) xyxy boxes in the padded batch's pixels with scores. Called by two-stage detectors.
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "detkit/kind.h"
#include "detkit/modeling/detection_types.h"
#include "detkit/structures/det_sample.h"

namespace detkit {

/// Base class of RoI heads.
class DETKIT_API RoIHeadBase : public torch::nn::Module {
 public:
  ~RoIHeadBase() override;
  /// Training losses for the given proposals.
  virtual LossDict loss(const std::vector<torch::Tensor>& features,
                        const std::vector<Instances>& proposals,
                        const std::vector<DetSample>& samples) = 0;
  /// Final detections per image.
  virtual std::vector<Instances> predict(const std::vector<torch::Tensor>& features,
                                         const std::vector<Instances>& proposals,
                                         const std::vector<DetSample>& samples) = 0;
};

}  // namespace detkit
