// Inferencer: the config's test pipeline and a detector with a checkpoint's weights, applied to
// image files one at a time (what `detkit infer` runs).
#include <torch/torch.h>

#include <filesystem>

#include <fmt/format.h>

#include "detkit/checkpoint.h"
#include "detkit/core/coco_writer.h"
#include "detkit/core/data_loader.h"
#include "detkit/core/inference.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

/// The names in a list node of strings; throws ConfigError naming `what` otherwise.
std::vector<std::string> string_list(const ConfigNode& node, const std::string& what) {
  if (!node.is_list()) throw ConfigError(what + " must be a list of class names");
  std::vector<std::string> names;
  for (const ConfigNode& item : node.items()) {
    if (!item.is_string()) throw ConfigError(what + " must be a list of class names");
    names.push_back(item.as_string());
  }
  return names;
}

/// `config[a][b]...`, or null when a key is missing.
const ConfigNode* find_path(const ConfigNode& config, std::initializer_list<const char*> keys) {
  const ConfigNode* node = &config;
  for (const char* key : keys) {
    if (!node->is_map()) return nullptr;
    node = node->find(key);
    if (node == nullptr) return nullptr;
  }
  return node;
}

}  // namespace

torch::Device inference_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw Error("device '" + name + "': " +
                  (torch::cuda::device_count() == 0
                       ? "no CUDA device is available (this detkit's LibTorch is CPU-only, or no "
                         "GPU is visible); use --device cpu"
                       : "CUDA is not usable; use --device cpu"));
    }
    try {
      const torch::Device device(name);
      if (device.has_index() && device.index() >= static_cast<int64_t>(torch::cuda::device_count()))
        throw Error(fmt::format("device '{}': there are {} CUDA device(s)", name,
                                torch::cuda::device_count()));
      return device;
    } catch (const c10::Error&) {
      throw Error("device '" + name + "' is not a device name (cpu, cuda or cuda:N)");
    }
  }
  throw Error("unknown device '" + name + "' (cpu, cuda or cuda:N)");
}

LoadReport load_detector_weights(DetectorBase& model, const Checkpoint& checkpoint,
                                 const std::string& path) {
  // Copies what fits; whatever does not fit makes the model unusable, so it is an error then.
  const LoadReport report = load_state_dict(model, checkpoint.state_dict, LoadPolicy::report);
  if (report.missing_keys.empty() && report.size_mismatches.empty()) return report;
  constexpr size_t kShown = 5;
  std::string message = fmt::format(
      "checkpoint '{}' does not fit the config's model (a checkpoint of another architecture "
      "or another num_classes?): {} of its {} tensors match",
      path, report.loaded_keys.size(),
      report.loaded_keys.size() + report.missing_keys.size() + report.size_mismatches.size());
  if (!report.missing_keys.empty())
    message += fmt::format("\n  {} model tensor(s) missing from the checkpoint: {}",
                           report.missing_keys.size(), join_first(report.missing_keys, kShown));
  if (!report.size_mismatches.empty())
    message +=
        fmt::format("\n  {} tensor(s) of another shape:\n    {}", report.size_mismatches.size(),
                    join_first(report.size_mismatches, kShown));
  if (!report.unexpected_keys.empty())
    message +=
        fmt::format("\n  {} checkpoint tensor(s) the model does not have: {}",
                    report.unexpected_keys.size(), join_first(report.unexpected_keys, kShown));
  message += "\n  (`detkit checkpoint info " + path + "` lists the checkpoint's tensors)";
  throw CheckpointError(message);
}

std::vector<Detection> to_detections(const Instances& found,
                                     const std::vector<std::string>& classes, double score_thr) {
  std::vector<Detection> detections;
  if (found.size() == 0) return detections;
  const torch::Tensor boxes = found.boxes().tensor().to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor scores = found.scores().to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor labels = found.labels().to(torch::kCPU, torch::kLong).contiguous();
  const auto* box = boxes.data_ptr<float>();
  const auto* score = scores.data_ptr<float>();
  const auto* label = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < found.size(); ++i) {
    if (score[i] < score_thr) continue;
    Detection d;
    d.bbox = {box[4 * i], box[4 * i + 1], box[4 * i + 2], box[4 * i + 3]};
    d.score = score[i];
    d.label = label[i];
    d.class_name = label[i] >= 0 && label[i] < static_cast<int64_t>(classes.size())
                       ? classes[static_cast<size_t>(label[i])]
                       : fmt::format("class_{}", label[i]);
    detections.push_back(std::move(d));
  }
  std::stable_sort(detections.begin(), detections.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  return detections;
}

