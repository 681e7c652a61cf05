// The backbone interface (kind `backbone`).
//
// Contract: built with a BackboneContext (the image channels the data pipeline produces);
// forward() takes the normalised, padded batch (N, C, H, W) float32 and returns the feature maps
// of `out_indices`, from high to low resolution; output_shapes() describes them before any
// forward pass, so the neck can be built from it. Called by the detector.
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "detkit/kind.h"
#include "detkit/modeling/shape_spec.h"

namespace detkit {

/// Base class of backbones: images (N, 3, H, W) in, the feature maps of `out_indices` out,
/// from high to low resolution. Parameter names follow MMDetection (backbone.layer1.0.conv1...).
class DETKIT_API BackboneBase : public torch::nn::Module {
 public:
  ~BackboneBase() override;
  /// The selected feature maps.
  virtual std::vector<torch::Tensor> forward(const torch::Tensor& images) = 0;
  /// Channels and stride of each output of forward(), in order.
  virtual std::vector<ShapeSpec> output_shapes() const = 0;
};

}  // namespace detkit
