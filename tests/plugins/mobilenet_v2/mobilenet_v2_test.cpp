// The mobilenet_v2 plugin's MobileNetV2, built from YAML through the registry: against
// torchvision 0.14's mobilenet_v2().features (weights mapped to MMDetection 2.x's names by
// tests/reference/gen_backbones.py at test time, perturbed BatchNorm statistics, eval mode) to
// 1e-4 relative at all eight out_indices; MMDetection's keys, output shapes, widen_factor,
// frozen_stages, norm_eval, init_cfg and the errors of bad parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "backbone_reference.h"
#include "detkit/error.h"
#include "detkit/modeling/base_module.h"
#include "detkit/registry.h"

namespace {

using backbone_test::state_dict;
using detkit::BackboneBase;

std::shared_ptr<BackboneBase> build(const std::string& yaml) {
  backbone_test::load_plugin("mobilenet_v2");
  return detkit::testing::build_from_yaml<BackboneBase>(yaml, "model.backbone");
}

/// The message of the ConfigError that building `yaml` throws ("" when it builds).
std::string build_error(const std::string& yaml, const detkit::BackboneContext& context = {}) {
  backbone_test::load_plugin("mobilenet_v2");
  try {
    detkit::build<BackboneBase>(detkit::testing::parse_yaml(yaml), "model.backbone", context);
  } catch (const detkit::ConfigError& e) {
    return e.what();
  }
  return "";
}

std::shared_ptr<torch::nn::Module> find_module(torch::nn::Module& root, const std::string& name) {
  for (const auto& item : root.named_modules()) {
    if (item.key() == name) return item.value();
  }
  ADD_FAILURE() << "no module " << name;
  return nullptr;
}

TEST(MobileNetV2Reference, EqualsTorchvisionFeatures) {
  backbone_test::load_plugin("mobilenet_v2");
  const auto cases = backbone_test::reference_cases("mobilenet_v2");
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& reference : cases)
    backbone_test::check_case(reference);
}