std::vector<std::string> class_names_from(const ConfigNode& config,
                                          const ConfigNode* checkpoint_meta) {
  if (checkpoint_meta != nullptr && checkpoint_meta->is_map()) {
    if (const ConfigNode* names = checkpoint_meta->find("CLASSES");
        names != nullptr && !names->is_null())
      return string_list(*names, "the checkpoint's meta.CLASSES");
  }
  if (const ConfigNode* names = find_path(config, {"data", "test", "classes"});
      names != nullptr && !names->is_null())
    return string_list(*names, "data.test.classes");
  return {};
}

std::shared_ptr<DetectorBase> build_detector(const ConfigNode& config,
                                             const std::vector<std::string>& classes) {
  const ConfigNode* model = config.is_map() ? config.find("model") : nullptr;
  if (model == nullptr || !model->is_map())
    throw ConfigError("the config has no 'model' section (a map with the detector's type)");
  DetectorContext context;
  if (!classes.empty()) context.classes = Known<std::vector<std::string>>(classes, "the classes");
  return build<DetectorBase>(*model, "model", context);
}

Inferencer::Inferencer(const ConfigNode& config, const std::string& checkpoint,
                       const torch::Device& device)
    : device_(device) {
  const Checkpoint loaded = load_checkpoint(checkpoint);
  classes_ = class_names_from(config, &loaded.meta);
  model_ = build_detector(config, classes_);
  load_report_ = load_detector_weights(*model_, loaded, checkpoint);
  model_->to(device_);
  model_->eval();
  if (classes_.empty()) classes_ = model_->class_names();
  const ConfigNode* pipeline = find_path(config, {"data", "test", "pipeline"});
  if (pipeline == nullptr)
    throw ConfigError("the config has no data.test.pipeline (the test pipeline infer runs)");
  pipeline_ = Pipeline::from_config(*pipeline, "data.test.pipeline");
}

std::vector<Detection> Inferencer::run(const std::string& image_path, double score_thr) const {
  PipelineSample sample;
  sample.meta.filename = image_path;
  sample.meta.ori_filename = std::filesystem::path(image_path).filename().string();
  std::vector<PipelineSample> versions = pipeline_(std::move(sample));
  if (versions.empty())
    throw DataError("the test pipeline dropped " + image_path + " (check data.test.pipeline)");
  if (versions.size() != 1)
    throw ConfigError(fmt::format(
        "the test pipeline made {} versions of {} (test-time augmentation); infer runs one: set "
        "MultiScaleFlipAug to one img_scale and flip: false",
        versions.size(), image_path));
  ImageBatch batch = collate(std::move(versions), 1);
  if (!device_.is_cpu()) batch.images = batch.images.to(device_);
  std::vector<Instances> predictions;
  {
    torch::NoGradGuard no_grad;
    predictions = model_->predict(batch);
  }
  if (predictions.empty()) return {};
  return to_detections(predictions.front(), classes_, score_thr);
}

std::string format_detections_json(const std::vector<Detection>& detections) {
  std::string out = "[";
  for (size_t i = 0; i < detections.size(); ++i) {
    const Detection& d = detections[i];
    if (!std::isfinite(d.score) || !std::isfinite(d.bbox[0]) || !std::isfinite(d.bbox[1]) ||
        !std::isfinite(d.bbox[2]) || !std::isfinite(d.bbox[3]))
      throw Error(fmt::format("detection {} has a non-finite box or score", i));
    out += fmt::format(
        "{}\n  {{\"bbox\": [{}, {}, {}, {}], \"score\": {}, \"label\": {}, "
        "\"class\": {}}}",
        i == 0 ? "" : ",", d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3], d.score, d.label,
        json_quote(d.class_name));
  }
  out += detections.empty() ? "]\n" : "\n]\n";
  return out;
}

}  // namespace detkit
