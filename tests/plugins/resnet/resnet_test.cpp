// The resnet plugin's backbones built from YAML through the registry, as a user's config builds
// them: MMDetection's state_dict keys and shapes, output shapes, frozen_stages, norm_eval, style,
// GN, dilations, init_cfg (zero_init_residual), ResNetV1d, and the errors of bad parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backbone_reference.h"
#include "detkit/error.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/layers.h"
#include "detkit/registry.h"

namespace {

using backbone_test::state_dict;
using detkit::BackboneBase;

/// The backbone a YAML map describes (the resnet plugin loaded first).
std::shared_ptr<BackboneBase> build(const std::string& yaml) {
  backbone_test::load_plugin("resnet");
  return detkit::testing::build_from_yaml<BackboneBase>(yaml, "model.backbone");
}

/// "[64,3,7,7]" as the mmdet_keys files write shapes ("[]" for a scalar).
std::string shape_str(const torch::Tensor& tensor) {
  std::string text = "[";
  for (int64_t i = 0; i < tensor.dim(); ++i)
    text += (i ? "," : "") + std::to_string(tensor.size(i));
  return text + "]";
}

/// "name [shape]" per state_dict entry, in order.
std::vector<std::string> key_lines(const torch::nn::Module& module) {
  std::vector<std::string> lines;
  for (const auto& [key, tensor] : state_dict(module))
    lines.push_back(key + " " + shape_str(tensor));
  return lines;
}

/// The module named `name` (dotted path) inside `root`.
std::shared_ptr<torch::nn::Module> find_module(torch::nn::Module& root, const std::string& name) {
  for (const auto& item : root.named_modules()) {
    if (item.key() == name) return item.value();
  }
  ADD_FAILURE() << "no module " << name;
  return nullptr;
}

/// Whether `module` is a BatchNorm (MMCV's _BatchNorm).
bool is_batch_norm(const torch::nn::Module& module) {
  const auto bases = detkit::mmcv_base_names(module);
  return std::find(bases.begin(), bases.end(), "_BatchNorm") != bases.end();
}

/// The message of the ConfigError that building `yaml` throws ("" when it builds).
std::string build_error(const std::string& yaml, const detkit::BackboneContext& context = {}) {
  backbone_test::load_plugin("resnet");
  try {
    detkit::build<BackboneBase>(detkit::testing::parse_yaml(yaml), "model.backbone", context);
  } catch (const detkit::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ResNet, KeysAndShapesEqualMmdetectionResNet50) {
  std::ifstream file(
      detkit::testing::data_path("mmdet_keys/mmdet_keys_retinanet_r50_fpn_1x_coco.txt"));
  ASSERT_TRUE(file.good());
  std::vector<std::string> expected;
  for (std::string line; std::getline(file, line);) {
    if (line.rfind("backbone.", 0) == 0) expected.push_back(line.substr(9));
  }
  ASSERT_EQ(expected.size(), 318u);
  auto backbone = build("{type: ResNet, depth: 50}");
  EXPECT_EQ(key_lines(*backbone), expected);
}

TEST(ResNet, OutputShapesMatchForward) {
  for (const auto& [yaml, channels] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {"{type: ResNet, depth: 18}", {64, 128, 256, 512}},
           {"{type: ResNet, depth: 34, out_indices: [1, 3]}", {128, 512}},
           {"{type: ResNet, depth: 50, out_indices: [1, 2, 3]}", {512, 1024, 2048}},
           {"{type: ResNet, depth: 50, base_channels: 16, num_stages: 3, strides: [1, 2, 2], "
            "dilations: [1, 1, 1], out_indices: [0, 2]}",
            {64, 256}}}) {
    SCOPED_TRACE(yaml);
    auto backbone = build(yaml);
    backbone->eval();
    const auto shapes = backbone->output_shapes();
    ASSERT_EQ(shapes.size(), channels.size());
    torch::NoGradGuard no_grad;
    const auto outputs = backbone->forward(torch::randn({1, 3, 64, 96}));
    ASSERT_EQ(outputs.size(), channels.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      EXPECT_EQ(shapes[i].channels, channels[i]);
      EXPECT_EQ(outputs[i].size(1), channels[i]);
      EXPECT_EQ(outputs[i].size(2), 64 / shapes[i].stride);
      EXPECT_EQ(outputs[i].size(3), 96 / shapes[i].stride);
    }
  }
  auto r50 = build("{type: ResNet, depth: 50}");
  std::vector<int64_t> strides;
  for (const auto& shape : r50->output_shapes())
    strides.push_back(shape.stride);
  EXPECT_EQ(strides, (std::vector<int64_t>{4, 8, 16, 32}));
}

TEST(ResNet, FrozenStagesStayFrozenAfterTrain) {
  auto backbone = build("{type: ResNet, depth: 18, frozen_stages: 1, norm_eval: false}");
  backbone->train(true);
  for (const auto& item : backbone->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    const bool frozen =
        name.rfind("conv1.", 0) == 0 || name.rfind("bn1.", 0) == 0 || name.rfind("layer1.", 0) == 0;
    EXPECT_EQ(parameter.requires_grad(), !frozen) << name;
  }
  EXPECT_FALSE(find_module(*backbone, "bn1")->is_training());
  EXPECT_FALSE(find_module(*backbone, "layer1.1.bn2")->is_training());
  EXPECT_TRUE(find_module(*backbone, "layer2.0.bn1")->is_training());
  EXPECT_TRUE(find_module(*backbone, "layer4.1.bn2")->is_training());
  // Frozen BN statistics do not move in a training step.
  const torch::Tensor before =
      find_module(*backbone, "layer1.0.bn1")->named_buffers()["running_mean"].clone();
  backbone->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(
      before, find_module(*backbone, "layer1.0.bn1")->named_buffers()["running_mean"]));
  // frozen_stages: 0 freezes the stem only; -1 nothing.
  auto stem_only = build("{type: ResNet, depth: 18, frozen_stages: 0}");
  stem_only->train(true);
  EXPECT_FALSE(stem_only->named_parameters()["conv1.weight"].requires_grad());
  EXPECT_TRUE(stem_only->named_parameters()["layer1.0.conv1.weight"].requires_grad());
  auto none = build("{type: ResNet, depth: 18}");
  for (const auto& item : none->named_parameters())
    EXPECT_TRUE(item.value().requires_grad()) << item.key();
}

