// CocoDataset: label mapping, crowd/ignore boxes, filtering, classes subset/renaming, bad input.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <random>

#include "dataset_test_utils.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/coco_writer.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

// Categories in file order cat (7), dog (1), bird (3): labels 0, 1, 2.
// Image 1 (100x80, wide): cat, bird, a crowd dog, an `ignore` dog (skipped), a box 0.5 wide and
// one with area 0 (both skipped as MMDetection does). Image 2 (64x96, tall): a dog. Image 3: no
// annotations. Image 4: only a crowd cat. Image 5 (20x100): a dog, smaller than min_size 32.
const char* const kCoco = R"({
 "images": [
  {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
  {"id": 2, "file_name": "b.jpg", "width": 64, "height": 96},
  {"id": 3, "file_name": "empty.jpg", "width": 64, "height": 64},
  {"id": 4, "file_name": "crowd.jpg", "width": 64, "height": 64},
  {"id": 5, "file_name": "small.png", "width": 20, "height": 100}],
 "categories": [{"id": 7, "name": "cat"}, {"id": 1, "name": "dog"}, {"id": 3, "name": "bird"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
  {"id": 2, "image_id": 1, "category_id": 3, "bbox": [50, 5, 20, 10], "area": 200, "iscrowd": 0},
  {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 1},
  {"id": 4, "image_id": 1, "category_id": 1, "bbox": [60, 40, 10, 10], "area": 100, "ignore": 1},
  {"id": 5, "image_id": 1, "category_id": 7, "bbox": [1, 1, 0.5, 10], "area": 5, "iscrowd": 0},
  {"id": 6, "image_id": 1, "category_id": 7, "bbox": [5, 5, 10, 10], "area": 0, "iscrowd": 0},
  {"id": 7, "image_id": 2, "category_id": 1, "bbox": [0, 0, 64, 96], "area": 6144, "iscrowd": 0},
  {"id": 8, "image_id": 4, "category_id": 7, "bbox": [0, 0, 30, 30], "area": 900, "iscrowd": 1},
  {"id": 9, "image_id": 5, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}]
})";

class CocoDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override { write_file(ann_file(), kCoco); }
  std::string ann_file() const { return dir.file("ann.json"); }
  std::shared_ptr<DatasetBase> build(const std::string& extra = "") const {
    return build_dataset("{type: CocoDataset, ann_file: '" + ann_file() + "', img_prefix: '" +
                         dir.file("images") + "'" + extra + "}");
  }
  TempDir dir;
};

TEST_F(CocoDatasetTest, LabelsFollowCategoryOrderAndBoxesBecomeXyxy) {
  auto dataset = build();
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"cat", "dog", "bird"}));
  // Training: images 3 (no annotation) and 5 (below min_size 32) are dropped; 4 (crowd only)
  // stays with no gt box, as in MMDetection.
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2, 4}));
  const DataInfo& first = dataset->data_info(0);
  EXPECT_EQ(first.filename, "a.jpg");
  EXPECT_EQ(first.width, 100);
  EXPECT_EQ(first.height, 80);
  EXPECT_EQ(flat(first.gt.boxes()), (std::vector<float>{10, 20, 40, 60, 50, 5, 70, 15}));
  EXPECT_EQ(labels_of(first.gt), (std::vector<int64_t>{0, 2}));
  // Crowd boxes are ignored boxes; the `ignore: 1` annotation is skipped (MMDetection).
  EXPECT_EQ(flat(first.gt_ignore), (std::vector<float>{0, 0, 10, 10}));
  EXPECT_EQ(labels_of(dataset->data_info(1).gt), (std::vector<int64_t>{1}));
  EXPECT_TRUE(dataset->data_info(2).gt.empty());
  EXPECT_EQ(flat(dataset->data_info(2).gt_ignore), (std::vector<float>{0, 0, 30, 30}));
  EXPECT_EQ(dataset->group_flags(), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_FALSE(dataset->test_mode());
  EXPECT_EQ(dataset->default_metric(), "CocoMetric");
}

TEST_F(CocoDatasetTest, TestModeKeepsEveryImage) {
  auto dataset = build(", test_mode: true");
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(dataset->data_info(2).gt.empty());
  EXPECT_EQ(dataset->data_info(3).gt_ignore.size(), 1);
  EXPECT_TRUE(dataset->test_mode());
}