TEST(MobileNetV2, MmdetectionKeysAndDefaultOutputs) {
  auto backbone = build("{type: MobileNetV2}");
  const auto state = state_dict(*backbone);
  ASSERT_EQ(state.size(), 312u);  // 52 convs + 52 BNs x 5 tensors
  EXPECT_EQ(state[0].first, "conv1.conv.weight");
  EXPECT_EQ(state[1].first, "conv1.bn.weight");
  EXPECT_EQ(state[6].first, "layer1.0.depthwise_conv.conv.weight");
  EXPECT_EQ(state.back().first, "conv2.bn.num_batches_tracked");
  const auto params = backbone->named_parameters();
  EXPECT_EQ(params["layer2.0.expand_conv.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{96, 16, 1, 1}));
  EXPECT_EQ(params["layer2.0.depthwise_conv.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{96, 1, 3, 3}));
  EXPECT_EQ(params["layer7.0.linear_conv.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{320, 960, 1, 1}));
  EXPECT_EQ(params["conv2.conv.weight"].sizes().vec(), (std::vector<int64_t>{1280, 320, 1, 1}));
  EXPECT_EQ(params.find("layer1.0.expand_conv.conv.weight"), nullptr);

  // Default out_indices (1, 2, 4, 7): layer2, layer3, layer5, conv2.
  const auto shapes = backbone->output_shapes();
  ASSERT_EQ(shapes.size(), 4u);
  const std::vector<int64_t> channels = {24, 32, 96, 1280}, strides = {4, 8, 16, 32};
  backbone->eval();
  torch::NoGradGuard no_grad;
  const auto outputs = backbone->forward(torch::randn({1, 3, 64, 96}));
  ASSERT_EQ(outputs.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(shapes[i].channels, channels[i]);
    EXPECT_EQ(shapes[i].stride, strides[i]);
    EXPECT_EQ(outputs[i].sizes().vec(),
              (std::vector<int64_t>{1, channels[i], 64 / strides[i], 96 / strides[i]}));
  }
}

TEST(MobileNetV2, WidenFactor) {
  auto half = build("{type: MobileNetV2, widen_factor: 0.5, out_indices: [0, 6, 7]}");
  std::vector<int64_t> channels;
  for (const auto& shape : half->output_shapes())
    channels.push_back(shape.channels);
  // make_divisible(16 * 0.5) = 8, make_divisible(320 * 0.5) = 160; conv2 stays 1280 for <= 1.
  EXPECT_EQ(channels, (std::vector<int64_t>{8, 160, 1280}));
  EXPECT_EQ(half->named_parameters()["conv1.conv.weight"].size(0), 16);
  auto wide = build("{type: MobileNetV2, widen_factor: 1.5, out_indices: [7]}");
  EXPECT_EQ(wide->output_shapes()[0].channels, 1920);
  wide->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(wide->forward(torch::randn({1, 3, 32, 32}))[0].size(1), 1920);
}

TEST(MobileNetV2, FrozenStagesAndNormEval) {
  auto backbone = build("{type: MobileNetV2, frozen_stages: 2}");
  backbone->train(true);
  for (const auto& item : backbone->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    const bool frozen = name.rfind("conv1.", 0) == 0 || name.rfind("layer1.", 0) == 0 ||
                        name.rfind("layer2.", 0) == 0;
    EXPECT_EQ(parameter.requires_grad(), !frozen) << name;
  }
  // MMDetection freezes conv1's parameters but leaves its mode; layer1..2 go to eval.
  EXPECT_TRUE(find_module(*backbone, "conv1.bn")->is_training());
  EXPECT_FALSE(find_module(*backbone, "layer2.1.depthwise_conv.bn")->is_training());
  EXPECT_TRUE(find_module(*backbone, "layer3.0.expand_conv.bn")->is_training());

  auto norm_eval = build("{type: MobileNetV2, norm_eval: true}");
  norm_eval->train(true);
  EXPECT_FALSE(find_module(*norm_eval, "conv2.bn")->is_training());
  EXPECT_FALSE(find_module(*norm_eval, "layer4.3.linear_conv.bn")->is_training());
  EXPECT_TRUE(find_module(*norm_eval, "layer4.3.linear_conv.conv")->is_training());
  EXPECT_TRUE(norm_eval->named_parameters()["conv2.bn.weight"].requires_grad());
}

TEST(MobileNetV2, InitWeightsAndConfigs) {
  auto backbone = build(
      "{type: MobileNetV2, act_cfg: {type: LeakyReLU, negative_slope: 0.1}, norm_cfg: {type: "
      "GN, num_groups: 8}, out_indices: [2, 4, 6]}");
  detkit::init_weights(*backbone);
  const auto params = backbone->named_parameters();
  EXPECT_TRUE(torch::equal(params["layer3.0.linear_conv.gn.weight"], torch::ones({32})));
  EXPECT_EQ(detkit::mmcv_class_name(*find_module(*backbone, "layer3.0.expand_conv.activate")),
            "LeakyReLU");
  std::vector<int64_t> channels;
  for (const auto& shape : backbone->output_shapes())
    channels.push_back(shape.channels);
  EXPECT_EQ(channels, (std::vector<int64_t>{32, 96, 320}));
  backbone->train(true);
  const auto outputs = backbone->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(outputs[2].sizes().vec(), (std::vector<int64_t>{2, 320, 1, 1}));
}

TEST(MobileNetV2Errors, BadParameters) {
  std::string message = build_error("{type: MobileNetV2, out_indices: [1, 8]}");
  EXPECT_NE(message.find("out_indices"), std::string::npos) << message;
  EXPECT_NE(message.find("8"), std::string::npos) << message;
  message = build_error("{type: MobileNetV2, out_indices: [4, 2]}");
  EXPECT_NE(message.find("strictly increasing"), std::string::npos) << message;
  message = build_error("{type: MobileNetV2, frozen_stages: 8}");
  EXPECT_NE(message.find("frozen_stages"), std::string::npos) << message;
  message = build_error("{type: MobileNetV2, with_cp: true}");
  EXPECT_NE(message.find("with_cp"), std::string::npos) << message;
  message = build_error("{type: MobileNetV2, widen_factor: 0}");
  EXPECT_NE(message.find("widen_factor"), std::string::npos) << message;
  detkit::BackboneContext context;
  context.in_channels = detkit::Known<int64_t>(1, "grayscale pipeline");
  message = build_error("{type: MobileNetV2}", context);
  EXPECT_NE(message.find("3-channel"), std::string::npos) << message;
  EXPECT_NE(message.find("grayscale pipeline produces 1"), std::string::npos) << message;
  context.in_channels = detkit::Known<int64_t>(3, "rgb pipeline");
  EXPECT_EQ(build_error("{type: MobileNetV2}", context), "");
  auto backbone = build("{type: MobileNetV2}");
  EXPECT_THROW(backbone->forward(torch::randn({1, 4, 32, 32})), detkit::Error);
}

}  // namespace
