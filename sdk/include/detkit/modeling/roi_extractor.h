// The RoI feature extractor interface (kind `roi_extractor`): SingleRoIExtractor, ...
//
// Contract: built with a NeckContext (the levels it pools from; `featmap_strides` and
// `out_channels` in the config must agree with them). forward() takes the feature levels and
// RoIs (K, 5) = (batch index, x1, y1, x2, y2) in the padded batch's pixels and returns pooled
// features (K, out_channels, S, S), rows in the order of the RoIs. Called by RoI heads.
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "detkit/kind.h"

namespace detkit {

/// Base class of RoI feature extractors.
class DETKIT_API RoIExtractorBase : public torch::nn::Module {
 public:
  ~RoIExtractorBase() override;
  /// Pooled features of each RoI.
  virtual torch::Tensor forward(const std::vector<torch::Tensor>& features,
                                const torch::Tensor& rois) = 0;
  /// Channels of the pooled features.
  virtual int64_t out_channels() const = 0;
  /// Side S of the pooled (S, S) features.
  virtual int64_t output_size() const = 0;
};

}  // namespace detkit
