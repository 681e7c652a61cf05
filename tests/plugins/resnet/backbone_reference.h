// Helpers of the backbone plugins' tests (resnet, mobilenet_v2): loading a plugin, the reference
// cases tests/reference/gen_backbones.py writes at test time, a module's state dict in PyTorch's
// order, and the comparison of a backbone's outputs with a reference case.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "detkit/modeling/backbone.h"
#include "detkit/testing.h"
#include "test_support.h"

namespace backbone_test {

using GenericDict = c10::Dict<c10::IValue, c10::IValue>;
/// Names and tensors in PyTorch's state_dict order.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// The largest relative difference allowed: max |detkit - reference| / max |reference|.
constexpr double kRelativeTolerance = 1e-4;

/// Loads the in-tree plugin libdetkit-<name>.so (once per name and process); fails the test
/// when it does not load.
inline void load_plugin(const std::string& name) {
  const auto report = detkit::testing::load_plugins(
      {std::string(DETKIT_PLUGIN_DIR) + "/libdetkit-" + name + ".so"});
  // Loading a file again reports it again and does nothing else (testing.h).
  ASSERT_FALSE(report.plugins.empty()) << report.str();
  for (const auto& plugin : report.plugins)
    ASSERT_TRUE(plugin.loaded()) << report.str();
}

/// The cases gen_backbones.py writes for `family` ("resnet" or "mobilenet_v2"), generated with
/// /usr/bin/python3 into a temporary folder on first use.
inline std::vector<GenericDict> reference_cases(const std::string& family) {
  detkit::testing::TempDir dir;
  const auto result = detkit::testing::run_process(
      {"/usr/bin/python3", std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_backbones.py",
       dir.path(), family});
  if (result.exit_code != 0) {
    throw std::runtime_error("gen_backbones.py failed (" + std::to_string(result.exit_code) +
                             "):\n" + result.out + result.err);
  }
  const std::string bytes = detkit::testing::read_file(dir.file("backbones_reference.pt"));
  const auto data =
      torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  std::vector<GenericDict> cases;
  for (const auto& item : data.at("cases").toListRef())
    cases.push_back(item.toGenericDict());
  return cases;
}

/// The module's parameters and buffers in torch.nn.Module.state_dict()'s order: a module's own
/// parameters, then its own buffers, then each child's, recursively.
inline void collect_state(const torch::nn::Module& module, const std::string& prefix,
                          NamedTensors& out) {
  for (const auto& item : module.named_parameters(/*recurse=*/false))
    out.emplace_back(prefix + item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/false))
    out.emplace_back(prefix + item.key(), item.value());
  for (const auto& child : module.named_children())
    collect_state(*child.value(), prefix + child.key() + ".", out);
}
inline NamedTensors state_dict(const torch::nn::Module& module) {
  NamedTensors out;
  collect_state(module, "", out);
  return out;
}

/// Builds the case's backbone from its YAML, checks its state_dict keys (in order) against the
/// reference's, loads the reference weights, and compares every output of every input run.
/// Returns the largest relative difference seen.
inline double check_case(const GenericDict& reference) {
  const std::string name = reference.at("name").toStringRef();
  SCOPED_TRACE(name + ": " + reference.at("yaml").toStringRef());
  auto backbone = detkit::testing::build_from_yaml<detkit::BackboneBase>(
      reference.at("yaml").toStringRef(), "model.backbone");
  backbone->eval();

  const NamedTensors state = state_dict(*backbone);
  std::vector<std::string> keys, expected_keys;
  for (const auto& item : state)
    keys.push_back(item.first);
  for (const auto& key : reference.at("keys").toListRef())
    expected_keys.push_back(key.toStringRef());
  EXPECT_EQ(keys, expected_keys);

  const GenericDict weights = reference.at("weights").toGenericDict();
  {
    torch::NoGradGuard no_grad;
    for (const auto& [key, tensor] : state) {
      if (!weights.contains(key)) continue;  // reported by the key comparison above
      const torch::Tensor value = weights.at(key).toTensor();
      EXPECT_EQ(tensor.sizes(), value.sizes()) << key;
      if (tensor.sizes() == value.sizes()) const_cast<torch::Tensor&>(tensor).copy_(value);
    }
  }

  double worst = 0;
  for (const auto& run_value : reference.at("runs").toListRef()) {
    const GenericDict run = run_value.toGenericDict();
    const torch::Tensor input = run.at("input").toTensor();
    std::vector<torch::Tensor> expected;
    for (const auto& output : run.at("outputs").toListRef())
      expected.push_back(output.toTensor());
    torch::NoGradGuard no_grad;
    const auto outputs = backbone->forward(input);
    const auto shapes = backbone->output_shapes();
    EXPECT_EQ(outputs.size(), expected.size());
    EXPECT_EQ(outputs.size(), shapes.size());
    for (size_t level = 0; level < std::min(outputs.size(), expected.size()); ++level) {
      const torch::Tensor& want = expected[level];
      EXPECT_EQ(outputs[level].sizes(), want.sizes()) << "output " << level;
      if (outputs[level].sizes() != want.sizes()) continue;
      const double scale = want.abs().max().item<double>();
      const double diff = (outputs[level] - want).abs().max().item<double>();
      const double relative = diff / std::max(scale, 1e-12);
      worst = std::max(worst, relative);
      EXPECT_LE(relative, kRelativeTolerance)
          << "output " << level << " of input " << input.sizes() << ": max |diff| " << diff
          << ", max |reference| " << scale;
      EXPECT_GT(scale, 0) << "output " << level << " is all zeros: the comparison is vacuous";
      EXPECT_EQ(outputs[level].size(1), shapes[level].channels) << "output " << level;
    }
  }
  std::cout << "[ backbones ] " << name << ": max relative difference " << worst << "\n";
  return worst;
}

}  // namespace backbone_test
