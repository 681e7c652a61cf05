// Helpers of the reference tests that compare a detkit model with torchvision's: running a
// generator script of tests/reference with Debian's /usr/bin/python3, reading the tensors it
// saved, and comparing tensors and detections.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "detkit/checkpoint.h"
#include "detkit/config_node.h"
#include "detkit/structures/instances.h"

namespace detkit::testing {

/// The shipped config configs/<relative> (e.g. "retinanet/retinanet_r50_fpn_1x_coco.yaml"), with
/// `options` applied as --cfg-options applies them.
ConfigNode shipped_config(const std::string& relative,
                          const std::vector<std::string>& options = {});

/// Runs tests/reference/<script> with /usr/bin/python3 and `args`; throws with its output when
/// it fails.
void run_reference_script(const std::string& script, const std::vector<std::string>& args);

/// The tensors a reference script saved (a dict written by torch.save), by key.
class ReferenceTensors {
 public:
  /// Reads `path`; throws when it is no such file.
  explicit ReferenceTensors(const std::string& path);
  /// The tensor saved as `key`; throws naming the key when there is none.
  const torch::Tensor& operator()(const std::string& key) const;
  /// Whether a tensor was saved as `key`.
  bool contains(const std::string& key) const { return tensors_.find(key) != nullptr; }

 private:
  StateDict tensors_;
};

/// What a reference script saved with torch.save when it is no flat dict of tensors (nested
/// dicts, lists, strings), as torch::pickle_load reads it; throws when `path` is no such file.
c10::IValue reference_object(const std::string& path);

/// max |a - b| / max(max |b|, 1e-6): closeness relative to the reference's scale.
double relative_error(const torch::Tensor& a, const torch::Tensor& b);

/// The child `name` of `module` as `T`; null when there is none or it is no `T`.
template <class T>
std::shared_ptr<T> child(const torch::nn::Module& module, const std::string& name) {
  for (const auto& item : module.named_children()) {
    if (item.key() == name) return std::dynamic_pointer_cast<T>(item.value());
  }
  return nullptr;
}

/// "key [d0,d1,...]" per line for every parameter and buffer of `module`, in order (the format
/// of tests/data/mmdet_keys/).
std::string tensor_listing(const torch::nn::Module& module);

/// Expects `found` to be the reference detections: as many, scores within `tolerance`, and
/// in the same order with the same labels and boxes (coordinates within `tolerance` times the
/// box's largest coordinate, or `tolerance` when that is under 1) except where two reference scores
/// are closer than 1e-5 (float noise may swap them); at most one in 20 swapped.
void expect_same_detections(const Instances& found, const torch::Tensor& boxes,
                            const torch::Tensor& scores, const torch::Tensor& labels,
                            double tolerance);

}  // namespace detkit::testing
