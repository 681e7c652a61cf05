// Reading and writing COCO JSON: the happy path, and every kind of bad input named by file and
// element.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "detkit/core/coco_json.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::TempDir;
using testing::write_file;

const char* kGood = R"({
  "images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480},
             {"id": 3, "file_name": "b.jpg", "width": 20, "height": 10}],
  "categories": [{"id": 5, "name": "cat"}, {"id": 2, "name": "dog"}],
  "annotations": [
    {"id": 1, "image_id": 7, "category_id": 5, "bbox": [1.5, 2, 30, 40.25], "area": 1000,
     "iscrowd": 0, "segmentation": [[1, 2, 3, 4, 5, 6]]},
    {"id": 2, "image_id": 3, "category_id": 2, "bbox": [0, 0, 4, 5], "iscrowd": 1,
     "segmentation": {"counts": "abc", "size": [10, 20]}},
    {"id": 3, "image_id": 3, "category_id": 5, "bbox": [1, 1, 2, 2], "area": 4.0, "ignore": 1,
     "iscrowd": false}
  ]
})";

/// The message of the DataError that reading `text` as annotations throws ("" when none).
std::string annotation_error(const std::string& text, const CocoReadOptions& options = {}) {
  TempDir dir;
  const std::string path = dir.file("gt.json");
  write_file(path, text);
  try {
    read_coco_annotations(path, options);
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << "the message names the file: " << message;
    return message;
  }
  return "";
}

std::string results_error(const std::string& text) {
  TempDir dir;
  const std::string path = dir.file("dets.json");
  write_file(path, text);
  try {
    read_coco_results(path);
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    return message;
  }
  return "";
}

/// kGood with the first annotation replaced by `annotation`.
std::string with_annotation(const std::string& annotation) {
  return R"({"images": [{"id": 7, "file_name": "a.jpg"}], "categories": [{"id": 5, "name": "c"}],
             "annotations": [)" +
         annotation + "]}";
}

TEST(CocoJson, ReadsImagesCategoriesAndAnnotations) {
  const CocoGroundTruth gt = parse_coco_annotations(kGood, "good.json");
  ASSERT_EQ(gt.images.size(), 2u);
  EXPECT_EQ(gt.images[0].id, 7);
  EXPECT_EQ(gt.images[0].file_name, "a.jpg");
  EXPECT_EQ(gt.images[0].width, 640);
  EXPECT_EQ(gt.images[1].height, 10);
  ASSERT_EQ(gt.categories.size(), 2u);
  EXPECT_EQ(gt.categories[0].name, "cat");  // file order
  EXPECT_EQ(gt.categories[1].id, 2);
  ASSERT_EQ(gt.annotations.size(), 3u);
  const CocoAnnotation& first = gt.annotations[0];
  EXPECT_EQ(first.image_id, 7);
  EXPECT_EQ(first.category_id, 5);
  EXPECT_DOUBLE_EQ(first.bbox[0], 1.5);
  EXPECT_DOUBLE_EQ(first.bbox[3], 40.25);
  EXPECT_DOUBLE_EQ(first.area, 1000);  // the field, not w * h
  EXPECT_FALSE(first.iscrowd);
  EXPECT_TRUE(gt.annotations[1].iscrowd);
  EXPECT_DOUBLE_EQ(gt.annotations[1].area, 20);  // no area field: w * h
  EXPECT_TRUE(gt.annotations[2].ignore);
  EXPECT_FALSE(gt.annotations[2].iscrowd);
  EXPECT_EQ(gt.skipped_annotations, 0u);
}

TEST(CocoJson, TruncatedFileNamesFileAndLine) {
  const std::string text = kGood;
  const std::string message = annotation_error(text.substr(0, text.size() / 2));
  EXPECT_NE(message.find("invalid JSON"), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("line "), std::string::npos) << message;
}

