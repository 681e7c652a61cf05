// convert_torchvision_state_dict: torchvision's ResNet, retinanet_resnet50_fpn and
// fasterrcnn_resnet50_fpn key names to MMDetection 2.x's (see detkit/core/checkpoint_convert.h for
// the mapping).
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

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

/// A family of convolution blocks: keys "<from><block>" become "<to><i>.conv.<param>".
struct BlockRule {
  const char* from;
  const char* to;
  bool relu_between;  // as conv_block's
};

/// A single layer: a key matching `pattern` (its last group the parameter, weight or bias)
/// becomes "<to><param>".
struct LayerRule {
  std::regex pattern;
  const char* to;
};

/// The MMDetection name of `key` under the first of `rules` whose prefix it has, or nullopt.
std::optional<std::string> block_name(const std::string& key, const std::vector<BlockRule>& rules) {
  for (const auto& rule : rules) {
    if (key.rfind(rule.from, 0) != 0) continue;
    const auto block = conv_block(key.substr(std::strlen(rule.from)), rule.relu_between);
    if (!block) return std::nullopt;
    return std::string(rule.to) + std::to_string(block->first) + ".conv." + block->second;
  }
  return std::nullopt;
}

/// The MMDetection name of `key` under the first of `rules` it matches, or nullopt.
std::optional<std::string> layer_name(const std::string& key, const std::vector<LayerRule>& rules) {
  std::smatch match;
  for (const auto& rule : rules) {
    if (std::regex_match(key, match, rule.pattern)) {
      return std::string(rule.to) + match[match.size() - 1].str();
    }
  }
  return std::nullopt;
}

/// The MMDetection name of a key of torchvision's ResNet-FPN backbone (backbone.body.*, the FPN's
/// inner and layer blocks; not its extra blocks), shared by the detectors, or nullopt.
std::optional<std::string> resnet_fpn_name(const std::string& key) {
  static const std::string body = "backbone.body.";
  if (key.rfind(body, 0) == 0) {
    const std::string rest = key.substr(body.size());
    if (is_resnet_key(rest)) return "backbone." + rest;
    return std::nullopt;
  }
  static const std::vector<BlockRule> fpn = {
      {"backbone.fpn.inner_blocks.", "neck.lateral_convs.", false},
      {"backbone.fpn.layer_blocks.", "neck.fpn_convs.", false},
  };
  return block_name(key, fpn);
}

/// The MMDetection name of a retinanet_resnet50_fpn key, or nullopt; `levels` is the number of
/// FPN output convolutions before the extra P6/P7 ones.
std::optional<std::string> retinanet_name(const std::string& key, int levels) {
  if (auto name = resnet_fpn_name(key)) return name;
  static const std::vector<BlockRule> heads = {
      {"head.classification_head.conv.", "bbox_head.cls_convs.", true},
      {"head.regression_head.conv.", "bbox_head.reg_convs.", true},
  };
  if (auto name = block_name(key, heads)) return name;
  static const std::vector<LayerRule> layers = {
      {std::regex(R"(head\.classification_head\.cls_logits\.(weight|bias))"),
       "bbox_head.retina_cls."},
      {std::regex(R"(head\.regression_head\.bbox_reg\.(weight|bias))"), "bbox_head.retina_reg."},
  };
  if (auto name = layer_name(key, layers)) return name;
  static const std::regex extra(R"(backbone\.fpn\.extra_blocks\.p([67])\.(weight|bias))");
  std::smatch match;
  if (std::regex_match(key, match, extra)) {
    return "neck.fpn_convs." + std::to_string(levels + std::stoi(match[1]) - 6) + ".conv." +
           match[2].str();
  }
  return std::nullopt;
}

