// Checkpoints: reading and writing PyTorch `.pth` files without Python, and loading a state dict
// into a module with MMCV's semantics (mmcv/runner/checkpoint.py).
//
//   detkit::Checkpoint ckpt = detkit::load_checkpoint("retinanet_r50_fpn_1x_coco.pth");
//   detkit::LoadReport report = detkit::load_state_dict(*model, ckpt.state_dict);
//   if (!report.clean()) detkit::model_warning(report.message());
//   detkit::save_checkpoint("out.pth", detkit::named_tensors(*model), meta);
//
// Files read: what Python's torch.save writes in its zip format (the default since PyTorch 1.6)
// — a plain dict or a collections.OrderedDict of tensors (torchvision), MMDetection's
// {meta, state_dict, optimizer} — and what detkit writes (save_checkpoint, and torch::save of a
// module or an archive in C++). Storages shared by several tensors, strides, storage offsets and
// every plain dtype come out as Python sees them (views of one storage stay views of one
// tensor). Nothing in the file is executed: the pickle is read by detkit's own unpickler, which
// knows only the globals torch.save emits (tensor and parameter rebuilding, storages,
// OrderedDict, TorchScript's list builders); any other object is kept as an opaque name in
// `meta` and refused in a state dict. Pre-1.6 (non-zip) files are refused with a message saying
// to re-save them with a newer PyTorch. Every malformed file gives a CheckpointError naming the
// file and what is wrong; memory is bounded by the file's size.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/ordered_dict.h>

#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/error.h"
#include "detkit/export.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace detkit {

/// A state dict: tensor names ("backbone.conv1.weight") to tensors, in the file's order.
using StateDict = torch::OrderedDict<std::string, at::Tensor>;

/// A checkpoint file that cannot be read or written, or a state dict that does not fit a module
/// under a strict policy. The message names the file (or the keys) and what is wrong.
class DETKIT_API CheckpointError : public Error {
 public:
  explicit CheckpointError(const std::string& message);
  ~CheckpointError() override;
};

/// The contents of a checkpoint file.
struct DETKIT_API Checkpoint {
  /// MMDetection's `meta` (mmdet_version, CLASSES, epoch, config, ...) as a map; an empty map
  /// when the file has none. Python values map to YAML ones (tuples become lists, dict keys
  /// become strings); a tensor reads "tensor(float32, [3, 4])" and any other Python object
  /// "<module.Class>".
  ConfigNode meta = ConfigNode::make_map();
  /// The weights: the file's `state_dict` entry if it has one, else the whole top-level dict
  /// (MMCV's rule), with a leading "module." (DataParallel) stripped from every key.
  StateDict state_dict;
  /// The other top-level entries next to `state_dict` (e.g. "optimizer", "meta"), in file
  /// order. They are parsed and checked like the rest of the file, then dropped (detkit does
  /// not resume an optimizer from a checkpoint).
  std::vector<std::string> other_keys;
};

/// PyTorch's name of a dtype without the "torch." prefix: "float32", "int64", "bfloat16", "bool".
DETKIT_API std::string python_dtype_name(at::ScalarType dtype);

/// Reads the checkpoint at `path` (see the file comment for the formats). Throws
/// CheckpointError for a missing, truncated, corrupt or unsupported file.
DETKIT_API Checkpoint load_checkpoint(const std::string& path);

/// Writes MMDetection's layout `{"meta": meta, "state_dict": state_dict}` to `path` in the zip
/// format Python's torch.load opens (tensors are saved on the CPU, each as its own contiguous
/// storage). The file is written under a temporary name in the same folder and renamed, so a
/// crash never leaves a half-written `path`. Throws CheckpointError when `meta` is not a map or
/// the file cannot be written.
DETKIT_API void save_checkpoint(const std::string& path, const StateDict& state_dict,
                                const ConfigNode& meta = ConfigNode::make_map());

/// Writes `state_dict` alone as a plain dict (what `torch.save(model.state_dict())` gives,
/// torchvision's layout); same guarantees as save_checkpoint.
DETKIT_API void save_state_dict(const std::string& path, const StateDict& state_dict);

/// A module's parameters and buffers under their dotted names, in registration order: the
/// state dict `torch.nn.Module.state_dict()` gives (the tensors are shared, not copied).
DETKIT_API StateDict named_tensors(const torch::nn::Module& module);

/// How load_state_dict treats a state dict that does not fit the module exactly.
enum class LoadPolicy {
  /// MMCV's strict=False: copy what fits, report size mismatches (skipped, the parameter keeps
  /// its value), unexpected and missing keys; never throws for a mismatch.
  report,
  /// As `report` for missing and unexpected keys, but a checkpoint whose shapes do not fit
  /// fails: CheckpointError listing every mismatched key, and nothing is copied.
  fail_on_size_mismatch,
  /// MMCV's strict=True: any size mismatch, unexpected or missing key (num_batches_tracked
  /// excepted) fails with CheckpointError listing every one, and nothing is copied.
  strict,
};

/// What load_state_dict did.
struct DETKIT_API LoadReport {
  /// Keys of the module that were copied from the state dict.
  std::vector<std::string> loaded_keys;
  /// Keys of the module the state dict lacks (num_batches_tracked buffers left out, as MMCV).
  std::vector<std::string> missing_keys;
  /// Keys of the state dict the module lacks.
  std::vector<std::string> unexpected_keys;
  /// "size mismatch for {key}: copying a param with shape torch.Size([..]) from checkpoint,
  /// the shape in current model is torch.Size([..])." — one line per skipped tensor.
  std::vector<std::string> size_mismatches;

  /// Whether every key matched in name and shape (missing num_batches_tracked aside).
  bool clean() const {
    return missing_keys.empty() && unexpected_keys.empty() && size_mismatches.empty();
  }
  /// MMCV's message: "The model and loaded state dict do not match exactly\n" followed by the
  /// size mismatches, "unexpected key in source state_dict: a, b" and "missing keys in source
  /// state_dict: c"; "" when clean().
  std::string message() const;
};

/// Copies the tensors of `state_dict` into the module's parameters and buffers of the same
/// name (without recording gradients, converting dtype and device to the module's), under
/// `policy`. Reports, never logs: the caller decides whether the report is a warning.
DETKIT_API LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state_dict,
                                      LoadPolicy policy = LoadPolicy::report);

/// MMCV's load_state_dict(module, state_dict, strict): LoadPolicy::strict or ::report.
DETKIT_API LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state_dict,
                                      bool strict);

}  // namespace detkit