TEST(CocoJson, SyntaxErrorGivesLineAndColumn) {
  const std::string message =
      annotation_error("{\"images\": [],\n \"categories\": [}\n, \"annotations\": []}");
  EXPECT_NE(message.find("line 2, column 17"), std::string::npos) << message;
  EXPECT_NE(message.find("'}'"), std::string::npos) << message;
  EXPECT_NE(annotation_error("").find("empty"), std::string::npos);
  EXPECT_NE(annotation_error("{\"images\": [],}").find("quoted key"), std::string::npos);
}

TEST(CocoJson, NaNIsRejectedWithItsPosition) {
  const std::string message =
      annotation_error(with_annotation(R"({"id": 1, "image_id": 7, "category_id": 5,
                                          "bbox": [1, 2, NaN, 4]})"));
  EXPECT_NE(message.find("NaN is not a JSON number"), std::string::npos) << message;
  EXPECT_NE(message.find("line 3"), std::string::npos) << message;
}

TEST(CocoJson, NumbersBeyondRangeNameLineAndElement) {
  // simdjson rejects these without saying where; the message gives file, line and element.
  struct Case {
    std::string text;
    std::string expected;  // "" = accepted
  };
  const Case cases[] = {
      {with_annotation(R"({"id": 1, "image_id": 7, "category_id": 5,
          "bbox": [1e999, 2, 3, 4]})"),
       "line 3, column 20 (byte 177), at annotations[0].bbox[0]: the number 1e999 is beyond the "
       "range of a double"},
      {with_annotation(R"({"id": 1, "image_id": 7, "category_id": 5, "bbox": [1, 2, 3, 4],
          "area": -2.5e308})"),
       "line 3, column 19 (byte 198), at annotations[0].area: the number -2.5e308 is beyond"},
      {R"({"images": [{"id": 123456789012345678901, "file_name": "a.jpg"}], "categories": []})",
       "line 1, column 20 (byte 19), at images[0].id: the integer 123456789012345678901 is beyond "
       "the 64-bit range"},
      {R"({"images": [], "categories": [{"id": -9223372036854775809, "name": "a"}]})",
       "line 1, column 38 (byte 37), at categories[0].id: the integer -9223372036854775809 is "
       "beyond the 64-bit range"},
      {with_annotation(R"({"id": 1, "image_id": 7, "category_id": 5, "bbox": [1e-999, 2, 3, 4]})"),
       ""},  // underflows to 0, as Python's json does
  };
  for (const Case& c : cases) {
    const std::string message = annotation_error(c.text);
    if (c.expected.empty()) {
      EXPECT_EQ(message, "") << c.text;
    } else {
      EXPECT_NE(message.find(": invalid JSON: " + c.expected), std::string::npos) << message;
    }
  }
  const std::string message =
      results_error(R"([{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 1e400}])");
  EXPECT_NE(message.find("at [0].score: the number 1e400 is beyond the range of a double"),
            std::string::npos)
      << message;
}

TEST(CocoJson, WrongTypesNameTheAnnotation) {
  std::string message = annotation_error(
      with_annotation(R"({"id": 12, "image_id": 7, "category_id": 5, "bbox": [1, "2", 3, 4]})"));
  EXPECT_NE(message.find("annotations[0] (id 12)"), std::string::npos) << message;
  EXPECT_NE(message.find("'bbox' must be a number, got a string"), std::string::npos) << message;

  message = annotation_error(
      with_annotation(R"({"id": 12, "image_id": "7", "category_id": 5, "bbox": [1, 2, 3, 4]})"));
  EXPECT_NE(message.find("'image_id' must be an integer, got a string"), std::string::npos)
      << message;

  message = annotation_error(with_annotation(
      R"({"id": 12, "image_id": 7, "category_id": 5, "bbox": [1, 2, 3, 4], "area": null})"));
  EXPECT_NE(message.find("'area' must be a number, got null"), std::string::npos) << message;

  message = annotation_error(
      with_annotation(R"({"id": 12, "image_id": 7, "category_id": 5, "bbox": [1, 2, 3]})"));
  EXPECT_NE(message.find("'bbox' must be 4 numbers [x, y, w, h], got 3"), std::string::npos)
      << message;

  message = annotation_error(
      with_annotation(R"({"id": 12, "image_id": 7, "category_id": 5, "bbox": {"x": 1}})"));
  EXPECT_NE(message.find("'bbox' must be a list of 4 numbers"), std::string::npos) << message;
}

