// The backbone interface (kind `backbone`).
#pragma once

#include <torch/nn/module.h>

#include <vector>

#include "detkit/kind.h"

namespace detkit {

/// Channels and stride of one feature map (detectron2's ShapeSpec): downstream components are
/// built from these instead of repeating channel counts in configs.
struct DETKIT_API ShapeSpec {
  int64_t channels = 0;
  int64_t stride = 1;
};

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

DETKIT_DECLARE_KIND_BASE(backbone, detkit::BackboneBase);
