// VOCMetric: MMDetection 2.x's VOCDataset.evaluate(metric='mAP') as a metric component.
#include <torch/torch.h>

#include <cmath>

#include "detkit/core/metrics.h"
#include "detkit/registry.h"

namespace detkit {

namespace {
std::array<float, 4> box_at(const float* b, int64_t k) {
  return {b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]};
}
}  // namespace

std::vector<VocImageAnnotations> dataset_to_voc(const DatasetBase& dataset) {
  std::vector<VocImageAnnotations> out(dataset.size());
  for (size_t i = 0; i < dataset.size(); ++i) {
    const DataInfo& info = dataset.data_info(i);
    const auto boxes = info.gt.boxes().tensor().contiguous();
    const auto labels = info.gt.labels().contiguous();
    for (int64_t k = 0; k < info.gt.size(); ++k) {
      out[i].boxes.push_back(box_at(boxes.data_ptr<float>(), k));
      out[i].labels.push_back(static_cast<int>(labels.data_ptr<int64_t>()[k]));
    }
    if (info.ignore_labels.defined()) {
      const auto ignored = info.gt_ignore.tensor().contiguous();
      const auto ignored_labels = info.ignore_labels.to(torch::kInt64).contiguous();
      for (int64_t k = 0; k < info.gt_ignore.size(); ++k) {
        out[i].ignored_boxes.push_back(box_at(ignored.data_ptr<float>(), k));
        out[i].ignored_labels.push_back(static_cast<int>(ignored_labels.data_ptr<int64_t>()[k]));
      }
    }
  }
  return out;
}

std::vector<std::vector<VocDetection>> predictions_to_voc(
    const std::vector<Instances>& predictions) {
  std::vector<std::vector<VocDetection>> out(predictions.size());
  for (size_t i = 0; i < predictions.size(); ++i) {
    const Instances& pred = predictions[i];
    if (pred.empty()) continue;
    if (!pred.has_scores()) throw Error("predictions without scores cannot be evaluated");
    const auto boxes = pred.boxes().tensor().contiguous();
    const auto labels = pred.labels().contiguous();
    const auto scores = pred.scores().contiguous();
    for (int64_t k = 0; k < pred.size(); ++k) {
      VocDetection det;
      det.box = box_at(boxes.data_ptr<float>(), k);
      det.score = scores.data_ptr<float>()[k];
      det.label = static_cast<int>(labels.data_ptr<int64_t>()[k]);
      out[i].push_back(det);
    }
  }
  return out;
}

namespace {

/// MMDetection's VOCDataset.evaluate(metric='mAP'): eval_map per IoU threshold, 'area' mode
/// (the VOC2007 dataset in MMDetection uses '11points'), "mAP" = mean over thresholds and
/// "AP50" etc. per threshold.
class VOCMetric : public MetricBase {
 public:
  VOCMetric(std::vector<double> iou_thrs, std::string eval_mode,
            std::vector<std::vector<double>> scale_ranges, bool legacy_coordinate)
      : iou_thrs_(std::move(iou_thrs)),
        eval_mode_(std::move(eval_mode)),
        scale_ranges_(std::move(scale_ranges)),
        legacy_coordinate_(legacy_coordinate) {}

  static Schema schema() {
    return Schema("VOC mAP as MMDetection's eval_map (difficult boxes ignored).")
        .add<std::vector<double>>("iou_thr", std::vector<double>{0.5}, "IoU thresholds")
        .add<std::string>("eval_mode", "area", "'area' (VOC2010+) or '11points' (VOC2007)")
        .choices({"area", "11points"})
        .any("scale_ranges", ConfigNode(), "optional [[min, max], ...] object scales")
        .add<bool>("use_legacy_coordinate", true,
                   "widths as x2 - x1 + 1, as MMDetection's VOCDataset.evaluate and the devkit");
  }

  static std::shared_ptr<VOCMetric> create(const ComponentConfig& cfg) {
    std::vector<std::vector<double>> ranges;
    const ConfigNode& node = cfg.node("scale_ranges");
    if (!node.is_null()) {
      if (!node.is_list()) cfg.fail("scale_ranges", "expected a list of [min, max] pairs");
      for (const auto& item : node.items()) {
        if (!item.is_list() || item.size() != 2)
          cfg.fail("scale_ranges", "expected a list of [min, max] pairs");
        ranges.push_back({item.items()[0].as_double(), item.items()[1].as_double()});
      }
    }
    for (double t : cfg.get<std::vector<double>>("iou_thr")) {
      if (!(t > 0 && t <= 1)) cfg.fail("iou_thr", "IoU thresholds must be in (0, 1]");
    }
    return std::make_shared<VOCMetric>(cfg.get<std::vector<double>>("iou_thr"),
                                       cfg.get<std::string>("eval_mode"), ranges,
                                       cfg.get<bool>("use_legacy_coordinate"));
  }

  MetricResult evaluate(const DatasetBase& dataset,
                        const std::vector<Instances>& predictions) override {
    check_predictions(dataset, predictions);
    VocEvalOptions options;
    options.num_classes = static_cast<int>(dataset.classes().size());
    options.class_names = dataset.classes();
    options.iou_thresholds = iou_thrs_;
    options.use_legacy_coordinate = legacy_coordinate_;
    options.mode = eval_mode_ == "11points" ? VocApMode::eleven_points : VocApMode::area;
    for (const auto& r : scale_ranges_)
      options.scale_ranges.emplace_back(r[0], r[1]);
    const VocEvalResult eval =
        evaluate_voc(dataset_to_voc(dataset), predictions_to_voc(predictions), options);
    MetricResult result;
    result.report = format_voc_table(eval);
    for (const auto& t : eval.thresholds) {
      const int percent = static_cast<int>(std::lround(t.iou_threshold * 100));
      result.values.emplace_back("AP" + std::to_string(percent),
                                 t.mean_ap.empty() ? 0.0 : t.mean_ap[0]);
    }
    result.values.emplace_back("mAP", eval.mean_ap);
    return result;
  }

 private:
  std::vector<double> iou_thrs_;
  std::string eval_mode_;
  std::vector<std::vector<double>> scale_ranges_;
  bool legacy_coordinate_;
};
DETKIT_REGISTER(metric, VOCMetric);

}  // namespace
}  // namespace detkit
