// CustomDataset: MMDetection 2.x's CustomDataset semantics shared by the file-format datasets
// (classes subset/renaming, filter_empty_gt, test_mode, the pipeline and _rand_another).
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <unordered_map>
#include <unordered_set>

#include "datasets/dataset_utils.h"
#include "detkit/component_config.h"
#include "detkit/core/text.h"
#include "detkit/data/dataset.h"

namespace detkit {

namespace {

/// Draws a sample the pipeline dropped is replaced at most this many times in a row.
constexpr int kMaxReplacementDraws = 100;

/// MMDetection's `classes`: a list (subset, in this order), a map {dataset name: new name}
/// (subset and renaming) or a string (a file with one name per line).
void read_classes(const ComponentConfig& cfg, CustomDatasetOptions& options) {
  if (!cfg.has("classes")) return;
  const ConfigNode& node = cfg.node("classes");
  if (node.is_string()) {
    options.classes = data_detail::read_lines(node.as_string(), "class list file");
    if (options.classes.empty()) cfg.fail("classes", "the class list file has no names");
  } else if (node.is_list()) {
    for (const ConfigNode& item : node.items()) {
      if (!item.is_string())
        cfg.fail("classes", "class names must be strings, got " + item.to_flow());
      options.classes.push_back(item.as_string());
    }
  } else if (node.is_map()) {
    for (const ConfigEntry& entry : node.entries()) {
      if (!entry.value.is_string())
        cfg.fail("classes", "the new name of '" + entry.key + "' must be a string, got " +
                                entry.value.to_flow());
      options.classes.push_back(entry.key);
      options.class_renames.push_back(entry.value.as_string());
    }
  } else {
    cfg.fail("classes", "expected a list of class names, a map {old: new} or a file name, got " +
                            node.to_flow());
  }
  if (node.size() == 0 && !node.is_string()) cfg.fail("classes", "the class list is empty");
  std::unordered_set<std::string> seen;
  for (const auto& name : options.classes) {
    if (!seen.insert(name).second) cfg.fail("classes", "class '" + name + "' is listed twice");
  }
  seen.clear();
  for (const auto& name : options.class_renames) {
    if (!seen.insert(name).second) cfg.fail("classes", "new name '" + name + "' is used twice");
  }
}

/// Applies old -> new labels to one image's boxes, dropping the left-out classes (-1).
Instances relabel(const Instances& gt, const torch::Tensor& mapping) {
  if (gt.empty()) return gt;
  torch::Tensor labels = mapping.index_select(0, gt.labels());
  torch::Tensor keep = labels >= 0;
  return Instances(gt.boxes().index(keep), labels.index({keep}));
}

/// splitmix64: mixes the configured seed into a draw of the thread's random engine.
uint64_t mix(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

}  // namespace

CustomDatasetOptions CustomDatasetOptions::from_config(const ComponentConfig& cfg) {
  CustomDatasetOptions options;
  options.ann_file = cfg.get<std::string>("ann_file");
  if (options.ann_file.empty()) cfg.fail("ann_file", "must not be empty");
  options.img_prefix = cfg.get<std::string>("img_prefix");
  if (cfg.has("pipeline") && cfg.node("pipeline").size() > 0)
    options.pipeline =
        Pipeline::from_config(cfg.node("pipeline"), child_path(cfg.path(), "pipeline"));
  read_classes(cfg, options);
  options.filter_empty_gt = cfg.get<bool>("filter_empty_gt");
  options.test_mode = cfg.get<bool>("test_mode");
  options.skip_invalid = cfg.get<bool>("skip_invalid");
  options.seed = static_cast<uint64_t>(cfg.get<int64_t>("seed"));
  return options;
}

Schema CustomDataset::base_schema(std::string summary) {
  Schema schema(std::move(summary));
  schema.required<std::string>("ann_file", "annotation file (a relative path is used as given)")
      .add<std::string>("img_prefix", "", "folder joined to every image file name")
      .component_list("pipeline", Kind::transform, ConfigNode::make_list(),
                      "transforms applied to every sample, in order")
      .any("classes", ConfigNode(),
           "class subset in this order (list), subset + renaming ({old: new}) or a file with one "
           "name per line; null = all classes")
      .add<bool>("filter_empty_gt", true,
                 "in training, drop images without an annotation of the selected classes (an "
                 "image whose annotations are all crowd, tiny or difficult stays, as in "
                 "MMDetection)")
      .add<bool>("test_mode", false, "testing: no filtering, samples the pipeline drops are lost")
      .add<bool>("skip_invalid", false,
                 "drop invalid annotations (and names of `classes` the file lacks) with one "
                 "warning line instead of failing")
      .add<int64_t>("seed", 0, "mixed into the draws that replace samples the pipeline drops")
      .min(0);
  return schema;
}

CustomDataset::CustomDataset(CustomDatasetOptions options) : options_(std::move(options)) {
  if (!options_.class_renames.empty() && options_.class_renames.size() != options_.classes.size())
    throw Error("CustomDatasetOptions: class_renames must have one name per entry of classes");
}

CustomDataset::~CustomDataset() = default;

size_t CustomDataset::size() const {
  return infos_.size();
}

const std::vector<std::string>& CustomDataset::classes() const {
  return classes_;
}

const DataInfo& CustomDataset::data_info(size_t index) const {
  if (index >= infos_.size())
    throw Error(fmt::format("dataset index {} is out of range (size {})", index, infos_.size()));
  return infos_[index];
}

std::vector<int64_t> CustomDataset::subset_labels(
    const std::vector<std::string>& dataset_classes) const {
  std::vector<int64_t> labels(dataset_classes.size(), -1);
  if (options_.classes.empty()) {
    for (size_t i = 0; i < labels.size(); ++i)
      labels[i] = static_cast<int64_t>(i);
    return labels;
  }
  std::unordered_map<std::string, size_t> index_of;
  for (size_t i = 0; i < dataset_classes.size(); ++i)
    index_of.emplace(dataset_classes[i], i);
  for (size_t label = 0; label < options_.classes.size(); ++label) {
    const std::string& name = options_.classes[label];
    auto found = index_of.find(name);
    if (found != index_of.end()) {
      labels[found->second] = static_cast<int64_t>(label);
    } else if (!options_.skip_invalid) {
      throw DataError(fmt::format("{}: classes: '{}' is not a class of this dataset{} (known: {})",
                                  options_.ann_file, name, did_you_mean(name, dataset_classes),
                                  join(dataset_classes, ", ")));
    }
  }
  return labels;
}

void CustomDataset::set_data(std::vector<DataInfo> infos,
                             std::vector<std::string> dataset_classes) {
  // Without the subclass's word, an image counts as annotated when it keeps a gt box.
  std::vector<bool> annotated(infos.size());
  const std::vector<int64_t> mapping = subset_labels(dataset_classes);
  for (size_t i = 0; i < infos.size(); ++i) {
    const DataInfo& info = infos[i];
    if (info.gt.empty()) continue;
    const torch::Tensor labels = info.gt.labels().contiguous();
    const int64_t* data = labels.data_ptr<int64_t>();
    annotated[i] = std::any_of(data, data + labels.numel(),
                               [&](int64_t label) { return mapping.at(size_t(label)) >= 0; });
  }
  set_data(std::move(infos), std::move(dataset_classes), annotated);
}

void CustomDataset::set_data(std::vector<DataInfo> infos, std::vector<std::string> dataset_classes,
                             const std::vector<bool>& annotated) {
  if (annotated.size() != infos.size()) {
    throw Error(fmt::format("CustomDataset::set_data: {} annotated flags for {} images",
                            annotated.size(), infos.size()));
  }
  if (!options_.classes.empty()) {
    const std::vector<int64_t> mapping = subset_labels(dataset_classes);
    std::vector<std::string> missing;
    for (const std::string& name : options_.classes) {
      if (std::find(dataset_classes.begin(), dataset_classes.end(), name) == dataset_classes.end())
        missing.push_back("'" + name + "'");
    }
    if (!missing.empty()) {  // only with skip_invalid: subset_labels throws otherwise
      std::cerr << fmt::format(
          "warning: {}: classes: {} {} not a class of this dataset (known: {}); no annotation "
          "will have {} (skip_invalid)\n",
          options_.ann_file, join(missing, ", "), missing.size() == 1 ? "is" : "are",
          join(dataset_classes, ", "), missing.size() == 1 ? "its label" : "their labels");
    }
    const torch::Tensor mapping_tensor = torch::tensor(mapping, torch::kInt64);
    for (DataInfo& info : infos) {
      info.gt = relabel(info.gt, mapping_tensor);
      if (info.ignore_labels.defined() && info.ignore_labels.numel() > 0) {
        // Ignored boxes of left-out classes go; the others take their new labels.
        const torch::Tensor labels = mapping_tensor.index_select(0, info.ignore_labels);
        const torch::Tensor keep = labels >= 0;
        info.gt_ignore = info.gt_ignore.index(keep);
        info.ignore_labels = labels.index({keep});
      }
    }
    classes_ = options_.class_renames.empty() ? options_.classes : options_.class_renames;
  } else {
    classes_ = std::move(dataset_classes);
  }
  const size_t read = infos.size();
  if (!options_.test_mode && options_.filter_empty_gt) {
    // MMDetection's _filter_imgs: an image stays when it has an annotation of a selected class,
    // even if none of them is a usable gt box.
    size_t kept = 0;
    for (size_t i = 0; i < infos.size(); ++i) {
      if (!annotated[i]) continue;
      if (kept != i) infos[kept] = std::move(infos[i]);  // never self-move: it empties strings
      ++kept;
    }
    infos.resize(kept);
    if (infos.empty() && read > 0) {
      throw DataError(
          fmt::format("{}: none of its {} images has an annotation of the selected classes, so "
                      "filter_empty_gt left no training samples",
                      options_.ann_file, read));
    }
  }
  infos_ = std::move(infos);
  group_members_.assign(2, {});
  for (size_t i = 0; i < infos_.size(); ++i)
    group_members_[infos_[i].width > infos_[i].height ? 1 : 0].push_back(i);
}

PipelineSample CustomDataset::make_sample(size_t index) const {
  const DataInfo& info = data_info(index);
  PipelineSample sample;
  sample.meta.filename = data_detail::join_path(options_.img_prefix, info.filename);
  sample.meta.ori_filename = info.filename;
  sample.meta.image_id = info.image_id;
  sample.meta.index = static_cast<int64_t>(index);
  sample.ann = info.gt;
  sample.ann_ignore = info.gt_ignore;
  return sample;
}

std::vector<PipelineSample> CustomDataset::prepare(size_t index) const {
  if (options_.test_mode) return options_.pipeline(make_sample(index));
  size_t current = index;
  for (int draw = 0; draw <= kMaxReplacementDraws; ++draw) {
    std::vector<PipelineSample> samples = options_.pipeline(make_sample(current));
    if (!samples.empty()) return samples;
    // MMDetection's _rand_another: another sample of the same aspect-ratio group.
    const DataInfo& info = infos_[current];
    const std::vector<size_t>& pool = group_members_[info.width > info.height ? 1 : 0];
    current = pool[mix(random_engine()() ^ options_.seed) % pool.size()];
  }
  std::vector<std::string> steps;
  for (const auto& transform : options_.pipeline.transforms())
    steps.push_back(transform->repr());
  throw DataError(fmt::format(
      "{}: the pipeline dropped sample {} and {} replacement samples in a row; check the "
      "pipeline (e.g. a crop that keeps no box): {}",
      options_.ann_file, index, kMaxReplacementDraws, join(steps, " -> ")));
}

}  // namespace detkit
