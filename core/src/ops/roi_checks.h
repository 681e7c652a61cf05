// Input checks shared by roi_align and roi_pool (core-internal): every error a caller can cause
// becomes a detkit::Error naming the function and the offending RoI, before any kernel runs.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/expanding_array.h>
#include <torch/types.h>

namespace detkit::ops {

/// Checks `input` (N, C, H, W) floating features, `rois` (K, 5) on the same device, a positive
/// output size and spatial scale, a kernel of `op` for the input's device, and every RoI: finite
/// coordinates and an integer batch index in [0, N). Returns the RoIs in the input's dtype,
/// contiguous. Throws Error ("<function>: roi 3 has a NaN coordinate") otherwise.
torch::Tensor checked_rois(const char* function, const c10::OperatorHandle& op,
                           const torch::Tensor& input, const torch::Tensor& rois,
                           torch::ExpandingArray<2> output_size, double spatial_scale);

/// Throws Error unless both output sizes and the spatial scale are positive (and finite).
void check_pool_parameters(const char* function, torch::ExpandingArray<2> output_size,
                           double spatial_scale);

}  // namespace detkit::ops
