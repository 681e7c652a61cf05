// Distributed training on PyTorch's own engine (c10d): a process group of `world_size`
// processes that meet through a TCPStore held by rank 0 (torchrun's MASTER_ADDR / MASTER_PORT),
// with Gloo as the backend on CPU. The c10d headers stay in distributed.cpp; detkit is built
// with them when Debian's libgloo-dev is installed (tools/install_deps.sh installs it).
#pragma once

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "detkit/export.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace detkit {

/// Where a process stands in a distributed run and how it reaches its peers.
struct DETKIT_API DistributedOptions {
  int64_t rank = 0;
  int64_t world_size = 1;
  /// The host and port of rank 0's TCPStore.
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// How long joining and every collective may take before it fails (PyTorch's default: 30
  /// minutes).
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
};

/// A TCP port on 127.0.0.1 that nobody uses now, picked at random below the kernel's ephemeral
/// range (where no connection's local end can take it before it is bound): a MASTER_PORT for
/// processes started on this machine. Throws Error when none can be had.
DETKIT_API int free_local_port();

/// Whether this build of detkit has c10d's Gloo backend.
DETKIT_API bool distributed_available();

/// torchrun's environment as DistributedOptions: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
/// (all required). Throws Error naming the variable that is missing or malformed, or a rank
/// outside [0, WORLD_SIZE).
DETKIT_API DistributedOptions distributed_options_from_env();

/// Slurm's environment as DistributedOptions (MMCV's _init_dist_slurm): RANK = SLURM_PROCID,
/// WORLD_SIZE = SLURM_NTASKS, MASTER_ADDR from the environment, else the first host of
/// SLURM_NODELIST (`node[01-04],gpu7` gives `node01`), MASTER_PORT from the environment, else
/// 29500. Throws Error naming a missing or malformed variable.
DETKIT_API DistributedOptions distributed_options_from_slurm();

/// The first host name of a Slurm node list ("a[3-5,9],b" gives "a3"; zero padding kept).
DETKIT_API std::string first_slurm_host(const std::string& node_list);

/// A c10d process group over Gloo. Every call is collective: all ranks make it, in the same
/// order, or the others fail when the timeout passes.
class DETKIT_API ProcessGroup {
 public:
  /// Joins the group (rank 0 holds the store). Throws Error when the build has no Gloo, when a
  /// peer does not join within the timeout, or when the store cannot be reached.
  explicit ProcessGroup(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const;
  int64_t world_size() const;
  /// Replaces each tensor (CPU) by its mean over the ranks (one collective for all of them,
  /// computed in float64 when any tensor is float64, else in float32).
  void all_reduce_mean(std::vector<torch::Tensor>& tensors);
  /// Replaces each tensor by its sum over the ranks (one collective, types as all_reduce_mean).
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  /// Every rank's `bytes`, in rank order, on every rank (sizes may differ).
  std::vector<std::string> all_gather_bytes(const std::string& bytes);
  /// Rank `root`'s `bytes` on every rank.
  std::string broadcast_bytes(const std::string& bytes, int64_t root = 0);
  /// Replaces each tensor by rank `root`'s.
  void broadcast(std::vector<torch::Tensor>& tensors, int64_t root = 0);
  /// Returns when every rank has called it.
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Makes `group` the one detkit/engine/dist_utils.h's functions use (the SDK's view of the run)
/// for its lifetime; the previous one comes back when it ends.
class DETKIT_API DefaultProcessGroup {
 public:
  explicit DefaultProcessGroup(ProcessGroup& group);
  ~DefaultProcessGroup();
  DefaultProcessGroup(const DefaultProcessGroup&) = delete;
  DefaultProcessGroup& operator=(const DefaultProcessGroup&) = delete;

 private:
  ProcessGroup* previous_;
};

/// The group set by DefaultProcessGroup, or null (one process).
DETKIT_API ProcessGroup* default_process_group();

/// Copies rank 0's parameters and buffers into every rank's `module` (DDP's start).
DETKIT_API void broadcast_parameters(torch::nn::Module& module, ProcessGroup& group);

/// Replaces the gradient of each of `module`'s trainable parameters by its mean over the ranks,
/// as PyTorch DDP's reducer does: buckets of about `bucket_bytes`, filled in reverse parameter
/// order, one collective each. A parameter without a gradient on this rank takes part with
/// zeros (find_unused_parameters), so every rank makes the same collectives.
DETKIT_API void average_gradients(torch::nn::Module& module, ProcessGroup& group,
                                  int64_t bucket_bytes = int64_t{25} << 20);

}  // namespace detkit
