// Samplers: sequential order and MMDetection's GroupSampler.
#include "detkit/core/samplers.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include "detkit/error.h"

namespace detkit {

uint64_t mix_seed(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

uint64_t uniform_index(std::mt19937_64& engine, uint64_t n) {
  if (n <= 1) return 0;
  // Rejection sampling on the largest multiple of n: exact, and the same on every platform.
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t draw;
  do {
    draw = engine();
  } while (draw >= limit);
  return draw % n;
}

std::vector<std::vector<int64_t>> group_members(const std::vector<uint8_t>& flags) {
  std::vector<std::vector<int64_t>> members;
  for (size_t i = 0; i < flags.size(); ++i) {
    if (members.size() <= flags[i]) members.resize(static_cast<size_t>(flags[i]) + 1);
    members[flags[i]].push_back(static_cast<int64_t>(i));
  }
  return members;
}

Sampler::~Sampler() = default;

SequentialSampler::SequentialSampler(size_t dataset_size) : dataset_size_(dataset_size) {}

std::vector<int64_t> SequentialSampler::indices(uint64_t /*seed*/, int64_t /*epoch*/) const {
  std::vector<int64_t> order(dataset_size_);
  std::iota(order.begin(), order.end(), 0);
  return order;
}

GroupSampler::GroupSampler(std::vector<uint8_t> flags, int64_t samples_per_gpu)
    : members_(group_members(flags)), samples_per_gpu_(samples_per_gpu) {
  if (samples_per_gpu < 1) {
    throw Error("GroupSampler: samples_per_gpu must be >= 1, got " +
                std::to_string(samples_per_gpu));
  }
  const auto spg = static_cast<size_t>(samples_per_gpu_);
  for (const auto& group : members_) {
    group_sizes_.push_back(group.size());
    num_samples_ += (group.size() + spg - 1) / spg * spg;
  }
}

std::vector<int64_t> GroupSampler::indices(uint64_t seed, int64_t epoch) const {
  std::mt19937_64 engine(mix_seed(mix_seed(seed ^ 0x67726f7570ULL) ^ static_cast<uint64_t>(epoch)));
  const auto spg = static_cast<size_t>(samples_per_gpu_);
  std::vector<int64_t> all;
  all.reserve(num_samples_);
  for (const auto& group : members_) {
    const size_t size = group.size();
    if (size == 0) continue;
    std::vector<int64_t> members = group;
    // np.random.shuffle: Fisher-Yates from the last position.
    for (size_t i = size - 1; i > 0; --i)
      std::swap(members[i], members[uniform_index(engine, i + 1)]);
    // np.random.choice(members, num_extra): with replacement.
    const size_t num_extra = (size + spg - 1) / spg * spg - size;
    for (size_t e = 0; e < num_extra; ++e)
      members.push_back(members[uniform_index(engine, size)]);
    all.insert(all.end(), members.begin(), members.end());
  }
  // np.random.permutation over whole batches.
  const size_t num_batches = all.size() / spg;
  std::vector<size_t> batch_order(num_batches);
  std::iota(batch_order.begin(), batch_order.end(), 0);
  for (size_t i = num_batches; i > 1; --i) {
    std::swap(batch_order[i - 1], batch_order[uniform_index(engine, i)]);
  }
  std::vector<int64_t> order;
  order.reserve(all.size());
  for (size_t batch : batch_order) {
    order.insert(order.end(), all.begin() + static_cast<std::ptrdiff_t>(batch * spg),
                 all.begin() + static_cast<std::ptrdiff_t>((batch + 1) * spg));
  }
  return order;
}

}  // namespace detkit
