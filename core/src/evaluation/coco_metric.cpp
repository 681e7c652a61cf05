// CocoMetric: MMDetection 2.x's CocoDataset.evaluate(metric='bbox') as a metric component.
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>

#include "detkit/core/coco_eval.h"
#include "detkit/core/metrics.h"
#include "detkit/core/text.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

std::vector<double> to_xywh(const float* box) {
  return {box[0], box[1], static_cast<double>(box[2]) - box[0],
          static_cast<double>(box[3]) - box[1]};
}

}  // namespace

void check_predictions(const DatasetBase& dataset, const std::vector<Instances>& predictions) {
  if (predictions.size() != dataset.size()) {
    throw Error("got predictions for " + std::to_string(predictions.size()) +
                " images, but the dataset has " + std::to_string(dataset.size()));
  }
  for (size_t i = 0; i < predictions.size(); ++i) {
    if (!predictions[i].empty() && !predictions[i].has_scores())
      throw Error("predictions of image " + std::to_string(i) + " have no scores");
  }
}

std::vector<CocoDetection> predictions_to_coco(const DatasetBase& dataset,
                                               const std::vector<Instances>& predictions) {
  check_predictions(dataset, predictions);
  const std::vector<int64_t> category_ids = dataset.category_ids();
  std::vector<CocoDetection> out;
  for (size_t i = 0; i < predictions.size(); ++i) {
    const Instances& pred = predictions[i];
    if (pred.empty()) continue;
    const auto boxes = pred.boxes().tensor().contiguous();
    const auto labels = pred.labels().contiguous();
    const auto scores = pred.scores().contiguous();
    const float* b = boxes.data_ptr<float>();
    const int64_t* l = labels.data_ptr<int64_t>();
    const float* s = scores.data_ptr<float>();
    const int64_t image_id = dataset.data_info(i).image_id >= 0 ? dataset.data_info(i).image_id
                                                                : static_cast<int64_t>(i);
    for (int64_t k = 0; k < pred.size(); ++k) {
      if (l[k] < 0 || l[k] >= static_cast<int64_t>(category_ids.size())) {
        throw Error("prediction label " + std::to_string(l[k]) + " of image " + std::to_string(i) +
                    " is out of range (" + std::to_string(category_ids.size()) + " classes)");
      }
      CocoDetection det;
      det.image_id = image_id;
      det.category_id = category_ids[static_cast<size_t>(l[k])];
      const auto xywh = to_xywh(b + 4 * k);
      std::copy(xywh.begin(), xywh.end(), det.bbox.begin());
      det.score = s[k];
      out.push_back(det);
    }
  }
  return out;
}

CocoGroundTruth dataset_to_coco(const DatasetBase& dataset) {
  CocoGroundTruth gt;
  gt.source = "dataset";
  const std::vector<int64_t> category_ids = dataset.category_ids();
  const auto& classes = dataset.classes();
  for (size_t k = 0; k < classes.size(); ++k)
    gt.categories.push_back({category_ids[k], classes[k]});
  int64_t next_id = 1;
  for (size_t i = 0; i < dataset.size(); ++i) {
    const DataInfo& info = dataset.data_info(i);
    const int64_t image_id = info.image_id >= 0 ? info.image_id : static_cast<int64_t>(i);
    gt.images.push_back({image_id, info.filename, info.width, info.height});
    auto add = [&](const Boxes& boxes, const torch::Tensor& labels, const torch::Tensor& areas,
                   bool crowd) {
      const auto xyxy = boxes.tensor().contiguous();
      const float* b = xyxy.data_ptr<float>();
      for (int64_t k = 0; k < boxes.size(); ++k) {
        CocoAnnotation ann;
        ann.id = next_id++;
        ann.image_id = image_id;
        ann.category_id = category_ids.at(static_cast<size_t>(labels[k].item<int64_t>()));
        const auto xywh = to_xywh(b + 4 * k);
        std::copy(xywh.begin(), xywh.end(), ann.bbox.begin());
        ann.area = areas.defined() ? areas[k].item<double>() : xywh[2] * xywh[3];
        ann.iscrowd = crowd;
        gt.annotations.push_back(ann);
      }
    };
    add(info.gt.boxes(), info.gt.labels(),
        info.gt.has_field("area") ? info.gt.field("area") : torch::Tensor(), false);
    if (info.ignore_labels.defined() && info.gt_ignore.size() > 0)
      add(info.gt_ignore, info.ignore_labels, torch::Tensor(), true);
  }
  return gt;
}

