// Instances: per-image ground truth or predictions (boxes, labels, scores) of equal length.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "detkit/structures/boxes.h"

namespace detkit {

/// Boxes with their labels (int64, 0-based contiguous class indices) and optionally scores
/// (float32) and extra per-instance fields, all of the same length N and on the boxes' device.
/// Every constructor and setter checks both and throws Error naming the field and the two
/// lengths (or devices); to change N, build a new Instances or use index() / cat().
class DETKIT_API Instances {
 public:
  /// No instances (on the CPU).
  Instances();
  /// Throws Error when the lengths or devices differ. `labels` may be undefined only when there
  /// are no boxes; `scores` may be undefined (ground truth).
  Instances(Boxes boxes, torch::Tensor labels, torch::Tensor scores = {});

  const Boxes& boxes() const { return boxes_; }
  /// For in-place geometric edits (scale, clip, flip...), which keep the number of boxes;
  /// replace the boxes with set_boxes, which checks it.
  Boxes& boxes() { return boxes_; }
  const torch::Tensor& labels() const { return labels_; }
  /// Undefined for ground truth.
  const torch::Tensor& scores() const { return scores_; }
  bool has_scores() const { return scores_.defined(); }
  int64_t size() const { return boxes_.size(); }
  bool empty() const { return size() == 0; }
  /// The device of every field.
  torch::Device device() const { return boxes_.device(); }
  /// Every field moved to `device`.
  Instances to(const torch::Device& device) const;

  /// Replace a field; the new value must have size() entries and be on device().
  void set_boxes(Boxes boxes);
  void set_labels(torch::Tensor labels);
  void set_scores(torch::Tensor scores);
  /// Extra per-instance fields (e.g. masks, ignore flags): first dimension size().
  void set_field(const std::string& name, torch::Tensor value);
  const torch::Tensor& field(const std::string& name) const;
  bool has_field(const std::string& name) const { return fields_.count(name) != 0; }
  /// The names of the extra fields, sorted.
  std::vector<std::string> field_names() const;

  /// The instances selected by a bool mask or an index tensor (every field).
  Instances index(const torch::Tensor& selection) const;
  /// Concatenation. Empty parts are skipped; the others must have the same fields (scores
  /// and extra fields) and device.
  static Instances cat(const std::vector<Instances>& parts);

 private:
  /// Throws unless `value` has size() entries on device().
  void check_field(const torch::Tensor& value, const std::string& name) const;

  Boxes boxes_;
  torch::Tensor labels_;
  torch::Tensor scores_;
  std::map<std::string, torch::Tensor> fields_;
};

}  // namespace detkit
