// The plugin loader in process: good plugins register and build, broken ones are rejected with
// a reason (cases that could crash the process run in a child: see plugin_cli_test.cpp).
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "detkit/abi_fingerprint.h"
#include "detkit/core/config.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"
#include "detkit/modeling/loss.h"
#include "detkit/registry.h"
#include "detkit/version.h"
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

/// "0x" and 16 hex digits, as the loader prints fingerprints.
std::string hex(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(value));
  return text;
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
        RejectCase{"no_fingerprint", "nofingerprint",
                   "built against an SDK without layout fingerprint; rebuild it against this "
                   "detkit"},
        RejectCase{"layout", "otherlayout",
                   "differs from the host's " + hex(BuildInfo::layout_fingerprint()) +
                       ": the plugin was built against SDK headers with other struct layouts; "
                       "rebuild it against this detkit"},
        RejectCase{"throwing", "throwing",
                   "registration failed: boom while describing ThrowingLoss"}),
    [](const ::testing::TestParamInfo<RejectCase>& info) { return info.param.case_name; });

TEST(PluginLoader, RejectedRegistrationAddsNothing) {
  load("throwing", "throwing");
  EXPECT_EQ(Registry::of(Kind::loss).find("ThrowingLoss"), nullptr);
}

TEST(PluginLoader, OtherStructLayoutsAreRejectedBeforeRegistration) {
  const PluginRecord record = load("layout", "otherlayout");
  ASSERT_EQ(record.status, PluginStatus::rejected);
  EXPECT_EQ(record.reason.rfind("SDK layout fingerprint 0x", 0), 0u) << record.reason;
  EXPECT_EQ(Registry::of(Kind::loss).find("OtherLayoutLoss"), nullptr);
  // The good plugin next to it still loads.
  EXPECT_EQ(load("good", "fixturegood").status, PluginStatus::loaded);
}

TEST(PluginLoader, LayoutFingerprintOfPluginsMatchesTheHost) {
  // libdetkit's value (its own compilation of the headers) equals this file's compile-time one.
  EXPECT_EQ(BuildInfo::layout_fingerprint(), sdk_layout_fingerprint());
}

TEST(PluginLoader, RepeatedTypeIsSkippedAndTheRestOfThePluginLoads) {
  const PluginRecord first = load("dup_a", "dupa");
  ASSERT_EQ(first.status, PluginStatus::loaded) << first.reason;
  const PluginRecord second = load("dup_b", "dupb");
  ASSERT_EQ(second.status, PluginStatus::loaded) << second.reason;
  EXPECT_TRUE(second.components.empty());
  ASSERT_EQ(second.skipped.size(), 1u);
  EXPECT_EQ(second.skipped[0].kind, Kind::loss);
  EXPECT_EQ(second.skipped[0].type, "DuplicateLoss");
  EXPECT_EQ(second.skipped[0].registered_by, fixture("dup_a", "dupa"));
  ASSERT_EQ(second.warnings().size(), 1u);
  EXPECT_EQ(second.warnings()[0], "plugin " + fixture("dup_b", "dupb") +
                                      ": loss type 'DuplicateLoss' skipped: already registered "
                                      "by " +
                                      fixture("dup_a", "dupa") + " (the first registration wins)");
  EXPECT_EQ(Registry::of(Kind::loss).find("DuplicateLoss")->origin, fixture("dup_a", "dupa"));
}

TEST(PluginLoader, ThirdPartyFocalLossNeverDisablesTheFirstPartyLosses) {
  initialize_runtime();
  const std::string losses = std::string(DETKIT_PLUGIN_DIR) + "/libdetkit-losses.so";
  PluginSearch search;
  search.command_line = {losses, fixture("conflict", "focalclash")};
  search.use_environment = false;
  search.use_default_folders = false;
  const std::vector<std::string> warnings = PluginManager::instance().load(search);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("loss type 'FocalLoss' skipped: already registered by " + losses),
            std::string::npos)
      << warnings[0];
  for (const auto& record : PluginManager::instance().records()) {
    if (record.path == losses || record.path == fixture("conflict", "focalclash"))
      EXPECT_EQ(record.status, PluginStatus::loaded) << record.path << ": " << record.reason;
  }
  // The first registration (the official plugin, earlier on the search path) keeps FocalLoss;
  // every official loss and the fixture's own loss are available.
  EXPECT_EQ(Registry::of(Kind::loss).get("FocalLoss").origin, losses);
  for (const char* type : {"CrossEntropyLoss", "L1Loss", "SmoothL1Loss", "GIoULoss"})
    EXPECT_EQ(Registry::of(Kind::loss).get(type).origin, losses) << type;
  auto own = build<LossBase>(parse_yaml_text("{type: ClashFreeLoss, value: 5.0}", "t"), "loss");
  EXPECT_FLOAT_EQ(own->forward(torch::ones({2}), torch::zeros({2})).item<float>(), 5.0f);
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
