// `detkit config print|check` as a user runs them: one clear message, non-zero exit, no trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/core/text.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::run_detkit;
using testing::TempDir;
using testing::write_file;

/// Output must never show a C++ backtrace or an internal assert.
void expect_no_trace(const testing::ProcessResult& r) {
  for (const char* marker :
       {"frame #", "Exception raised from", "INTERNAL ASSERT", "terminate called"}) {
    EXPECT_EQ(r.err.find(marker), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find(marker), std::string::npos) << r.out;
  }
}

TEST(ConfigCli, PrintShowsMergedConfigWithSources) {
  TempDir dir;
  write_file(dir.file("base.yaml"), "optimizer: {type: SGD, lr: 0.02}\n");
  write_file(dir.file("leaf.yaml"), "_base_: base.yaml\noptimizer: {lr: 0.01}\n");
  const auto r = run_detkit(
      {"config", "print", dir.file("leaf.yaml"), "--cfg-options", "optimizer.momentum=0.9"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lr: 0.01"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leaf.yaml:2:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("type: SGD"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("base.yaml:1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("momentum: 0.9"), std::string::npos) << r.out;
}

TEST(ConfigCli, BadYamlFailsWithLocation) {
  TempDir dir;
  write_file(dir.file("bad.yaml"), "model:\n  type: [unclosed\n");
  const auto r = run_detkit({"config", "print", dir.file("bad.yaml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("YAML syntax error"), std::string::npos) << r.err;
  expect_no_trace(r);
}

TEST(ConfigCli, CycleMissingBaseAndBadOverride) {
  TempDir dir;
  write_file(dir.file("a.yaml"), "_base_: b.yaml\n");
  write_file(dir.file("b.yaml"), "_base_: a.yaml\n");
  auto r = run_detkit({"config", "check", dir.file("a.yaml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cycle in _base_"), std::string::npos) << r.err;
  expect_no_trace(r);

  write_file(dir.file("c.yaml"), "_base_: missing.yaml\n");
  r = run_detkit({"config", "print", dir.file("c.yaml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("c.yaml:1:9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;

  write_file(dir.file("d.yaml"), "x: 1\n");
  r = run_detkit({"config", "print", dir.file("d.yaml"), "--cfg-options", "novalue"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("expected KEY=VALUE"), std::string::npos) << r.err;
  expect_no_trace(r);
}

TEST(ConfigCli, CheckReportsEveryProblem) {
  TempDir dir;
  write_file(dir.file("cfg.yaml"),
             "optimzer: {type: SGD}\ndata: {samples_per_gpu: two}\nlog_level: LOUD\n");
  const auto r = run_detkit({"config", "check", dir.file("cfg.yaml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("3 error(s)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'optimizer'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("data.samples_per_gpu: expected int"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("log_level"), std::string::npos) << r.err;
  expect_no_trace(r);
}

TEST(Cli, VersionNamesTheBinaryContract) {
  const auto r = run_detkit({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("SDK ABI 1.3, LibTorch 1.13"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("detkit_abi_1_torch_1_13_cxx11abi_1"), std::string::npos) << r.out;
}

TEST(ConfigCli, UnknownCommandAndMissingArguments) {
  auto r = run_detkit({"confg"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'config'"), std::string::npos) << r.err;
  r = run_detkit({"config", "print"});
  EXPECT_EQ(r.exit_code, 2);  // a bad command line
  EXPECT_NE(r.err.find("config"), std::string::npos) << r.err;
  expect_no_trace(r);
}

TEST(ShippedConfigs, EveryConfigUnderConfigsPassesConfigCheck) {
  // Every .yaml in the source tree's configs/ (found now, so a new config is covered without
  // editing this test), _base_ fragments included: each is valid on its own. `config check`
  // needs no data: the configs' data/ paths do not exist where tests run.
  namespace fs = std::filesystem;
  const fs::path root = fs::path(DETKIT_SOURCE_DIR) / "configs";
  std::vector<std::string> configs;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      configs.push_back(entry.path().string());
  }
  std::sort(configs.begin(), configs.end());
  ASSERT_GE(configs.size(), 20u) << "configs/ looks incomplete";
  ASSERT_FALSE(fs::exists("data/coco"));
  // What `detkit config check CONFIG` runs (load_config, the in-tree plugins, check_config),
  // in this process: a CLI process per config costs ~0.8 s of LibTorch start-up. A config that
  // lists plugins of its own goes through the CLI, which loads them.
  testing::load_in_tree_plugins();
  for (const auto& path : configs) {
    SCOPED_TRACE(path);
    const ConfigNode config = load_config(path);
    if (config.find("plugins") != nullptr) {
      const auto r = run_detkit({"config", "check", path});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.out.find(path + ": OK"), std::string::npos) << r.out;
      EXPECT_EQ(r.err.find("not checked"), std::string::npos) << r.err;
      continue;
    }
    const ConfigCheckResult result = check_config(config);
    EXPECT_TRUE(result.errors.empty()) << join(result.errors, "\n");
    // Every part was checked: no part skipped for want of a registered type.
    EXPECT_TRUE(result.unchecked.empty()) << join(result.unchecked, "\n");
  }
  // The command itself on one of them.
  const auto r =
      run_detkit({"config", "check", root.string() + "/_base_/datasets/wider_face.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wider_face.yaml: OK"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace detkit
