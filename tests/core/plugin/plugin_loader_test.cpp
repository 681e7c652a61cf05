// The plugin loader in process: good plugins register and build, broken ones are rejected with
// a reason (cases that could crash the process run in a child: see plugin_cli_test.cpp).
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include "detkit/core/config.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"
#include "detkit/modeling/loss.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

std::string fixture(const std::string& case_name, const std::string& plugin) {
  return std::string(DETKIT_FIXTURE_DIR) + "/" + case_name + "/libdetkit-" + plugin + ".so";
}

PluginRecord load(const std::string& case_name, const std::string& plugin) {
  initialize_runtime();
  return PluginManager::instance().load_file(fixture(case_name, plugin), "--plugin");
}

TEST(PluginLoader, GoodPluginRegistersAndBuilds) {
  const PluginRecord record = load("good", "fixturegood");
  ASSERT_EQ(record.status, PluginStatus::loaded) << record.reason;
  EXPECT_EQ(record.name, "fixturegood");
  EXPECT_EQ(record.version, "0.1.0");
  ASSERT_EQ(record.components.size(), 1u);
  EXPECT_EQ(record.components[0].second, "FixtureLoss");
  const ComponentInfo* info = Registry::of(Kind::loss).find("FixtureLoss");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->origin, record.path);
  // Built through the registry from YAML, as a config would; the object lives in the plugin.
  const ConfigNode cfg = parse_yaml_text("{type: FixtureLoss, num_classes: 2, scale: 3.0}", "t");
  auto loss = build<LossBase>(cfg, "loss");
  const auto value = loss->forward(torch::ones({4}), torch::zeros({4}));
  EXPECT_FLOAT_EQ(value.item<float>(), 3.0f);
  // An exception thrown inside the plugin's factory is caught by type in the host.
  const ConfigNode unlucky = parse_yaml_text("{type: FixtureLoss, num_classes: 13}", "u.yaml");
  EXPECT_THROW(build<LossBase>(unlucky, "loss"), ConfigError);
  // Loading the same file again does nothing.
  EXPECT_EQ(load("good", "fixturegood").status, PluginStatus::loaded);
}

TEST(PluginLoader, TorchLibraryOpFromPluginIsCallable) {
  const PluginRecord record = load("customop", "customop");
  ASSERT_EQ(record.status, PluginStatus::loaded) << record.reason;
  auto op = c10::Dispatcher::singleton()
                .findSchemaOrThrow("detkit_customop_v1::double_it", "")
                .typed<at::Tensor(const at::Tensor&)>();
  EXPECT_TRUE(op.call(torch::full({3}, 2.0)).equal(torch::full({3}, 4.0)));
  auto loss = build<LossBase>(parse_yaml_text("{type: DoubledLoss}", "t"), "loss");
  EXPECT_FLOAT_EQ(loss->forward(torch::ones({2}), torch::zeros({2})).item<float>(), 4.0f);
}

struct RejectCase {
  std::string case_name;
  std::string plugin;
  std::string reason_part;
};

class PluginRejection : public ::testing::TestWithParam<RejectCase> {};

TEST_P(PluginRejection, IsRejectedWithReason) {
  const RejectCase& c = GetParam();
  const PluginRecord record = load(c.case_name, c.plugin);
  EXPECT_EQ(record.status, PluginStatus::rejected);
  EXPECT_NE(record.reason.find(c.reason_part), std::string::npos) << record.reason;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, PluginRejection,
    ::testing::Values(
        RejectCase{"garbage", "garbage", "not a shared library"},
        RejectCase{"empty", "empty", "not a shared library"},
        RejectCase{"notaplugin", "notaplugin", "not a detkit plugin: no 'dkplug' section"},
        RejectCase{"unresolved", "unresolved", "unresolved symbol detkit_fixture_defined_nowhere"},
        RejectCase{"tripwire", "oldsdk",
                   "built against SDK ABI 0 / LibTorch 1.12 / cxx11 ABI 1, but this host "
                   "provides SDK ABI 1 / LibTorch 1.13"},
        RejectCase{"abi_major", "abimajor",
                   "SDK ABI major mismatch: plugin has 2, host supports 1"},
        RejectCase{"abi_minor", "abiminor", "the plugin needs a newer detkit"},
        RejectCase{"torch_version", "torchversion",
                   "LibTorch version mismatch: plugin has 1.14, host supports 1.13"},
        RejectCase{"name_mismatch", "misnamed", "descriptor name 'somethingelse' does not match"},
        RejectCase{"throwing", "throwing",
                   "registration failed: boom while describing ThrowingLoss"}),
    [](const ::testing::TestParamInfo<RejectCase>& info) { return info.param.case_name; });

TEST(PluginLoader, RejectedRegistrationAddsNothing) {
  load("throwing", "throwing");
  EXPECT_EQ(Registry::of(Kind::loss).find("ThrowingLoss"), nullptr);
}

TEST(PluginLoader, DuplicateComponentTypeNamesBothFiles) {
  const PluginRecord first = load("dup_a", "dupa");
  ASSERT_EQ(first.status, PluginStatus::loaded) << first.reason;
  const PluginRecord second = load("dup_b", "dupb");
  EXPECT_EQ(second.status, PluginStatus::rejected);
  EXPECT_NE(second.reason.find("loss type 'DuplicateLoss' is already provided by " +
                               fixture("dup_a", "dupa")),
            std::string::npos)
      << second.reason;
  EXPECT_EQ(Registry::of(Kind::loss).find("DuplicateLoss")->origin, fixture("dup_a", "dupa"));
}

TEST(PluginLoader, MissingRequestedFileIsReportedAndRequired) {
  initialize_runtime();
  PluginSearch search;
  search.command_line = {std::string(DETKIT_FIXTURE_DIR) + "/nowhere/libdetkit-ghost.so"};
  search.use_environment = false;
  search.use_default_folders = false;
  PluginManager::instance().load(search);
  try {
    PluginManager::instance().require_requested_loaded();
    FAIL() << "expected PluginError";
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("libdetkit-ghost.so: file not found"), std::string::npos)
        << e.what();
  }
}

TEST(PluginLoader, UnknownTypeErrorMentionsRejectedPlugins) {
  load("throwing", "throwing");
  try {
    build<LossBase>(parse_yaml_text("{type: ThrowingLoss}", "t.yaml"), "model.loss");
    FAIL();
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown loss type 'ThrowingLoss'"), std::string::npos) << message;
    EXPECT_NE(message.find("libdetkit-throwing.so was rejected: registration failed"),
              std::string::npos)
        << message;
  }
}

}  // namespace
}  // namespace detkit
