// The dense head interface (kind `dense_head`): AnchorHead, RetinaHead, RPNHead, ...
//
// Contract: built with a DenseHeadContext (the neck's output shapes and the number of classes
// the dataset has; `in_channels` / `num_classes` in the config must agree with them). forward()
// maps the neck's levels to raw per-level outputs (no sigmoid, no decoding); loss() computes the
// training losses against each sample's `gt` (boxes in the padded batch's pixel coordinates,
// labels 0-based) and `gt_ignore`; predict() decodes, filters and runs NMS as `test_cfg` says and
// returns per image boxes in the *original* image's pixels (divided by scale_factor), scores
// and 0-based labels, sorted by decreasing score. Called by single-stage detectors (and by
// two-stage detectors for proposals).
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "detkit/kind.h"
#include "detkit/modeling/detection_types.h"
#include "detkit/structures/det_sample.h"

namespace detkit {

/// Base class of dense heads.
class DETKIT_API DenseHeadBase : public torch::nn::Module {
 public:
  ~DenseHeadBase() override;
  /// Raw outputs per level.
  virtual MultiLevelOutputs forward(const std::vector<torch::Tensor>& features) = 0;
  /// Losses of `outputs` against the samples' ground truth.
  virtual LossDict loss(const MultiLevelOutputs& outputs,
                        const std::vector<DetSample>& samples) = 0;
  /// Detections per image, in original-image pixels.
  virtual std::vector<Instances> predict(const MultiLevelOutputs& outputs,
                                         const std::vector<DetSample>& samples) = 0;
};

}  // namespace detkit
