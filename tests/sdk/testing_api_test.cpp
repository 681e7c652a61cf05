// detkit/testing.h, used the way a plugin's own unit tests use it (linked with DetKit::testing):
// load plugin files as the host does, then build components from YAML through the registry.
#include "detkit/testing.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "detkit/data/transform.h"
#include "detkit/error.h"
#include "detkit/modeling/loss.h"

namespace detkit {
namespace {

std::string fixture(const std::string& case_name, const std::string& plugin) {
  return std::string(DETKIT_FIXTURE_DIR) + "/" + case_name + "/libdetkit-" + plugin + ".so";
}

TEST(TestingApi, LoadsAPluginAndBuildsItsComponentFromYaml) {
  const std::string file = fixture("good", "fixturegood");
  const auto report = testing::load_plugins({file});
  ASSERT_TRUE(report.ok()) << report.str();
  ASSERT_EQ(report.plugins.size(), 1u);
  EXPECT_EQ(report.str(), "LOADED " + file + "\n");
  auto loss = testing::build_from_yaml<LossBase>("{type: FixtureLoss, num_classes: 2, scale: 3.0}");
  EXPECT_FLOAT_EQ(loss->forward(torch::ones({4}), torch::zeros({4})).item<float>(), 3.0f);
  // Loading again reports the same file and changes nothing.
  EXPECT_TRUE(testing::load_plugins({file}).ok());
}

TEST(TestingApi, RegistersTheBuiltInsToo) {
  testing::load_plugins({fixture("good", "fixturegood")});
  auto flip = testing::build_from_yaml<TransformBase>("{type: RandomFlip, flip_ratio: 0.5}");
  ASSERT_NE(flip, nullptr);
}

TEST(TestingApi, ConfigErrorsAreTheHostsErrors) {
  testing::load_plugins({fixture("good", "fixturegood")});
  try {
    testing::build_from_yaml<LossBase>("{type: FixtureLoss, num_classes: 2, scal: 3.0}",
                                       "model.loss");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("<yaml>:1:"), std::string::npos) << message;
    EXPECT_NE(message.find("model.loss.scal"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'scale'"), std::string::npos) << message;
  }
  EXPECT_THROW(testing::parse_yaml("{type: [unclosed"), ConfigError);
}

TEST(TestingApi, ReportsRejectedFilesInAFolder) {
  const auto report = testing::load_plugins({std::string(DETKIT_FIXTURE_DIR) + "/layout"});
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.plugins.size(), 1u);
  EXPECT_EQ(report.plugins[0].status, "REJECTED");
  EXPECT_NE(report.str().find("REJECTED " + fixture("layout", "otherlayout") +
                              ": SDK layout fingerprint 0x"),
            std::string::npos)
      << report.str();
  const auto missing = testing::load_plugins({fixture("nowhere", "ghost")});
  EXPECT_FALSE(missing.ok());
  ASSERT_EQ(missing.plugins.size(), 1u);
  EXPECT_EQ(missing.plugins[0].reason, "file not found");
}

TEST(TestingApi, ReportsSkippedComponentsAsWarnings) {
  const auto report = testing::load_plugins(
      {std::string(DETKIT_FIXTURE_DIR) + "/dup_a", std::string(DETKIT_FIXTURE_DIR) + "/dup_b"});
  EXPECT_FALSE(report.ok()) << report.str();
  ASSERT_EQ(report.plugins.size(), 2u);
  EXPECT_TRUE(report.plugins[0].loaded());
  EXPECT_TRUE(report.plugins[1].loaded());
  ASSERT_EQ(report.plugins[1].warnings.size(), 1u);
  EXPECT_NE(report.str().find("  warning: plugin " + fixture("dup_b", "dupb") +
                              ": loss type 'DuplicateLoss' skipped"),
            std::string::npos)
      << report.str();
}

}  // namespace
}  // namespace detkit
