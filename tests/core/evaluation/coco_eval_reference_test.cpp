// The six reference cases (tests/data/coco_eval, made with pycocotools 2.0): all 12 summary stats
// and every per-category AP must match to 1e-6 (in practice they match to ~1e-15).
#include <gtest/gtest.h>

#include <cmath>

#include "detkit/core/coco_eval.h"
#include "eval_test_helpers.h"
#include "test_support.h"

namespace detkit {
namespace {

class CocoReference : public ::testing::TestWithParam<std::string> {};

TEST_P(CocoReference, MatchesPycocotools) {
  const std::string dir = testing::data_path("coco_eval/" + GetParam());
  const CocoGroundTruth gt = read_coco_annotations(dir + "/gt.json");
  const std::vector<CocoDetection> dets = read_coco_results(dir + "/dets.json");
  const CocoEvalResult result = evaluate_coco(gt, dets, {}, dir + "/dets.json");

  testing::JsonFile expected(dir + "/expected.json");
  simdjson::dom::array stats = expected.root["stats"].get_array().value();
  ASSERT_EQ(stats.size(), 12u);
  double worst = 0;
  size_t i = 0;
  for (simdjson::dom::element value : stats) {
    const double want = value.get_double().value();
    EXPECT_NEAR(result.stats[i], want, 1e-6) << "stat " << i << " (" << coco_stat_names()[i] << ")";
    worst = std::max(worst, std::fabs(result.stats[i] - want));
    ++i;
  }
  simdjson::dom::object per_category = expected.root["per_category_ap"].get_object().value();
  EXPECT_EQ(per_category.size(), result.category_ids.size());
  for (simdjson::dom::key_value_pair entry : per_category) {
    const int64_t id = std::stoll(std::string(entry.key));
    const double want = entry.value.get_double().value();
    const auto found = std::find(result.category_ids.begin(), result.category_ids.end(), id);
    ASSERT_NE(found, result.category_ids.end()) << "category " << id;
    const double got = result.per_category_ap[found - result.category_ids.begin()];
    EXPECT_NEAR(got, want, 1e-6) << "category " << id;
    worst = std::max(worst, std::fabs(got - want));
  }
  EXPECT_LT(worst, 1e-12) << "largest difference from pycocotools";
}

INSTANTIATE_TEST_SUITE_P(Cases, CocoReference,
                         ::testing::Values("case_001", "case_002", "case_003", "case_004",
                                           "case_005", "case_006"));

TEST(CocoReference, ThreadCountDoesNotChangeNumbers) {
  const std::string dir = testing::data_path("coco_eval/case_005");
  const CocoGroundTruth gt = read_coco_annotations(dir + "/gt.json");
  const std::vector<CocoDetection> dets = read_coco_results(dir + "/dets.json");
  CocoEvalParams one, three;
  one.num_threads = 1;
  three.num_threads = 3;
  const CocoEvalResult a = evaluate_coco(gt, dets, one), b = evaluate_coco(gt, dets, three);
  EXPECT_EQ(a.stats, b.stats);
  EXPECT_EQ(a.precision, b.precision);
  EXPECT_EQ(a.recall, b.recall);
}

TEST(CocoReference, SummaryTextIsPycocotools) {
  const std::string dir = testing::data_path("coco_eval/case_001");
  const CocoEvalResult result =
      evaluate_coco(read_coco_annotations(dir + "/gt.json"), read_coco_results(dir + "/dets.json"));
  const std::string text = format_coco_summary(result);
  // stats: 0.0438, 0.1173, 0.0033, 0.15, 0.0672, 0.0290, 0.0357, 0.1857, 0.1857, 0.2, 0.2, 0.35
  const char* expected =
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.044\n"
      " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.117\n"
      " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.003\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.150\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.067\n"
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.029\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.036\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.186\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.186\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.200\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.200\n"
      " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.350\n";
  EXPECT_EQ(text, expected);

  const std::string table = format_coco_per_category(result);
  EXPECT_NE(table.find("| category | AP    | category | AP    | category | AP    |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| class_9  | 0.070 | class_16 | 0.045 | class_33 | 0.000 |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| class_84 | 0.187 |          |       |          |       |"),
            std::string::npos)
      << table;
}

}  // namespace
}  // namespace detkit
