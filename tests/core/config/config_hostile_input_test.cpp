// Hostile config input: resource bombs (alias bombs, deep nesting, huge files, many keys),
// values that must not be silently wrong (overflowing numbers, strings that `config print`
// must quote), and messages for bad --cfg-options indexes. One test per class, a table of cases
// inside each.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/error.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::TempDir;
using testing::write_file;

/// The message of the ConfigError `fn` throws ("" and a test failure when it throws none).
template <class Fn>
std::string config_error_of(Fn&& fn) {
  return testing::error_of<ConfigError>(fn);
}

/// `n` levels of block maps: "k:\n  k:\n    ...: 1".
std::string nested_block_maps(int n) {
  std::string text;
  for (int i = 0; i < n; ++i)
    text += std::string(2 * i, ' ') + "k:\n";
  return text + std::string(2 * n, ' ') + "v: 1\n";
}

/// A "billion laughs" document: 9 levels of 9 aliases of the level below.
std::string alias_bomb() {
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string below = "*a" + std::to_string(level - 1);
    text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 9; ++i)
      text += (i ? ", " : "") + below;
    text += "]\n";
  }
  return text;
}

TEST(ConfigHostileInput, ResourceBombsFailFastWithTheFileAndLine) {
  TempDir dir;
  struct Case {
    std::string name;
    std::string text;
    std::vector<std::string> expected;  // parts of the message
  };
  const std::vector<Case> cases = {
      {"bomb.yaml", alias_bomb(), {"bomb.yaml:", "alias *a", "1000000 values", "alias bomb"}},
      {"self.yaml", "a: &a [1, *a]\n", {"self.yaml:1:11", "alias *a", "contains it"}},
      {"deep600.yaml", nested_block_maps(600), {"deep600.yaml:101:", "deeper than 100 levels"}},
      {"deep101.yaml",
       std::string(101, '[') + std::string(101, ']'),
       {"deep101.yaml:1:101", "deeper than 100 levels"}},
  };
  for (const Case& c : cases) {
    write_file(dir.file(c.name), c.text);
    const auto start = std::chrono::steady_clock::now();
    const std::string message = config_error_of([&] { parse_yaml_file(dir.file(c.name)); });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 5.0) << c.name;
    for (const auto& part : c.expected)
      EXPECT_NE(message.find(part), std::string::npos) << c.name << ": " << message;
  }
  // The alias bomb names the alias that crosses the limit: the first *a5 (levels 1-5 add
  // 672,588 values, each *a5 597,871).
  const std::string bomb = config_error_of([&] { parse_yaml_file(dir.file("bomb.yaml")); });
  EXPECT_NE(bomb.find("bomb.yaml:7:10: the alias *a5"), std::string::npos) << bomb;
  // 100 levels are fine; aliases that add a moderate number of values are fine.
  EXPECT_NO_THROW(parse_yaml_text(nested_block_maps(99), "ok.yaml"));
  EXPECT_EQ(parse_yaml_text("a: &a [1, 2]\nb: [*a, *a]\n", "ok.yaml").at("b").size(), 2u);

  // A file over 16 MB is refused before it is read (a sparse file: nothing is written).
  const std::string huge = dir.file("huge.yaml");
  write_file(huge, "a: 1\n");
  std::filesystem::resize_file(huge, (size_t{16} << 20) + 1);
  const std::string too_big = config_error_of([&] { parse_yaml_file(huge); });
  EXPECT_NE(too_big.find(huge), std::string::npos) << too_big;
  EXPECT_NE(too_big.find("at most 16 MB"), std::string::npos) << too_big;

  // 40,000 keys in a base and a child that overrides all of them load in well under a second
  // (lookups were linear: seconds; the bound leaves room for a loaded CI machine).
  std::string base = "model:\n", child = "_base_: base.yaml\nmodel:\n";
  for (int i = 0; i < 40000; ++i) {
    base += "  key_" + std::to_string(i) + ": " + std::to_string(i) + "\n";
    child += "  key_" + std::to_string(i) + ": " + std::to_string(-i) + "\n";
  }
  write_file(dir.file("base.yaml"), base);
  write_file(dir.file("child.yaml"), child);
  const auto start = std::chrono::steady_clock::now();
  const ConfigNode cfg = load_config(dir.file("child.yaml"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  ASSERT_EQ(cfg.at("model").size(), 40000u);
  EXPECT_EQ(cfg.at("model").entries()[39999].key, "key_39999");  // key order is kept
  EXPECT_EQ(cfg.at("model").at("key_123").as_int(), -123);
  // `config check` of 40,000 top-level keys (it copied them with set(): seconds).
  std::string flat;
  for (int i = 0; i < 40000; ++i)
    flat += "key_" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  const ConfigNode flat_cfg = parse_yaml_text(flat, "flat.yaml");
  const auto check_start = std::chrono::steady_clock::now();
  const size_t errors = check_config(flat_cfg).errors.size();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - check_start).count(),
            2.0);
  EXPECT_EQ(errors, 40000u);  // each an unknown key
  // A duplicate key is still found among many.
  EXPECT_NE(config_error_of([&] {
              parse_yaml_text(base + "  key_7: 0\n", "dup.yaml");
            }).find("dup.yaml:40002:3: duplicate key 'key_7' (first written at dup.yaml:9:3)"),
            std::string::npos);
}