/// The MMDetection name of a fasterrcnn_resnet50_fpn key, or nullopt. The RPN convolution is
/// "rpn.head.conv.0.0.*" in torchvision >= 0.13 and "rpn.head.conv.*" before.
std::optional<std::string> fasterrcnn_name(const std::string& key) {
  if (auto name = resnet_fpn_name(key)) return name;
  static const std::vector<LayerRule> layers = {
      {std::regex(R"(rpn\.head\.conv\.(0\.0\.)?(weight|bias))"), "rpn_head.rpn_conv."},
      {std::regex(R"(rpn\.head\.cls_logits\.(weight|bias))"), "rpn_head.rpn_cls."},
      {std::regex(R"(rpn\.head\.bbox_pred\.(weight|bias))"), "rpn_head.rpn_reg."},
      {std::regex(R"(roi_heads\.box_head\.fc6\.(weight|bias))"),
       "roi_head.bbox_head.shared_fcs.0."},
      {std::regex(R"(roi_heads\.box_head\.fc7\.(weight|bias))"),
       "roi_head.bbox_head.shared_fcs.1."},
      {std::regex(R"(roi_heads\.box_predictor\.cls_score\.(weight|bias))"),
       "roi_head.bbox_head.fc_cls."},
      {std::regex(R"(roi_heads\.box_predictor\.bbox_pred\.(weight|bias))"),
       "roi_head.bbox_head.fc_reg."},
  };
  return layer_name(key, layers);
}

/// torchvision's box classifier (C rows, row 0 its background) as MMDetection's (C + 1 rows,
/// background last) for detkit, which keeps torchvision's labels: row 0 becomes a class that
/// never scores (weight 0, bias -10000: exp underflows to exactly 0 in float32, so the softmax
/// over the other classes is torchvision's), rows 1..C-1 stay, row C is torchvision's
/// background. `is_bias`: `tensor` is the (C) bias, else the (C, in) weight.
torch::Tensor background_last(const torch::Tensor& tensor, bool is_bias, const std::string& name) {
  if (tensor.dim() != (is_bias ? 1 : 2) || tensor.size(0) < 1) {
    std::ostringstream shape;
    shape << tensor.sizes();
    throw CheckpointError("torchvision fasterrcnn state dict: '" + name + "' has shape " +
                          shape.str() + ", not a box classifier's (C" + (is_bias ? "" : ", in") +
                          ")");
  }
  const torch::Tensor never = is_bias ? torch::full({1}, -10000.0, tensor.options())
                                      : torch::zeros({1, tensor.size(1)}, tensor.options());
  return torch::cat({never, tensor.slice(0, 1), tensor.slice(0, 0, 1)});
}

/// The tensor `name` (an MMDetection name) gets in a converted `model`: the tensor itself, but
/// a fasterrcnn box classifier is rearranged by background_last.
torch::Tensor converted_tensor(const torch::Tensor& tensor, const std::string& name,
                               const std::string& model) {
  static const std::string classifier = "roi_head.bbox_head.fc_cls.";
  if (model != "fasterrcnn" || name.rfind(classifier, 0) != 0) return tensor;
  return background_last(tensor, name == classifier + "bias", name);
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
  return {"retinanet", "fasterrcnn", "resnet"};
}

StateDict convert_torchvision_state_dict(const StateDict& state_dict, const std::string& model) {
  const std::vector<std::string> models = torchvision_conversion_models();
  if (std::find(models.begin(), models.end(), model) == models.end()) {
    throw CheckpointError("unknown torchvision model '" + model +
                          "' (supported: " + join(models, ", ") + ")");
  }
  const int levels = fpn_levels(state_dict);
  StateDict out;
  std::vector<std::string> unknown;
  for (const auto& item : state_dict) {
    std::optional<std::string> name;
    if (model == "resnet") {
      if (item.key().rfind("fc.", 0) == 0) continue;  // the classifier: no detector has it
      if (is_resnet_key(item.key())) name = item.key();
    } else if (model == "retinanet") {
      name = retinanet_name(item.key(), levels);
    } else {
      name = fasterrcnn_name(item.key());
    }
    if (!name) {
      unknown.push_back(item.key());
      continue;
    }
    if (out.contains(*name)) {
      throw CheckpointError("torchvision " + model + " state dict: two keys map to '" + *name +
                            "' (the second is '" + item.key() + "')");
    }
    out.insert(*name, converted_tensor(item.value(), *name, model));
  }
  if (!unknown.empty()) {
    throw CheckpointError("the state dict is not a torchvision " + model + " one: " +
                          std::to_string(unknown.size()) + " unknown keys: " + join(unknown, ", "));
  }
  return add_num_batches_tracked(out);
}

}  // namespace detkit
