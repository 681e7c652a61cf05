// The metric components: CocoMetric through a CocoDataset equals pycocotools' numbers; VOCMetric
// ignores difficult objects per class; evaluate_predictions (training's evaluation and
// `detkit test --eval`) picks the dataset's metric when none is named.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>

#include "detkit/core/coco_json.h"
#include "detkit/core/config.h"
#include "detkit/core/dataset_evaluation.h"
#include "detkit/core/metrics.h"
#include "detkit/core/runtime.h"
#include "detkit/evaluation/metric.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

std::shared_ptr<MetricBase> build_metric(const std::string& yaml) {
  initialize_runtime();
  return build<MetricBase>(parse_yaml_text(yaml, "metric.yaml"), "evaluation");
}

/// Predictions per dataset index from a COCO result file (category id -> label).
std::vector<Instances> predictions_from(const DatasetBase& dataset, const std::string& results) {
  std::map<int64_t, size_t> index_of_image;
  for (size_t i = 0; i < dataset.size(); ++i)
    index_of_image[dataset.data_info(i).image_id] = i;
  std::map<int64_t, int64_t> label_of;
  const auto ids = dataset.category_ids();
  for (size_t k = 0; k < ids.size(); ++k)
    label_of[ids[k]] = static_cast<int64_t>(k);
  std::vector<std::vector<float>> boxes(dataset.size()), scores(dataset.size());
  std::vector<std::vector<int64_t>> labels(dataset.size());
  for (const CocoDetection& d : read_coco_results(results)) {
    const size_t i = index_of_image.at(d.image_id);
    for (double v : {d.bbox[0], d.bbox[1], d.bbox[0] + d.bbox[2], d.bbox[1] + d.bbox[3]})
      boxes[i].push_back(static_cast<float>(v));
    scores[i].push_back(static_cast<float>(d.score));
    labels[i].push_back(label_of.at(d.category_id));
  }
  std::vector<Instances> out;
  for (size_t i = 0; i < dataset.size(); ++i) {
    const auto n = static_cast<int64_t>(labels[i].size());
    out.emplace_back(Boxes(torch::tensor(boxes[i]).reshape({n, 4})), torch::tensor(labels[i]),
                     torch::tensor(scores[i]));
  }
  return out;
}

/// The CocoDataset (test mode) of a reference case folder.
std::shared_ptr<DatasetBase> reference_dataset(const std::string& dir) {
  initialize_runtime();
  return build<DatasetBase>(
      parse_yaml_text("{type: CocoDataset, ann_file: '" + dir + "gt.json', img_prefix: '" + dir +
                          "', test_mode: true, pipeline: []}",
                      "data.yaml"),
      "data.test");
}

std::vector<double> expected_stats(const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(path);
  std::vector<double> out;
  for (double v : doc["stats"].get_array())
    out.push_back(v);
  return out;
}

TEST(CocoMetric, ThroughACocoDatasetMatchesPycocotools) {
  const std::string dir = testing::data_path("coco_eval/case_001/");
  auto dataset = reference_dataset(dir);
  const auto predictions = predictions_from(*dataset, dir + "dets.json");
  const auto expected = expected_stats(dir + "expected.json");
  // maxDets 1/10/100 as pycocotools' defaults: all 12 numbers.
  auto metric = build_metric("{type: CocoMetric, proposal_nums: [1, 10, 100], classwise: true}");
  const MetricResult result = metric->evaluate(*dataset, predictions);
  const char* keys[] = {"bbox_mAP",   "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m",
                        "bbox_mAP_l", "bbox_AR@1",   "bbox_AR@10",  "bbox_AR@100"};
  for (size_t i = 0; i < 9; ++i)
    EXPECT_NEAR(result.at(keys[i]), expected[i], 1e-6) << keys[i];
  EXPECT_NE(result.report.find("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | "
                               "maxDets=100 ]"),
            std::string::npos)
      << result.report;
  // MMDetection's defaults (proposal_nums 100/300/1000): the AP keeps maxDets 100.
  const MetricResult mmdet = build_metric("{type: CocoMetric}")->evaluate(*dataset, predictions);
  EXPECT_NEAR(mmdet.at("bbox_mAP"), expected[0], 1e-6);
  EXPECT_THROW(mmdet.at("nope"), Error);
}

TEST(CocoMetric, ResultsAreCocoFormatWithCategoryIds) {
  const std::string dir = testing::data_path("coco_eval/case_001/");
  auto dataset = reference_dataset(dir);
  const auto predictions = predictions_from(*dataset, dir + "dets.json");
  const auto detections = predictions_to_coco(*dataset, predictions);
  EXPECT_EQ(detections.size(), read_coco_results(dir + "dets.json").size());
  std::vector<Instances> wrong(predictions.begin(), predictions.end() - 1);
  EXPECT_THROW(predictions_to_coco(*dataset, wrong), Error);
}