TEST(ResNet, NormEvalKeepsBatchNormInEvalWhileTraining) {
  auto backbone = build("{type: ResNet, depth: 18, norm_eval: true}");
  backbone->train(true);
  EXPECT_TRUE(backbone->is_training());
  int batch_norms = 0;
  for (const auto& module : backbone->modules(/*include_self=*/false)) {
    if (!is_batch_norm(*module)) continue;
    ++batch_norms;
    EXPECT_FALSE(module->is_training());
    for (const auto& parameter : module->parameters())
      EXPECT_TRUE(parameter.requires_grad());  // gamma and beta still learn
  }
  EXPECT_EQ(batch_norms, 20);  // bn1 + 8 blocks x 2 + 3 downsample norms
  EXPECT_TRUE(find_module(*backbone, "layer1.0.conv1")->is_training());

  auto trained = build("{type: ResNet, depth: 18, norm_eval: false}");
  trained->train(true);
  EXPECT_TRUE(find_module(*trained, "layer3.0.bn1")->is_training());
  trained->train(false);
  EXPECT_FALSE(find_module(*trained, "layer3.0.bn1")->is_training());
}

TEST(ResNet, StyleCaffeStridesTheFirstConv) {
  const torch::Tensor input = torch::randn({1, 256, 16, 16});
  auto spatial = [&](const std::shared_ptr<BackboneBase>& backbone, const std::string& conv,
                     const torch::Tensor& x) {
    auto module = find_module(*backbone, conv);
    return module->as<detkit::ConvLayerBase>()->forward(x).size(2);
  };
  torch::NoGradGuard no_grad;
  auto pytorch = build("{type: ResNet, depth: 50, style: pytorch}");
  auto caffe = build("{type: ResNet, depth: 50, style: caffe}");
  EXPECT_EQ(spatial(pytorch, "layer2.0.conv1", input), 16);
  EXPECT_EQ(spatial(caffe, "layer2.0.conv1", input), 8);
  const torch::Tensor mid = torch::randn({1, 128, 16, 16});
  EXPECT_EQ(spatial(pytorch, "layer2.0.conv2", mid), 8);
  EXPECT_EQ(spatial(caffe, "layer2.0.conv2", mid), 16);
  // Both reach the same output shapes.
  pytorch->eval();
  caffe->eval();
  const auto a = pytorch->forward(torch::randn({1, 3, 64, 64}));
  const auto b = caffe->forward(torch::randn({1, 3, 64, 64}));
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].sizes(), b[i].sizes());
  EXPECT_NE(build_error("{type: ResNet, depth: 50, style: tensorflow}").find("style"),
            std::string::npos);
}

