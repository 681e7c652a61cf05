// Instances: per-image ground truth or predictions (boxes, labels, scores) of equal length.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "detkit/structures/boxes.h"

namespace detkit {

/// Boxes with their labels (int64, 0-based contiguous class indices) and optionally scores
/// (float32) and extra per-instance fields; every field has the same length N (checked).
class DETKIT_API Instances {
 public:
  /// No instances.
  Instances();
  /// Throws Error when the lengths differ. `scores` may be undefined (ground truth).
  Instances(Boxes boxes, torch::Tensor labels, torch::Tensor scores = {});

  const Boxes& boxes() const { return boxes_; }
  Boxes& boxes() { return boxes_; }
  const torch::Tensor& labels() const { return labels_; }
  /// Undefined for ground truth.
  const torch::Tensor& scores() const { return scores_; }
  bool has_scores() const { return scores_.defined(); }
  int64_t size() const { return boxes_.size(); }
  bool empty() const { return size() == 0; }

  void set_boxes(Boxes boxes);
  void set_labels(torch::Tensor labels);
  void set_scores(torch::Tensor scores);
  /// Extra per-instance fields (e.g. masks, ignore flags), same length as the boxes.
  void set_field(const std::string& name, torch::Tensor value);
  const torch::Tensor& field(const std::string& name) const;
  bool has_field(const std::string& name) const { return fields_.count(name) != 0; }

  /// The instances selected by a bool mask or an index tensor (every field).
  Instances index(const torch::Tensor& selection) const;
  /// Concatenation (all parts must have the same fields).
  static Instances cat(const std::vector<Instances>& parts);

 private:
  void check_length(const torch::Tensor& value, const char* name) const;

  Boxes boxes_;
  torch::Tensor labels_;
  torch::Tensor scores_;
  std::map<std::string, torch::Tensor> fields_;
};

}  // namespace detkit
