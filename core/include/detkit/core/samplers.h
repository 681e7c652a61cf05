// Samplers: the order in which the loader visits a dataset's samples in one epoch.
// GroupSampler is MMDetection 2.x's (mmdet/datasets/samplers/group_sampler.py); the sequential
// sampler is what MMDetection's test loader uses (shuffle=False, no sampler).
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
  std::vector<uint8_t> flags_;
  int64_t samples_per_gpu_;
  std::vector<size_t> group_sizes_;
  size_t num_samples_ = 0;
};

/// splitmix64: a well-mixed 64-bit hash, used to derive independent seeds.
DETKIT_API uint64_t mix_seed(uint64_t value);

/// A uniform integer in [0, n) from `engine` (Lemire-free, portable: the same on every
/// platform, unlike std::uniform_int_distribution).
DETKIT_API uint64_t uniform_index(std::mt19937_64& engine, uint64_t n);

}  // namespace detkit
