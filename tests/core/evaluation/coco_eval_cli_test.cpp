// `detkit eval coco` and `detkit benchmark coco-eval` as a user runs them.
#include <gtest/gtest.h>

#include "eval_test_helpers.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::data_path;
using testing::run_detkit;

TEST(EvalCli, PrintsPycocotoolsSummaryAndPerCategoryTableAndWritesJson) {
  testing::TempDir dir;
  const std::string json = dir.file("stats.json");
  const auto result = run_detkit({"eval", "coco", data_path("coco_eval/case_001/gt.json"),
                                  data_path("coco_eval/case_001/dets.json"), "--json", json});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(
      result.out.find(
          " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.044\n"),
      std::string::npos)
      << result.out;
  EXPECT_NE(
      result.out.find(
          " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.350\n"),
      std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("| class_84 | 0.187 |"), std::string::npos) << result.out;

  testing::JsonFile stats(json);
  simdjson::dom::array values = stats.root["stats"].get_array().value();
  ASSERT_EQ(values.size(), 12u);
  EXPECT_NEAR(values.at(0).get_double().value(), 0.04381542389481432, 1e-12);
  EXPECT_NEAR(stats.root["per_category_ap"]["84"].get_double().value(), 0.18665199853318667, 1e-12);
  EXPECT_EQ(std::string(stats.root["per_category_name"]["84"].get_string().value()), "class_84");
}

TEST(EvalCli, BadInputIsOneMessageAndExitCodeOne) {
  testing::TempDir dir;
  const std::string broken = dir.file("broken.json");
  testing::write_file(broken, "[{\"image_id\": 1000, \"category_id\": 9, \"bbox\": [1, 2, 3");
  const auto truncated =
      run_detkit({"eval", "coco", data_path("coco_eval/case_001/gt.json"), broken});
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_FALSE(truncated.signaled);
  EXPECT_NE(truncated.err.find("detkit eval: error: " + broken + ": invalid JSON: line 1"),
            std::string::npos)
      << truncated.err;

  const std::string foreign = dir.file("foreign.json");
  testing::write_file(
      foreign, R"([{"image_id": 424242, "category_id": 9, "bbox": [1, 2, 3, 4], "score": 1}])");
  const auto wrong_images =
      run_detkit({"eval", "coco", data_path("coco_eval/case_001/gt.json"), foreign});
  EXPECT_EQ(wrong_images.exit_code, 1);
  EXPECT_NE(wrong_images.err.find("image_id 424242 is not an image of the ground truth"),
            std::string::npos)
      << wrong_images.err;

  const auto missing = run_detkit({"eval", "coco", dir.file("nope.json"), foreign});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.json: cannot open"), std::string::npos) << missing.err;

  const auto format = run_detkit({"eval", "voc", foreign, foreign});
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_NE(format.err.find("unknown format 'voc'"), std::string::npos) << format.err;
}

TEST(EvalCli, SkipInvalidWarnsAndEvaluates) {
  testing::TempDir dir;
  const std::string gt = dir.file("gt.json");
  testing::write_file(gt, R"({"images": [{"id": 1, "file_name": "1.jpg"}],
    "categories": [{"id": 1, "name": "thing"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]},
                    {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 10]}]})");
  const std::string dets = dir.file("dets.json");
  testing::write_file(
      dets, R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}])");
  const auto strict = run_detkit({"eval", "coco", gt, dets});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("annotations[1] (id 2): bbox width and height must be > 0"),
            std::string::npos)
      << strict.err;
  const auto lenient = run_detkit({"eval", "coco", gt, dets, "--skip-invalid"});
  ASSERT_EQ(lenient.exit_code, 0) << lenient.err;
  EXPECT_NE(lenient.err.find("skipped 1 invalid annotation"), std::string::npos) << lenient.err;
  EXPECT_NE(lenient.out.find("area=   all | maxDets=100 ] = 1.000"), std::string::npos)
      << lenient.out;
}

TEST(BenchmarkCli, PrintsPhasesBesidePycocotoolsMeasuredNowOrSaysWhyNot) {
  const std::vector<std::string> command = {"benchmark", "coco-eval",
                                            "--gt",      data_path("coco_eval/case_005/gt.json"),
                                            "--dets",    data_path("coco_eval/case_005/dets.json")};
  std::vector<std::string> without = command;
  without.push_back("--no-reference");
  const auto alone = run_detkit(without);
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  for (const char* part : {"load (gt + results)", "evaluate", "accumulate", "evaluate + accumulate",
                           "reference: not run (--no-reference)"})
    EXPECT_NE(alone.out.find(part), std::string::npos) << part << " in\n" << alone.out;
  EXPECT_EQ(alone.out.find("x\n"), std::string::npos) << "a ratio without a reference:\n"
                                                      << alone.out;

  // With the reference: pycocotools' times measured now, or the reason it could not run (never
  // a figure from another machine).
  const auto beside = run_detkit(command);
  ASSERT_EQ(beside.exit_code, 0) << beside.err;
  if (beside.out.find("reference: pycocotools, measured now") != std::string::npos) {
    EXPECT_NE(beside.out.find("x\n"), std::string::npos) << beside.out;
  } else {
    const size_t note = beside.out.find("reference not available (");
    ASSERT_NE(note, std::string::npos) << beside.out;
    EXPECT_NE(beside.out[note + 25], ')') << "no reason given:\n" << beside.out;
    EXPECT_EQ(beside.out.find("x\n"), std::string::npos) << beside.out;
  }
  EXPECT_NE(
      run_detkit({"benchmark", "coco-eval", "--gt", data_path("coco_eval/case_005/gt.json"),
                  "--dets", data_path("coco_eval/case_005/dets.json"), "--reference-seconds", "2"})
          .exit_code,
      0);
  const auto unknown = run_detkit({"benchmark", "everything"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown benchmark 'everything'"), std::string::npos);
}

}  // namespace
}  // namespace detkit
