// Helpers of the weight-initialisation tests: the Toy model of tests/reference/gen_init.py,
// rebuilt from detkit's layers, the reference file it writes, and a capture of the model
// messages.
#pragma once

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/runtime.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/init.h"
#include "detkit/modeling/layers.h"
#include "test_support.h"

namespace detkit::testing {

/// A config node from YAML (or JSON) text; null for "".
inline ConfigNode yaml(const std::string& text) {
  if (text.empty()) return ConfigNode();
  return parse_yaml_text(text, "<test>");
}

/// A conv layer from the registry (Conv2d), as nn.Conv2d(in, out, k, padding=pad, bias=bias).
inline std::shared_ptr<ConvLayerBase> conv2d(int64_t in, int64_t out, int64_t k, int64_t pad = 0,
                                             bool bias = true) {
  ConvLayerContext context;
  context.in_channels = in;
  context.out_channels = out;
  context.kernel_size = {k, k};
  context.padding = {pad, pad};
  context.bias = bias;
  return build_conv_layer(ConfigNode(), context);
}

/// gen_init.py's Head: a BaseModule with convs `shared`, `cls`, `reg`.
class HeadImpl : public torch::nn::Module, public BaseModule {
 public:
  explicit HeadImpl(ConfigNode init_cfg = {}) : BaseModule(std::move(init_cfg)) {
    shared = register_module("shared", conv2d(4, 4, 3, 1));
    cls = register_module("cls", conv2d(4, 3, 1));
    reg = register_module("reg", conv2d(4, 2, 1));
  }
  std::shared_ptr<ConvLayerBase> shared, cls, reg;
};
TORCH_MODULE(Head);

/// gen_init.py's Toy: stem (Conv2d), bn (BN), blocks (Sequential: conv, GN, ReLU), head, fc.
class ToyImpl : public torch::nn::Module, public BaseModule {
 public:
  ToyImpl(ConfigNode init_cfg = {}, ConfigNode head_cfg = {}, ConfigNode blocks_cfg = {})
      : BaseModule(std::move(init_cfg)) {
    stem = register_module("stem", conv2d(3, 4, 3));
    bn = register_module("bn", build_norm_layer(yaml("{type: BN}"), 4).second);
    blocks = register_module(
        "blocks", Sequential(std::move(blocks_cfg), conv2d(4, 4, 3, 0, false),
                             build_norm_layer(yaml("{type: GN, num_groups: 2}"), 4).second,
                             build_activation_layer(yaml("{type: ReLU}"))));
    head = register_module("head", Head(std::move(head_cfg)));
    fc = register_module("fc", torch::nn::Linear(8, 5));
  }
  std::shared_ptr<ConvLayerBase> stem;
  std::shared_ptr<NormLayerBase> bn;
  Sequential blocks{nullptr};
  Head head{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Toy);

/// The parameters of `module`, flattened and concatenated in named_parameters() order.
inline torch::Tensor flat_parameters(torch::nn::Module& module) {
  std::vector<torch::Tensor> parts;
  for (const auto& p : module.parameters())
    parts.push_back(p.detach().reshape(-1));
  return torch::cat(parts);
}

/// Writes `flat` (as flat_parameters() orders it) into the parameters of `module`.
inline void load_flat_parameters(torch::nn::Module& module, const torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& p : module.parameters()) {
    p.copy_(flat.slice(0, offset, offset + p.numel()).view_as(p));
    offset += p.numel();
  }
  ASSERT_EQ(offset, flat.numel());
}

/// tests/data/init/reference.pt (written by tests/reference/gen_init.py).
inline const c10::Dict<c10::IValue, c10::IValue>& init_reference() {
  static const c10::Dict<c10::IValue, c10::IValue> data = [] {
    const std::string bytes = read_file(data_path("init/reference.pt"));
    return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  }();
  return data;
}

/// The entries of the list `key` of the reference, as dicts.
inline std::vector<c10::Dict<c10::IValue, c10::IValue>> reference_list(const std::string& key) {
  std::vector<c10::Dict<c10::IValue, c10::IValue>> out;
  for (const auto& item : init_reference().at(key).toListRef())
    out.push_back(item.toGenericDict());
  return out;
}

/// Collects the model messages while it lives (and restores the previous sink).
class MessageCapture {
 public:
  MessageCapture() {
    previous_ = set_model_messages({[this](const std::string& text) { info.push_back(text); },
                                    [this](const std::string& text) { warnings.push_back(text); }});
  }
  ~MessageCapture() { set_model_messages(previous_); }
  MessageCapture(const MessageCapture&) = delete;
  MessageCapture& operator=(const MessageCapture&) = delete;

  /// The info messages that are not the per-parameter dump of the init log.
  std::vector<std::string> info_without_dump() const {
    std::vector<std::string> out;
    for (const auto& text : info) {
      if (text.rfind("\n", 0) != 0) out.push_back(text);
    }
    return out;
  }

  std::vector<std::string> info;
  std::vector<std::string> warnings;

 private:
  ModelMessages previous_;
};

}  // namespace detkit::testing
