// The synthetic shapes dataset: determinism, valid COCO files, tight boxes inside the images,
// and loading through CocoDataset with the loading transforms.
#include <gtest/gtest.h>

#include <filesystem>

#include "dataset_test_utils.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/synthetic_data.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

namespace fs = std::filesystem;

SyntheticDatasetSummary generate(const std::string& out, uint64_t seed, int threads = 1) {
  SyntheticDatasetOptions options;
  options.out_dir = out;
  options.num_train = 12;
  options.num_val = 4;
  options.num_classes = 4;
  options.seed = seed;
  options.image_width = 96;
  options.image_height = 64;
  options.threads = threads;
  return generate_synthetic_dataset(options);
}

/// Every file under `root` (relative path -> contents).
std::map<std::string, std::string> files_under(const std::string& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file())
      files[fs::relative(entry.path(), root).string()] = read_file(entry.path().string());
  }
  return files;
}

TEST(SyntheticData, SameSeedSameBytesWhateverTheThreads) {
  TempDir a, b, c;
  generate(a.path(), 7, 1);
  generate(b.path(), 7, 3);
  generate(c.path(), 8, 1);
  const auto files_a = files_under(a.path()), files_b = files_under(b.path()),
             files_c = files_under(c.path());
  EXPECT_EQ(files_a.size(), 2u + 12u + 4u);
  EXPECT_EQ(files_a, files_b);
  // Another seed changes the images and the annotations.
  ASSERT_EQ(files_c.count("annotations/train.json"), 1u);
  EXPECT_NE(files_a.at("annotations/train.json"), files_c.at("annotations/train.json"));
  size_t differing = 0;
  for (const auto& [name, bytes] : files_a)
    differing += files_c.count(name) == 0 || files_c.at(name) != bytes;
  EXPECT_GE(differing, 16u);
}

TEST(SyntheticData, WritesValidCocoFilesWithBoxesInsideTheImages) {
  TempDir dir;
  const SyntheticDatasetSummary summary = generate(dir.path(), 3);
  EXPECT_EQ(summary.class_names,
            (std::vector<std::string>{"rectangle", "ellipse", "triangle", "cross"}));
  EXPECT_EQ(summary.category_ids, (std::vector<int64_t>{1, 3, 5, 7}));
  const CocoGroundTruth gt = read_coco_annotations(summary.train_json);
  ASSERT_EQ(gt.images.size(), 12u);
  ASSERT_EQ(gt.categories.size(), 4u);
  EXPECT_EQ(gt.categories[3].id, 7);
  EXPECT_EQ(int64_t(gt.annotations.size()), summary.train_objects);
  EXPECT_GE(gt.annotations.size(), 12u);  // about 3.5 objects per image
  size_t png = 0;
  for (const CocoImage& image : gt.images) {
    EXPECT_EQ(image.width, 96);
    EXPECT_EQ(image.height, 64);
    EXPECT_TRUE(fs::is_regular_file(summary.train_dir + "/" + image.file_name)) << image.file_name;
    png += image.file_name.find(".png") != std::string::npos;
  }
  EXPECT_LT(png, gt.images.size());
  double mean_side = 0;
  for (const CocoAnnotation& ann : gt.annotations) {
    const auto [x, y, w, h] = ann.bbox;
    EXPECT_GE(x, 0);
    EXPECT_GE(y, 0);
    EXPECT_LE(x + w, 96);
    EXPECT_LE(y + h, 64);
    EXPECT_GE(w, 3);
    EXPECT_GE(h, 3);
    EXPECT_EQ(ann.area, w * h);
    EXPECT_FALSE(ann.iscrowd);
    EXPECT_EQ(ann.category_id % 2, 1);
    mean_side += std::sqrt(w * h) / gt.annotations.size();
  }
  EXPECT_GT(mean_side, 10);  // learnable: not tiny on average
  EXPECT_EQ(read_coco_annotations(summary.val_json).images.size(), 4u);
}

TEST(SyntheticData, LoadsWithCocoDatasetAndTheLoadingTransforms) {
  TempDir dir;
  const SyntheticDatasetSummary summary = generate(dir.path(), 5);
  auto dataset = build_dataset(
      "{type: CocoDataset, ann_file: '" + summary.train_json + "', img_prefix: '" +
      summary.train_dir + "', pipeline: [{type: LoadImageFromFile}, {type: LoadAnnotations}]}");
  EXPECT_EQ(dataset->classes(),
            (std::vector<std::string>{"rectangle", "ellipse", "triangle", "cross"}));
  ASSERT_GT(dataset->size(), 0u);
  const DataInfo& info = dataset->data_info(0);
  const std::vector<PipelineSample> samples = dataset->prepare(0);
  ASSERT_EQ(samples.size(), 1u);
  const PipelineSample& sample = samples[0];
  EXPECT_EQ(sample.img.sizes(), (std::vector<int64_t>{64, 96, 3}));
  EXPECT_TRUE(torch::equal(sample.gt.boxes().tensor(), info.gt.boxes().tensor()));
  EXPECT_TRUE(torch::equal(sample.gt.labels(), info.gt.labels()));
  // The objects differ from the background: the box interiors are not flat copies of it.
  EXPECT_GT(sample.img.to(torch::kFloat32).std().item<double>(), 5.0);
}

TEST(SyntheticData, RejectsBadOptions) {
  TempDir dir;
  SyntheticDatasetOptions options;
  options.out_dir = dir.path();
  options.num_classes = max_synthetic_classes() + 1;
  EXPECT_NE(error_message([&] { generate_synthetic_dataset(options); }).find("number of classes"),
            std::string::npos);
  options.num_classes = 2;
  options.image_width = 8;
  EXPECT_NE(error_message([&] { generate_synthetic_dataset(options); }).find("image size"),
            std::string::npos);
}

}  // namespace
}  // namespace detkit::testing
