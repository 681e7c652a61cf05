// Pretrained: MMCV's PretrainedInit — load a checkpoint's state dict into the module, whole
// (stripping a DataParallel "module." prefix) or only the keys under `prefix` (with the prefix
// removed), non-strictly: mismatched keys and shapes are reported as a warning, not an error.
//
// Checkpoint files: whatever detkit::load_checkpoint reads (detkit/checkpoint.h): PyTorch .pth
// files (plain dicts, OrderedDict state dicts, MMDetection's {meta, state_dict, optimizer}),
// detkit's own save_checkpoint output and C++ torch::save archives. As in MMCV, a checkpoint's
// `state_dict` entry is used if present, and a leading "module." is stripped from every key.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "detkit/checkpoint.h"
#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "detkit/modeling/initializer.h"
#include "detkit/registry.h"
#include "init_internal.h"

namespace detkit::initializers {

namespace {

/// The folder torch.hub caches downloads in (what MMCV's `torchvision://NAME` reads through
/// torch.utils.model_zoo.load_url): $TORCH_HOME/hub/checkpoints, else
/// $XDG_CACHE_HOME/torch/hub/checkpoints, else ~/.cache/torch/hub/checkpoints.
std::filesystem::path torch_hub_checkpoints() {
  namespace fs = std::filesystem;
  if (const char* torch_home = std::getenv("TORCH_HOME"); torch_home && *torch_home)
    return fs::path(torch_home) / "hub" / "checkpoints";
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache)
    return fs::path(cache) / "torch" / "hub" / "checkpoints";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".cache" / "torch" / "hub" / "checkpoints";
}

/// The file a `checkpoint` value names. A path is itself. `torchvision://NAME` (MMDetection's
/// ImageNet backbones) is the file torch.hub cached for NAME: NAME.pth or NAME-<hash>.pth in
/// torch_hub_checkpoints() (the newest when several). detkit downloads nothing: other URL
/// schemes, and a torchvision model that is not in the cache, are errors that say what to do.
std::string resolve_checkpoint(const std::string& checkpoint) {
  namespace fs = std::filesystem;
  const std::string scheme = "torchvision://";
  if (checkpoint.rfind(scheme, 0) != 0) {
    const size_t colon = checkpoint.find("://");
    if (colon != std::string::npos && colon > 0 &&
        checkpoint.find('/') > colon)  // "open-mmlab://...", "https://..."
      throw CheckpointError("Pretrained: checkpoint '" + checkpoint +
                            "': detkit downloads nothing; download it yourself and give the "
                            "file's path (torchvision://NAME is read from the torch.hub cache)");
    return checkpoint;
  }
  const std::string name = checkpoint.substr(scheme.size());
  const fs::path folder = torch_hub_checkpoints();
  std::vector<fs::path> found;
  std::error_code error;
  if (!name.empty() && name.find('/') == std::string::npos) {
    for (const auto& entry : fs::directory_iterator(folder, error)) {
      const std::string file = entry.path().filename().string();
      if (file == name + ".pth" ||
          (file.rfind(name + "-", 0) == 0 && file.size() > name.size() + 5 &&
           file.compare(file.size() - 4, 4, ".pth") == 0))
        found.push_back(entry.path());
    }
  }
  if (found.empty())
    throw CheckpointError("Pretrained: checkpoint '" + checkpoint +
                          "' is not in the torch.hub cache " + folder.string() + " (no " + name +
                          ".pth or " + name +
                          "-<hash>.pth there; TORCH_HOME moves it). detkit downloads nothing: "
                          "copy torchvision's file there, or give a file's path");
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    std::error_code ignored;
    return fs::last_write_time(a, ignored) < fs::last_write_time(b, ignored);
  });
  return found.back().string();
}

/// The state dict of the checkpoint `checkpoint` names; a read error names the initializer.
StateDict read_checkpoint(const std::string& checkpoint) {
  const std::string path = resolve_checkpoint(checkpoint);
  try {
    return load_checkpoint(path).state_dict;
  } catch (const CheckpointError& e) {
    throw CheckpointError(std::string("Pretrained: cannot read checkpoint: ") + e.what());
  }
}

/// MMCV's load_state_dict(module, state_dict, strict=False): the mismatches as one warning.
void load_non_strict(torch::nn::Module& module, const StateDict& state) {
  const LoadReport report = load_state_dict(module, state, LoadPolicy::report);
  if (!report.clean()) model_warning(report.message());
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
      load_non_strict(module, read_checkpoint(checkpoint_));  // "module." already stripped
      return;
    }
    model_info("load " + *prefix_ + " in model from: " + checkpoint_);
    std::string prefix = *prefix_;
    if (prefix.empty() || prefix.back() != '.') prefix += '.';
    StateDict selected;
    for (const auto& item : read_checkpoint(checkpoint_)) {
      if (item.key().rfind(prefix, 0) == 0) {
        selected.insert(item.key().substr(prefix.size()), item.value());
      }
    }
    if (selected.is_empty()) {
      throw Error("Pretrained: " + prefix + " is not in the pretrained model " + checkpoint_ +
                  " (no key starts with '" + prefix + "')");
    }
    load_non_strict(module, selected);
  }

  std::string record() const override { return "PretrainedInit: load from " + checkpoint_; }

 private:
  std::string checkpoint_;
  std::optional<std::string> prefix_;
};
DETKIT_REGISTER_AS(initializer, PretrainedInit, "Pretrained");

}  // namespace detkit::initializers
