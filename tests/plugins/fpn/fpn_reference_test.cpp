// The fpn plugin's necks against Python references computed at test time by
// tests/reference/gen_fpn.py (Debian's /usr/bin/python3, torch 1.13, torchvision 0.14):
//  - torchvision's FeaturePyramidNetwork + LastLevelP6P7 as torchvision's RetinaNet uses it,
//    its parameters renamed to MMDetection's, against FPN with add_extra_convs: on_output;
//  - MMDetection 2.x's FPN and PAFPN (written out in the script) with the same weights, over
//    RetinaNet's and Faster R-CNN's settings, on_lateral, GN, scale_factor 2, bilinear, end_level.
// Every case runs on two input sizes (odd ones included) and must match to 1e-4 relative.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "detkit/modeling/neck.h"
#include "detkit/testing.h"
#include "reference_support.h"
#include "test_support.h"

namespace {

using detkit::NeckBase;
using GenericDict = c10::Dict<c10::IValue, c10::IValue>;

/// The largest relative difference allowed: max |detkit - reference| / max |reference|.
constexpr double kRelativeTolerance = 1e-4;

/// Loads the fpn plugin (once per process).
void load_fpn_plugin() {
  static const bool loaded = [] {
    const auto report =
        detkit::testing::load_plugins({std::string(DETKIT_PLUGIN_DIR) + "/libdetkit-fpn.so"});
    EXPECT_TRUE(report.ok()) << report.str();
    return report.ok();
  }();
  ASSERT_TRUE(loaded);
}

/// The cases the reference script writes, generated once per process into a temp folder.
const std::vector<GenericDict>& reference_cases() {
  static const std::vector<GenericDict> cases = [] {
    const detkit::testing::TempDir dir;
    detkit::testing::run_reference_script("gen_fpn.py", {dir.path()});
    const GenericDict data =
        detkit::testing::reference_object(dir.file("fpn_reference.pt")).toGenericDict();
    std::vector<GenericDict> out;
    for (const auto& item : data.at("cases").toListRef())
      out.push_back(item.toGenericDict());
    return out;
  }();
  return cases;
}

std::vector<torch::Tensor> tensors(const c10::IValue& list) {
  std::vector<torch::Tensor> out;
  for (const auto& item : list.toListRef())
    out.push_back(item.toTensor());
  return out;
}

std::vector<std::string> strings(const c10::IValue& list) {
  std::vector<std::string> out;
  for (const auto& item : list.toListRef())
    out.push_back(item.toStringRef());
  return out;
}

/// Builds the case's neck from its YAML, checks its parameter names (and order, for MMDetection
/// cases) and shapes against the reference weights, loads them, runs every input size and
/// compares each output level; prints the largest relative difference seen.
void check_case(const GenericDict& reference) {
  const std::string name = reference.at("name").toStringRef();
  SCOPED_TRACE(name + ": " + reference.at("yaml").toStringRef());
  auto neck =
      detkit::testing::build_from_yaml<NeckBase>(reference.at("yaml").toStringRef(), "model.neck");
  neck->eval();

  const GenericDict weights = reference.at("weights").toGenericDict();
  std::vector<std::string> names;
  for (const auto& item : neck->named_parameters())
    names.push_back(item.key());
  std::vector<std::string> expected = strings(reference.at("weight_names"));
  if (!reference.at("check_order").toBool()) {
    std::sort(names.begin(), names.end());
    std::sort(expected.begin(), expected.end());
  }
  EXPECT_EQ(names, expected);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : neck->named_parameters()) {
      const torch::Tensor value = weights.at(item.key()).toTensor();
      EXPECT_EQ(item.value().sizes(), value.sizes()) << item.key();
      item.value().copy_(value);
    }
  }

  double worst = 0;
  for (const auto& run_value : reference.at("runs").toListRef()) {
    const GenericDict run = run_value.toGenericDict();
    const auto inputs = tensors(run.at("inputs"));
    const auto expected_outputs = tensors(run.at("outputs"));
    torch::NoGradGuard no_grad;
    const auto outputs = neck->forward(inputs);
    EXPECT_EQ(outputs.size(), expected_outputs.size());
    EXPECT_EQ(outputs.size(), neck->output_shapes().size());
    for (size_t level = 0; level < std::min(outputs.size(), expected_outputs.size()); ++level) {
      const torch::Tensor& want = expected_outputs[level];
      ASSERT_EQ(outputs[level].sizes(), want.sizes()) << "level " << level;
      const double scale = want.abs().max().item<double>();
      const double diff = (outputs[level] - want).abs().max().item<double>();
      const double relative = diff / std::max(scale, 1e-12);
      worst = std::max(worst, relative);
      EXPECT_LE(relative, kRelativeTolerance)
          << "level " << level << " of input " << inputs[0].sizes() << ": max |diff| " << diff
          << ", max |reference| " << scale;
      EXPECT_EQ(outputs[level].size(1), neck->output_shapes()[level].channels);
    }
  }
  std::cout << "[ fpn ] " << name << ": max relative difference " << worst << "\n";
}

/// Runs every reference case whose name starts with `prefix`; returns how many there were.
int check_cases(const std::string& prefix) {
  load_fpn_plugin();
  int count = 0;
  for (const auto& reference : reference_cases()) {
    if (reference.at("name").toStringRef().rfind(prefix, 0) != 0) continue;
    check_case(reference);
    ++count;
  }
  return count;
}

TEST(FpnReference, EqualsTorchvisionRetinaNetFpn) {
  EXPECT_EQ(check_cases("torchvision_"), 2);
}

TEST(FpnReference, EqualsMmdetectionFpn) {
  EXPECT_EQ(check_cases("mmdet_"), 9);
}

TEST(FpnReference, EqualsMmdetectionPafpn) {
  EXPECT_EQ(check_cases("pafpn_"), 4);
}

}  // namespace
