// RoI Align (torchvision.ops.roi_align, MMCV's RoIAlign module): bilinearly sampled, averaged
// features of regions of interest, with autograd to the features.
//
//   auto pooled = detkit::ops::roi_align(features, rois, {7, 7}, 1.0 / 16, 0, true);
//   detkit::ops::RoIAlign layer(detkit::ops::RoIAlignOptions(7).spatial_scale(1.0 / 16));
#pragma once

#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "detkit/export.h"

namespace detkit::ops {

/// RoI Align, equal to torchvision.ops.roi_align (forward and backward). `input` is (N, C, H, W)
/// features; `rois` is (K, 5) rows [batch index, x1, y1, x2, y2] in image pixels, converted to
/// the input's dtype. Returns (K, C, output_size[0], output_size[1]): each of the output_size
/// bins of a RoI scaled by `spatial_scale` is the mean of sampling_ratio x sampling_ratio
/// bilinear samples (sampling_ratio <= 0: ceil(RoI size / output size) per side, torchvision's
/// adaptive default). Samples beyond one pixel outside the map are 0, those within it are
/// clamped to the border. `aligned` shifts the RoI by -0.5 pixel (Detectron2's half-pixel
/// alignment); without it a RoI narrower than one pixel (or of negative size) counts as one
/// pixel wide, as in torchvision. With it, a RoI of negative size keeps its negative bins: a
/// fixed sampling_ratio samples them as torchvision does, the adaptive one has no samples and
/// gives 0 (torchvision fails on some of these: "cannot create std::vector larger than
/// max_size()").
/// Gradients flow to `input`, never to `rois`. Empty `rois` give a (0, C, h, w) output.
/// Float32 or float64 on CPU; a CUDA kernel exists only where libdetkit was built with CUDA.
/// Throws Error for bad shapes or parameters and for a RoI with a NaN or infinite coordinate or
/// a batch index that is not an integer in [0, N) ("roi_align: roi 3 has a NaN coordinate").
DETKIT_API torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois,
                                   torch::ExpandingArray<2> output_size, double spatial_scale = 1.0,
                                   int64_t sampling_ratio = -1, bool aligned = false);

/// As above with per-image boxes: boxes[i] is (Ki, 4) xyxy boxes of image i (torchvision's
/// List[Tensor] form); the output rows follow the boxes image by image.
DETKIT_API torch::Tensor roi_align(const torch::Tensor& input,
                                   const std::vector<torch::Tensor>& boxes,
                                   torch::ExpandingArray<2> output_size, double spatial_scale = 1.0,
                                   int64_t sampling_ratio = -1, bool aligned = false);

/// (K, 5) RoIs [image index, x1, y1, x2, y2] from per-image (Ki, 4) boxes (torchvision's
/// convert_boxes_to_roi_format; MMDetection's bbox2roi). Throws Error for a box tensor that is
/// not (Ki, 4), or boxes of different dtypes or devices. No boxes at all give a (0, 5) float
/// tensor.
DETKIT_API torch::Tensor boxes_to_rois(const std::vector<torch::Tensor>& boxes);

/// Options of the RoIAlign module; names and defaults as MMCV's RoIAlign (`pool_mode` "avg"
/// only; `aligned` true by default, as in MMCV, unlike the roi_align function).
struct DETKIT_API RoIAlignOptions {
  /* implicit */ RoIAlignOptions(torch::ExpandingArray<2> output_size);

  /// (height, width) of the pooled features.
  TORCH_ARG(torch::ExpandingArray<2>, output_size);
  /// Scale from image pixels to this feature map's pixels (1 / stride).
  TORCH_ARG(double, spatial_scale) = 1.0;
  /// Samples per bin side; 0 (or less): adaptive.
  TORCH_ARG(int64_t, sampling_ratio) = 0;
  /// Half-pixel alignment.
  TORCH_ARG(bool, aligned) = true;
};

/// MMCV's RoIAlign layer: roi_align with fixed options; no parameters.
class DETKIT_API RoIAlignImpl : public torch::nn::Cloneable<RoIAlignImpl> {
 public:
  /// Throws Error for a non-positive output size or spatial scale.
  explicit RoIAlignImpl(const RoIAlignOptions& options);
  /// Nothing to (re)build: the layer has no parameters.
  void reset() override;
  /// (K, C, h, w) pooled features of (K, 5) `rois` from (N, C, H, W) `input`.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& rois);
  /// "RoIAlign(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=0, aligned=true)".
  void pretty_print(std::ostream& stream) const override;

  RoIAlignOptions options;
};

/// A RoIAlignImpl held by shared pointer (torch::nn module holder).
TORCH_MODULE(RoIAlign);

}  // namespace detkit::ops
