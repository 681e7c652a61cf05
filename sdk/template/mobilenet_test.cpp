// Unit tests of the MobileNet plugin. They load the built libdetkit-mobilenet.so through detkit's
// testing API (detkit/testing.h, target DetKit::testing) exactly as the detkit host loads it, and
// build the backbone from YAML through the registry, as a config would.
#include <detkit/error.h>
#include <detkit/modeling/backbone.h>
#include <detkit/testing.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

namespace {

using detkit::BackboneBase;
using detkit::testing::build_from_yaml;

class MobileNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto report = detkit::testing::load_plugins({MOBILENET_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
  }
};

TEST_F(MobileNetTest, FeatureMapsMatchTheDeclaredShapes) {
  auto backbone = build_from_yaml<BackboneBase>(
      "{type: MobileNet, widen_factor: 0.25, out_indices: [1, 2, 3]}", "model.backbone");
  const auto shapes = backbone->output_shapes();
  const std::vector<torch::Tensor> features = backbone->forward(torch::rand({2, 3, 64, 64}));
  ASSERT_EQ(features.size(), 3u);
  ASSERT_EQ(shapes.size(), 3u);
  for (size_t i = 0; i < features.size(); ++i) {
    EXPECT_EQ(features[i].size(1), shapes[i].channels) << "output " << i;
    EXPECT_EQ(features[i].size(2), 64 / shapes[i].stride) << "output " << i;
  }
}

TEST_F(MobileNetTest, RejectsANonPositiveWidenFactor) {
  EXPECT_THROW(build_from_yaml<BackboneBase>("{type: MobileNet, widen_factor: 0.0}"),
               detkit::ConfigError);
}

}  // namespace
