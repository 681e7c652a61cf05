// Instances: boxes, labels, scores and extra fields of equal length.
#include "detkit/structures/instances.h"

#include <torch/torch.h>

#include "detkit/error.h"

namespace detkit {

Instances::Instances() : labels_(torch::zeros({0}, torch::kInt64)) {}

Instances::Instances(Boxes boxes, torch::Tensor labels, torch::Tensor scores)
    : boxes_(std::move(boxes)) {
  set_labels(labels.defined() ? std::move(labels) : torch::zeros({0}, torch::kInt64));
  if (scores.defined()) set_scores(std::move(scores));
}

void Instances::check_length(const torch::Tensor& value, const char* name) const {
  if (value.dim() == 0 || value.size(0) != boxes_.size()) {
    throw Error(std::string("Instances: ") + name + " has " +
                (value.dim() == 0 ? std::string("no length") : std::to_string(value.size(0))) +
                " entries but there are " + std::to_string(boxes_.size()) + " boxes");
  }
}

void Instances::set_boxes(Boxes boxes) {
  if (boxes.size() != size() && (labels_.numel() != 0 || !fields_.empty() || scores_.defined())) {
    throw Error("Instances: new boxes have " + std::to_string(boxes.size()) +
                " entries but the other fields have " + std::to_string(size()));
  }
  boxes_ = std::move(boxes);
}

void Instances::set_labels(torch::Tensor labels) {
  check_length(labels, "labels");
  labels_ = labels.to(torch::kInt64);
}

void Instances::set_scores(torch::Tensor scores) {
  check_length(scores, "scores");
  scores_ = scores.to(torch::kFloat32);
}

void Instances::set_field(const std::string& name, torch::Tensor value) {
  check_length(value, name.c_str());
  fields_[name] = std::move(value);
}

const torch::Tensor& Instances::field(const std::string& name) const {
  auto it = fields_.find(name);
  if (it == fields_.end()) throw Error("Instances: no field '" + name + "'");
  return it->second;
}

Instances Instances::index(const torch::Tensor& selection) const {
  Instances out(boxes_.index(selection), labels_.index({selection}),
                scores_.defined() ? scores_.index({selection}) : torch::Tensor());
  for (const auto& [name, value] : fields_)
    out.set_field(name, value.index({selection}));
  return out;
}

Instances Instances::cat(const std::vector<Instances>& parts) {
  if (parts.empty()) return Instances();
  std::vector<Boxes> boxes;
  std::vector<torch::Tensor> labels, scores;
  for (const auto& p : parts) {
    boxes.push_back(p.boxes());
    labels.push_back(p.labels());
    if (p.has_scores() != parts.front().has_scores())
      throw Error("Instances::cat: some parts have scores and some do not");
    if (p.has_scores()) scores.push_back(p.scores());
  }
  Instances out(Boxes::cat(boxes), torch::cat(labels),
                scores.empty() ? torch::Tensor() : torch::cat(scores));
  for (const auto& [name, value] : parts.front().fields_) {
    std::vector<torch::Tensor> values;
    for (const auto& p : parts)
      values.push_back(p.field(name));
    out.set_field(name, torch::cat(values));
  }
  return out;
}

}  // namespace detkit
