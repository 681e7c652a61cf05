// DistributedSampler and DistributedGroupSampler: MMDetection 2.x's samplers of distributed
// training (mmdet/datasets/samplers/distributed_sampler.py, group_sampler.py), drawing their
// permutations from LibTorch's CPU generator, so the orders equal PyTorch's for the same seed.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>

#include "detkit/core/samplers.h"
#include "detkit/error.h"

namespace detkit {

namespace {

/// Throws unless 0 <= rank < num_replicas.
void check_rank(const char* sampler, int64_t num_replicas, int64_t rank) {
  if (num_replicas < 1 || rank < 0 || rank >= num_replicas) {
    throw Error(std::string(sampler) + ": rank " + std::to_string(rank) +
                " is not in [0, num_replicas = " + std::to_string(num_replicas) + ")");
  }
}

/// torch.randperm(n, generator=g): the CPU generator seeded `seed` (torch.Generator's
/// manual_seed), or `generator` when drawing several permutations from one.
std::vector<int64_t> randperm(int64_t n, at::Generator& generator) {
  const torch::Tensor perm = torch::randperm(n, generator, torch::TensorOptions(torch::kLong));
  const int64_t* data = perm.data_ptr<int64_t>();
  return std::vector<int64_t>(data, data + n);
}

/// ceil(a / b) for positive b.
size_t ceil_div(size_t a, size_t b) {
  return (a + b - 1) / b;
}

}  // namespace

DistributedSampler::DistributedSampler(size_t dataset_size, int64_t num_replicas, int64_t rank,
                                       bool shuffle)
    : dataset_size_(dataset_size), num_replicas_(num_replicas), rank_(rank), shuffle_(shuffle) {
  check_rank("DistributedSampler", num_replicas, rank);
  num_samples_ = ceil_div(dataset_size_, static_cast<size_t>(num_replicas_));
}

std::vector<int64_t> DistributedSampler::indices(uint64_t seed, int64_t epoch) const {
  if (dataset_size_ == 0) return {};
  std::vector<int64_t> order;
  const auto n = static_cast<int64_t>(dataset_size_);
  if (shuffle_) {
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed + epoch);
    order = randperm(n, generator);
  } else {
    for (int64_t i = 0; i < n; ++i)
      order.push_back(i);
  }
  // Padded by repetition to total_size, then every num_replicas-th from rank.
  const size_t total = num_samples_ * static_cast<size_t>(num_replicas_);
  std::vector<int64_t> mine;
  mine.reserve(num_samples_);
  for (size_t i = static_cast<size_t>(rank_); i < total; i += static_cast<size_t>(num_replicas_))
    mine.push_back(order[i % order.size()]);
  return mine;
}

DistributedGroupSampler::DistributedGroupSampler(std::vector<uint8_t> flags,
                                                 int64_t samples_per_gpu, int64_t num_replicas,
                                                 int64_t rank)
    : members_(group_members(flags)),
      samples_per_gpu_(samples_per_gpu),
      num_replicas_(num_replicas),
      rank_(rank) {
  if (samples_per_gpu < 1) {
    throw Error("DistributedGroupSampler: samples_per_gpu must be >= 1, got " +
                std::to_string(samples_per_gpu));
  }
  check_rank("DistributedGroupSampler", num_replicas, rank);
  const auto spg = static_cast<size_t>(samples_per_gpu_);
  for (const auto& group : members_)
    num_samples_ += ceil_div(group.size(), spg * static_cast<size_t>(num_replicas_)) * spg;
}

std::vector<int64_t> DistributedGroupSampler::indices(uint64_t seed, int64_t epoch) const {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed + epoch);
  const auto spg = static_cast<size_t>(samples_per_gpu_);
  const auto replicas = static_cast<size_t>(num_replicas_);
  std::vector<int64_t> all;
  for (const auto& members : members_) {
    const size_t size = members.size();
    if (size == 0) continue;
    std::vector<int64_t> shuffled;
    for (int64_t k : randperm(static_cast<int64_t>(size), generator))
      shuffled.push_back(members[static_cast<size_t>(k)]);
    // Repeated (whole copies, then a prefix) to a multiple of samples_per_gpu * num_replicas.
    const size_t padded = ceil_div(size, spg * replicas) * spg * replicas;
    for (size_t i = 0; i < padded; ++i)
      all.push_back(shuffled[i % size]);
  }
  // The batches of all groups in a random order; rank r takes its contiguous share.
  std::vector<int64_t> order;
  order.reserve(all.size());
  for (int64_t batch : randperm(static_cast<int64_t>(all.size() / spg), generator)) {
    const auto first = static_cast<size_t>(batch) * spg;
    order.insert(order.end(), all.begin() + static_cast<std::ptrdiff_t>(first),
                 all.begin() + static_cast<std::ptrdiff_t>(first + spg));
  }
  const size_t offset = num_samples_ * static_cast<size_t>(rank_);
  return std::vector<int64_t>(order.begin() + static_cast<std::ptrdiff_t>(offset),
                              order.begin() + static_cast<std::ptrdiff_t>(offset + num_samples_));
}

}  // namespace detkit
