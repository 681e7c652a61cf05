// The dataset interface (kind `dataset`) and CustomDataset, the base of the file-format datasets
// (MMDetection's CustomDataset: ann_file, img_prefix, pipeline, classes, filter_empty_gt,
// test_mode).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detkit/data/transform.h"
#include "detkit/registry.h"

namespace detkit {

class ComponentConfig;

/// The annotations of one image, as read from the annotation file (no pixels).
struct DETKIT_API DataInfo {
  /// File name relative to img_prefix, as in the annotation file.
  std::string filename;
  int64_t image_id = -1;
  int64_t width = 0;
  int64_t height = 0;
  /// Boxes with 0-based contiguous labels (after any `classes` subset/renaming).
  Instances gt;
  /// Crowd / ignored / difficult boxes.
  Boxes gt_ignore;
  /// Labels of the gt_ignore boxes (int64, same length) where the format has them (VOC's
  /// difficult objects: VOC evaluation ignores them per class); undefined otherwise.
  torch::Tensor ignore_labels;
};

/// Base class of datasets.
class DETKIT_API DatasetBase {
 public:
  virtual ~DatasetBase();

  /// Number of samples.
  virtual size_t size() const = 0;
  /// Class names, index = label.
  virtual const std::vector<std::string>& classes() const = 0;
  /// Annotations of sample `index` (no image decoding).
  virtual const DataInfo& data_info(size_t index) const = 0;
  /// Loads sample `index` and runs the pipeline. In training mode a sample the pipeline drops
  /// is replaced by another of the same aspect-ratio group (MMDetection's _rand_another), so
  /// the result has one sample; in test mode it may have several (test-time augmentation).
  virtual std::vector<PipelineSample> prepare(size_t index) const = 0;
  /// Whether the dataset was built with test_mode (no filtering, test pipeline semantics).
  virtual bool test_mode() const = 0;
  /// Aspect-ratio group of each sample for GroupSampler: 1 if width > height, else 0.
  virtual std::vector<uint8_t> group_flags() const;
  /// The metric type that evaluates this dataset by default ("CocoMetric", "VOCMetric").
  virtual std::string default_metric() const;
  /// The dataset's own id of each class, index = label (COCO category ids), used to write
  /// results in the dataset's format. Default: 1, 2, ..., number of classes.
  virtual std::vector<int64_t> category_ids() const;
};

/// A pipeline: transforms applied in order (MMDetection's Compose).
class DETKIT_API Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(std::vector<std::shared_ptr<TransformBase>> transforms);
  /// Builds every transform of a config list (each `{type: ..., ...}`); `path` locates errors.
  static Pipeline from_config(const ConfigNode& list, const std::string& path);
  /// Runs the transforms; returns the resulting samples (empty if one dropped the sample).
  std::vector<PipelineSample> operator()(PipelineSample sample) const;
  const std::vector<std::shared_ptr<TransformBase>>& transforms() const { return transforms_; }

 private:
  std::vector<std::shared_ptr<TransformBase>> transforms_;
};

/// Options shared by the file-format datasets (MMDetection's CustomDataset arguments).
struct DETKIT_API CustomDatasetOptions {
  std::string ann_file;
  /// Prefix joined to every file name (a folder).
  std::string img_prefix;
  Pipeline pipeline;
  /// Class subset / renaming; empty = the dataset's own classes.
  std::vector<std::string> classes;
  /// New names of `classes` (same length; from the map form `classes: {old: new}`); empty =
  /// keep the dataset's names.
  std::vector<std::string> class_renames;
  bool filter_empty_gt = true;
  bool test_mode = false;
  /// Drop annotations that are invalid (bad boxes, unknown categories) with a warning count
  /// instead of failing.
  bool skip_invalid = false;
  /// Seed of the replacement draws in training mode.
  uint64_t seed = 0;

  /// Reads the CustomDataset parameters from a validated config.
  static CustomDatasetOptions from_config(const ComponentConfig& cfg);
};

/// Base of file-format datasets: subclasses load annotations; this class filters, runs the
/// pipeline and replaces dropped samples.
class DETKIT_API CustomDataset : public DatasetBase {
 public:
  explicit CustomDataset(CustomDatasetOptions options);
  ~CustomDataset() override;

  size_t size() const override;
  const std::vector<std::string>& classes() const override;
  const DataInfo& data_info(size_t index) const override;
  std::vector<PipelineSample> prepare(size_t index) const override;
  bool test_mode() const override { return options_.test_mode; }
  const CustomDatasetOptions& options() const { return options_; }
  /// The parameters every CustomDataset takes, for subclasses' schemas to extend.
  static Schema base_schema(std::string summary);

 protected:
  /// Sets the annotations (call from the subclass constructor): applies the `classes` subset,
  /// then (unless test_mode) filter_empty_gt, which here drops the images left without a gt box.
  void set_data(std::vector<DataInfo> infos, std::vector<std::string> dataset_classes);
  /// The same with MMDetection's filter_empty_gt criterion given per image: `annotated[i]` says
  /// whether image i has an annotation of a selected class; only the others are dropped, so an
  /// image whose annotations are all crowd, too small or difficult stays with zero gt boxes.
  void set_data(std::vector<DataInfo> infos, std::vector<std::string> dataset_classes,
                const std::vector<bool>& annotated);
  /// Loads the image and annotations of `index` into a fresh sample (before the pipeline).
  PipelineSample make_sample(size_t index) const;
  /// For each dataset class, its label after the `classes` subset (-1 when left out), so that
  /// subclasses can drop ignored boxes of left-out classes. Throws DataError for a name of
  /// `classes` that is not a dataset class, listing the known ones (with skip_invalid that label
  /// just gets no annotations, and set_data prints a warning).
  std::vector<int64_t> subset_labels(const std::vector<std::string>& dataset_classes) const;

 private:
  CustomDatasetOptions options_;
  std::vector<DataInfo> infos_;
  std::vector<std::string> classes_;
  /// Indices of the samples of each aspect-ratio group (for replacement draws).
  std::vector<std::vector<size_t>> group_members_;
};

}  // namespace detkit
