// Hand-made COCO cases whose numbers follow from pycocotools' rules by hand: crowd regions,
// the `ignore` flag, score ties, no detections, detections on images without ground truth, and
// detections that do not belong to the ground truth.
#include <gtest/gtest.h>

#include "detkit/core/coco_eval.h"
#include "eval_test_helpers.h"

namespace detkit {
namespace {

using testing::add_annotation;
using testing::make_ground_truth;

constexpr int kAll = 0;  // area range index of "all"

/// AP @[.50:.95] of category index k (area all, maxDets 100).
double category_ap(const CocoEvalResult& result, size_t k) {
  return result.per_category_ap[k];
}

TEST(CocoCases, PerfectDetectionsScoreOne) {
  CocoGroundTruth gt = make_ground_truth(2, {3});
  add_annotation(gt, 1, 3, {10, 10, 20, 20});  // small (400)
  add_annotation(gt, 2, 3, {0, 0, 200, 100});  // large (20000)
  const std::vector<CocoDetection> dets = {{1, 3, {10, 10, 20, 20}, 0.9},
                                           {2, 3, {0, 0, 200, 100}, 0.8}};
  const CocoEvalResult r = evaluate_coco(gt, dets);
  EXPECT_DOUBLE_EQ(r.stats[0], 1.0);
  EXPECT_DOUBLE_EQ(r.stats[1], 1.0);
  EXPECT_DOUBLE_EQ(r.stats[3], 1.0);   // small
  EXPECT_DOUBLE_EQ(r.stats[4], -1.0);  // no medium object: -1, as pycocotools
  EXPECT_DOUBLE_EQ(r.stats[5], 1.0);
  EXPECT_DOUBLE_EQ(r.stats[6], 1.0);  // AR@1: one object and one detection per image
  EXPECT_DOUBLE_EQ(r.stats[8], 1.0);
}

TEST(CocoCases, CrowdRegionsAbsorbDetectionsWithIntersectionOverDetectionArea) {
  CocoGroundTruth gt = make_ground_truth(1, {1});
  add_annotation(gt, 1, 1, {0, 0, 10, 10});                    // regular, area 100
  add_annotation(gt, 1, 1, {50, 50, 50, 50}, /*crowd=*/true);  // crowd region
  const std::vector<CocoDetection> dets = {
      {1, 1, {90, 90, 20, 20}, 0.95},  // overlaps the crowd by 100/400 = 0.25: a false positive
      {1, 1, {60, 60, 10, 10}, 0.90},  // inside the crowd: IoU 1, ignored
      {1, 1, {0, 0, 10, 10}, 0.80},    // the regular object: true positive
      {1, 1, {70, 70, 10, 10}, 0.70},  // inside the crowd again (a crowd matches many): ignored
  };
  const CocoEvalResult r = evaluate_coco(gt, dets);
  // FP, ignored, TP, ignored -> precision envelope 0.5 at every recall threshold.
  EXPECT_DOUBLE_EQ(category_ap(r, 0), 0.5);
  EXPECT_DOUBLE_EQ(r.stats[1], 0.5);
  EXPECT_DOUBLE_EQ(r.stats[8], 1.0);  // recall 1 with 100 detections

  // Without the crowd flag the region is a second object: both crowd hits become TP/FP and AP
  // changes, which shows the flag is what made the difference.
  gt.annotations[1].iscrowd = false;
  const CocoEvalResult plain = evaluate_coco(gt, dets);
  EXPECT_NE(category_ap(plain, 0), 0.5);
}

TEST(CocoCases, IgnoreFlagFollowsPycocotools) {
  CocoGroundTruth gt = make_ground_truth(1, {1});
  add_annotation(gt, 1, 1, {0, 0, 10, 10});
  add_annotation(gt, 1, 1, {50, 50, 10, 10}, false, /*ignore=*/true);
  const std::vector<CocoDetection> dets = {{1, 1, {0, 0, 10, 10}, 0.9}};
  // pycocotools overwrites `ignore` with iscrowd: the flagged object still counts (recall 1/2).
  const CocoEvalResult r = evaluate_coco(gt, dets);
  EXPECT_DOUBLE_EQ(r.stats[8], 0.5);
  // use_ignore_flag honours it: the flagged object is ignored (recall 1).
  CocoEvalParams honour;
  honour.use_ignore_flag = true;
  EXPECT_DOUBLE_EQ(evaluate_coco(gt, dets, honour).stats[8], 1.0);
}

TEST(CocoCases, TiedScoresKeepImageOrderThenFileOrder) {
  // Images listed 2, 1 in the file; COCOeval walks them in id order (1, 2).
  CocoGroundTruth gt;
  gt.source = "ties";
  gt.images = {{2, "2.jpg", 100, 100}, {1, "1.jpg", 100, 100}};
  gt.categories = {{1, "a"}};
  add_annotation(gt, 1, 1, {0, 0, 10, 10});
  add_annotation(gt, 2, 1, {0, 0, 10, 10});
  // Same score: image 1's false positive comes first (stable mergesort), then image 2's hit.
  std::vector<CocoDetection> dets = {{2, 1, {0, 0, 10, 10}, 0.5}, {1, 1, {60, 60, 10, 10}, 0.5}};
  CocoEvalResult r = evaluate_coco(gt, dets);
  // tp [0, 1], fp [1, 1] -> recall [0, .5], precision envelope [.5, .5]: 51 of 101 points at .5.
  EXPECT_NEAR(r.stats[1], 0.5 * 51 / 101, 1e-15);
  // Give image 1's detection the hit instead: the TP now comes first -> precision 1 up to .5.
  dets = {{2, 1, {60, 60, 10, 10}, 0.5}, {1, 1, {0, 0, 10, 10}, 0.5}};
  r = evaluate_coco(gt, dets);
  EXPECT_NEAR(r.stats[1], 51.0 / 101, 1e-15);

  // Within one image, file order breaks ties: with maxDets 1 only the first one counts.
  CocoGroundTruth one = make_ground_truth(1, {1});
  add_annotation(one, 1, 1, {0, 0, 10, 10});
  EXPECT_DOUBLE_EQ(
      evaluate_coco(one, {{1, 1, {0, 0, 10, 10}, 0.5}, {1, 1, {50, 50, 5, 5}, 0.5}}).stats[6], 1.0);
  EXPECT_DOUBLE_EQ(
      evaluate_coco(one, {{1, 1, {50, 50, 5, 5}, 0.5}, {1, 1, {0, 0, 10, 10}, 0.5}}).stats[6], 0.0);
}

TEST(CocoCases, NoDetectionsGiveZeroAndNoGroundTruthGivesMinusOne) {
  CocoGroundTruth gt = make_ground_truth(3, {1, 2});
  add_annotation(gt, 1, 1, {0, 0, 40, 40});
  const CocoEvalResult r = evaluate_coco(gt, {});
  EXPECT_DOUBLE_EQ(r.stats[0], 0.0);
  EXPECT_DOUBLE_EQ(r.stats[8], 0.0);
  EXPECT_DOUBLE_EQ(r.stats[3], -1.0);  // no small object
  ASSERT_EQ(r.per_category_ap.size(), 2u);
  EXPECT_DOUBLE_EQ(r.per_category_ap[0], 0.0);
  EXPECT_DOUBLE_EQ(r.per_category_ap[1], -1.0);  // category 2 has no ground truth
  EXPECT_DOUBLE_EQ(r.recall_at(0, 1, kAll, 2), -1.0);
  EXPECT_NE(format_coco_per_category(r).find("| cat1     | 0.000 | cat2     | nan |"),
            std::string::npos)
      << format_coco_per_category(r);
}

TEST(CocoCases, DetectionsOnImagesWithoutGroundTruthAreFalsePositives) {
  CocoGroundTruth gt = make_ground_truth(2, {1});
  add_annotation(gt, 1, 1, {0, 0, 20, 20});
  std::vector<CocoDetection> dets = {{1, 1, {0, 0, 20, 20}, 0.5}};
  EXPECT_DOUBLE_EQ(evaluate_coco(gt, dets).stats[0], 1.0);
  dets.push_back({2, 1, {0, 0, 20, 20}, 0.9});  // image 2 has no objects; ranked first
  const CocoEvalResult r = evaluate_coco(gt, dets);
  // FP then TP: precision envelope 0.5 everywhere.
  EXPECT_DOUBLE_EQ(r.stats[0], 0.5);
  EXPECT_DOUBLE_EQ(r.precision_at(0, 100, 0, kAll, 2), 0.5);
}

TEST(CocoCases, AreaRangesUseTheAnnotationArea) {
  CocoGroundTruth gt = make_ground_truth(1, {1});
  // A 50x50 box whose `area` says small (a segment area, as in real COCO files).
  add_annotation(gt, 1, 1, {0, 0, 50, 50}, false, false, /*area=*/500);
  const CocoEvalResult r = evaluate_coco(gt, {{1, 1, {0, 0, 50, 50}, 0.9}});
  EXPECT_DOUBLE_EQ(r.stats[3], 1.0);   // small AP
  EXPECT_DOUBLE_EQ(r.stats[4], -1.0);  // no medium ground truth
}

TEST(CocoCases, MoreThanMaxDetsPerImageAreCut) {
  CocoGroundTruth gt = make_ground_truth(1, {1});
  add_annotation(gt, 1, 1, {0, 0, 10, 10});
  std::vector<CocoDetection> dets;
  for (int i = 0; i < 100; ++i)
    dets.push_back({1, 1, {200.0 + i, 200, 10, 10}, 0.9});
  dets.push_back({1, 1, {0, 0, 10, 10}, 0.1});  // the 101st by score: dropped
  EXPECT_DOUBLE_EQ(evaluate_coco(gt, dets).stats[8], 0.0);
}

TEST(CocoCases, DetectionsMustBelongToTheGroundTruth) {
  CocoGroundTruth gt = make_ground_truth(1, {1});
  add_annotation(gt, 1, 1, {0, 0, 10, 10});
  try {
    evaluate_coco(gt, {{1, 1, {0, 0, 1, 1}, 0.5}, {5, 1, {0, 0, 1, 1}, 0.5}}, {}, "r.json");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("r.json: detection 1 (image_id 5): image_id 5 is not an "
                                         "image of the ground truth"),
              std::string::npos)
        << e.what();
  }
  try {
    evaluate_coco(gt, {{1, 0, {0, 0, 1, 1}, 0.5}}, {}, "r.json");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("category_id 0 is not a category"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(evaluate_coco(gt, {{1, 1, {0, 0, 1, std::nan("")}, 0.5}}), DataError);
}

TEST(CocoCases, JsonHasStatsAndPerCategoryAp) {
  CocoGroundTruth gt = make_ground_truth(1, {4});
  add_annotation(gt, 1, 4, {0, 0, 10, 10});
  const std::string json = coco_result_to_json(evaluate_coco(gt, {{1, 4, {0, 0, 10, 10}, 1}}));
  // Precision is tp / (tp + fp + eps) in pycocotools, so a perfect AP is 1 - 2 ulp.
  EXPECT_NE(json.find("\"stats\": [0.9999999999999998, 0.9999999999999999, 0.9999999999999999, "
                      "0.9999999999999998, -1, -1, 1, 1, 1, 1, -1, -1]"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"bbox_AR@1\": 1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"per_category_ap\": {\"4\": 0.9999999999999998}"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"per_category_name\": {\"4\": \"cat4\"}"), std::string::npos) << json;
}

}  // namespace
}  // namespace detkit
