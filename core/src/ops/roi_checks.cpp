// Input checks shared by roi_align and roi_pool.
#include "roi_checks.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "detkit/error.h"

namespace detkit::ops {
namespace {

/// Index of the first true element of the (K,) bool `mask`, or -1 when none is true (one
/// device-to-host copy of a bool, then of an index, only when there is one).
int64_t first_true(const torch::Tensor& mask) {
  if (mask.numel() == 0 || !mask.any().item<bool>()) return -1;
  return torch::nonzero(mask)[0][0].item<int64_t>();
}

/// "roi 3 ([0, 1, 2, 3, 4])": a RoI and its row, for error messages.
std::string describe_roi(const torch::Tensor& rois, int64_t index) {
  const torch::Tensor row = rois[index].to(torch::kCPU, torch::kDouble);
  std::string text = "roi " + std::to_string(index) + " ([";
  for (int64_t j = 0; j < row.size(0); ++j)
    text += (j ? ", " : "") + c10::str(row[j].item<double>());
  return text + "])";
}

}  // namespace

void check_pool_parameters(const char* function, torch::ExpandingArray<2> output_size,
                           double spatial_scale) {
  const auto size = *output_size;
  if (size[0] <= 0 || size[1] <= 0) {
    throw Error(std::string(function) + ": output_size must be positive, got (" +
                std::to_string(size[0]) + ", " + std::to_string(size[1]) + ")");
  }
  if (!(spatial_scale > 0) || !std::isfinite(spatial_scale)) {
    throw Error(std::string(function) +
                ": spatial_scale must be a positive number (1 / the feature map's stride), got " +
                c10::str(spatial_scale));
  }
}

torch::Tensor checked_rois(const char* function, const c10::OperatorHandle& op,
                           const torch::Tensor& input, const torch::Tensor& rois,
                           torch::ExpandingArray<2> output_size, double spatial_scale) {
  const std::string prefix = std::string(function) + ": ";
  if (!input.defined() || !rois.defined()) throw Error(prefix + "input or rois is undefined");
  if (input.dim() != 4) {
    throw Error(prefix + "input must be (N, C, H, W) features, got shape " +
                c10::str(input.sizes()));
  }
  if (rois.dim() != 2 || rois.size(1) != 5) {
    throw Error(prefix + "rois must be a (K, 5) tensor of [batch index, x1, y1, x2, y2] rows, " +
                "got shape " + c10::str(rois.sizes()));
  }
  if (!input.is_floating_point()) {
    throw Error(prefix + "input must be floating point, got " + c10::toString(input.scalar_type()));
  }
  if (rois.is_complex() || rois.scalar_type() == torch::kBool) {
    throw Error(prefix + "rois must be real numbers, got " + c10::toString(rois.scalar_type()));
  }
  if (input.device() != rois.device()) {
    throw Error(prefix + "input is on " + input.device().str() + " but rois on " +
                rois.device().str());
  }
  if (input.is_cpu() && input.scalar_type() != torch::kFloat32 &&
      input.scalar_type() != torch::kFloat64) {
    throw Error(prefix + "on CPU, input must be float32 or float64, got " +
                c10::toString(input.scalar_type()) + " (convert it with .to(torch::kFloat32))");
  }
  const auto key = c10::computeDispatchKey(input.scalar_type(), input.layout(), input.device());
  if (!op.hasKernelForDispatchKey(key)) {
    throw Error(prefix + "no kernel for input on " + input.device().str() +
                " in this libdetkit (CPU always; CUDA when it was built against a LibTorch with " +
                "CUDA); move the input and rois with .to(torch::kCPU)");
  }
  check_pool_parameters(function, output_size, spatial_scale);

  const torch::Tensor result = rois.to(input.scalar_type()).contiguous();
  if (result.size(0) == 0) return result;
  if (input.size(2) == 0 || input.size(3) == 0) {
    throw Error(prefix + "input has an empty feature map (shape " + c10::str(input.sizes()) +
                ") to pool " + std::to_string(result.size(0)) + " rois from");
  }
  if (input.size(2) * input.size(3) > std::numeric_limits<int32_t>::max()) {
    throw Error(prefix + "input feature maps of more than 2^31 - 1 pixels are not supported " +
                "(shape " + c10::str(input.sizes()) + ")");
  }
  const int64_t nan_roi = first_true(torch::isnan(result).any(1));
  if (nan_roi >= 0) {
    throw Error(prefix + describe_roi(result, nan_roi) + " has a NaN coordinate");
  }
  const int64_t inf_roi = first_true(torch::isinf(result).any(1));
  if (inf_roi >= 0) {
    throw Error(prefix + describe_roi(result, inf_roi) + " has an infinite coordinate");
  }
  const torch::Tensor batch = result.select(1, 0);
  const int64_t bad_batch =
      first_true((batch != batch.floor()) | (batch < 0) | (batch >= input.size(0)));
  if (bad_batch >= 0) {
    throw Error(prefix + describe_roi(result, bad_batch) +
                " has a batch index that is not an image of the input (an integer in [0, " +
                std::to_string(input.size(0)) + "))");
  }
  return result;
}

}  // namespace detkit::ops