TEST(ResNet, GroupNormConfig) {
  auto backbone = build(
      "{type: ResNet, depth: 50, norm_eval: false, norm_cfg: {type: GN, num_groups: 8, "
      "requires_grad: true}}");
  const auto lines = key_lines(*backbone);
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  EXPECT_TRUE(has("gn1.weight [64]"));
  EXPECT_TRUE(has("layer1.0.gn3.bias [256]"));
  EXPECT_TRUE(has("layer1.0.downsample.1.weight [256]"));
  for (const auto& line : lines)
    EXPECT_EQ(line.find("running_mean"), std::string::npos) << line;
  EXPECT_EQ(detkit::mmcv_class_name(*find_module(*backbone, "layer2.1.gn2")), "GroupNorm");
  detkit::init_weights(*backbone);
  const auto params = backbone->named_parameters();
  EXPECT_TRUE(torch::equal(params["gn1.weight"], torch::ones({64})));
  EXPECT_TRUE(torch::equal(params["layer1.0.gn3.weight"], torch::zeros({256})));
  backbone->train(true);
  const auto outputs = backbone->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(outputs[3].sizes().vec(), (std::vector<int64_t>{2, 2048, 1, 1}));
  // requires_grad: false in norm_cfg freezes every norm layer.
  auto fixed = build("{type: ResNet, depth: 18, norm_cfg: {type: BN, requires_grad: false}}");
  for (const auto& item : fixed->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    const bool norm =
        name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos;
    EXPECT_EQ(parameter.requires_grad(), !norm) << name;
  }
}

TEST(ResNet, DilationsKeepResolution) {
  auto backbone =
      build("{type: ResNet, depth: 50, strides: [1, 2, 2, 1], dilations: [1, 1, 1, 2]}");
  const auto shapes = backbone->output_shapes();
  EXPECT_EQ(shapes[3].stride, 16);
  EXPECT_EQ(shapes[3].channels, 2048);
  backbone->eval();
  torch::NoGradGuard no_grad;
  const auto outputs = backbone->forward(torch::randn({1, 3, 64, 96}));
  EXPECT_EQ(outputs[3].sizes().vec(), (std::vector<int64_t>{1, 2048, 4, 6}));
  EXPECT_EQ(outputs[2].sizes().vec(), (std::vector<int64_t>{1, 1024, 4, 6}));
  // A dilated 3x3 conv (padding = dilation) differs from an undilated one with the same weights.
  auto plain = build("{type: ResNet, depth: 50, strides: [1, 2, 2, 1]}");
  plain->eval();
  {
    auto source = state_dict(*backbone);
    auto target = state_dict(*plain);
    for (size_t i = 0; i < source.size(); ++i)
      target[i].second.copy_(source[i].second);
  }
  const torch::Tensor x = torch::randn({1, 3, 64, 96});
  const auto dilated = backbone->forward(x);
  const auto undilated = plain->forward(x);
  EXPECT_TRUE(torch::equal(dilated[2], undilated[2]));
  EXPECT_EQ(dilated[3].sizes(), undilated[3].sizes());
  EXPECT_FALSE(torch::allclose(dilated[3], undilated[3]));
}

