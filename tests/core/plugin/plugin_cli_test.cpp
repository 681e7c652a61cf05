// `detkit plugins list|describe` in child processes: a bad plugin never takes the host down, the
// good ones still load, shadowed files are never opened, and messages are one clear line.
#include <gtest/gtest.h>

#include "test_support.h"

namespace detkit {
namespace {

using testing::run_detkit;

std::string fixture_dir(const std::string& case_name) {
  return std::string(DETKIT_FIXTURE_DIR) + "/" + case_name;
}

/// The report block of the plugin file `path` (its status line and the lines under it).
std::string block_of(const std::string& report, const std::string& path) {
  const size_t start = report.find(path);
  if (start == std::string::npos) return "";
  const size_t line_start = report.rfind('\n', start) + 1;
  size_t end = report.find('\n', start);
  while (end != std::string::npos && end + 1 < report.size() && report[end + 1] == ' ')
    end = report.find('\n', end + 1);
  return report.substr(line_start, end - line_start);
}

TEST(PluginsCli, EveryBrokenFixtureIsReportedWhileGoodOnesLoad) {
  std::string path;
  for (const char* c :
       {"good", "garbage", "empty", "notaplugin", "unresolved", "tripwire", "abi_major",
        "no_fingerprint", "layout", "throwing", "customop", "dup_a", "dup_b"}) {
    path += (path.empty() ? "" : ":") + fixture_dir(c);
  }
  const auto r = run_detkit({"plugins", "list"}, {"DETKIT_PLUGIN_PATH=" + path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.signaled);
  auto expect_block = [&](const std::string& case_name, const std::string& plugin,
                          const std::string& status, const std::string& text) {
    const std::string block =
        block_of(r.out, fixture_dir(case_name) + "/libdetkit-" + plugin + ".so");
    EXPECT_EQ(block.rfind(status, 0), 0u) << case_name << ":\n" << block << "\n---\n" << r.out;
    EXPECT_NE(block.find(text), std::string::npos) << case_name << ":\n" << block;
  };
  expect_block("good", "fixturegood", "LOADED", "loss: FixtureLoss");
  expect_block("customop", "customop", "LOADED", "loss: DoubledLoss");
  expect_block("dup_a", "dupa", "LOADED", "loss: DuplicateLoss");
  expect_block("garbage", "garbage", "REJECTED", "not a shared library");
  expect_block("empty", "empty", "REJECTED", "not a shared library");
  expect_block("notaplugin", "notaplugin", "REJECTED", "not a detkit plugin");
  expect_block("unresolved", "unresolved", "REJECTED", "unresolved symbol");
  expect_block("tripwire", "oldsdk", "REJECTED", "rebuild the plugin against this SDK");
  expect_block("abi_major", "abimajor", "REJECTED", "SDK ABI major mismatch");
  expect_block("throwing", "throwing", "REJECTED", "registration failed");
  expect_block("no_fingerprint", "nofingerprint", "REJECTED",
               "built against an SDK without layout fingerprint; rebuild");
  expect_block("layout", "otherlayout", "REJECTED",
               "the plugin was built against SDK headers with other struct layouts");
  expect_block("dup_b", "dupb", "LOADED",
               "(1 component skipped: loss DuplicateLoss, already registered by " +
                   fixture_dir("dup_a") + "/libdetkit-dupa.so)");
  // The official plugins next to the executable load too.
  EXPECT_NE(r.out.find("loss: CrossEntropyLoss"), std::string::npos) << r.out;
}

TEST(PluginsCli, RepeatedTypeSkipsOnlyThatComponentAndWarnsInEveryCommand) {
  // The third-party plugin comes first on the search path (DETKIT_PLUGIN_PATH before the
  // official plugin folder): its FocalLoss wins, and the official losses plugin still loads
  // with its four other losses.
  const std::string clash = fixture_dir("conflict") + "/libdetkit-focalclash.so";
  const std::string losses = std::string(DETKIT_PLUGIN_DIR) + "/libdetkit-losses.so";
  const auto r = run_detkit({"plugins", "list"}, {"DETKIT_PLUGIN_PATH=" + fixture_dir("conflict")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string official = block_of(r.out, losses);
  EXPECT_EQ(official.rfind("LOADED", 0), 0u) << r.out;
  const size_t loss_line = official.find("loss: ");
  ASSERT_NE(loss_line, std::string::npos) << official;
  const std::string registered =
      official.substr(loss_line, official.find('\n', loss_line) - loss_line);
  for (const char* type : {"CrossEntropyLoss", "GIoULoss", "L1Loss", "SmoothL1Loss"})
    EXPECT_NE(registered.find(type), std::string::npos) << registered;
  EXPECT_EQ(registered.find("FocalLoss"), std::string::npos) << registered;
  EXPECT_NE(
      official.find("(1 component skipped: loss FocalLoss, already registered by " + clash + ")"),
      std::string::npos)
      << official;
  EXPECT_NE(block_of(r.out, clash).find("loss: ClashFreeLoss, FocalLoss"), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("warning: plugin " + losses +
                       ": loss type 'FocalLoss' skipped: already registered by " + clash),
            std::string::npos)
      << r.err;

  // In the other order the official FocalLoss stays; `config check` passes and warns.
  testing::TempDir dir;
  testing::write_file(dir.file("cfg.yaml"), "log_level: INFO\n");
  const auto check = run_detkit(
      {"config", "check", dir.file("cfg.yaml")},
      {"DETKIT_PLUGIN_PATH=" + std::string(DETKIT_PLUGIN_DIR) + ":" + fixture_dir("conflict")});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find(": OK"), std::string::npos) << check.out;
  EXPECT_NE(check.err.find("warning: plugin " + clash +
                           ": loss type 'FocalLoss' skipped: already registered by " + losses +
                           " (the first registration wins)"),
            std::string::npos)
      << check.err;
  const auto describe = run_detkit(
      {"plugins", "describe", "FocalLoss"},
      {"DETKIT_PLUGIN_PATH=" + std::string(DETKIT_PLUGIN_DIR) + ":" + fixture_dir("conflict")});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_NE(describe.out.find("FocalLoss (loss, from " + losses + ")"), std::string::npos)
      << describe.out;
}

TEST(PluginsCli, SamePluginNameInTwoFoldersIsShadowedNotOpened) {
  const auto r = run_detkit({"plugins", "list"}, {"DETKIT_PLUGIN_PATH=" + fixture_dir("twin1") +
                                                  ":" + fixture_dir("twin2")});
  // Opening the second copy would abort inside dlopen (duplicate TORCH_LIBRARY namespace).
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(block_of(r.out, fixture_dir("twin1") + "/libdetkit-twin.so").rfind("LOADED", 0), 0u)
      << r.out;
  const std::string shadowed = block_of(r.out, fixture_dir("twin2") + "/libdetkit-twin.so");
  EXPECT_EQ(shadowed.rfind("SHADOWED", 0), 0u) << r.out;
  EXPECT_NE(shadowed.find("shadowed by " + fixture_dir("twin1") + "/libdetkit-twin.so"),
            std::string::npos)
      << shadowed;
}

TEST(PluginsCli, CommandLinePluginComesFirstAndTwoRequestedTwinsFail) {
  const auto r =
      run_detkit({"plugins", "list", "--plugin", fixture_dir("twin2") + "/libdetkit-twin.so",
                  "--plugin", fixture_dir("twin1") + "/libdetkit-twin.so"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(block_of(r.out, fixture_dir("twin2") + "/libdetkit-twin.so").rfind("LOADED", 0), 0u);
  EXPECT_NE(block_of(r.out, fixture_dir("twin1") + "/libdetkit-twin.so")
                .find("two requested plugins cannot share a name"),
            std::string::npos)
      << r.out;
}

TEST(PluginsCli, DescribeShowsParameters) {
  const auto r =
      run_detkit({"plugins", "describe", "FixtureLoss", "--plugin", fixture_dir("good")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("FixtureLoss (loss, from "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("num_classes"), std::string::npos);
  EXPECT_NE(r.out.find("required"), std::string::npos);
  EXPECT_NE(r.out.find("one of mean|sum"), std::string::npos);
  EXPECT_NE(r.out.find("in [0, 10]"), std::string::npos);
  const auto unknown =
      run_detkit({"plugins", "describe", "FixtureLos", "--plugin", fixture_dir("good")});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("did you mean 'FixtureLoss'"), std::string::npos) << unknown.err;
}

TEST(PluginsCli, ConfigUsingATypeOfARejectedPluginFailsWithItsReason) {
  testing::TempDir dir;
  testing::write_file(dir.file("cfg.yaml"), "plugins: [" + fixture_dir("throwing") +
                                                "/libdetkit-throwing.so]\n"
                                                "allow_failed_plugins: true\n"
                                                "custom_hooks: [{type: ThrowingLoss}]\n");
  const auto r = run_detkit({"config", "check", dir.file("cfg.yaml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown hook type 'ThrowingLoss'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("was rejected: registration failed"), std::string::npos) << r.err;
  // Without allow_failed_plugins, the failed plugin itself is the error.
  testing::write_file(dir.file("strict.yaml"),
                      "plugins: [" + fixture_dir("throwing") + "/libdetkit-throwing.so]\n");
  const auto strict = run_detkit({"config", "check", dir.file("strict.yaml")});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("requested plugin could not be loaded"), std::string::npos)
      << strict.err;
}

}  // namespace
}  // namespace detkit

namespace detkit {
namespace {

TEST(BenchmarkCli, LossesAreComputedThroughThePlugin) {
  const auto r = testing::run_detkit(
      {"benchmark", "losses", "--num", "64", "--classes", "3", "--repeat", "1", "--no-reference"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* loss : {"FocalLoss", "CrossEntropyLoss", "L1Loss", "SmoothL1Loss", "GIoULoss"})
    EXPECT_NE(r.out.find(loss), std::string::npos) << r.out;
  EXPECT_EQ(testing::run_detkit({"benchmark", "losses", "--num", "0"}).exit_code, 2);
}

TEST(BenchmarkCli, DatasetLoadOfASyntheticFile) {
  const auto r = testing::run_detkit({"benchmark", "dataset", "--images", "50", "--no-reference"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("training samples, 80 classes"), std::string::npos) << r.out;
  const auto missing =
      testing::run_detkit({"benchmark", "dataset", "--ann-file", "/nonexistent.json"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent.json"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace detkit
