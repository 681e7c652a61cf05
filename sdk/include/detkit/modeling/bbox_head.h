// The RoI box head interface (kind `bbox_head`): Shared2FCBBoxHead, ConvFCBBoxHead, ...
//
// Contract: built with a RoIFeatureContext (channels and size of the RoI features the extractor
// makes, and the number of classes). forward() takes RoI features (K, C, S, S) and returns
// class scores (K, num_classes + 1; background is the *last* class, as MMDetection) and box
// deltas (K, 4) or (K, 4 * num_classes) when not class-agnostic. Called by RoI heads.
#pragma once

#include <torch/nn/module.h>

#include <utility>

#include "detkit/kind.h"

namespace detkit {

/// Base class of RoI box heads.
class DETKIT_API BBoxHeadBase : public torch::nn::Module {
 public:
  ~BBoxHeadBase() override;
  /// (class scores, box deltas) of each RoI.
  virtual std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& roi_features) = 0;
};

}  // namespace detkit
