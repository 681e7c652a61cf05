// DistributedSampler and DistributedGroupSampler against MMDetection 2.x's (their __iter__
// written out with PyTorch by tests/reference/gen_distributed_samplers.py, run at test time with
// Debian's /usr/bin/python3): the indices of every rank for datasets smaller and larger than the
// number of replicas, with and without shuffling, several seeds and epochs, aspect-ratio groups
// (one empty), and what follows from them: equal shares, the whole dataset covered, batches from
// one group.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "detkit/core/samplers.h"
#include "detkit/error.h"
#include "reference_support.h"
#include "test_support.h"

namespace detkit {
namespace {

/// The integers of `text` separated by `separator`.
std::vector<int64_t> integers(const std::string& text, char separator = ' ') {
  std::vector<int64_t> values;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, separator)) {
    if (!item.empty()) values.push_back(std::stoll(item));
  }
  return values;
}

TEST(DistributedSamplers, EqualMMDetectionsForEveryRank) {
  testing::TempDir dir;
  testing::run_reference_script("gen_distributed_samplers.py", {dir.file("cases.txt")});
  std::ifstream in(dir.file("cases.txt"));
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    SCOPED_TRACE(line);
    const size_t colon = line.find(" : ");
    ASSERT_NE(colon, std::string::npos);
    const std::vector<int64_t> expected = integers(line.substr(colon + 3));
    std::istringstream head(line.substr(0, colon));
    std::string sampler;
    head >> sampler;
    if (sampler == "DistributedSampler") {
      int64_t n, replicas, rank, shuffle, seed, epoch;
      head >> n >> replicas >> rank >> shuffle >> seed >> epoch;
      const DistributedSampler s(static_cast<size_t>(n), replicas, rank, shuffle != 0);
      EXPECT_EQ(s.indices(static_cast<uint64_t>(seed), epoch), expected);
      EXPECT_EQ(s.size(), expected.size());
    } else {
      std::string flags_text;
      int64_t spg, replicas, rank, seed, epoch;
      head >> flags_text >> spg >> replicas >> rank >> seed >> epoch;
      std::vector<uint8_t> flags;
      for (int64_t f : integers(flags_text, ','))
        flags.push_back(static_cast<uint8_t>(f));
      const DistributedGroupSampler s(flags, spg, replicas, rank);
      EXPECT_EQ(s.indices(static_cast<uint64_t>(seed), epoch), expected);
      EXPECT_EQ(s.size(), expected.size());
    }
    ++checked;
  }
  EXPECT_EQ(checked, 96);
}

TEST(DistributedSamplers, RanksShareTheDatasetEquallyAndBatchesStayInTheirGroup) {
  // 10 samples on 3 ranks: 4 each, 12 in all, every sample at least once.
  std::multiset<int64_t> seen;
  for (int64_t rank = 0; rank < 3; ++rank) {
    const auto mine = DistributedSampler(10, 3, rank).indices(3, 1);
    EXPECT_EQ(mine.size(), 4u);
    seen.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 10u);
  EXPECT_EQ(seen.size(), 12u);
  // Epochs reshuffle; the same (seed, epoch) gives the same order.
  const DistributedSampler sampler(50, 2, 1);
  EXPECT_NE(sampler.indices(0, 0), sampler.indices(0, 1));
  EXPECT_EQ(sampler.indices(0, 4), sampler.indices(0, 4));

  const std::vector<uint8_t> flags = {0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1};
  for (int64_t rank = 0; rank < 2; ++rank) {
    const auto mine = DistributedGroupSampler(flags, 2, 2, rank).indices(9, 2);
    ASSERT_EQ(mine.size() % 2, 0u);
    for (size_t b = 0; b < mine.size(); b += 2)
      EXPECT_EQ(flags[mine[b]], flags[mine[b + 1]]) << "rank " << rank << " batch " << b / 2;
  }

  EXPECT_NE(testing::error_of([] { DistributedSampler(10, 2, 2); }).find("rank 2 is not in"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] {
              DistributedGroupSampler({0, 1}, 0, 2, 0);
            }).find("samples_per_gpu must be >= 1"),
            std::string::npos);
  EXPECT_TRUE(DistributedSampler(0, 2, 1).indices(0, 0).empty());
}

}  // namespace
}  // namespace detkit
