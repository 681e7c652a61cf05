// `detkit data synth` and `detkit convert cityscapes` through the CLI: exit codes and messages.
#include <gtest/gtest.h>

#include <filesystem>

#include "detkit/core/coco_json.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

TEST(DataCommand, SynthWritesTheDataset) {
  TempDir dir;
  const ProcessResult result =
      run_detkit({"data", "synth", "--out", dir.path(), "--num-train", "5", "--num-val", "2",
                  "--classes", "3", "--seed", "11", "--image-size", "64", "48"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // The progress bar (stderr is not a terminal here: lines, the last one for every split).
  EXPECT_NE(result.err.find("synth train [####################] 5/5"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("synth val [####################] 2/2"), std::string::npos)
      << result.err;
  EXPECT_NE(result.out.find("wrote 5 training images"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("rectangle (id 1), ellipse (id 3), triangle (id 5)"), std::string::npos)
      << result.out;
  const CocoGroundTruth train = read_coco_annotations(dir.file("annotations/train.json"));
  EXPECT_EQ(train.images.size(), 5u);
  EXPECT_EQ(train.images[0].width, 64);
  EXPECT_EQ(train.images[0].height, 48);
  EXPECT_EQ(read_coco_annotations(dir.file("annotations/val.json")).images.size(), 2u);
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("val")));
}

TEST(DataCommand, BadArgumentsFailWithAMessage) {
  TempDir dir;
  ProcessResult result = run_detkit({"data", "synth", "--out", dir.path(), "--classes", "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("number of classes must be in 1..16, got 0"), std::string::npos)
      << result.err;
  result = run_detkit({"data", "synth", "--num-train", "3"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--out DIR is required"), std::string::npos) << result.err;
  result = run_detkit({"data", "synth", "--out", dir.path(), "--image-size", "64"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--image-size takes a width and a height"), std::string::npos)
      << result.err;
  result = run_detkit({"data", "generate", "--out", dir.path()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown action 'generate'"), std::string::npos) << result.err;
  EXPECT_FALSE(result.signaled);
}

TEST(ConvertCommand, CityscapesToCoco) {
  TempDir dir;
  write_file(dir.file("gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_polygons.json"),
             R"({"imgHeight": 32, "imgWidth": 64, "objects": [
                 {"label": "truck", "polygon": [[2, 3], [12, 3], [12, 9], [2, 9]]}]})");
  const ProcessResult result = run_detkit(
      {"convert", "cityscapes", dir.file("gtFine"), dir.file("val.json"), "--split", "val"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("wrote 1 images and 1 annotations (0 crowd)"), std::string::npos)
      << result.out;
  const CocoGroundTruth gt = read_coco_annotations(dir.file("val.json"));
  ASSERT_EQ(gt.annotations.size(), 1u);
  EXPECT_EQ(gt.annotations[0].category_id, 27);
  EXPECT_EQ(gt.annotations[0].bbox, (std::array<double, 4>{2, 3, 11, 7}));
  EXPECT_EQ(gt.images[0].file_name, "frankfurt/frankfurt_000000_000294_leftImg8bit.png");
}

TEST(ConvertCommand, ErrorsNameThePath) {
  TempDir dir;
  ProcessResult result =
      run_detkit({"convert", "cityscapes", dir.file("missing"), dir.file("o.json")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find(dir.file("missing") + ": no such folder"), std::string::npos)
      << result.err;
  result = run_detkit({"convert", "pascal", dir.path(), dir.file("o.json")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown format 'pascal'"), std::string::npos) << result.err;
  result = run_detkit({"convert", "cityscapes", dir.path()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_FALSE(result.err.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.json")));
}

}  // namespace
}  // namespace detkit::testing