TEST(ConfigHostileInput, NumbersThatDoNotFitAreErrorsNotClampedValues) {
  struct Case {
    std::string text;
    std::string expected;  // "" when it must load
  };
  const std::vector<Case> cases = {
      {"x: 0xFFFFFFFFFFFFFFFFFFFF\n",
       "n.yaml:1:4: the integer 0xFFFFFFFFFFFFFFFFFFFF does not fit"},
      {"x: 0x8000000000000000\n", "n.yaml:1:4: the integer 0x8000000000000000 does not fit"},
      {"a: 1\nx: 0o7777777777777777777777\n", "n.yaml:2:4: the integer 0o7777777777777777777777"},
      {"x: [1, 1e999]\n", "n.yaml:1:8: the number 1e999 is beyond the range of a 64-bit float"},
      {"x: -1e999\n", "n.yaml:1:4: the number -1e999 is beyond the range"},
      {"x: " + std::string(400, '9') + "\n", "n.yaml:1:4: the number 999"},
      {"x: !!float 1e999\n", "n.yaml:1:4: the number 1e999 is beyond the range"},
      {"x: !!float abc\n", "n.yaml:1:4: !!float needs a number"},
      {"x: 0x7fffffffffffffff\n", ""},
      {"x: -9223372036854775808\n", ""},
      {"x: 1e-999\n", ""},   // underflow reads as 0, as in Python
      {"x: '1e999'\n", ""},  // quoted: a string
  };
  for (const Case& c : cases) {
    if (c.expected.empty()) {
      EXPECT_NO_THROW(parse_yaml_text(c.text, "n.yaml")) << c.text;
      continue;
    }
    const std::string message = config_error_of([&] { parse_yaml_text(c.text, "n.yaml"); });
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.text << " -> " << message;
  }
  EXPECT_EQ(parse_yaml_text("x: 0x7fffffffffffffff\n", "n").at("x").as_int(), INT64_MAX);
  EXPECT_EQ(parse_yaml_text("x: 0o17\n", "n").at("x").as_int(), 15);
}

