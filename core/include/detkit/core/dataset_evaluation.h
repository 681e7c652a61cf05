// A detector over a whole dataset, then its metrics: MMDetection 2.25's single_gpu_test and
// dataset.evaluate(results, metric=...), shared by training's evaluation (EvalHook) and
// `detkit test`.
//
//   detkit::DataLoader loader(dataset, detkit::DataLoaderOptions().shuffle(false));
//   std::vector<detkit::Instances> predictions = detkit::predict_dataset(*model, loader);
//   detkit::NamedValues values = detkit::evaluate_predictions(*dataset, predictions, options,
//                                                             [](const std::string& line) {...});
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/core/data_loader.h"
#include "detkit/engine/runner.h"
#include "detkit/evaluation/metric.h"
#include "detkit/modeling/detector.h"

namespace detkit {

/// Called after each batch with the batch and its predictions (progress, drawing).
using PredictCallback =
    std::function<void(const ImageBatch& batch, const std::vector<Instances>& predictions)>;

/// The model's predictions (original-image coordinates, on the CPU) for every batch of one pass
/// of `loader`, in its order, without gradients; the batch images are moved to `device` first.
/// The model must be in eval mode (the caller decides).
DETKIT_API std::vector<Instances> predict_dataset(DetectorBase& model, DataLoader& loader,
                                                  const torch::Device& device = torch::kCPU,
                                                  const PredictCallback& on_batch = {});

class ProcessGroup;

/// MMDetection's multi_gpu_test + collect_results_gpu: each rank of `group` predicts the samples
/// of `dataset` that DistributedSampler (no shuffling) gives it, with a loader of `options`;
/// every rank's predictions travel to every rank, and rank 0 gets all of them in dataset order
/// (the padding's repeats dropped). The other ranks get an empty vector. Collective.
DETKIT_API std::vector<Instances> predict_dataset_distributed(
    DetectorBase& model, const std::shared_ptr<const DatasetBase>& dataset,
    const DataLoaderOptions& options, ProcessGroup& group);

/// `values` of rank 0 on every rank of `group` (metrics computed once, known to all). Collective.
DETKIT_API NamedValues broadcast_named_values(const NamedValues& values, ProcessGroup& group);

/// The metric names `options.metric` asks for (a string or a list: `bbox` is COCO's mAP,
/// `mAP` VOC's), else the dataset's default (`bbox` for COCO-style datasets, `mAP` for VOC /
/// XML ones). Throws ConfigError naming `where` for any other name.
DETKIT_API std::vector<std::string> evaluation_metric_names(const ConfigNode& options,
                                                            const DatasetBase& dataset,
                                                            const std::string& where);

/// Evaluates the predictions of every sample of `dataset` with each metric of
/// evaluation_metric_names (CocoMetric with `classwise`, `iou_thrs`, `proposal_nums` from
/// `options`; VOCMetric with `iou_thr`) and returns all their values in order. `log` gets
/// "Evaluating bbox..." and each metric's report (tables).
DETKIT_API NamedValues evaluate_predictions(const DatasetBase& dataset,
                                            const std::vector<Instances>& predictions,
                                            const ConfigNode& options,
                                            const std::function<void(const std::string&)>& log,
                                            const std::string& where = "evaluation");

}  // namespace detkit