/// A dataset of one image: one box and one difficult box of class 0.
class OneImageDataset : public DatasetBase {
 public:
  OneImageDataset() {
    info_.width = info_.height = 100;
    info_.image_id = 7;
    info_.gt = Instances(Boxes(torch::tensor({10.f, 10.f, 50.f, 50.f}).reshape({1, 4})),
                         torch::tensor({int64_t{0}}));
    info_.gt_ignore = Boxes(torch::tensor({60.f, 60.f, 90.f, 90.f}).reshape({1, 4}));
    info_.ignore_labels = torch::tensor({int64_t{0}});
  }
  size_t size() const override { return 1; }
  const std::vector<std::string>& classes() const override { return classes_; }
  const DataInfo& data_info(size_t) const override { return info_; }
  std::vector<PipelineSample> prepare(size_t) const override { return {}; }
  bool test_mode() const override { return true; }
  DataInfo info_;
  std::vector<std::string> classes_{"thing", "other"};
};

TEST(VOCMetric, DifficultObjectsAreIgnoredPerClass) {
  OneImageDataset dataset;
  auto metric = build_metric("{type: VOCMetric, iou_thr: [0.5, 0.75]}");
  // The highest-scored detection hits the difficult box: neither TP nor FP.
  Instances pred(
      Boxes(torch::tensor({60.f, 60.f, 90.f, 90.f, 10.f, 10.f, 50.f, 50.f}).reshape({2, 4})),
      torch::tensor({int64_t{0}, int64_t{0}}), torch::tensor({0.95f, 0.9f}));
  MetricResult result = metric->evaluate(dataset, {pred});
  EXPECT_NEAR(result.at("AP50"), 1.0, 1e-6);
  EXPECT_NEAR(result.at("mAP"), 1.0, 1e-6);
  EXPECT_NE(result.report.find("thing"), std::string::npos) << result.report;
  // Without the labels of ignored boxes, that detection is a false positive.
  dataset.info_.ignore_labels = torch::Tensor();
  result = metric->evaluate(dataset, {pred});
  EXPECT_LT(result.at("AP50"), 0.75);
  EXPECT_THROW(metric->evaluate(dataset, {}), Error);
}

TEST(Metrics, BadParametersAreConfigErrors) {
  EXPECT_THROW(build_metric("{type: VOCMetric, eval_mode: 12points}"), ConfigError);
  EXPECT_THROW(build_metric("{type: VOCMetric, iou_thr: [1.5]}"), ConfigError);
  EXPECT_THROW(build_metric("{type: CocoMetric, metric: [segm]}"), ConfigError);
  EXPECT_THROW(build_metric("{type: CocoMetric, proposal_nums: [100]}"), ConfigError);
}

/// A dataset that only names its default metric (VOC-style datasets say VOCMetric).
class VocLikeDataset : public DatasetBase {
 public:
  size_t size() const override { return 0; }
  const std::vector<std::string>& classes() const override { return classes_; }
  const DataInfo& data_info(size_t) const override { throw Error("no samples"); }
  std::vector<PipelineSample> prepare(size_t) const override { return {}; }
  bool test_mode() const override { return true; }
  std::string default_metric() const override { return "VOCMetric"; }

 private:
  std::vector<std::string> classes_{"cat"};
};

TEST(EvaluatePredictions, WithoutAMetricNameUsesTheDatasetsMetric) {
  const std::string dir = testing::data_path("coco_eval/case_001/");
  auto dataset = reference_dataset(dir);
  const ConfigNode none = ConfigNode::make_map();
  EXPECT_EQ(evaluation_metric_names(none, *dataset, "evaluation"),
            std::vector<std::string>{"bbox"});
  EXPECT_EQ(evaluation_metric_names(none, VocLikeDataset(), "evaluation"),
            std::vector<std::string>{"mAP"});
  // `evaluation: {interval: 1}` (no metric) evaluates, as MMDetection does; it failed with
  // "metric 'CocoMetric' is not supported" before.
  std::vector<std::string> logged;
  const NamedValues values =
      evaluate_predictions(*dataset, predictions_from(*dataset, dir + "dets.json"),
                           parse_yaml_text("{interval: 1}", "eval.yaml"),
                           [&](const std::string& line) { logged.push_back(line); });
  ASSERT_FALSE(values.empty());
  EXPECT_EQ(values.front().first, "bbox_mAP");
  ASSERT_FALSE(logged.empty());
  EXPECT_EQ(logged.front(), "Evaluating bbox...");
  // A metric detkit does not have names where it was asked for.
  try {
    evaluation_metric_names(parse_yaml_text("{metric: [bbox, segm]}", "eval.yaml"), *dataset,
                            "--eval");
    ADD_FAILURE() << "segm was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--eval: metric 'segm' is not supported"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace detkit
