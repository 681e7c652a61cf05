// load_state_dict with MMCV 1.7's semantics (mmcv/runner/checkpoint.py load_state_dict): copy
// what fits by name and shape, report size mismatches (skipped), unexpected and missing keys
// (num_batches_tracked never reported missing), and MMCV's message; strict policies fail
// before copying anything.
#include <torch/torch.h>

#include <unordered_map>

#include "../modeling/init/init_internal.h"
#include "detkit/checkpoint.h"
#include "detkit/core/text.h"

namespace detkit {

namespace {

/// Appends `module`'s own parameters and buffers, then its children's: Python's state_dict order.
void collect(const torch::nn::Module& module, const std::string& prefix, StateDict& out) {
  for (const auto& item : module.named_parameters(/*recurse=*/false)) {
    if (item.value().defined()) out.insert(prefix + item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/false)) {
    if (item.value().defined()) out.insert(prefix + item.key(), item.value());
  }
  for (const auto& child : module.named_children())
    collect(*child.value(), prefix + child.key() + ".", out);
}

bool is_num_batches_tracked(const std::string& key) {
  const std::string suffix = "num_batches_tracked";
  return key.size() >= suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StateDict named_tensors(const torch::nn::Module& module) {
  StateDict out;
  collect(module, "", out);
  return out;
}

std::string LoadReport::message() const {
  if (clean()) return "";
  std::vector<std::string> parts = size_mismatches;
  if (!unexpected_keys.empty()) {
    parts.push_back("unexpected key in source state_dict: " + join(unexpected_keys, ", ") + "\n");
  }
  if (!missing_keys.empty()) {
    parts.push_back("missing keys in source state_dict: " + join(missing_keys, ", ") + "\n");
  }
  parts.insert(parts.begin(), "The model and loaded state dict do not match exactly\n");
  return join(parts, "\n");
}

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state_dict,
                           LoadPolicy policy) {
  const StateDict targets = named_tensors(module);
  LoadReport report;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (target, source)
  std::unordered_map<std::string, bool> found_in_checkpoint;
  for (const auto& item : state_dict) {
    const torch::Tensor* target = targets.find(item.key());
    if (target == nullptr) {
      report.unexpected_keys.push_back(item.key());
      continue;
    }
    found_in_checkpoint[item.key()] = true;
    if (!target->sizes().equals(item.value().sizes())) {
      report.size_mismatches.push_back("size mismatch for " + item.key() +
                                       ": copying a param with shape " +
                                       detail::torch_size_repr(item.value().sizes()) +
                                       " from checkpoint, the shape in current model is " +
                                       detail::torch_size_repr(target->sizes()) + ".");
      continue;
    }
    copies.emplace_back(*target, item.value());
    report.loaded_keys.push_back(item.key());
  }
  for (const auto& item : targets) {
    if (!found_in_checkpoint.count(item.key()) && !is_num_batches_tracked(item.key())) {
      report.missing_keys.push_back(item.key());
    }
  }
  const bool fails =
      (policy == LoadPolicy::strict && !report.clean()) ||
      (policy == LoadPolicy::fail_on_size_mismatch && !report.size_mismatches.empty());
  if (fails) {
    std::string message = policy == LoadPolicy::strict
                              ? report.message()
                              : "The checkpoint's shapes do not fit the model (" +
                                    std::to_string(report.size_mismatches.size()) + " tensors):\n" +
                                    join(report.size_mismatches, "\n");
    throw CheckpointError(message);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies)
    target.copy_(source);
  return report;
}

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state_dict, bool strict) {
  return load_state_dict(module, state_dict, strict ? LoadPolicy::strict : LoadPolicy::report);
}

}  // namespace detkit
