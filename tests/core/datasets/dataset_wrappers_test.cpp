// ConcatDataset and RepeatDataset: sizes, indexing, meta.index, class agreement.
#include <gtest/gtest.h>

#include "dataset_test_utils.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

/// A COCO file with `count` images (ids first_id...), one box each, categories cat and dog.
std::string coco_file(const TempDir& dir, const std::string& name, int first_id, int count,
                      const std::string& second_class = "dog") {
  std::string images, annotations;
  for (int i = 0; i < count; ++i) {
    const int id = first_id + i;
    images += (i ? "," : "") + std::string("{\"id\": ") + std::to_string(id) +
              ", \"file_name\": \"" + std::to_string(id) +
              ".jpg\", \"width\": " + (i % 2 ? "40" : "80") + ", \"height\": 60}";
    annotations += (i ? "," : "") + std::string("{\"id\": ") + std::to_string(id) +
                   ", \"image_id\": " + std::to_string(id) +
                   ", \"category_id\": " + std::to_string(1 + i % 2) +
                   ", \"bbox\": [1, 2, 10, 20]}";
  }
  const std::string path = dir.file(name);
  write_file(path, "{\"images\": [" + images +
                       "], \"categories\": [{\"id\": 1, \"name\": \"cat\"}, " +
                       "{\"id\": 2, \"name\": \"" + second_class + "\"}], \"annotations\": [" +
                       annotations + "]}");
  return path;
}

std::string coco_config(const std::string& path, const std::string& extra = "") {
  return "{type: CocoDataset, ann_file: '" + path + "', img_prefix: imgs" + extra + "}";
}

TEST(ConcatDataset, ConcatenatesInOrder) {
  TempDir dir;
  const std::string a = coco_file(dir, "a.json", 1, 3), b = coco_file(dir, "b.json", 100, 2);
  auto dataset = build_dataset("{type: ConcatDataset, datasets: [" + coco_config(a) + ", " +
                               coco_config(b) + "]}");
  ASSERT_EQ(dataset->size(), 5u);
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2, 3, 100, 101}));
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(dataset->group_flags(), (std::vector<uint8_t>{1, 0, 1, 1, 0}));
  const std::vector<PipelineSample> samples = dataset->prepare(4);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].meta.image_id, 101);
  EXPECT_EQ(samples[0].meta.index, 4);  // counted over the whole
  EXPECT_EQ(samples[0].meta.filename, "imgs/101.jpg");
  EXPECT_NE(error_message([&] { dataset->data_info(5); }).find("out of range"), std::string::npos);
}

TEST(ConcatDataset, ClassesMustAgree) {
  TempDir dir;
  const std::string a = coco_file(dir, "a.json", 1, 2), b = coco_file(dir, "b.json", 10, 2, "bird");
  const std::string message = error_message([&] {
    build_dataset("{type: ConcatDataset, datasets: [" + coco_config(a) + ", " + coco_config(b) +
                  "]}");
  });
  EXPECT_NE(message.find("datasets[1] has classes [cat, bird]"), std::string::npos) << message;
  // A common `classes` subset makes them agree.
  auto dataset =
      build_dataset("{type: ConcatDataset, datasets: [" + coco_config(a, ", classes: [cat]") +
                    ", " + coco_config(b, ", classes: [cat]") + "]}");
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 10}));
  EXPECT_NE(error_message([&] { build_dataset("{type: ConcatDataset}"); }).find("datasets"),
            std::string::npos);
}

TEST(RepeatDataset, RepeatsTheIndex) {
  TempDir dir;
  const std::string a = coco_file(dir, "a.json", 1, 3);
  auto dataset = build_dataset("{type: RepeatDataset, times: 3, dataset: " + coco_config(a) + "}");
  ASSERT_EQ(dataset->size(), 9u);
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2, 3, 1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(dataset->prepare(7)[0].meta.index, 7);
  EXPECT_EQ(dataset->prepare(7)[0].meta.image_id, 2);
  EXPECT_NE(error_message([&] { dataset->prepare(9); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_message([&] {
              build_dataset("{type: RepeatDataset, times: 0, dataset: " + coco_config(a) + "}");
            }).find("times"),
            std::string::npos);
}

TEST(RepeatDataset, NestsInsideConcat) {
  TempDir dir;
  const std::string a = coco_file(dir, "a.json", 1, 2), b = coco_file(dir, "b.json", 50, 1);
  auto dataset = build_dataset(
      "{type: ConcatDataset, datasets: [{type: RepeatDataset, times: 2, "
      "dataset: " +
      coco_config(a) + "}, " + coco_config(b) + "]}");
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2, 1, 2, 50}));
}

}  // namespace
}  // namespace detkit::testing