TEST(ResNet, InitWeightsZeroesTheLastNormOfEachBlock) {
  torch::manual_seed(0);
  auto r50 = build("{type: ResNet, depth: 50}");
  detkit::init_weights(*r50);
  int zeroed = 0;
  for (const auto& item : r50->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    if (name.find(".bn3.weight") != std::string::npos) {
      EXPECT_TRUE(torch::equal(parameter, torch::zeros_like(parameter))) << name;
      ++zeroed;
    } else if (name.find("bn") != std::string::npos && name.find(".weight") != std::string::npos) {
      EXPECT_TRUE(torch::equal(parameter, torch::ones_like(parameter))) << name;
    }
  }
  EXPECT_EQ(zeroed, 16);
  // Kaiming (fan_out, relu): std = sqrt(2 / (64 * 7 * 7)) for conv1.
  const double std = r50->named_parameters()["conv1.weight"].std().item<double>();
  EXPECT_NEAR(std, std::sqrt(2.0 / (64 * 49)), 0.1 * std::sqrt(2.0 / (64 * 49)));

  auto r18 = build("{type: ResNet, depth: 18}");
  detkit::init_weights(*r18);
  EXPECT_TRUE(torch::equal(r18->named_parameters()["layer3.1.bn2.weight"], torch::zeros({256})));
  EXPECT_TRUE(torch::equal(r18->named_parameters()["layer3.1.bn1.weight"], torch::ones({256})));

  auto no_zero = build("{type: ResNet, depth: 50, zero_init_residual: false}");
  detkit::init_weights(*no_zero);
  EXPECT_TRUE(torch::equal(no_zero->named_parameters()["layer1.0.bn3.weight"], torch::ones({256})));

  // A config's init_cfg replaces the default, block entries included (MMDetection).
  auto custom =
      build("{type: ResNet, depth: 50, init_cfg: {type: Constant, val: 2, layer: _BatchNorm}}");
  detkit::init_weights(*custom);
  EXPECT_TRUE(
      torch::equal(custom->named_parameters()["layer1.0.bn3.weight"], torch::full({256}, 2.0)));
}

TEST(ResNetV1d, KeysShapesAndForward) {
  auto backbone = build("{type: ResNetV1d, depth: 50}");
  const auto lines = key_lines(*backbone);
  std::vector<std::string> head(lines.begin(), lines.begin() + 18);
  EXPECT_EQ(
      head,
      (std::vector<std::string>{
          "stem.0.weight [32,3,3,3]", "stem.1.weight [32]", "stem.1.bias [32]",
          "stem.1.running_mean [32]", "stem.1.running_var [32]", "stem.1.num_batches_tracked []",
          "stem.3.weight [32,32,3,3]", "stem.4.weight [32]", "stem.4.bias [32]",
          "stem.4.running_mean [32]", "stem.4.running_var [32]", "stem.4.num_batches_tracked []",
          "stem.6.weight [64,32,3,3]", "stem.7.weight [64]", "stem.7.bias [64]",
          "stem.7.running_mean [64]", "stem.7.running_var [64]", "stem.7.num_batches_tracked []"}));
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  EXPECT_TRUE(has("layer1.0.downsample.1.weight [256,64,1,1]"));
  EXPECT_TRUE(has("layer1.0.downsample.2.weight [256]"));
  EXPECT_TRUE(has("layer2.0.downsample.1.weight [512,256,1,1]"));
  EXPECT_TRUE(has("layer4.0.downsample.2.running_var [2048]"));
  EXPECT_FALSE(has("conv1.weight [64,3,7,7]"));
  EXPECT_EQ(detkit::mmcv_class_name(*find_module(*backbone, "layer2.0.downsample.0")), "AvgPool2d");
  // The stem is frozen as a whole.
  auto frozen = build("{type: ResNetV1d, depth: 18, frozen_stages: 0}");
  frozen->train(true);
  EXPECT_FALSE(frozen->named_parameters()["stem.6.weight"].requires_grad());
  EXPECT_FALSE(find_module(*frozen, "stem")->is_training());
  backbone->eval();
  torch::NoGradGuard no_grad;
  const auto outputs = backbone->forward(torch::randn({1, 3, 61, 75}));
  EXPECT_EQ(outputs[3].sizes().vec(), (std::vector<int64_t>{1, 2048, 2, 3}));
  // deep_stem and avg_down are ResNetV1d's own, not parameters.
  EXPECT_NE(build_error("{type: ResNetV1d, depth: 50, deep_stem: false}").find("deep_stem"),
            std::string::npos);
}

