// Instances: boxes, labels, scores and extra fields of equal length, on one device.
#include "detkit/structures/instances.h"

#include <torch/torch.h>

#include "detkit/error.h"

namespace detkit {

Instances::Instances() : labels_(torch::zeros({0}, torch::kInt64)) {}

Instances::Instances(Boxes boxes, torch::Tensor labels, torch::Tensor scores)
    : boxes_(std::move(boxes)) {
  set_labels(labels.defined() ? std::move(labels)
                              : torch::zeros({0}, boxes_.tensor().options().dtype(torch::kInt64)));
  if (scores.defined()) set_scores(std::move(scores));
}

void Instances::check_field(const torch::Tensor& value, const std::string& name) const {
  if (!value.defined()) throw Error("Instances: " + name + " is an undefined tensor");
  if (value.dim() == 0 || value.size(0) != size()) {
    throw Error("Instances: " + name + " has " +
                (value.dim() == 0 ? std::string("no length (a 0-d tensor)")
                                  : std::to_string(value.size(0)) + " entries") +
                " but the instances have " + std::to_string(size()) +
                " (boxes); every field needs one entry per instance");
  }
  if (value.device() != device()) {
    throw Error("Instances: " + name + " is on " + value.device().str() + " but the boxes on " +
                device().str() + "; move it with .to(instances.device())");
  }
}

Instances Instances::to(const torch::Device& device) const {
  Instances out(boxes_.to(device), labels_.to(device),
                scores_.defined() ? scores_.to(device) : torch::Tensor());
  for (const auto& [name, value] : fields_)
    out.set_field(name, value.to(device));
  return out;
}

void Instances::set_boxes(Boxes boxes) {
  if (boxes.size() != size()) {
    throw Error("Instances: new boxes have " + std::to_string(boxes.size()) +
                " entries but labels" + (scores_.defined() ? ", scores" : "") +
                (fields_.empty() ? "" : " and the extra fields") + " have " +
                std::to_string(size()) +
                "; build a new Instances(boxes, labels, scores) to change the number of instances");
  }
  if (boxes.device() != device()) {
    throw Error("Instances: new boxes are on " + boxes.device().str() +
                " but the other fields on " + device().str() + "; use Instances::to first");
  }
  boxes_ = std::move(boxes);
}

void Instances::set_labels(torch::Tensor labels) {
  check_field(labels, "labels");
  labels_ = labels.to(torch::kInt64);
}

void Instances::set_scores(torch::Tensor scores) {
  check_field(scores, "scores");
  scores_ = scores.to(torch::kFloat32);
}

void Instances::set_field(const std::string& name, torch::Tensor value) {
  check_field(value, "field '" + name + "'");
  fields_[name] = std::move(value);
}

const torch::Tensor& Instances::field(const std::string& name) const {
  auto it = fields_.find(name);
  if (it == fields_.end()) throw Error("Instances: no field '" + name + "'");
  return it->second;
}

std::vector<std::string> Instances::field_names() const {
  std::vector<std::string> names;
  for (const auto& entry : fields_)
    names.push_back(entry.first);
  return names;
}

Instances Instances::index(const torch::Tensor& selection) const {
  Instances out(boxes_.index(selection), labels_.index({selection}),
                scores_.defined() ? scores_.index({selection}) : torch::Tensor());
  for (const auto& [name, value] : fields_)
    out.set_field(name, value.index({selection}));
  return out;
}

Instances Instances::cat(const std::vector<Instances>& parts) {
  std::vector<const Instances*> used;
  for (const auto& p : parts) {
    if (!p.empty()) used.push_back(&p);
  }
  if (used.empty()) return parts.empty() ? Instances() : parts.front();
  const Instances& first = *used.front();
  std::vector<Boxes> boxes;
  std::vector<torch::Tensor> labels, scores;
  for (const Instances* p : used) {
    if (p->has_scores() != first.has_scores() || p->field_names() != first.field_names()) {
      throw Error(
          "Instances::cat: the parts have different fields (scores and extra fields "
          "must be the same in every non-empty part)");
    }
    if (p->device() != first.device()) {
      throw Error("Instances::cat: parts on " + first.device().str() + " and on " +
                  p->device().str() + "; move them to one device first with Instances::to");
    }
    boxes.push_back(p->boxes());
    labels.push_back(p->labels());
    if (p->has_scores()) scores.push_back(p->scores());
  }
  Instances out(Boxes::cat(boxes), torch::cat(labels),
                scores.empty() ? torch::Tensor() : torch::cat(scores));
  for (const auto& [name, value] : first.fields_) {
    std::vector<torch::Tensor> values;
    for (const Instances* p : used)
      values.push_back(p->field(name));
    out.set_field(name, torch::cat(values));
  }
  return out;
}

}  // namespace detkit
