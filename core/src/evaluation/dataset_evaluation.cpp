// predict_dataset and evaluate_predictions: see detkit/core/dataset_evaluation.h.
#include "detkit/core/dataset_evaluation.h"

#include <torch/torch.h>

#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

std::vector<Instances> predict_dataset(DetectorBase& model, DataLoader& loader,
                                       const torch::Device& device,
                                       const PredictCallback& on_batch) {
  std::vector<Instances> predictions;
  torch::NoGradGuard no_grad;
  while (auto batch = loader.next()) {
    if (batch->images.defined() && batch->images.device() != device)
      batch->images = batch->images.to(device);
    std::vector<Instances> found = model.predict(*batch);
    if (!device.is_cpu()) {
      for (auto& instances : found)
        instances = instances.to(torch::kCPU);
    }
    if (on_batch) on_batch(*batch, found);
    for (auto& instances : found)
      predictions.push_back(std::move(instances));
  }
  return predictions;
}

std::vector<std::string> evaluation_metric_names(const ConfigNode& options,
                                                 const DatasetBase& dataset,
                                                 const std::string& where) {
  std::vector<std::string> metrics;
  if (const ConfigNode* m = options.is_map() ? options.find("metric") : nullptr;
      m && !m->is_null()) {
    if (m->is_string()) metrics.push_back(m->as_string());
    if (m->is_list()) {
      for (const auto& item : m->items())
        if (item.is_string()) metrics.push_back(item.as_string());
    }
  }
  // The dataset names its metric component; MMDetection's configs name the metric.
  if (metrics.empty()) metrics.push_back(dataset.default_metric() == "VOCMetric" ? "mAP" : "bbox");
  for (const auto& metric : metrics) {
    if (metric != "bbox" && metric != "mAP")
      throw ConfigError(where + ": metric '" + metric +
                        "' is not supported (bbox: COCO-style mAP, mAP: VOC-style mAP)");
  }
  return metrics;
}

NamedValues evaluate_predictions(const DatasetBase& dataset,
                                 const std::vector<Instances>& predictions,
                                 const ConfigNode& options,
                                 const std::function<void(const std::string&)>& log,
                                 const std::string& where) {
  NamedValues values;
  for (const auto& metric : evaluation_metric_names(options, dataset, where)) {
    // Each metric component gets the evaluation options it understands.
    ConfigNode metric_cfg = ConfigNode::make_map();
    std::vector<const char*> passed;
    if (metric == "bbox") {
      metric_cfg.set("type", ConfigNode("CocoMetric"));
      passed = {"classwise", "iou_thrs", "proposal_nums"};
    } else {
      metric_cfg.set("type", ConfigNode("VOCMetric"));
      passed = {"iou_thr"};
    }
    if (options.is_map()) {
      for (const char* key : passed) {
        if (const ConfigNode* v = options.find(key); v && !v->is_null()) metric_cfg.set(key, *v);
      }
      // MMDetection's VOC evaluation takes one threshold or a list; VOCMetric takes a list.
      if (const ConfigNode* v = options.find("iou_thr"); metric == "mAP" && v && v->is_number()) {
        ConfigNode list = ConfigNode::make_list();
        list.push_back(*v);
        metric_cfg.set("iou_thr", list);
      }
    }
    auto evaluator = build<MetricBase>(metric_cfg, where);
    if (log) log("Evaluating " + metric + "...");
    MetricResult result = evaluator->evaluate(dataset, predictions);
    if (log && !result.report.empty()) log("\n" + result.report);
    values.insert(values.end(), result.values.begin(), result.values.end());
  }
  return values;
}

}  // namespace detkit