namespace {

/// Restricts a COCO file's ground truth to the dataset's images and categories (MMDetection
/// sets params.imgIds / catIds to the dataset's).
CocoGroundTruth restrict_to_dataset(CocoGroundTruth gt, const DatasetBase& dataset) {
  std::set<int64_t> images, categories;
  for (size_t i = 0; i < dataset.size(); ++i)
    images.insert(dataset.data_info(i).image_id);
  for (int64_t id : dataset.category_ids())
    categories.insert(id);
  auto keep_image = [&](int64_t id) { return images.count(id) != 0; };
  gt.images.erase(std::remove_if(gt.images.begin(), gt.images.end(),
                                 [&](const CocoImage& im) { return !keep_image(im.id); }),
                  gt.images.end());
  gt.categories.erase(
      std::remove_if(gt.categories.begin(), gt.categories.end(),
                     [&](const CocoCategory& c) { return !categories.count(c.id); }),
      gt.categories.end());
  gt.annotations.erase(std::remove_if(gt.annotations.begin(), gt.annotations.end(),
                                      [&](const CocoAnnotation& a) {
                                        return !keep_image(a.image_id) ||
                                               !categories.count(a.category_id);
                                      }),
                       gt.annotations.end());
  return gt;
}

/// MMDetection's CocoDataset.evaluate for `metric: bbox`.
class CocoMetric : public MetricBase {
 public:
  struct Options {
    std::string ann_file;
    bool classwise = false;
    std::vector<double> iou_thrs;
    std::vector<int64_t> proposal_nums{100, 300, 1000};
    std::string jsonfile_prefix;
  };

  explicit CocoMetric(Options options) : options_(std::move(options)) {}

  static Schema schema() {
    return Schema(
               "COCO bbox mAP exactly as pycocotools computes it (MMDetection's "
               "CocoDataset.evaluate).")
        .add<std::vector<std::string>>("metric", std::vector<std::string>{"bbox"},
                                       "metrics to compute")
        .choices({"bbox"})
        .add<std::optional<std::string>>("ann_file", std::nullopt,
                                         "COCO annotation file to evaluate against (default: the "
                                         "dataset's own ann_file when it is COCO-format)")
        .add<bool>("classwise", false, "also print per-class AP")
        .add<std::optional<std::vector<double>>>("iou_thrs", std::nullopt,
                                                 "IoU thresholds (default .50:.05:.95)")
        .add<std::vector<int64_t>>("proposal_nums", std::vector<int64_t>{100, 300, 1000},
                                   "maxDets (MMDetection passes these to COCOeval)")
        .length(3)
        .add<std::optional<std::string>>("jsonfile_prefix", std::nullopt,
                                         "also write the results to <prefix>.bbox.json");
  }

  static std::shared_ptr<CocoMetric> create(const ComponentConfig& cfg) {
    Options o;
    o.ann_file = cfg.get<std::optional<std::string>>("ann_file").value_or("");
    o.classwise = cfg.get<bool>("classwise");
    o.iou_thrs =
        cfg.get<std::optional<std::vector<double>>>("iou_thrs").value_or(std::vector<double>{});
    o.proposal_nums = cfg.get<std::vector<int64_t>>("proposal_nums");
    o.jsonfile_prefix = cfg.get<std::optional<std::string>>("jsonfile_prefix").value_or("");
    return std::make_shared<CocoMetric>(o);
  }

  MetricResult evaluate(const DatasetBase& dataset,
                        const std::vector<Instances>& predictions) override {
    const std::vector<CocoDetection> detections = predictions_to_coco(dataset, predictions);
    if (!options_.jsonfile_prefix.empty())
      write_coco_results(options_.jsonfile_prefix + ".bbox.json", detections);
    std::string ann_file = options_.ann_file;
    if (ann_file.empty() && dataset.default_metric() == "CocoMetric") {
      if (const auto* custom = dynamic_cast<const CustomDataset*>(&dataset))
        ann_file = custom->options().ann_file;
    }
    // The annotation file is read once and kept: the metric runs after every epoch.
    if (!ann_file.empty() && cached_ann_file_ != ann_file) {
      cached_gt_ = read_coco_annotations(ann_file);
      cached_ann_file_ = ann_file;
    }
    const CocoGroundTruth gt =
        ann_file.empty() ? dataset_to_coco(dataset) : restrict_to_dataset(cached_gt_, dataset);
    CocoEvalParams params;
    if (!options_.iou_thrs.empty()) params.iou_thresholds = options_.iou_thrs;
    params.max_dets.assign(options_.proposal_nums.begin(), options_.proposal_nums.end());
    MetricResult result;
    if (detections.empty()) {
      result.report = "The testing results of the whole dataset is empty.\n";
      for (const char* key :
           {"bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l"})
        result.values.emplace_back(key, 0.0);
      return result;
    }
    const CocoEvalResult eval = evaluate_coco(gt, detections, params);
    result.report = format_coco_summary(eval);
    if (options_.classwise) result.report += format_coco_per_category(eval);
    const char* keys[] = {"bbox_mAP",   "bbox_mAP_50", "bbox_mAP_75",
                          "bbox_mAP_s", "bbox_mAP_m",  "bbox_mAP_l"};
    for (size_t i = 0; i < 6; ++i)
      result.values.emplace_back(keys[i], eval.stats[i]);
    for (size_t i = 0; i < 3; ++i)
      result.values.emplace_back("bbox_AR@" + std::to_string(params.max_dets[i]),
                                 eval.stats[6 + i]);
    return result;
  }

 private:
  Options options_;
  std::string cached_ann_file_;
  CocoGroundTruth cached_gt_;
};
DETKIT_REGISTER(metric, CocoMetric);

}  // namespace
}  // namespace detkit