TEST_F(CocoDatasetTest, FilterEmptyGtAndMinSize) {
  EXPECT_EQ(image_ids(*build(", filter_empty_gt: false")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(image_ids(*build(", filter_empty_gt: false, min_size: 0")),
            (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(image_ids(*build(", min_size: 0")), (std::vector<int64_t>{1, 2, 4, 5}));
  EXPECT_EQ(image_ids(*build(", min_size: 70")), (std::vector<int64_t>{1}));
}

TEST_F(CocoDatasetTest, ClassesSubsetKeepsTheGivenOrder) {
  auto dataset = build(", classes: [bird, cat]");
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"bird", "cat"}));
  // Image 2 has only a dog: dropped; image 4's crowd cat keeps it. Boxes of left-out classes
  // (dogs, crowd or not) are gone.
  ASSERT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 4}));
  const DataInfo& info = dataset->data_info(0);
  EXPECT_EQ(labels_of(info.gt), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(flat(info.gt.boxes()), (std::vector<float>{10, 20, 40, 60, 50, 5, 70, 15}));
  EXPECT_TRUE(info.gt_ignore.empty());
}

TEST_F(CocoDatasetTest, ClassesMapRenames) {
  auto dataset = build(", classes: {dog: canine, cat: feline}");
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"canine", "feline"}));
  ASSERT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(labels_of(dataset->data_info(0).gt), (std::vector<int64_t>{1}));
  EXPECT_EQ(dataset->data_info(0).gt_ignore.size(), 1);  // the crowd dog
  EXPECT_EQ(labels_of(dataset->data_info(1).gt), (std::vector<int64_t>{0}));
}

TEST_F(CocoDatasetTest, ClassesFromAFile) {
  write_file(dir.file("classes.txt"), "bird\n\ncat\n");
  auto dataset = build(", classes: '" + dir.file("classes.txt") + "'");
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"bird", "cat"}));
}

