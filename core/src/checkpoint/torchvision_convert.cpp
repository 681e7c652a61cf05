// convert_torchvision_state_dict: torchvision's ResNet and retinanet_resnet50_fpn key names to
// MMDetection 2.x's (see detkit/core/checkpoint_convert.h for the mapping).
#include <torch/torch.h>

#include <cstring>
#include <optional>
#include <regex>
#include <set>

#include "detkit/core/checkpoint_convert.h"
#include "detkit/core/text.h"

namespace detkit {

namespace {

/// Whether `key` is a parameter or buffer of a torchvision/MMDetection ResNet trunk (the names
/// are the same in both).
bool is_resnet_key(const std::string& key) {
  static const std::regex pattern(
      R"((conv1\.weight|bn1\.(weight|bias|running_mean|running_var|num_batches_tracked)|)"
      R"(layer[1-4]\.\d+\.(conv[1-3]\.weight|)"
      R"(bn[1-3]\.(weight|bias|running_mean|running_var|num_batches_tracked)|)"
      R"(downsample\.0\.weight|)"
      R"(downsample\.1\.(weight|bias|running_mean|running_var|num_batches_tracked))))");
  return std::regex_match(key, pattern);
}

/// A convolution of an FPN or head block: "<i>.0.<param>" (torchvision >= 0.13) or
/// "<i>.<param>"; returns the block index. `relu_between`: the old head layout interleaves
/// ReLUs, so conv i sits at index 2i.
std::optional<std::pair<int, std::string>> conv_block(const std::string& rest, bool relu_between) {
  static const std::regex modern(R"((\d+)\.0\.(weight|bias))");
  static const std::regex old(R"((\d+)\.(weight|bias))");
  std::smatch match;
  if (std::regex_match(rest, match, modern)) return std::make_pair(std::stoi(match[1]), match[2]);
  if (std::regex_match(rest, match, old)) {
    const int index = std::stoi(match[1]);
    if (!relu_between) return std::make_pair(index, match[2].str());
    if (index % 2 == 0) return std::make_pair(index / 2, match[2].str());
  }
  return std::nullopt;
}

/// The MMDetection name of a retinanet_resnet50_fpn key, or nullopt; `levels` is the number of
/// FPN output convolutions before the extra P6/P7 ones.
std::optional<std::string> retinanet_name(const std::string& key, int levels) {
  const auto starts = [&](const char* prefix) { return key.rfind(prefix, 0) == 0; };
  const auto rest_after = [&](const char* prefix) { return key.substr(std::strlen(prefix)); };
  if (starts("backbone.body.")) {
    const std::string rest = rest_after("backbone.body.");
    if (is_resnet_key(rest)) return "backbone." + rest;
    return std::nullopt;
  }
  struct BlockRule {
    const char* from;
    const char* to;
    bool relu_between;
  };
  static const BlockRule blocks[] = {
      {"backbone.fpn.inner_blocks.", "neck.lateral_convs.", false},
      {"backbone.fpn.layer_blocks.", "neck.fpn_convs.", false},
      {"head.classification_head.conv.", "bbox_head.cls_convs.", true},
      {"head.regression_head.conv.", "bbox_head.reg_convs.", true},
  };
  for (const auto& rule : blocks) {
    if (!starts(rule.from)) continue;
    const auto block = conv_block(rest_after(rule.from), rule.relu_between);
    if (!block) return std::nullopt;
    return std::string(rule.to) + std::to_string(block->first) + ".conv." + block->second;
  }
  static const std::regex extra(R"(backbone\.fpn\.extra_blocks\.p([67])\.(weight|bias))");
  static const std::regex logits(R"(head\.classification_head\.cls_logits\.(weight|bias))");
  static const std::regex reg(R"(head\.regression_head\.bbox_reg\.(weight|bias))");
  std::smatch match;
  if (std::regex_match(key, match, extra)) {
    return "neck.fpn_convs." + std::to_string(levels + std::stoi(match[1]) - 6) + ".conv." +
           match[2].str();
  }
  if (std::regex_match(key, match, logits)) return "bbox_head.retina_cls." + match[1].str();
  if (std::regex_match(key, match, reg)) return "bbox_head.retina_reg." + match[1].str();
  return std::nullopt;
}

/// The number of FPN output convolutions (distinct layer_blocks indices) in `state_dict`.
int fpn_levels(const StateDict& state_dict) {
  static const std::regex pattern(R"(backbone\.fpn\.layer_blocks\.(\d+)\..*)");
  std::set<std::string> indices;
  std::smatch match;
  for (const auto& item : state_dict) {
    if (std::regex_match(item.key(), match, pattern)) indices.insert(match[1]);
  }
  return static_cast<int>(indices.size());
}

/// Adds a 0 `num_batches_tracked` after each BatchNorm's running_var that lacks one.
StateDict add_num_batches_tracked(const StateDict& state_dict) {
  const std::string suffix = "running_var";
  StateDict out;
  for (const auto& item : state_dict) {
    out.insert(item.key(), item.value());
    const std::string& key = item.key();
    if (key.size() < suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix))
      continue;
    const std::string tracked = key.substr(0, key.size() - suffix.size()) + "num_batches_tracked";
    if (!state_dict.contains(tracked)) out.insert(tracked, torch::zeros({}, torch::kLong));
  }
  return out;
}

}  // namespace

std::vector<std::string> torchvision_conversion_models() {
  return {"retinanet", "resnet"};
}

StateDict convert_torchvision_state_dict(const StateDict& state_dict, const std::string& model) {
  if (model != "retinanet" && model != "resnet") {
    throw CheckpointError("unknown torchvision model '" + model +
                          "' (supported: " + join(torchvision_conversion_models(), ", ") + ")");
  }
  const int levels = fpn_levels(state_dict);
  StateDict out;
  std::vector<std::string> unknown;
  for (const auto& item : state_dict) {
    std::optional<std::string> name;
    if (model == "resnet") {
      if (item.key().rfind("fc.", 0) == 0) continue;  // the classifier: no detector has it
      if (is_resnet_key(item.key())) name = item.key();
    } else {
      name = retinanet_name(item.key(), levels);
    }
    if (!name) {
      unknown.push_back(item.key());
      continue;
    }
    if (out.contains(*name)) {
      throw CheckpointError("torchvision " + model + " state dict: two keys map to '" + *name +
                            "' (the second is '" + item.key() + "')");
    }
    out.insert(*name, item.value());
  }
  if (!unknown.empty()) {
    throw CheckpointError("the state dict is not a torchvision " + model + " one: " +
                          std::to_string(unknown.size()) + " unknown keys: " + join(unknown, ", "));
  }
  return add_num_batches_tracked(out);
}

}  // namespace detkit
