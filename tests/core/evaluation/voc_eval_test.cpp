// VOC mAP against numbers from a numpy transcription of MMDetection 2.25's eval_map
// (tests/reference/voc_eval_reference.py -> tests/data/voc_eval), plus hand-made checks.
#include <gtest/gtest.h>

#include "detkit/core/voc_eval.h"
#include "eval_test_helpers.h"
#include "test_support.h"

namespace detkit {
namespace {

namespace dom = simdjson::dom;

/// The array `value` holds, by value (a range-for over `x.get_array().value()` would dangle).
dom::array array_of(dom::element value) {
  return value.get_array().value();
}

std::array<float, 4> read_box(dom::element value) {
  std::array<float, 4> box{};
  size_t i = 0;
  for (dom::element v : array_of(value))
    box[i++] = static_cast<float>(v.get_double().value());
  return box;
}

std::vector<double> read_doubles(dom::element value) {
  std::vector<double> out;
  for (dom::element v : array_of(value))
    out.push_back(v.get_double().value());
  return out;
}

class VocReference : public ::testing::TestWithParam<std::string> {};

TEST_P(VocReference, MatchesMmdetEvalMap) {
  testing::JsonFile file(testing::data_path("voc_eval/" + GetParam() + ".json"));
  const dom::element root = file.root;
  VocEvalOptions options;
  options.num_classes = static_cast<int>(root["num_classes"].get_int64().value());
  const dom::element opts = root["options"];
  options.iou_thresholds = read_doubles(opts["iou_thresholds"]);
  if (!opts["scale_ranges"].is_null()) {
    for (dom::element range : array_of(opts["scale_ranges"])) {
      const std::vector<double> pair = read_doubles(range);
      options.scale_ranges.emplace_back(pair[0], pair[1]);
    }
  }
  options.mode = std::string(opts["mode"].get_string().value()) == "11points"
                     ? VocApMode::eleven_points
                     : VocApMode::area;
  options.use_legacy_coordinate = opts["use_legacy_coordinate"].get_bool().value();

  std::vector<VocImageAnnotations> annotations;
  std::vector<std::vector<VocDetection>> detections;
  for (dom::element image : array_of(root["images"])) {
    VocImageAnnotations ann;
    for (dom::element box : array_of(image["boxes"]))
      ann.boxes.push_back(read_box(box));
    for (dom::element label : array_of(image["labels"]))
      ann.labels.push_back(static_cast<int>(label.get_int64().value()));
    for (dom::element box : array_of(image["ignored_boxes"]))
      ann.ignored_boxes.push_back(read_box(box));
    for (dom::element label : array_of(image["ignored_labels"]))
      ann.ignored_labels.push_back(static_cast<int>(label.get_int64().value()));
    std::vector<VocDetection> dets;
    for (dom::element det : array_of(image["dets"])) {
      const std::vector<double> v = read_doubles(det);
      dets.push_back({{static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2]),
                       static_cast<float>(v[3])},
                      static_cast<float>(v[4]),
                      static_cast<int>(v[5])});
    }
    annotations.push_back(std::move(ann));
    detections.push_back(std::move(dets));
  }

