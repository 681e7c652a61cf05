// `detkit plugins list|describe` in child processes: a bad plugin never takes the host down, the
// good ones still load, shadowed files are never opened, and messages are one clear line.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "test_support.h"

namespace detkit {
namespace {

namespace fs = std::filesystem;
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
       {"good",      "garbage",        "empty",     "notaplugin", "unresolved", "tripwire",
        "abi_major", "no_fingerprint", "layout",    "throwing",   "customop",   "dup_a",
        "dup_b",     "init_abort",     "init_exit", "init_throw", "init_segv",  "badkind",
        "regthrow",  "emptytype",      "nofactory", "noterror"}) {
    path += (path.empty() ? "" : ":") + fixture_dir(c);
  }
  testing::TempDir cache;
  const auto r = run_detkit({"plugins", "list"},
                            {"DETKIT_PLUGIN_PATH=" + path, "DETKIT_CACHE_DIR=" + cache.path()});
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
  // Static initialisers that never return, seen only by the scan process.
  expect_block("init_abort", "initabort", "REJECTED", "aborted while loading in the scan process");
  expect_block("init_exit", "initexit", "REJECTED", "exited with status 3 while loading");
  expect_block("init_throw", "initthrow", "REJECTED", "boom in a static initialiser");
  expect_block("init_segv", "initsegv", "REJECTED", "crashed while loading in the scan process");
  // Registrations that go wrong after handing over a valid component.
  expect_block("badkind", "badkind", "REJECTED", "has kind number 4000000000, unknown");
  expect_block("regthrow", "regthrow", "REJECTED", "register_components threw");
  expect_block("emptytype", "emptytype", "REJECTED", "a loss has an empty type name");
  expect_block("nofactory", "nofactory", "REJECTED", "'HollowLoss' (loss) has no factory");
  expect_block("noterror", "noterror", "REJECTED", "registration failed: EEEE");
  EXPECT_EQ(r.out.find("PartialLoss"), std::string::npos) << r.out;
  // The official plugins next to the executable load too.
  EXPECT_NE(r.out.find("loss: CrossEntropyLoss"), std::string::npos) << r.out;
}

TEST(PluginsCli, ScanVerdictsAreCachedAndACorruptCacheIsRescanned) {
  testing::TempDir cache, copy;
  // A copy of the good plugin, so that the test can change its mtime.
  const std::string good = copy.file("libdetkit-fixturegood.so");
  fs::copy_file(fixture_dir("good") + "/libdetkit-fixturegood.so", good);
  const std::string crashing = fixture_dir("init_abort") + "/libdetkit-initabort.so";
  const std::string cache_file = cache.path() + "/plugin-scan.cache";
  const std::vector<std::string> env = {
      "DETKIT_CACHE_DIR=" + cache.path(),
      "DETKIT_PLUGIN_PATH=" + fixture_dir("init_abort") + ":" + copy.path()};
  auto list = [&](const std::string& scan_line) {
    const auto r = run_detkit({"plugins", "list"}, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(r.signaled);
    const std::string rejected = block_of(r.out, crashing);
    EXPECT_EQ(rejected.rfind("REJECTED", 0), 0u) << r.out;
    EXPECT_NE(rejected.find("aborted while loading in the scan process"), std::string::npos)
        << rejected;
    EXPECT_EQ(block_of(r.out, good).rfind("LOADED", 0), 0u) << r.out;
    EXPECT_NE(r.out.find(scan_line), std::string::npos) << r.out;
  };
  const std::string cold = "0 verdict(s) from the cache " + cache_file;
  list(cold);
  list("plugin scan: 0 file(s) scanned in a scan process");  // warm: nothing forked
  // A cache that was tampered with (the crashing plugin's verdict turned into "ok") or cut short
  // is ignored whole: everything is scanned again, nothing accepted.
  const std::string valid = testing::read_file(cache_file);
  const std::string canonical = fs::canonical(crashing).string();
  const size_t at = valid.find("\t" + canonical + "\t");
  ASSERT_NE(at, std::string::npos) << valid;
  const size_t line = valid.rfind('\n', at) + 1;
  ASSERT_EQ(valid.substr(line, 2), "0\t");
  std::string forged = valid;
  forged[line] = '1';
  forged.erase(at + canonical.size() + 2, forged.find('\n', at) - (at + canonical.size() + 2));
  for (const std::string& bad : {forged, valid.substr(0, valid.size() / 2)}) {
    testing::write_file(cache_file, bad);
    list(cold);
    EXPECT_EQ(testing::read_file(cache_file), valid);  // rewritten whole
  }
  // A changed file (new mtime) is scanned again, the others keep their verdicts.
  const auto later = fs::last_write_time(good) + std::chrono::seconds(5);
  fs::last_write_time(good, later);
  list("plugin scan: 1 file(s) scanned in a scan process");
}

TEST(PluginsCli, ScanCanBeTurnedOffAndItsTimeoutMustBeSeconds) {
  testing::TempDir cache;
  const auto off =
      run_detkit({"plugins", "list"}, {"DETKIT_CACHE_DIR=" + cache.path(), "DETKIT_PLUGIN_SCAN=0",
                                       "DETKIT_PLUGIN_PATH=" + fixture_dir("good")});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_NE(off.out.find("plugin scan: off (DETKIT_PLUGIN_SCAN=0)"), std::string::npos) << off.out;
  EXPECT_EQ(block_of(off.out, fixture_dir("good") + "/libdetkit-fixturegood.so").rfind("LOADED", 0),
            0u)
      << off.out;
  EXPECT_FALSE(fs::exists(cache.path() + "/plugin-scan.cache"));
  const auto bad = run_detkit(
      {"plugins", "list"}, {"DETKIT_CACHE_DIR=" + cache.path(), "DETKIT_PLUGIN_SCAN_TIMEOUT=soon"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("DETKIT_PLUGIN_SCAN_TIMEOUT='soon': expected a number of seconds > 0"),
            std::string::npos)
      << bad.err;
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
  // Options may come before the action.
  const auto option_first =
      run_detkit({"plugins", "--plugin", losses, "describe", "FocalLoss"}, {});
  ASSERT_EQ(option_first.exit_code, 0) << option_first.err;
  EXPECT_NE(option_first.out.find("FocalLoss (loss, from " + losses + ")"), std::string::npos)
      << option_first.out;
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
