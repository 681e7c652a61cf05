// RoI Pool (torchvision.ops.roi_pool, MMCV's RoIPool module): the maximum of each bin of a
// region of interest, quantised to feature-map pixels, with autograd to the features.
#pragma once

#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "detkit/export.h"

namespace detkit::ops {

/// RoI Pool, equal to torchvision.ops.roi_pool (forward and backward). `input` is (N, C, H, W)
/// features; `rois` is (K, 5) rows [batch index, x1, y1, x2, y2] in image pixels, converted to
/// the input's dtype. Each RoI is scaled by `spatial_scale` and rounded to whole pixels (half
/// away from zero), at least one pixel wide and high (so a RoI of negative size is one pixel),
/// and cut into output_size bins; each output is the maximum of its bin, or 0 for a bin wholly
/// outside the map. The gradient of an output goes to the input element that was its maximum.
/// Empty `rois` give a (0, C, h, w) output. Float32 or float64 on CPU; a CUDA kernel only where
/// libdetkit was built with CUDA. Throws Error as roi_align does (bad shapes, parameters, RoIs
/// with a NaN or infinite coordinate or a bad batch index).
DETKIT_API torch::Tensor roi_pool(const torch::Tensor& input, const torch::Tensor& rois,
                                  torch::ExpandingArray<2> output_size, double spatial_scale = 1.0);

/// As above with per-image (Ki, 4) boxes (torchvision's List[Tensor] form).
DETKIT_API torch::Tensor roi_pool(const torch::Tensor& input,
                                  const std::vector<torch::Tensor>& boxes,
                                  torch::ExpandingArray<2> output_size, double spatial_scale = 1.0);

/// Options of the RoIPool module; names and defaults as MMCV's RoIPool.
struct DETKIT_API RoIPoolOptions {
  /* implicit */ RoIPoolOptions(torch::ExpandingArray<2> output_size);

  /// (height, width) of the pooled features.
  TORCH_ARG(torch::ExpandingArray<2>, output_size);
  /// Scale from image pixels to this feature map's pixels (1 / stride).
  TORCH_ARG(double, spatial_scale) = 1.0;
};

/// MMCV's RoIPool layer: roi_pool with fixed options; no parameters.
class DETKIT_API RoIPoolImpl : public torch::nn::Cloneable<RoIPoolImpl> {
 public:
  /// Throws Error for a non-positive output size or spatial scale.
  explicit RoIPoolImpl(const RoIPoolOptions& options);
  /// Nothing to (re)build: the layer has no parameters.
  void reset() override;
  /// (K, C, h, w) pooled features of (K, 5) `rois` from (N, C, H, W) `input`.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& rois);
  /// "RoIPool(output_size=(7, 7), spatial_scale=0.25)".
  void pretty_print(std::ostream& stream) const override;

  RoIPoolOptions options;
};

/// A RoIPoolImpl held by shared pointer (torch::nn module holder).
TORCH_MODULE(RoIPool);

}  // namespace detkit::ops
