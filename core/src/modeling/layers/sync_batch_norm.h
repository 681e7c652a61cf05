// Training-mode batch normalisation over the union of every rank's batch (PyTorch's
// nn.SyncBatchNorm forward and backward), used by the SyncBN norm layer (batch_norm.cpp) when
// it trains in a distributed run. Internal to libdetkit.
#pragma once

#include <torch/types.h>

namespace detkit::layers {

/// Batch norm of `input` (N, C, ...) with the per-channel mean and biased variance of all
/// ranks' batches together, then `weight` and `bias` (either may be undefined: no affine). Every
/// rank must call it, in the same order (a rank whose batch is empty too); its backward makes a
/// collective as well. When `running_mean` / `running_var` are defined they move towards the
/// global mean and unbiased variance by `momentum` (PyTorch's exponential_average_factor),
/// identically on every rank. Throws Error when all ranks together have at most one value per
/// channel.
torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight,
                              const torch::Tensor& bias, const torch::Tensor& running_mean,
                              const torch::Tensor& running_var, double momentum, double eps);

}  // namespace detkit::layers