TEST_F(CocoDatasetTest, UnknownClassNameListsTheKnownOnes) {
  const std::string message = error_message([&] { build(", classes: [cat, birds]"); });
  EXPECT_NE(message.find(ann_file()), std::string::npos) << message;
  EXPECT_NE(message.find("'birds' is not a class"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'bird'"), std::string::npos) << message;
  EXPECT_NE(message.find("known: cat, dog, bird"), std::string::npos) << message;
  EXPECT_NE(error_message([&] { build(", classes: [cat, cat]"); }).find("listed twice"),
            std::string::npos);
}

TEST_F(CocoDatasetTest, PrepareWithAnEmptyPipelineGivesTheSampleMeta) {
  auto dataset = build(", test_mode: true");
  const std::vector<PipelineSample> samples = dataset->prepare(0);
  ASSERT_EQ(samples.size(), 1u);
  const PipelineSample& sample = samples[0];
  EXPECT_EQ(sample.meta.filename, dir.file("images") + "/a.jpg");
  EXPECT_EQ(sample.meta.ori_filename, "a.jpg");
  EXPECT_EQ(sample.meta.image_id, 1);
  EXPECT_EQ(sample.meta.index, 0);
  EXPECT_EQ(flat(sample.ann.boxes()), (std::vector<float>{10, 20, 40, 60, 50, 5, 70, 15}));
  EXPECT_EQ(sample.ann_ignore.size(), 1);
  EXPECT_EQ(dataset->prepare(4)[0].meta.image_id, 5);
}

TEST_F(CocoDatasetTest, MissingAndTruncatedFilesAreNamed) {
  const std::string missing = dir.file("nope.json");
  std::string message =
      error_message([&] { build_dataset("{type: CocoDataset, ann_file: '" + missing + "'}"); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;

  const std::string truncated = dir.file("truncated.json");
  write_file(truncated, std::string(kCoco).substr(0, 300));
  message =
      error_message([&] { build_dataset("{type: CocoDataset, ann_file: '" + truncated + "'}"); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("line"), std::string::npos) << message;
}

const char* const kBadCoco = R"({
 "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80}],
 "categories": [{"id": 1, "name": "cat"}],
 "annotations": [
  {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
  {"id": 11, "image_id": 1, "category_id": 1, "bbox": [200, 10, 5, 5]},
  {"id": 12, "image_id": 2, "category_id": 1, "bbox": [10, 10, 0, 5]},
  {"id": 13, "image_id": 2, "category_id": 1, "bbox": [10, 10, 30, 30]}]
})";

TEST_F(CocoDatasetTest, BoxOutsideTheImageNamesFileAndAnnotation) {
  std::string text = kBadCoco;
  text.replace(text.find("[10, 10, 0, 5]"), 14, "[10, 10, 3, 5]");
  write_file(dir.file("bad.json"), text);
  const std::string message = error_message(
      [&] { build_dataset("{type: CocoDataset, ann_file: '" + dir.file("bad.json") + "'}"); });
  EXPECT_NE(message.find(dir.file("bad.json")), std::string::npos) << message;
  EXPECT_NE(message.find("annotation id 11 (image id 1)"), std::string::npos) << message;
  EXPECT_NE(message.find("outside the 100x80 image"), std::string::npos) << message;
}

TEST_F(CocoDatasetTest, ZeroWidthBoxNamesFileAndAnnotation) {
  std::string text = kBadCoco;
  text.replace(text.find("[200, 10, 5, 5]"), 15, "[20, 10, 5, 5]");
  write_file(dir.file("bad.json"), text);
  const std::string message = error_message(
      [&] { build_dataset("{type: CocoDataset, ann_file: '" + dir.file("bad.json") + "'}"); });
  EXPECT_NE(message.find("annotations[2] (id 12)"), std::string::npos) << message;
  EXPECT_NE(message.find("w=0"), std::string::npos) << message;
}

TEST_F(CocoDatasetTest, SkipInvalidDropsWithOneSummaryLine) {
  write_file(dir.file("bad.json"), kBadCoco);
  ::testing::internal::CaptureStderr();
  auto dataset = build_dataset("{type: CocoDataset, ann_file: '" + dir.file("bad.json") +
                               "', skip_invalid: true}");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("skipped 2 invalid annotations"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  ASSERT_EQ(dataset->size(), 2u);
  EXPECT_EQ(flat(dataset->data_info(0).gt.boxes()), (std::vector<float>{10, 10, 30, 30}));
  EXPECT_EQ(flat(dataset->data_info(1).gt.boxes()), (std::vector<float>{10, 10, 40, 40}));
}

TEST_F(CocoDatasetTest, ImagesNeedTheirSize) {
  write_file(
      dir.file("nosize.json"),
      R"({"images": [{"id": 4, "file_name": "a.jpg"}], "categories": [], "annotations": []})");
  const std::string message = error_message([&] {
    build_dataset("{type: CocoDataset, test_mode: true, ann_file: '" + dir.file("nosize.json") +
                  "'}");
  });
  EXPECT_NE(message.find("images[0] (id 4)"), std::string::npos) << message;
  EXPECT_NE(message.find("'width' and 'height'"), std::string::npos) << message;
}

TEST_F(CocoDatasetTest, UnknownParameterIsAConfigError) {
  const std::string message = error_message([&] { build(", filter_empty: true"); });
  EXPECT_NE(message.find("filter_empty"), std::string::npos) << message;
}

// One image per case of MMDetection's filtering, 64x64 unless said: 1 a cat; 2 only a crowd cat;
// 3 only a cat with area 0; 4 only a cat 0.5 wide; 5 only an `ignore: 1` cat; 6 nothing; 7 only
// a dog; 8 (20x100) a cat; 9 a crowd dog and a cat with area 0.
const char* const kFilterCoco = R"({"images": [
  {"id": 1, "file_name": "cat.jpg", "width": 64, "height": 64},
  {"id": 2, "file_name": "crowd.jpg", "width": 64, "height": 64},
  {"id": 3, "file_name": "area0.jpg", "width": 64, "height": 64},
  {"id": 4, "file_name": "thin.jpg", "width": 64, "height": 64},
  {"id": 5, "file_name": "ignored.jpg", "width": 64, "height": 64},
  {"id": 6, "file_name": "none.jpg", "width": 64, "height": 64},
  {"id": 7, "file_name": "dog.jpg", "width": 64, "height": 64},
  {"id": 8, "file_name": "small.jpg", "width": 20, "height": 100},
  {"id": 9, "file_name": "mixed.jpg", "width": 64, "height": 64}],
 "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0},
  {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 1},
  {"id": 3, "image_id": 3, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 0, "iscrowd": 0},
  {"id": 4, "image_id": 4, "category_id": 1, "bbox": [1, 1, 0.5, 10], "area": 5, "iscrowd": 0},
  {"id": 5, "image_id": 5, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "ignore": 1},
  {"id": 6, "image_id": 7, "category_id": 2, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0},
  {"id": 7, "image_id": 8, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0},
  {"id": 8, "image_id": 9, "category_id": 2, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 1},
  {"id": 9, "image_id": 9, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 0, "iscrowd": 0}]})";

/// "id:gt/ignored" for every sample, space-separated.
std::string kept_images(const DatasetBase& dataset) {
  std::string out;
  for (size_t i = 0; i < dataset.size(); ++i) {
    const DataInfo& info = dataset.data_info(i);
    out += (i ? " " : "") + std::to_string(info.image_id) + ":" + std::to_string(info.gt.size()) +
           "/" + std::to_string(info.gt_ignore.size());
  }
  return out;
}

TEST(CocoDatasetFilter, KeepsTheImagesMMDetectionKeeps) {
  // Expected: MMDetection 2.x's CocoDataset._filter_imgs and _parse_ann_info
  // (mmdet/datasets/coco.py) run on kFilterCoco with CLASSES = the file's categories: an image
  // stays for training when an annotation of a selected class refers to it (ids_in_cat), even
  // when _parse_ann_info then yields no gt box; `ignore: 1` annotations are skipped entirely.
  struct Case {
    const char* extra;
    const char* kept;
  };
  const Case cases[] = {
      {"", "1:1/0 2:0/1 3:0/0 4:0/0 5:0/0 7:1/0 9:0/1"},
      {", classes: [cat]", "1:1/0 2:0/1 3:0/0 4:0/0 5:0/0 9:0/0"},
      {", filter_empty_gt: false", "1:1/0 2:0/1 3:0/0 4:0/0 5:0/0 6:0/0 7:1/0 9:0/1"},
      {", test_mode: true", "1:1/0 2:0/1 3:0/0 4:0/0 5:0/0 6:0/0 7:1/0 8:1/0 9:0/1"},
  };
  TempDir dir;
  write_file(dir.file("filter.json"), kFilterCoco);
  for (const Case& c : cases) {
    auto dataset = build_dataset("{type: CocoDataset, ann_file: '" + dir.file("filter.json") + "'" +
                                 c.extra + "}");
    EXPECT_EQ(kept_images(*dataset), c.kept) << c.extra;
  }
}

TEST_F(CocoDatasetTest, ClassMissingFromTheFileIsSkippedWithSkipInvalid) {
  EXPECT_NE(error_message([&] { build(", classes: [cat, lion]"); }).find("'lion' is not a class"),
            std::string::npos);
  ::testing::internal::CaptureStderr();
  auto dataset = build(", classes: [cat, lion], skip_invalid: true");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: " + ann_file() + ": classes: 'lion' is not a class"),
            std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(dataset->classes(), (std::vector<std::string>{"cat", "lion"}));
  EXPECT_EQ(dataset->category_ids(), (std::vector<int64_t>{7, -1}));
  EXPECT_EQ(image_ids(*dataset), (std::vector<int64_t>{1, 4}));
}

TEST(CocoDatasetValues, SilentlyWrongValuesAreErrorsOrPrintedWarnings) {
  struct Case {
    const char* images;
    const char* bbox;
    const char* error;    // expected in the error message ("" = no error)
    const char* warning;  // expected on stderr ("" = nothing printed)
  };
  const Case cases[] = {
      {"", "[1, 1, 1e300, 5]",
       "annotation id 1 (image id 1): bbox [1, 1, 1e+300, 5] is beyond "
       "the range of a float",
       ""},
      {"", "[1, 1, 1e999, 5]",
       "line 3, column 88 (byte 203), at annotations[0].bbox[2]: the "
       "number 1e999 is beyond the range of a double",
       ""},
      {", {\"id\": 1, \"file_name\": \"again.jpg\", \"width\": 64, \"height\": 64}", "[1, 1, 5, 5]",
       "",
       "images[1] (id 1): duplicate image id; this entry replaces the "
       "earlier one"},
  };
  TempDir dir;
  const std::string path = dir.file("values.json");
  for (const Case& c : cases) {
    write_file(path, std::string(R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 64, )") +
                         R"("height": 64})" + c.images + "],\n \"categories\": [{\"id\": 1, " +
                         "\"name\": \"cat\"}],\n \"annotations\": [{\"id\": 1, \"image_id\": " +
                         "1, \"category_id\": 1, \"area\": 25, \"bbox\": " + c.bbox + "}]}");
    const std::string yaml = "{type: CocoDataset, ann_file: '" + path + "'}";
    ::testing::internal::CaptureStderr();
    std::string error;
    try {
      build_dataset(yaml);
    } catch (const DataError& e) {
      error = e.what();
    }
    const std::string err = ::testing::internal::GetCapturedStderr();
    if (*c.error) {
      EXPECT_NE(error.find(path + ": "), std::string::npos) << error;
      EXPECT_NE(error.find(c.error), std::string::npos) << error;
    } else {
      EXPECT_EQ(error, "");
    }
    if (*c.warning) {
      EXPECT_NE(err.find("warning: " + path + ": " + c.warning), std::string::npos) << err;
    } else {
      EXPECT_EQ(err, "");
    }
  }
}

/// Writes a COCO file like coco_eval_big.py's: `images` 640x480 images with 0..14 boxes each,
/// 80 categories, about 1.3 kB per image.
TEST(CocoDatasetLoad, ReferenceCocoEvalFiles) {
  for (int n = 1; n <= 6; ++n) {
    const std::string path = data_path("coco_eval/case_00" + std::to_string(n) + "/gt.json");
    const CocoGroundTruth gt = read_coco_annotations(path);
    // Case 6 has boxes entirely outside their image: an error unless skip_invalid.
    const std::string yaml = "{type: CocoDataset, test_mode: true, ann_file: '" + path + "'";
    if (n == 6) {
      EXPECT_NE(error_message([&] { build_dataset(yaml + "}"); }).find("lies outside"),
                std::string::npos);
    }
    ::testing::internal::CaptureStderr();
    auto dataset = build_dataset(yaml + (n == 6 ? ", skip_invalid: true}" : "}"));
    std::string err = ::testing::internal::GetCapturedStderr();
    // Cases 3 to 6 repeat image ids (the later entry wins, as in pycocotools): warnings.
    std::string other_lines;
    for (size_t start = 0, end; start < err.size(); start = end + 1) {
      end = err.find('\n', start);
      const std::string line = err.substr(start, end - start);
      if (line.find("duplicate image id") == std::string::npos &&
          line.find("more duplicate image or category ids") == std::string::npos)
        other_lines += line + "\n";
    }
    EXPECT_EQ(other_lines.empty(), n != 6) << err;
    EXPECT_EQ(err.find("duplicate image id") != std::string::npos, n >= 3) << err;
    ASSERT_EQ(dataset->size(), gt.images.size()) << path;
    ASSERT_EQ(dataset->classes().size(), gt.categories.size()) << path;
    size_t boxes = 0;
    for (size_t i = 0; i < dataset->size(); ++i) {
      const DataInfo& info = dataset->data_info(i);
      EXPECT_EQ(info.image_id, gt.images[i].id);
      boxes += info.gt.size() + info.gt_ignore.size();
      if (!info.gt.empty()) {
        EXPECT_GE(info.gt.labels().min().item<int64_t>(), 0);
        EXPECT_LT(info.gt.labels().max().item<int64_t>(), int64_t(gt.categories.size()));
      }
    }
    EXPECT_GT(boxes, 0u) << path;
    EXPECT_LE(boxes, gt.annotations.size()) << path;
  }
}

TEST(CocoDatasetLoad, ManyImages) {
  TempDir dir;
  write_random_coco_annotations(dir.file("big.json"), 2000);
  auto dataset = build_dataset("{type: CocoDataset, test_mode: true, ann_file: '" +
                               dir.file("big.json") + "'}");
  EXPECT_EQ(dataset->size(), 2000u);
  EXPECT_EQ(dataset->classes().size(), 80u);
}

}  // namespace
}  // namespace detkit::testing
