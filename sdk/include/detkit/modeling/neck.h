// The neck interface (kind `neck`): FPN, PAFPN, ...
//
// Contract: built with a NeckContext holding the backbone's output shapes (a neck's
// `in_channels`, when the config states it, must equal them). forward() takes the backbone's
// feature maps (high to low resolution, float32 (N, C_i, H_i, W_i)) and returns its own levels,
// high to low resolution; output_shapes() describes them before any forward pass, so heads can
// be built from it. Called by the detector between backbone and heads.
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "detkit/kind.h"
#include "detkit/modeling/shape_spec.h"

namespace detkit {

/// Base class of necks.
class DETKIT_API NeckBase : public torch::nn::Module {
 public:
  ~NeckBase() override;
  /// The neck's feature maps from the backbone's.
  virtual std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features) = 0;
  /// Channels and stride of each output of forward(), in order.
  virtual std::vector<ShapeSpec> output_shapes() const = 0;
};

}  // namespace detkit