TEST(CocoJson, MissingFieldsAreNamed) {
  EXPECT_NE(
      annotation_error(with_annotation(R"({"id": 4, "category_id": 5, "bbox": [1, 2, 3, 4]})"))
          .find("annotations[0] (id 4): missing 'image_id'"),
      std::string::npos);
  EXPECT_NE(annotation_error(
                with_annotation(R"({"image_id": 7, "category_id": 5, "bbox": [1, 2, 3, 4]})"))
                .find("annotations[0]: missing 'id'"),
            std::string::npos);
  EXPECT_NE(annotation_error(R"({"images": [{"id": 1}], "categories": []})")
                .find("images[0] (id 1): missing 'file_name'"),
            std::string::npos);
  EXPECT_NE(annotation_error(R"({"categories": []})").find("missing the top-level list 'images'"),
            std::string::npos);
  EXPECT_NE(annotation_error(R"([1, 2])").find("must be a JSON object"), std::string::npos);
}

TEST(CocoJson, DuplicateIdsKeepTheLaterEntryAsPycocotoolsWithAPrintedWarning) {
  ::testing::internal::CaptureStderr();
  const CocoGroundTruth gt = parse_coco_annotations(
      R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 5}, {"id": 2, "file_name": "b.jpg"},
                     {"id": 1, "file_name": "a.jpg", "width": 9}],
          "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]})",
      "dup.json");
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(gt.images.size(), 2u);
  EXPECT_EQ(gt.images[0].id, 1);
  EXPECT_EQ(gt.images[0].width, 9);
  ASSERT_EQ(gt.categories.size(), 1u);
  EXPECT_EQ(gt.categories[0].name, "b");
  EXPECT_TRUE(gt.warnings.empty());  // they are printed, not left for the caller to print
  EXPECT_EQ(err,
            "warning: dup.json: images[2] (id 1): duplicate image id; this entry replaces the "
            "earlier one (as pycocotools does)\n"
            "warning: dup.json: categories[1] (id 1): duplicate category id; this entry replaces "
            "the earlier one (as pycocotools does)\n");

  // Many duplicates: the first five, then how many more.
  std::string images;
  for (int i = 0; i < 8; ++i)
    images += std::string(i ? ", " : "") + R"({"id": 4, "file_name": "x.jpg"})";
  ::testing::internal::CaptureStderr();
  parse_coco_annotations(R"({"images": [)" + images + R"(], "categories": []})", "many.json");
  const std::string many = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(many.begin(), many.end(), '\n'), 6) << many;
  EXPECT_NE(many.find("warning: many.json: 2 more duplicate image or category ids"),
            std::string::npos)
      << many;
  EXPECT_THROW(
      parse_coco_annotations(
          R"({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "a"}],
                       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]},
                                       {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]})",
          "dup.json"),
      InvalidAnnotationError);
}

TEST(CocoJson, UnknownImageOrCategoryNamesTheAnnotationId) {
  std::string message = annotation_error(
      with_annotation(R"({"id": 31, "image_id": 99, "category_id": 5, "bbox": [1, 2, 3, 4]})"));
  EXPECT_NE(message.find("annotations[0] (id 31): image_id 99 is not in 'images'"),
            std::string::npos)
      << message;
  message = annotation_error(
      with_annotation(R"({"id": 32, "image_id": 7, "category_id": 6, "bbox": [1, 2, 3, 4]})"));
  EXPECT_NE(message.find("annotations[0] (id 32): category_id 6 is not in 'categories'"),
            std::string::npos)
      << message;
}

