// Distributed training as components see it (MMCV's mmcv.runner.dist_utils): this process's rank,
// the number of processes, and the collectives a component needs — averaged gradients for
// optimizer hooks, summed statistics for SyncBN. When training runs in one process, or before the
// host has joined a group, every function here is the single-process answer: rank 0 of 1, and the
// collectives leave their tensors as they are.
//
// The host joins the group (`detkit train --launcher pytorch|slurm`, `detkit dist-train`); a
// collective must be called by every rank, in the same order, or the others fail when the
// group's timeout (--dist-timeout) passes. SDK 1.3.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "detkit/export.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace detkit {

/// This process's rank (MMCV's get_dist_info()[0]; 0 when not distributed).
DETKIT_API int64_t dist_rank();

/// The number of processes (MMCV's get_dist_info()[1]; 1 when not distributed).
DETKIT_API int64_t dist_world_size();

/// Whether this process is rank 0, the one that writes logs, checkpoints and work_dir files
/// (MMCV's master_only).
DETKIT_API bool is_main_process();

/// Replaces each tensor by its sum over the ranks, in one collective (computed in float64 when
/// any tensor is float64, else in float32; CPU tensors, or the backend's device).
DETKIT_API void all_reduce_sum(std::vector<torch::Tensor>& tensors);

/// Replaces each tensor by its mean over the ranks (MMDetection's reduce_mean), in one collective.
DETKIT_API void all_reduce_mean(std::vector<torch::Tensor>& tensors);

/// Replaces each tensor by rank 0's.
DETKIT_API void broadcast_from_main(std::vector<torch::Tensor>& tensors);

/// MMCV's allreduce_grads as PyTorch DDP's reducer does it: the gradient of each trainable
/// parameter of `module` becomes its mean over the ranks (buckets of ~25 MB in reverse parameter
/// order; a parameter without a gradient on this rank takes part with zeros, as with
/// find_unused_parameters). Optimizer hooks call it after backward, before clipping.
DETKIT_API void allreduce_grads(torch::nn::Module& module);

}  // namespace detkit
