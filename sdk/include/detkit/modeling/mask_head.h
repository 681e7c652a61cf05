// The RoI mask head interface (kind `mask_head`): FCNMaskHead, ...
//
// Contract: built with a RoIFeatureContext. forward() takes RoI features (K, C, S, S) and
// returns mask logits (K, num_classes, M, M) (or (K, 1, M, M) when class-agnostic). Called by
// RoI heads that have a mask branch.
#pragma once

#include <torch/nn/module.h>

#include "detkit/kind.h"

namespace detkit {

/// Base class of RoI mask heads.
class DETKIT_API MaskHeadBase : public torch::nn::Module {
 public:
  ~MaskHeadBase() override;
  /// Mask logits of each RoI.
  virtual torch::Tensor forward(const torch::Tensor& roi_features) = 0;
};

}  // namespace detkit