TEST(ResNetErrors, InvalidDepthListsTheValidOnes) {
  const std::string message = build_error("{type: ResNet, depth: 42}");
  EXPECT_NE(message.find("depth"), std::string::npos) << message;
  EXPECT_NE(message.find("42"), std::string::npos) << message;
  EXPECT_NE(message.find("18, 34, 50, 101, 152"), std::string::npos) << message;
  const std::string missing = build_error("{type: ResNet}");
  EXPECT_NE(missing.find("depth"), std::string::npos) << missing;
}

TEST(ResNetErrors, OutIndicesOutOfRangeOrDecreasing) {
  std::string message = build_error("{type: ResNet, depth: 18, out_indices: [0, 4]}");
  EXPECT_NE(message.find("out_indices"), std::string::npos) << message;
  EXPECT_NE(message.find("out of range 0..3"), std::string::npos) << message;
  message = build_error(
      "{type: ResNet, depth: 18, num_stages: 3, strides: [1, 2, 2], "
      "dilations: [1, 1, 1], out_indices: [0, 3]}");
  EXPECT_NE(message.find("out of range 0..2"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, out_indices: [2, 1]}");
  EXPECT_NE(message.find("strictly increasing"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, out_indices: [1, 1]}");
  EXPECT_NE(message.find("strictly increasing"), std::string::npos) << message;
}

TEST(ResNetErrors, InChannelsMustAgreeWithTheContext) {
  detkit::BackboneContext context;
  context.in_channels = detkit::Known<int64_t>(3, "the data pipeline (test)");
  const std::string message = build_error("{type: ResNet, depth: 18, in_channels: 1}", context);
  EXPECT_NE(message.find("in_channels"), std::string::npos) << message;
  EXPECT_NE(message.find("1"), std::string::npos) << message;
  EXPECT_NE(message.find("3"), std::string::npos) << message;
  EXPECT_NE(message.find("the data pipeline (test)"), std::string::npos) << message;
  EXPECT_EQ(build_error("{type: ResNet, depth: 18, in_channels: 3}", context), "");
  // Without in_channels in the config the context's value is used.
  context.in_channels = detkit::Known<int64_t>(1, "grayscale pipeline");
  backbone_test::load_plugin("resnet");
  auto gray = detkit::build<BackboneBase>(detkit::testing::parse_yaml("{type: ResNet, depth: 18}"),
                                          "model.backbone", context);
  EXPECT_EQ(gray->named_parameters()["conv1.weight"].size(1), 1);
}

TEST(ResNetErrors, FrozenStagesAndUnsupportedOptions) {
  std::string message = build_error("{type: ResNet, depth: 18, frozen_stages: 5}");
  EXPECT_NE(message.find("frozen_stages 5 exceeds num_stages 4"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, with_cp: true}");
  EXPECT_NE(message.find("with_cp"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, dcn: {type: DCN, deform_groups: 1}}");
  EXPECT_NE(message.find("dcn"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, stage_with_dcn: [false, true, true, true]}");
  EXPECT_NE(message.find("stage_with_dcn"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, plugins: [{cfg: {type: ContextBlock}}]}");
  EXPECT_NE(message.find("plugins"), std::string::npos) << message;
  message = build_error("{type: ResNet, depth: 18, strides: [1, 2, 2]}");
  EXPECT_NE(message.find("strides has 3 entries but num_stages is 4"), std::string::npos)
      << message;
  message = build_error(
      "{type: ResNet, depth: 18, pretrained: a.pth, init_cfg: {type: "
      "Pretrained, checkpoint: b.pth}}");
  EXPECT_NE(message.find("init_cfg and pretrained"), std::string::npos) << message;
  auto backbone = build("{type: ResNet, depth: 18}");
  EXPECT_THROW(backbone->forward(torch::randn({1, 1, 32, 32})), detkit::Error);
}

}  // namespace
