// The SDK's view of a distributed run (detkit/engine/dist_utils.h) over the process group that
// DefaultProcessGroup installs (detkit/core/distributed.h); single-process answers without one.
#include "detkit/engine/dist_utils.h"

#include <torch/nn/module.h>

#include "detkit/core/distributed.h"

namespace detkit {

namespace {

/// The group of this process's run; set for a run's lifetime by DefaultProcessGroup (from the
/// thread that trains, before any collective).
ProcessGroup* current_group = nullptr;

/// The group when it has more than one rank, else null.
ProcessGroup* peers() {
  return current_group != nullptr && current_group->world_size() > 1 ? current_group : nullptr;
}

}  // namespace

DefaultProcessGroup::DefaultProcessGroup(ProcessGroup& group) : previous_(current_group) {
  current_group = &group;
}

DefaultProcessGroup::~DefaultProcessGroup() {
  current_group = previous_;
}

ProcessGroup* default_process_group() {
  return current_group;
}

int64_t dist_rank() {
  return current_group != nullptr ? current_group->rank() : 0;
}

int64_t dist_world_size() {
  return current_group != nullptr ? current_group->world_size() : 1;
}

bool is_main_process() {
  return dist_rank() == 0;
}

void all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (ProcessGroup* group = peers()) group->all_reduce_sum(tensors);
}

void all_reduce_mean(std::vector<torch::Tensor>& tensors) {
  if (ProcessGroup* group = peers()) group->all_reduce_mean(tensors);
}

void broadcast_from_main(std::vector<torch::Tensor>& tensors) {
  if (ProcessGroup* group = peers()) group->broadcast(tensors, 0);
}

void allreduce_grads(torch::nn::Module& module) {
  if (ProcessGroup* group = peers()) average_gradients(module, *group);
}

}  // namespace detkit