TEST(CocoJson, EmptyBoxesThrowOrAreSkipped) {
  const std::string text = with_annotation(
      R"({"id": 1, "image_id": 7, "category_id": 5, "bbox": [1, 2, 0, 4]},
         {"id": 2, "image_id": 7, "category_id": 5, "bbox": [1, 2, 3, 4]},
         {"id": 3, "image_id": 7, "category_id": 5, "bbox": [1, 2, 3, -1]},
         {"id": 4, "image_id": 8, "category_id": 5, "bbox": [1, 2, 3, 4]})");
  EXPECT_THROW(parse_coco_annotations(text, "x.json"), InvalidAnnotationError);
  EXPECT_NE(annotation_error(text).find("(id 1): bbox width and height must be > 0, got w=0 h=4"),
            std::string::npos);
  CocoReadOptions skip;
  skip.skip_invalid = true;
  const CocoGroundTruth gt = parse_coco_annotations(text, "x.json", skip);
  ASSERT_EQ(gt.annotations.size(), 1u);
  EXPECT_EQ(gt.annotations[0].id, 2);
  EXPECT_EQ(gt.skipped_annotations, 3u);
  ASSERT_EQ(gt.warnings.size(), 3u);
  EXPECT_NE(gt.warnings[1].find("(id 3)"), std::string::npos) << gt.warnings[1];
  EXPECT_NE(gt.warnings[2].find("image_id 8"), std::string::npos) << gt.warnings[2];
}

TEST(CocoJson, MissingFileIsADataError) {
  try {
    read_coco_annotations("/nonexistent/gt.json");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/gt.json: cannot open"), std::string::npos);
  }
}

TEST(CocoJson, ReadsResults) {
  const auto dets = parse_coco_results(
      R"([{"image_id": 7, "category_id": 5, "bbox": [1, 2.5, 3, 4], "score": 0.25},
          {"image_id": 3, "category_id": 2, "bbox": [0, 0, 1e2, 4], "score": 1,
           "segmentation": []}])",
      "dets.json");
  ASSERT_EQ(dets.size(), 2u);
  EXPECT_EQ(dets[0].image_id, 7);
  EXPECT_DOUBLE_EQ(dets[0].bbox[1], 2.5);
  EXPECT_DOUBLE_EQ(dets[0].score, 0.25);
  EXPECT_DOUBLE_EQ(dets[1].bbox[2], 100);
  EXPECT_TRUE(parse_coco_results("[]", "empty.json").empty());
}

TEST(CocoJson, BadResultsNameTheEntry) {
  EXPECT_NE(results_error(R"({"image_id": 1})").find("must be a JSON list"), std::string::npos);
  EXPECT_NE(results_error(R"([{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4]}])")
                .find("[0]: missing 'score'"),
            std::string::npos);
  EXPECT_NE(results_error(R"([{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 1},
                              {"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": "high"}])")
                .find("[1]: 'score' must be a number, got a string"),
            std::string::npos);
  EXPECT_NE(results_error(R"([{"image_id": 1, "category_id": 2, "segmentation": [], "score": 1}])")
                .find("missing 'bbox'"),
            std::string::npos);
  EXPECT_NE(results_error(R"([{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, Infinity]}])")
                .find("Infinity is not a JSON number"),
            std::string::npos);
}

TEST(CocoJson, WritesResultsAtomicallyAndReadsThemBack) {
  TempDir dir;
  const std::string path = dir.file("results.json");
  const std::vector<CocoDetection> dets = {{1, 2, {0.1, 2.5, 3e-7, 1234567.125}, 0.123456789},
                                           {-4, 90, {0, 0, 1, 1}, 1}};
  write_coco_results(path, dets);
  const auto back = read_coco_results(path);
  ASSERT_EQ(back.size(), dets.size());
  for (size_t i = 0; i < dets.size(); ++i) {
    EXPECT_EQ(back[i].image_id, dets[i].image_id);
    EXPECT_EQ(back[i].category_id, dets[i].category_id);
    EXPECT_EQ(back[i].bbox, dets[i].bbox);  // exact: shortest round-trip numbers
    EXPECT_EQ(back[i].score, dets[i].score);
  }
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u) << "no temporary file is left behind";
  EXPECT_THROW(write_coco_results(dir.file("missing/folder/r.json"), dets), Error);
}

}  // namespace
}  // namespace detkit
