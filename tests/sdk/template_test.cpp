// The template plugin (sdk/template: the MobileNet backbone), built in-tree as a fixture and used
// the way the host uses any plugin: loaded from its file, built from a config through the
// registry, called through the SDK's BackboneBase.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"
#include "detkit/error.h"
#include "detkit/modeling/backbone.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

/// Loads the fixture plugin once per process; fails the test if it is not LOADED.
void load_template_plugin() {
  initialize_runtime();
  static const PluginRecord record =
      PluginManager::instance().load_file(DETKIT_TEMPLATE_PLUGIN, "--plugin");
  ASSERT_EQ(record.status, PluginStatus::loaded) << record.path << ": " << record.reason;
}

/// The backbone a YAML flow map describes, e.g. "{type: MobileNet, widen_factor: 0.25}".
std::shared_ptr<BackboneBase> build_backbone(const std::string& yaml) {
  const ConfigNode cfg = parse_yaml_text(yaml, "test.yaml");
  return build<BackboneBase>(cfg, "model.backbone");
}

/// The message of the ConfigError that building `yaml` throws ("" if none is thrown).
std::string build_error(const std::string& yaml) {
  try {
    build_backbone(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

/// Checks that forward() on `input` returns maps whose channels and strides equal
/// output_shapes(), and that there are `expected_count` of them.
void expect_outputs_match_shapes(BackboneBase& backbone, const torch::Tensor& input,
                                 size_t expected_count) {
  const std::vector<ShapeSpec> shapes = backbone.output_shapes();
  const std::vector<torch::Tensor> features = backbone.forward(input);
  ASSERT_EQ(features.size(), expected_count);
  ASSERT_EQ(features.size(), shapes.size());
  for (size_t i = 0; i < features.size(); ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    ASSERT_EQ(features[i].dim(), 4);
    EXPECT_EQ(features[i].size(0), input.size(0));
    EXPECT_EQ(features[i].size(1), shapes[i].channels);
    EXPECT_EQ(features[i].size(2), input.size(2) / shapes[i].stride);
    EXPECT_EQ(features[i].size(3), input.size(3) / shapes[i].stride);
  }
}

class TemplatePluginTest : public ::testing::Test {
 protected:
  void SetUp() override { load_template_plugin(); }
};

TEST_F(TemplatePluginTest, RegistersMobileNetAsBackbone) {
  const ComponentInfo* info = Registry::of(Kind::backbone).find("MobileNet");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->origin, std::string(DETKIT_TEMPLATE_PLUGIN));
  for (const char* name : {"widen_factor", "out_indices", "stage_blocks", "frozen_stages",
                           "norm_eval", "in_channels"}) {
    const ParamSpec* spec = info->schema.find(name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_FALSE(spec->doc.empty()) << name;
    EXPECT_FALSE(spec->required) << name;
  }
}

TEST_F(TemplatePluginTest, DefaultShapesAreMobileNetV1Widths) {
  auto backbone = build_backbone("{type: MobileNet}");
  const std::vector<ShapeSpec> shapes = backbone->output_shapes();
  ASSERT_EQ(shapes.size(), 3u);
  EXPECT_EQ(shapes[0].channels, 256);
  EXPECT_EQ(shapes[0].stride, 8);
  EXPECT_EQ(shapes[1].channels, 512);
  EXPECT_EQ(shapes[1].stride, 16);
  EXPECT_EQ(shapes[2].channels, 1024);
  EXPECT_EQ(shapes[2].stride, 32);
}

TEST_F(TemplatePluginTest, FeatureMapsMatchOutputShapes) {
  torch::manual_seed(0);
  auto backbone = build_backbone("{type: MobileNet, widen_factor: 0.25}");
  backbone->eval();
  torch::NoGradGuard no_grad;
  expect_outputs_match_shapes(*backbone, torch::randn({1, 3, 64, 64}), 3);
}

TEST_F(TemplatePluginTest, AllStagesAndOtherInputChannels) {
  torch::manual_seed(0);
  auto backbone = build_backbone(
      "{type: MobileNet, widen_factor: 0.5, out_indices: [0, 1, 2, 3], stage_blocks: [1, 1, 2, 1],"
      " in_channels: 1}");
  const std::vector<ShapeSpec> shapes = backbone->output_shapes();
  ASSERT_EQ(shapes.size(), 4u);
  const int64_t strides[] = {4, 8, 16, 32}, channels[] = {64, 128, 256, 512};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(shapes[i].stride, strides[i]);
    EXPECT_EQ(shapes[i].channels, channels[i]);
  }
  // Training mode with a batch of 2 (BatchNorm needs more than one value per channel).
  expect_outputs_match_shapes(*backbone, torch::randn({2, 1, 64, 64}), 4);
}

TEST_F(TemplatePluginTest, ParameterNamesFollowConvModule) {
  auto backbone = build_backbone("{type: MobileNet, widen_factor: 0.25}");
  const auto params = backbone->named_parameters();
  const auto buffers = backbone->named_buffers();
  EXPECT_NE(params.find("conv1.conv.weight"), nullptr);
  EXPECT_NE(params.find("conv1.bn.weight"), nullptr);
  EXPECT_NE(params.find("layer1.0.depthwise.conv.weight"), nullptr);
  EXPECT_NE(params.find("layer3.5.pointwise.bn.bias"), nullptr);
  EXPECT_NE(buffers.find("layer4.1.pointwise.bn.running_mean"), nullptr);
  EXPECT_EQ(params.find("layer3.6.pointwise.conv.weight"), nullptr);  // 6 blocks: 0..5
  // Depthwise: one 3x3 filter per channel.
  const torch::Tensor dw = params["layer2.1.depthwise.conv.weight"];
  EXPECT_EQ(dw.sizes().vec(), (std::vector<int64_t>{64, 1, 3, 3}));
}

TEST_F(TemplatePluginTest, FrozenStagesStopGradientsAndStayInEvalMode) {
  auto backbone = build_backbone("{type: MobileNet, widen_factor: 0.25, frozen_stages: 2}");
  backbone->train();
  size_t frozen = 0, trainable = 0;
  for (const auto& item : backbone->named_parameters()) {
    const std::string& name = item.key();
    const bool in_frozen_part = name.rfind("conv1.", 0) == 0 || name.rfind("layer1.", 0) == 0 ||
                                name.rfind("layer2.", 0) == 0;
    EXPECT_EQ(item.value().requires_grad(), !in_frozen_part) << name;
    (in_frozen_part ? frozen : trainable) += 1;
  }
  EXPECT_GT(frozen, 0u);
  EXPECT_GT(trainable, 0u);
  for (const auto& item : backbone->named_modules()) {
    const std::string& name = item.key();
    if (name.empty()) continue;
    const bool in_frozen_part =
        name.rfind("conv1", 0) == 0 || name.rfind("layer1", 0) == 0 || name.rfind("layer2", 0) == 0;
    EXPECT_EQ(item.value()->is_training(), !in_frozen_part) << name;
  }
  // Gradients reach only the trainable stages.
  const std::vector<torch::Tensor> features = backbone->forward(torch::randn({2, 3, 64, 64}));
  features.back().sum().backward();
  const auto params = backbone->named_parameters();
  EXPECT_FALSE(params["layer1.0.pointwise.conv.weight"].grad().defined());
  EXPECT_TRUE(params["layer3.0.pointwise.conv.weight"].grad().defined());
}

TEST_F(TemplatePluginTest, NoFrozenStagesByDefault) {
  auto backbone = build_backbone("{type: MobileNet, widen_factor: 0.25}");
  for (const auto& item : backbone->named_parameters()) {
    EXPECT_TRUE(item.value().requires_grad()) << item.key();
  }
}

TEST_F(TemplatePluginTest, NormEvalKeepsBatchNormInEvalMode) {
  auto backbone = build_backbone("{type: MobileNet, widen_factor: 0.25, norm_eval: true}");
  backbone->train();
  EXPECT_TRUE(backbone->is_training());
  size_t norms = 0;
  for (const auto& module : backbone->modules(/*include_self=*/false)) {
    if (module->as<torch::nn::BatchNorm2d>() != nullptr) {
      EXPECT_FALSE(module->is_training());
      ++norms;
    } else if (module->as<torch::nn::Conv2d>() != nullptr) {
      EXPECT_TRUE(module->is_training());
    }
  }
  EXPECT_GT(norms, 0u);
}

TEST_F(TemplatePluginTest, ZeroWidenFactorIsAClearError) {
  const std::string message = build_error("{type: MobileNet, widen_factor: 0}");
  EXPECT_NE(message.find("model.backbone.widen_factor"), std::string::npos) << message;
  EXPECT_NE(message.find("value 0 is out of range: must be > 0"), std::string::npos) << message;
  EXPECT_NE(message.find("test.yaml:1:"), std::string::npos) << message;
}

TEST_F(TemplatePluginTest, OutIndicesOutOfRangeIsAClearError) {
  const std::string message = build_error("{type: MobileNet, out_indices: [1, 4]}");
  EXPECT_NE(message.find("model.backbone.out_indices"), std::string::npos) << message;
  EXPECT_NE(message.find("[0, 3]"), std::string::npos) << message;
}

TEST_F(TemplatePluginTest, UnorderedOutIndicesIsAClearError) {
  const std::string message = build_error("{type: MobileNet, out_indices: [2, 1]}");
  EXPECT_NE(message.find("model.backbone.out_indices"), std::string::npos) << message;
  EXPECT_NE(message.find("strictly increasing"), std::string::npos) << message;
}

TEST_F(TemplatePluginTest, UnknownKeyIsAClearError) {
  const std::string message = build_error("{type: MobileNet, widen_factr: 0.5}");
  EXPECT_NE(message.find("unknown parameter 'widen_factr'"), std::string::npos) << message;
  EXPECT_NE(message.find("widen_factor"), std::string::npos) << message;
}

TEST_F(TemplatePluginTest, BadValuesAreClearErrors) {
  EXPECT_NE(build_error("{type: MobileNet, frozen_stages: 5}").find("frozen_stages"),
            std::string::npos);
  EXPECT_NE(build_error("{type: MobileNet, stage_blocks: [1, 2, 3]}").find("stage_blocks"),
            std::string::npos);
  EXPECT_NE(build_error("{type: MobileNet, stage_blocks: [1, 0, 1, 1]}").find("stage_blocks"),
            std::string::npos);
  EXPECT_NE(build_error("{type: MobileNet, norm_eval: 3}").find("norm_eval"), std::string::npos);
}

TEST_F(TemplatePluginTest, WrongInputShapeIsAnError) {
  auto backbone = build_backbone("{type: MobileNet, widen_factor: 0.25}");
  EXPECT_THROW(backbone->forward(torch::zeros({1, 4, 32, 32})), Error);
  EXPECT_THROW(backbone->forward(torch::zeros({3, 32, 32})), Error);
}

TEST(TemplatePluginCli, DescribeShowsTheParameters) {
  const testing::ProcessResult result =
      testing::run_detkit({"plugins", "describe", "MobileNet", "--plugin", DETKIT_TEMPLATE_PLUGIN});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("MobileNet (backbone, from " + std::string(DETKIT_TEMPLATE_PLUGIN)),
            std::string::npos)
      << result.out;
  for (const char* name : {"widen_factor", "out_indices", "stage_blocks", "frozen_stages",
                           "norm_eval", "in_channels"}) {
    EXPECT_NE(result.out.find(std::string("\n  ") + name + " "), std::string::npos) << name << "\n"
                                                                                    << result.out;
  }
  EXPECT_NE(result.out.find("[1, 2, 3]"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace detkit
