// Samplers: the order in which the loader visits a dataset's samples in one epoch.
// GroupSampler is MMDetection 2.x's (mmdet/datasets/samplers/group_sampler.py); the sequential
// sampler is what MMDetection's test loader uses (shuffle=False, no sampler). The distributed
// samplers give each of several processes (ranks) its share of an epoch, as MMDetection's
// DistributedSampler and DistributedGroupSampler do.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// Produces the dataset indices of one epoch. The order depends only on (seed, epoch), so a
/// seeded run is reproducible.
class DETKIT_API Sampler {
 public:
  virtual ~Sampler();
  /// The dataset indices of `epoch`, in visiting order (may repeat indices; see GroupSampler).
  virtual std::vector<int64_t> indices(uint64_t seed, int64_t epoch) const = 0;
  /// Number of indices per epoch (MMDetection's len(sampler)).
  virtual size_t size() const = 0;
};

/// 0, 1, ..., n - 1 every epoch.
class DETKIT_API SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(size_t dataset_size);
  std::vector<int64_t> indices(uint64_t seed, int64_t epoch) const override;
  size_t size() const override { return dataset_size_; }

 private:
  size_t dataset_size_;
};

/// MMDetection's GroupSampler: every batch of `samples_per_gpu` consecutive indices comes from
/// one aspect-ratio group (DatasetBase::group_flags()). Each epoch, for every non-empty group
/// (in flag order): shuffle its indices, then append num_extra = ceil(size / spg) * spg - size
/// indices drawn from it at random with replacement (np.random.choice), so the group fills
/// whole batches; then the batches of all groups are put in a random order.
class DETKIT_API GroupSampler : public Sampler {
 public:
  /// `flags[i]` is the group of sample i. Throws Error if samples_per_gpu < 1.
  GroupSampler(std::vector<uint8_t> flags, int64_t samples_per_gpu);
  std::vector<int64_t> indices(uint64_t seed, int64_t epoch) const override;
  size_t size() const override { return num_samples_; }
  /// Number of samples in each group (np.bincount(flags)).
  const std::vector<size_t>& group_sizes() const { return group_sizes_; }

 private:
  std::vector<std::vector<int64_t>> members_;
  int64_t samples_per_gpu_;
  std::vector<size_t> group_sizes_;
  size_t num_samples_ = 0;
};

/// MMDetection 2.x's DistributedSampler (PyTorch's, drop_last false): the indices 0 .. n - 1,
/// permuted by torch.randperm with a CPU generator seeded `seed + epoch` when shuffling, repeated
/// until there are total_size = ceil(n / num_replicas) * num_replicas of them, and every
/// num_replicas-th from position `rank`. Every rank gets ceil(n / num_replicas) indices and
/// together they cover the dataset; the order is PyTorch's for the same seed.
class DETKIT_API DistributedSampler : public Sampler {
 public:
  /// Throws Error unless 0 <= rank < num_replicas.
  DistributedSampler(size_t dataset_size, int64_t num_replicas, int64_t rank, bool shuffle = true);
  std::vector<int64_t> indices(uint64_t seed, int64_t epoch) const override;
  size_t size() const override { return num_samples_; }

 private:
  size_t dataset_size_;
  int64_t num_replicas_, rank_;
  bool shuffle_;
  size_t num_samples_;
};

/// MMDetection 2.x's DistributedGroupSampler: with a CPU generator seeded `seed + epoch`, each
/// non-empty aspect-ratio group (in flag order) is permuted (torch.randperm) and repeated until
/// its size is a multiple of samples_per_gpu * num_replicas; the batches of all groups are then
/// permuted (torch.randperm), and rank r takes the r-th contiguous num_samples of them. Every
/// batch of a rank comes from one group; the order is MMDetection's for the same seed.
class DETKIT_API DistributedGroupSampler : public Sampler {
 public:
  /// `flags[i]` is the group of sample i. Throws Error if samples_per_gpu < 1 or the rank is
  /// not in [0, num_replicas).
  DistributedGroupSampler(std::vector<uint8_t> flags, int64_t samples_per_gpu, int64_t num_replicas,
                          int64_t rank);
  std::vector<int64_t> indices(uint64_t seed, int64_t epoch) const override;
  size_t size() const override { return num_samples_; }

 private:
  std::vector<std::vector<int64_t>> members_;
  int64_t samples_per_gpu_, num_replicas_, rank_;
  size_t num_samples_ = 0;
};

/// The sample indices of each aspect-ratio group (`flags[i]` is sample i's group), in index
/// order; groups without samples are empty. Shared by the group samplers.
DETKIT_API std::vector<std::vector<int64_t>> group_members(const std::vector<uint8_t>& flags);

/// splitmix64: a well-mixed 64-bit hash, used to derive independent seeds.
DETKIT_API uint64_t mix_seed(uint64_t value);

/// A uniform integer in [0, n) from `engine` (Lemire-free, portable: the same on every
/// platform, unlike std::uniform_int_distribution).
DETKIT_API uint64_t uniform_index(std::mt19937_64& engine, uint64_t n);

}  // namespace detkit