  const VocEvalResult result = evaluate_voc(annotations, detections, options);
  const dom::element expected = root["expected"];
  EXPECT_NEAR(result.mean_ap, expected["mean_ap"].get_double().value(), 1e-6);
  size_t t = 0;
  for (dom::element at : array_of(expected["thresholds"])) {
    ASSERT_LT(t, result.thresholds.size());
    const VocThresholdResult& got = result.thresholds[t++];
    const std::vector<double> mean_ap = read_doubles(at["mean_ap"]);
    ASSERT_EQ(got.mean_ap.size(), mean_ap.size());
    for (size_t k = 0; k < mean_ap.size(); ++k)
      EXPECT_NEAR(got.mean_ap[k], mean_ap[k], 1e-6)
          << "iou " << got.iou_threshold << " scale " << k;
    size_t c = 0;
    for (dom::element cls : array_of(at["classes"])) {
      const VocClassResult& g = got.classes.at(c);
      const std::string where =
          "iou " + std::to_string(got.iou_threshold) + " class " + std::to_string(c);
      EXPECT_EQ(g.num_dets, cls["num_dets"].get_int64().value()) << where;
      const std::vector<double> num_gts = read_doubles(cls["num_gts"]);
      const std::vector<double> recall = read_doubles(cls["recall"]);
      const std::vector<double> ap = read_doubles(cls["ap"]);
      for (size_t k = 0; k < ap.size(); ++k) {
        EXPECT_EQ(g.num_gts.at(k), static_cast<int64_t>(num_gts[k])) << where;
        EXPECT_NEAR(g.recall.at(k), recall[k], 1e-6) << where << " scale " << k;
        EXPECT_NEAR(g.ap.at(k), ap[k], 1e-6) << where << " scale " << k;
      }
      ++c;
    }
    EXPECT_EQ(c, got.classes.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, VocReference,
                         ::testing::Values("case_area", "case_voc07_legacy", "case_scales"));

TEST(VocEval, DifficultObjectsAreNeitherHitsNorMisses) {
  VocImageAnnotations ann;
  ann.boxes = {{0, 0, 10, 10}};
  ann.labels = {0};
  ann.ignored_boxes = {{50, 50, 70, 70}};
  ann.ignored_labels = {0};
  VocEvalOptions options;
  options.num_classes = 2;
  options.class_names = {"cat", "dog"};
  // A hit on the difficult object (ignored), a hit on the regular one, a duplicate (FP).
  const std::vector<std::vector<VocDetection>> dets = {
      {{{50, 50, 70, 70}, 0.9f, 0}, {{0, 0, 10, 10}, 0.8f, 0}, {{0, 0, 10, 10}, 0.7f, 0}}};
  const VocEvalResult r = evaluate_voc({ann}, dets, options);
  const VocClassResult& cat = r.thresholds[0].classes[0];
  EXPECT_EQ(cat.num_gts[0], 1);
  EXPECT_EQ(cat.num_dets, 3);
  EXPECT_FLOAT_EQ(cat.recall[0], 1.0f);
  // Curve: (r 0, p 0), (r 1, p 1), (r 1, p .5) -> area under the envelope = 1.
  EXPECT_FLOAT_EQ(cat.ap[0], 1.0f);
  // "dog" has no ground truth: AP 0 and left out of the mean.
  EXPECT_FLOAT_EQ(r.thresholds[0].classes[1].ap[0], 0.0f);
  EXPECT_DOUBLE_EQ(r.mean_ap, 1.0);

  const std::string table = format_voc_table(r);
  EXPECT_NE(table.find("---------------iou_thr: 0.5---------------"), std::string::npos) << table;
  EXPECT_NE(table.find("| class | gts | dets | recall | ap    |"), std::string::npos) << table;
  EXPECT_NE(table.find("| cat   | 1   | 3    | 1.000  | 1.000 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| dog   | 0   | 0    | 0.000  | 0.000 |\n+-------+"), std::string::npos)
      << table;
  EXPECT_NE(table.find("| mAP   |     |      |        | 1.000 |"), std::string::npos) << table;
}

TEST(VocEval, ElevenPointsAndBadInput) {
  VocImageAnnotations ann;
  ann.boxes = {{0, 0, 10, 10}, {20, 20, 30, 30}};
  ann.labels = {0, 0};
  VocEvalOptions options;
  options.num_classes = 1;
  options.mode = VocApMode::eleven_points;
  // One of two objects found: precision 1 up to recall .5 -> 6 of 11 points.
  const VocEvalResult r = evaluate_voc({ann}, {{{{0, 0, 10, 10}, 0.9f, 0}}}, options);
  EXPECT_FLOAT_EQ(r.thresholds[0].classes[0].ap[0], 6.0f / 11.0f);

  EXPECT_THROW(evaluate_voc({ann}, {}, options), Error);
  EXPECT_THROW(evaluate_voc({ann}, {{{{0, 0, 1, 1}, 0.5f, 3}}}, options), Error);
  options.num_classes = 0;
  EXPECT_THROW(evaluate_voc({ann}, {{}}, options), Error);
}

}  // namespace
}  // namespace detkit