TEST(ConfigHostileInput, PrintedConfigReadsBackToEqualValues) {
  const std::vector<std::string> nasty = {
      "line\nbreak", "trailing\n", "\ttab",      "cr\r",        "bell\x07",
      "del\x7f",     "it's",       "say \"hi\"", "back\\slash", " leading",
      "trailing ",   "a: b",       "a #comment", "#start",      "- item",
      "? key",       "[x]",        "{y}",        "a, b",        "*alias",
      "&anchor",     "!tag",       "|",          ">",           "%",
      "@",           "`",          "",           "null",        "~",
      "true",        "False",      "yes",        "no",          "1",
      "-1",          "0x1F",       "0o17",       "1e5",         ".inf",
      "-.inf",       ".nan",       "+1",         "1.",          "<<",
      "...",         "---",        "ünïcödé",    "a\\nb",       "multi\n\nline\n  indented",
  };
  ConfigNode cfg = ConfigNode::make_map();
  ConfigNode list = ConfigNode::make_list();
  ConfigNode keys = ConfigNode::make_map();
  for (size_t i = 0; i < nasty.size(); ++i) {
    cfg.set("v" + std::to_string(i), nasty[i]);
    list.push_back(nasty[i]);
    if (!nasty[i].empty()) keys.set(nasty[i], static_cast<int64_t>(i));
  }
  cfg.set("list", list);
  cfg.set("nested", ConfigNode::make_list()).push_back(list);  // a flow list inside a block list
  cfg.set("keys", keys);
  cfg.set("flow", ConfigNode::make_list()).push_back(keys);  // a map printed in flow style
  for (bool sources : {false, true}) {
    const std::string printed = format_config(cfg, sources);
    ConfigNode reread;
    ASSERT_NO_THROW(reread = parse_yaml_text(printed, "printed.yaml")) << printed;
    ASSERT_EQ(reread, cfg) << printed;
    for (size_t i = 0; i < nasty.size(); ++i)
      EXPECT_EQ(reread.at("v" + std::to_string(i)).as_string(), nasty[i]) << printed;
  }
  // Flow style (error messages, flow lists) quotes keys and values the same way.
  EXPECT_EQ(parse_yaml_text("x: " + keys.to_flow(), "flow.yaml").at("x"), keys);
  EXPECT_EQ(parse_yaml_text("x: " + list.to_flow(), "flow.yaml").at("x"), list);
  // Every value keeps its own line: a line break is escaped, not written raw.
  EXPECT_NE(format_config(cfg, false).find("v0: \"line\\nbreak\"\n"), std::string::npos);
}

TEST(ConfigHostileInput, CfgOptionsIndexesBeyondAListNameTheOption) {
  struct Case {
    std::string option;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"data.train.pipeline.99999999999999999999=1",
       "bad --cfg-options item 'data.train.pipeline.99999999999999999999=1': index "
       "99999999999999999999 is out of range for data.train.pipeline (2 elements)"},
      {"data.train.pipeline.2.type=X", "index 2 is out of range for data.train.pipeline"},
      {"data.train.pipeline.18446744073709551616=1", "is out of range"},
  };
  for (const Case& c : cases) {
    ConfigNode cfg = parse_yaml_text("data: {train: {pipeline: [{type: A}, {type: B}]}}\n", "c");
    const std::string message = config_error_of([&] { apply_cfg_option(cfg, c.option); });
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.option << " -> " << message;
  }
}

TEST(ConfigHostileInput, BenchmarkPathsAreConfigValuesNotYamlText) {
  // A folder whose name holds what broke or injected into the YAML text `benchmark loader` and
  // `benchmark dataset` used to paste paths into: quotes, ": ", a line break and a crafted key.
  TempDir dir;
  const std::string folder = dir.file("it's \"odd\": here\n', filter_empty_gt: true, x: '");
  const auto synth =
      testing::run_detkit({"data", "synth", "--out", folder, "--num-train", "2", "--num-val", "0",
                           "--image-size", "64", "48", "--classes", "1"});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  const std::string ann = folder + "/annotations/train.json";
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"benchmark", "dataset", "--ann-file", ann, "--no-reference"}, "CocoDataset load:"},
      {{"benchmark", "loader", "--data", ann, "--img-prefix", folder + "/train", "--images", "2",
        "--workers", "0"},
       "2 images of " + ann},
  };
  for (const Case& c : cases) {
    const auto r = testing::run_detkit(c.args);
    EXPECT_EQ(r.exit_code, 0) << c.args[1] << ": " << r.err;
    EXPECT_NE(r.out.find(c.expected), std::string::npos) << c.args[1] << ": " << r.out;
  }
}

}  // namespace
}  // namespace detkit
