// Instances: equal lengths and one device enforced by the constructor and every setter (errors
// name the field and both lengths), selection, concatenation and moving between devices.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "detkit/error.h"
#include "detkit/structures/instances.h"
#include "test_support.h"

namespace {

using detkit::Boxes;
using detkit::Error;
using detkit::Instances;

const torch::TensorOptions kMeta = torch::TensorOptions().device(torch::kMeta);

/// `n` boxes (i, i, i + 1, i + 1), labels i % 3 and scores i / 10.
Instances make(int64_t n, bool with_scores = true) {
  const auto i = torch::arange(n, torch::kFloat32);
  return Instances(Boxes(torch::stack({i, i, i + 1, i + 1}, 1)), torch::arange(n) % 3,
                   with_scores ? i / 10 : torch::Tensor());
}

using detkit::testing::error_of;

/// True when `text` contains every one of `parts`.
bool mentions(const std::string& text, std::initializer_list<const char*> parts) {
  for (const char* p : parts) {
    if (text.find(p) == std::string::npos) return false;
  }
  return true;
}

TEST(Instances, ConstructorChecksLengthsAndConvertsDtypes) {
  const Instances inst = make(4);
  EXPECT_EQ(inst.size(), 4);
  EXPECT_EQ(inst.labels().scalar_type(), torch::kInt64);
  EXPECT_EQ(inst.scores().scalar_type(), torch::kFloat32);
  EXPECT_TRUE(Instances().empty());
  EXPECT_FALSE(make(2, false).has_scores());
  EXPECT_EQ(Instances(Boxes(), torch::Tensor()).size(), 0);
  EXPECT_TRUE(mentions(error_of([] { Instances(make(3).boxes(), torch::zeros({2})); }),
                       {"labels", "2 entries", "3"}));
  EXPECT_TRUE(
      mentions(error_of([] { Instances(make(3).boxes(), torch::zeros({3}), torch::zeros({4})); }),
               {"scores", "4 entries", "3"}));
  EXPECT_THROW(Instances(make(3).boxes(), torch::Tensor()), Error);
}

TEST(Instances, EverySetterEnforcesTheLength) {
  Instances inst = make(3);
  EXPECT_TRUE(
      mentions(error_of([&] { inst.set_boxes(make(2).boxes()); }), {"boxes", "2 entries", "3"}));
  EXPECT_TRUE(mentions(error_of([&] { inst.set_labels(torch::zeros({4})); }),
                       {"labels", "4 entries", "3"}));
  EXPECT_TRUE(mentions(error_of([&] { inst.set_scores(torch::zeros({1})); }),
                       {"scores", "1 entries", "3"}));
  EXPECT_TRUE(mentions(error_of([&] {
                         inst.set_field("masks", torch::zeros({5, 8, 8}));
                       }),
                       {"masks", "5 entries", "3"}));
  EXPECT_TRUE(mentions(error_of([&] { inst.set_scores(torch::tensor(1.0)); }), {"scores", "0-d"}));
  EXPECT_THROW(inst.set_labels(torch::Tensor()), Error);
  // Before, new boxes could change the length of instances without labels: no longer.
  Instances empty;
  EXPECT_TRUE(mentions(error_of([&] { empty.set_boxes(make(2).boxes()); }),
                       {"2 entries", "labels", "have 0"}));
  EXPECT_EQ(inst.size(), 3);  // nothing changed by the failed calls
  EXPECT_EQ(inst.labels().size(0), 3);

  inst.set_boxes(make(3).boxes().index(torch::tensor({2, 1, 0})));
  inst.set_labels(torch::tensor({7, 8, 9}, torch::kInt32));
  EXPECT_EQ(inst.labels().scalar_type(), torch::kInt64);
  inst.set_scores(torch::ones({3}, torch::kFloat64));
  inst.set_field("masks", torch::zeros({3, 8, 8}));
  EXPECT_EQ(inst.field("masks").size(0), 3);
  EXPECT_EQ(inst.field_names(), std::vector<std::string>{"masks"});
  EXPECT_THROW(inst.field("ignore_flags"), Error);
}

TEST(Instances, EverySetterEnforcesTheDevice) {
  Instances inst = make(2);
  EXPECT_TRUE(mentions(error_of([&] { inst.set_labels(torch::zeros({2}, kMeta)); }),
                       {"labels", "meta", "cpu"}));
  EXPECT_THROW(inst.set_scores(torch::zeros({2}, kMeta)), Error);
  EXPECT_THROW(inst.set_field("masks", torch::zeros({2, 4, 4}, kMeta)), Error);
  EXPECT_THROW(inst.set_boxes(inst.boxes().to(torch::kMeta)), Error);
  EXPECT_THROW(Instances(Boxes(torch::zeros({2, 4}, kMeta)), torch::zeros({2}, torch::kLong)),
               Error);
}

TEST(Instances, IndexSelectsEveryField) {
  Instances inst = make(4);
  inst.set_field("flags", torch::tensor({10, 11, 12, 13}));
  const Instances picked = inst.index(torch::tensor({false, true, false, true}));
  EXPECT_EQ(picked.size(), 2);
  EXPECT_TRUE(torch::equal(picked.labels(), torch::tensor({1, 0}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(picked.scores(), torch::tensor({0.1f, 0.3f})));
  EXPECT_TRUE(torch::equal(picked.field("flags"), torch::tensor({11, 13})));
  EXPECT_TRUE(torch::equal(picked.boxes().tensor().select(1, 0), torch::tensor({1.f, 3.f})));
}

TEST(Instances, CatJoinsMatchingPartsAndSkipsEmptyOnes) {
  const Instances joined = Instances::cat({make(2), Instances(), make(3)});
  EXPECT_EQ(joined.size(), 5);
  EXPECT_TRUE(joined.has_scores());
  EXPECT_TRUE(torch::equal(joined.labels(), torch::tensor({0, 1, 0, 1, 2}, torch::kLong)));
  EXPECT_TRUE(Instances::cat({}).empty());

  Instances with_flags = make(1);
  with_flags.set_field("flags", torch::ones({1}));
  EXPECT_THROW(Instances::cat({make(2), with_flags}), Error);
  EXPECT_THROW(Instances::cat({make(2), make(2, false)}), Error);
  EXPECT_THROW(Instances::cat({make(2), make(2).to(torch::kMeta)}), Error);
}

TEST(Instances, MovesEveryFieldToAnotherDevice) {
  Instances inst = make(3);
  inst.set_field("flags", torch::ones({3}));
  const Instances meta = inst.to(torch::kMeta);
  EXPECT_EQ(meta.device(), torch::Device(torch::kMeta));
  EXPECT_TRUE(meta.labels().is_meta());
  EXPECT_TRUE(meta.scores().is_meta());
  EXPECT_TRUE(meta.field("flags").is_meta());
  EXPECT_EQ(meta.size(), 3);
  // Default (CPU) empty instances join instances on another device.
  EXPECT_EQ(Instances::cat({Instances(), meta}).device(), torch::Device(torch::kMeta));
  // Undefined labels for no boxes are made on the boxes' device.
  EXPECT_TRUE(Instances(Boxes(torch::empty({0, 4}, kMeta)), torch::Tensor()).labels().is_meta());
}

}  // namespace
