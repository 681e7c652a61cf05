// Pretrained: MMCV's PretrainedInit — load a checkpoint's state dict into the module, whole
// (stripping a DataParallel "module." prefix) or only the keys under `prefix` (with the prefix
// removed), non-strictly: mismatched keys and shapes are reported as a warning, not an error.
//
// Checkpoint files: until detkit's .pth reader (the checkpoint issue) lands, this reads what
// LibTorch can read by itself —
//   * files written by torch::save(module, path) in C++ (a serialize archive; keys are the
//     module's parameter and buffer names), and
//   * torch.save / torch::pickle_save files holding a dict of tensors (or a dict whose
//     "state_dict" entry is one) that LibTorch's unpickler accepts.
// Python's state_dict() OrderedDicts (MMDetection and torchvision checkpoints) need that reader;
// such a file is refused with a message that says so.
#include <torch/serialize.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "detkit/modeling/initializer.h"
#include "detkit/registry.h"
#include "init_internal.h"

namespace detkit::initializers {

namespace {

using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

/// Appends the tensors of a C++ serialize archive (nested archives are child modules).
void read_archive(torch::serialize::InputArchive& archive, const std::string& prefix,
                  StateDict& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    if (archive.try_read(key, tensor, /*is_buffer=*/false) ||
        archive.try_read(key, tensor, /*is_buffer=*/true)) {
      out.emplace_back(prefix + key, tensor);
      continue;
    }
    torch::serialize::InputArchive child;
    if (archive.try_read(key, child)) read_archive(child, prefix + key + ".", out);
  }
}

/// The tensors of a pickled dict (a state dict, or a checkpoint with "state_dict").
bool read_pickled(const std::string& bytes, StateDict& out) {
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const std::exception&) {
    return false;
  }
  if (!value.isGenericDict()) return false;
  auto dict = value.toGenericDict();
  for (const auto& entry : dict) {
    if (entry.key().isString() && entry.key().toStringRef() == "state_dict") {
      if (!entry.value().isGenericDict()) return false;
      dict = entry.value().toGenericDict();
      break;
    }
  }
  for (const auto& entry : dict) {
    if (!entry.key().isString() || !entry.value().isTensor()) continue;
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return !out.empty();
}

/// The state dict of the checkpoint file `path` (see the file comment for the formats).
StateDict read_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error("Pretrained: checkpoint '" + path + "' is not a file");
  }
  std::ifstream file(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) throw Error("Pretrained: cannot read checkpoint '" + path + "'");
  StateDict state;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    read_archive(archive, "", state);
    if (!state.empty()) return state;
  } catch (const std::exception&) {
    state.clear();
  }
  if (read_pickled(bytes, state)) return state;
  throw Error("Pretrained: cannot read checkpoint '" + path +
              "': detkit reads checkpoints written by torch::save (C++) and torch.save'd dicts "
              "of tensors for now; PyTorch .pth files with OrderedDict state dicts "
              "(MMDetection, torchvision) need the checkpoint reader of a later release — "
              "convert the file or load it with load_from");
}

/// MMCV's load_state_dict(module, state_dict, strict=False): copies matching tensors; warns
/// about size mismatches, unexpected keys and missing keys (num_batches_tracked excepted).
void load_state_dict(torch::nn::Module& module, const StateDict& state) {
  std::map<std::string, torch::Tensor> targets;
  std::vector<std::string> target_order;
  for (const auto& item : module.named_parameters()) {
    targets[item.key()] = item.value();
    target_order.push_back(item.key());
  }
  for (const auto& item : module.named_buffers()) {
    targets[item.key()] = item.value();
    target_order.push_back(item.key());
  }
  std::vector<std::string> errors, unexpected;
  std::map<std::string, bool> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : state) {
    const auto found = targets.find(key);
    if (found == targets.end()) {
      unexpected.push_back(key);
      continue;
    }
    loaded[key] = true;
    if (!found->second.sizes().equals(value.sizes())) {
      errors.push_back("size mismatch for " + key + ": copying a param with shape " +
                       detail::torch_size_repr(value.sizes()) +
                       " from checkpoint, the shape in current model is " +
                       detail::torch_size_repr(found->second.sizes()) + ".");
      continue;
    }
    found->second.copy_(value);
  }
  std::vector<std::string> missing;
  for (const auto& key : target_order) {
    if (!loaded.count(key) && key.find("num_batches_tracked") == std::string::npos) {
      missing.push_back(key);
    }
  }
  if (!unexpected.empty()) {
    errors.push_back("unexpected key in source state_dict: " + join(unexpected, ", ") + "\n");
  }
  if (!missing.empty()) {
    errors.push_back("missing keys in source state_dict: " + join(missing, ", ") + "\n");
  }
  if (errors.empty()) return;
  errors.insert(errors.begin(), "The model and loaded state dict do not match exactly\n");
  model_warning(join(errors, "\n"));
}

}  // namespace

/// Pretrained: initialise from a checkpoint (optionally one submodule's keys, by prefix).
class PretrainedInit : public InitializerBase {
 public:
  explicit PretrainedInit(const ComponentConfig& cfg)
      : checkpoint_(cfg.get<std::string>("checkpoint")),
        prefix_(cfg.get<std::optional<std::string>>("prefix")) {}

  static Schema schema() {
    return Schema("Load weights from a checkpoint (MMCV PretrainedInit).")
        .required<std::string>("checkpoint", "checkpoint file")
        .add<std::optional<std::string>>("prefix", std::nullopt,
                                         "load only the keys under this prefix (e.g. backbone.), "
                                         "with the prefix removed")
        .add<std::optional<std::string>>("map_location", std::nullopt,
                                         "device to load the tensors to (they are copied into "
                                         "the module's own device in any case)");
  }
  static std::shared_ptr<PretrainedInit> create(const ComponentConfig& cfg) {
    return std::make_shared<PretrainedInit>(cfg);
  }

  void apply(torch::nn::Module& module, bool /*whole_module*/) override {
    if (!prefix_) {
      model_info("load model from: " + checkpoint_);
      StateDict state = read_checkpoint(checkpoint_);
      for (auto& item : state) {  // revise_keys: ^module\. -> ''
        if (item.first.rfind("module.", 0) == 0) item.first = item.first.substr(7);
      }
      load_state_dict(module, state);
      return;
    }
    model_info("load " + *prefix_ + " in model from: " + checkpoint_);
    std::string prefix = *prefix_;
    if (prefix.empty() || prefix.back() != '.') prefix += '.';
    StateDict selected;
    for (const auto& [key, value] : read_checkpoint(checkpoint_)) {
      if (key.rfind(prefix, 0) == 0) selected.emplace_back(key.substr(prefix.size()), value);
    }
    if (selected.empty()) {
      throw Error("Pretrained: " + prefix + " is not in the pretrained model " + checkpoint_ +
                  " (no key starts with '" + prefix + "')");
    }
    load_state_dict(module, selected);
  }

  std::string record() const override { return "PretrainedInit: load from " + checkpoint_; }

 private:
  std::string checkpoint_;
  std::optional<std::string> prefix_;
};
DETKIT_REGISTER_AS(initializer, PretrainedInit, "Pretrained");

}  // namespace detkit::initializers
