// CustomDataset's own semantics on an in-memory subclass: classes subset/renaming, filtering,
// and the replacement of samples the pipeline drops (MMDetection's _rand_another).
#include <gtest/gtest.h>

#include <set>

#include "dataset_test_utils.h"

namespace detkit::testing {
namespace {

/// Drops the samples whose index is listed.
class DropListed : public TransformBase {
 public:
  explicit DropListed(std::set<int64_t> dropped) : dropped_(std::move(dropped)) {}
  bool apply(PipelineSample& sample) override { return dropped_.count(sample.meta.index) == 0; }
  std::string repr() const override { return "DropListed"; }

 private:
  std::set<int64_t> dropped_;
};

/// A CustomDataset over DataInfo made in the test.
class ListDataset : public CustomDataset {
 public:
  ListDataset(CustomDatasetOptions options, std::vector<DataInfo> infos,
              std::vector<std::string> classes)
      : CustomDataset(std::move(options)) {
    set_data(std::move(infos), std::move(classes));
  }
};

/// A ListDataset whose subclass says which images have an annotation of a selected class.
class FlaggedDataset : public CustomDataset {
 public:
  FlaggedDataset(CustomDatasetOptions options, std::vector<DataInfo> infos,
                 std::vector<bool> annotated)
      : CustomDataset(std::move(options)) {
    set_data(std::move(infos), {"a", "b", "c"}, annotated);
  }
};

DataInfo info(int64_t id, int64_t width, int64_t height, std::vector<int64_t> labels) {
  DataInfo out;
  out.filename = std::to_string(id) + ".jpg";
  out.image_id = id;
  out.width = width;
  out.height = height;
  std::vector<float> boxes;
  for (size_t i = 0; i < labels.size(); ++i)
    boxes.insert(boxes.end(), {0, 0, 10.f + i, 10});
  const int64_t n = static_cast<int64_t>(labels.size());
  out.gt =
      Instances(Boxes(torch::tensor(boxes).reshape({n, 4})), torch::tensor(labels, torch::kInt64));
  return out;
}

/// Samples 0, 2, 4 are wide (group 1), 1 and 3 tall (group 0); sample 5 has no box.
std::vector<DataInfo> infos() {
  return {info(10, 100, 50, {0}), info(11, 50, 100, {1}), info(12, 100, 50, {2, 0}),
          info(13, 50, 100, {1}), info(14, 100, 50, {0}), info(15, 100, 50, {})};
}

CustomDatasetOptions options_with(std::set<int64_t> dropped, bool test_mode = false) {
  CustomDatasetOptions options;
  options.ann_file = "list.json";
  options.test_mode = test_mode;
  options.pipeline = Pipeline({std::make_shared<DropListed>(std::move(dropped))});
  return options;
}

TEST(CustomDataset, FilterEmptyGtOnlyInTraining) {
  EXPECT_EQ(ListDataset(options_with({}), infos(), {"a", "b", "c"}).size(), 5u);
  EXPECT_EQ(ListDataset(options_with({}, true), infos(), {"a", "b", "c"}).size(), 6u);
  CustomDatasetOptions keep = options_with({});
  keep.filter_empty_gt = false;
  EXPECT_EQ(ListDataset(keep, infos(), {"a", "b", "c"}).size(), 6u);
}

TEST(CustomDataset, FilterEmptyGtFollowsTheSubclassFlags) {
  // Sample 5 has no box but an annotation (a crowd box, say): it stays, as in MMDetection;
  // sample 1 has a box but is flagged otherwise: the flags decide.
  const std::vector<bool> flags = {true, false, true, true, true, true};
  EXPECT_EQ(image_ids(FlaggedDataset(options_with({}), infos(), flags)),
            (std::vector<int64_t>{10, 12, 13, 14, 15}));
  EXPECT_EQ(FlaggedDataset(options_with({}, true), infos(), flags).size(), 6u);
  CustomDatasetOptions keep = options_with({});
  keep.filter_empty_gt = false;
  EXPECT_EQ(FlaggedDataset(keep, infos(), flags).size(), 6u);
  EXPECT_NE(error_message([&] {
              FlaggedDataset(options_with({}), infos(), {true});
            }).find("1 annotated flags for 6 images"),
            std::string::npos);
}

TEST(CustomDataset, SubsetRelabelsAndRenames) {
  CustomDatasetOptions options = options_with({});
  options.classes = {"c", "a"};
  options.class_renames = {"C", "A"};
  ListDataset dataset(options, infos(), {"a", "b", "c"});
  EXPECT_EQ(dataset.classes(), (std::vector<std::string>{"C", "A"}));
  EXPECT_EQ(image_ids(dataset), (std::vector<int64_t>{10, 12, 14}));
  EXPECT_EQ(labels_of(dataset.data_info(1).gt), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(flat(dataset.data_info(1).gt.boxes()),
            (std::vector<float>{0, 0, 10, 10, 0, 0, 11, 10}));
}

TEST(CustomDataset, AllFilteredIsAClearError) {
  CustomDatasetOptions options = options_with({});
  options.classes = {"b"};
  std::vector<DataInfo> only_a = {info(1, 64, 64, {0})};
  const std::string message = error_message([&] { ListDataset(options, only_a, {"a", "b"}); });
  EXPECT_NE(message.find("list.json"), std::string::npos) << message;
  EXPECT_NE(message.find("filter_empty_gt"), std::string::npos) << message;
}

TEST(CustomDataset, DroppedSampleIsReplacedFromTheSameGroup) {
  ListDataset dataset(options_with({0}), infos(), {"a", "b", "c"});
  const std::vector<uint8_t> flags = dataset.group_flags();
  EXPECT_EQ(flags, (std::vector<uint8_t>{1, 0, 1, 0, 1}));
  for (uint64_t seed = 0; seed < 20; ++seed) {
    random_engine().seed(seed);
    const std::vector<PipelineSample> samples = dataset.prepare(0);
    ASSERT_EQ(samples.size(), 1u);
    const int64_t replacement = samples[0].meta.index;
    EXPECT_NE(replacement, 0);
    EXPECT_EQ(flags[size_t(replacement)], 1) << "replacement " << replacement;
    // The draw comes from random_engine(): the same seed gives the same replacement.
    random_engine().seed(seed);
    EXPECT_EQ(dataset.prepare(0)[0].meta.index, replacement);
  }
  EXPECT_EQ(dataset.prepare(1)[0].meta.index, 1);  // not dropped
}

TEST(CustomDataset, TestModeDoesNotReplace) {
  ListDataset dataset(options_with({0}, true), infos(), {"a", "b", "c"});
  EXPECT_TRUE(dataset.prepare(0).empty());
  EXPECT_EQ(dataset.prepare(2).size(), 1u);
}

TEST(CustomDataset, PipelineThatDropsEverythingFails) {
  ListDataset dataset(options_with({1, 3}), infos(), {"a", "b", "c"});
  const std::string message = error_message([&] { dataset.prepare(1); });
  EXPECT_NE(message.find("dropped sample 1"), std::string::npos) << message;
  EXPECT_NE(message.find("DropListed"), std::string::npos) << message;
}

TEST(CustomDataset, IndexOutOfRange) {
  ListDataset dataset(options_with({}), infos(), {"a", "b", "c"});
  EXPECT_NE(error_message([&] { dataset.data_info(5); }).find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace detkit::testing
