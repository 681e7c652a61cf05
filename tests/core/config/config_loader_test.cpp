// Config loading: YAML with marks, _base_ inheritance, merging, _delete_, --cfg-options.
#include <gtest/gtest.h>

#include "detkit/core/config.h"
#include "detkit/error.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::TempDir;
using testing::write_file;

/// Expects `fn` to throw ConfigError whose message contains every one of `parts`.
template <class Fn>
void expect_config_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "message lacks '" << part << "':\n"
                                                       << message;
    }
  }
}

TEST(YamlReader, TypesScalarsByYaml12CoreSchema) {
  const ConfigNode node = parse_yaml_text(
      "a: 1\nb: 1.5\nc: 1e-5\nd: true\ne: null\nf: '1'\ng: text\nh: [1, 2.0, x]\ni: ~\nj: -3\n",
      "inline");
  EXPECT_TRUE(node.at("a").is_int());
  EXPECT_EQ(node.at("a").as_int(), 1);
  EXPECT_TRUE(node.at("b").is_real());
  EXPECT_DOUBLE_EQ(node.at("c").as_double(), 1e-5);  // PyYAML would read a string here
  EXPECT_TRUE(node.at("d").as_bool());
  EXPECT_TRUE(node.at("e").is_null());
  EXPECT_TRUE(node.at("f").is_string());  // quoted stays a string
  EXPECT_EQ(node.at("g").as_string(), "text");
  ASSERT_EQ(node.at("h").size(), 3u);
  EXPECT_TRUE(node.at("h").items()[1].is_real());
  EXPECT_TRUE(node.at("i").is_null());
  EXPECT_EQ(node.at("j").as_int(), -3);
}

TEST(YamlReader, RecordsLineAndColumnOfEveryValue) {
  const ConfigNode node = parse_yaml_text("model:\n  type: RetinaNet\n  depth: 50\n", "x.yaml");
  const ConfigNode& depth = node.at("model").at("depth");
  EXPECT_EQ(depth.mark().line, 3);
  EXPECT_EQ(depth.mark().column, 10);
  EXPECT_EQ(depth.mark().str(), "x.yaml:3:10");
  EXPECT_EQ(node.at("model").find_entry("type")->key_mark.line, 2);
}

TEST(YamlReader, SyntaxErrorNamesFileAndLine) {
  TempDir dir;
  write_file(dir.file("bad.yaml"), "a: 1\nb: [1, 2\nc: 3\n");
  expect_config_error([&] { parse_yaml_file(dir.file("bad.yaml")); },
                      {dir.file("bad.yaml") + ":", "YAML syntax error"});
}

TEST(YamlReader, DuplicateKeyInOneMapIsAnError) {
  expect_config_error([] { parse_yaml_text("a: 1\nb: 2\na: 3\n", "dup.yaml"); },
                      {"dup.yaml:3:1", "duplicate key 'a'", "dup.yaml:1:1"});
}

TEST(YamlReader, MissingFileAndWrongExtension) {
  TempDir dir;
  expect_config_error([&] { parse_yaml_file(dir.file("nope.yaml")); }, {"does not exist"});
  write_file(dir.file("config.py"), "x = 1\n");
  expect_config_error([&] { parse_yaml_file(dir.file("config.py")); }, {".yaml"});
}

class BaseInheritance : public ::testing::Test {
 protected:
  TempDir dir;
  std::string write(const std::string& name, const std::string& text) {
    write_file(dir.file(name), text);
    return dir.file(name);
  }
};

TEST_F(BaseInheritance, MergesMapsRecursivelyAndReplacesListsAndScalars) {
  write("base/model.yaml",
        "model:\n  type: RetinaNet\n  backbone: {type: ResNet, depth: 50, out_indices: [0, 1, 2, "
        "3]}\n"
        "  neck: {type: FPN, in_channels: [256, 512]}\n");
  write("base/schedule.yaml", "optimizer: {type: SGD, lr: 0.02, momentum: 0.9}\n");
  const std::string leaf = write("configs/leaf.yaml",
                                 "_base_: [../base/model.yaml, ../base/schedule.yaml]\n"
                                 "model:\n  backbone: {depth: 101, out_indices: [1, 2]}\n"
                                 "optimizer: {lr: 0.01}\n");
  const ConfigNode cfg = load_config(leaf);
  const ConfigNode& backbone = cfg.at("model").at("backbone");
  EXPECT_EQ(backbone.at("type").as_string(), "ResNet");  // kept from the base
  EXPECT_EQ(backbone.at("depth").as_int(), 101);         // scalar replaced
  EXPECT_EQ(backbone.at("out_indices").size(), 2u);      // list replaced, not merged
  EXPECT_EQ(cfg.at("model").at("neck").at("type").as_string(), "FPN");
  EXPECT_DOUBLE_EQ(cfg.at("optimizer").at("lr").as_double(), 0.01);
  EXPECT_DOUBLE_EQ(cfg.at("optimizer").at("momentum").as_double(), 0.9);
  EXPECT_EQ(cfg.find("_base_"), nullptr);
  // Every value remembers the file it came from.
  EXPECT_NE(backbone.at("type").mark().str().find("model.yaml:3:"), std::string::npos);
  EXPECT_NE(backbone.at("depth").mark().str().find("leaf.yaml:3:"), std::string::npos);
}

TEST_F(BaseInheritance, BaseAsStringAndRecursiveBases) {
  write("a.yaml", "x: {p: 1, q: 2}\n");
  write("b.yaml", "_base_: a.yaml\nx: {q: 3}\ny: 4\n");
  const ConfigNode cfg = load_config(write("c.yaml", "_base_: b.yaml\nx: {r: 5}\n"));
  EXPECT_EQ(cfg.at("x").at("p").as_int(), 1);
  EXPECT_EQ(cfg.at("x").at("q").as_int(), 3);
  EXPECT_EQ(cfg.at("x").at("r").as_int(), 5);
  EXPECT_EQ(cfg.at("y").as_int(), 4);
}

TEST_F(BaseInheritance, DeleteReplacesTheWholeMap) {
  write("base.yaml", "optimizer_config: {grad_clip: null, extra: 1}\nmodel: {a: {b: 1, c: 2}}\n");
  const ConfigNode cfg = load_config(
      write("leaf.yaml",
            "_base_: base.yaml\n"
            "optimizer_config: {_delete_: true, grad_clip: {max_norm: 35, norm_type: 2}}\n"
            "model: {a: {_delete_: false, c: 3}, new: {_delete_: true, k: 1}}\n"));
  const ConfigNode& oc = cfg.at("optimizer_config");
  EXPECT_EQ(oc.find("extra"), nullptr);
  EXPECT_EQ(oc.at("grad_clip").at("max_norm").as_int(), 35);
  EXPECT_EQ(oc.find("_delete_"), nullptr);
  EXPECT_EQ(cfg.at("model").at("a").at("b").as_int(), 1);  // _delete_: false merges
  EXPECT_EQ(cfg.at("model").at("a").find("_delete_"), nullptr);
  EXPECT_EQ(cfg.at("model").at("new").find("_delete_"), nullptr);  // stripped even without base
}

TEST_F(BaseInheritance, DictOverListNeedsDeleteWithMmdetMessage) {
  write("base.yaml", "model:\n  roi_head:\n    bbox_head: [{type: A}, {type: B}]\n");
  const std::string leaf = write(
      "leaf.yaml", "_base_: base.yaml\nmodel:\n  roi_head:\n    bbox_head: {num_classes: 1}\n");
  expect_config_error([&] { load_config(leaf); },
                      {"leaf.yaml:4:", "model.roi_head.bbox_head",
                       "is a dict in the child config but is of type list in the base config",
                       "base.yaml:3:", "_delete_"});
  // With _delete_ it works.
  const ConfigNode cfg = load_config(write(
      "leaf2.yaml",
      "_base_: base.yaml\nmodel:\n  roi_head:\n    bbox_head: {_delete_: true, num_classes: 1}\n"));
  EXPECT_EQ(cfg.at("model").at("roi_head").at("bbox_head").at("num_classes").as_int(), 1);
}

TEST_F(BaseInheritance, SiblingBasesMustHaveDisjointKeys) {
  write("a.yaml", "model: {x: 1}\n");
  write("b.yaml", "model: {y: 1}\n");
  expect_config_error([&] { load_config(write("c.yaml", "_base_: [a.yaml, b.yaml]\n")); },
                      {"duplicate key 'model'", "a.yaml", "b.yaml"});
}

TEST_F(BaseInheritance, CycleIsAnError) {
  write("a.yaml", "_base_: b.yaml\n");
  write("b.yaml", "_base_: a.yaml\n");
  expect_config_error([&] { load_config(dir.file("a.yaml")); }, {"cycle in _base_", "a.yaml"});
}

TEST_F(BaseInheritance, MissingBaseNamesTheDeclaringLine) {
  const std::string leaf = write("leaf.yaml", "x: 1\n_base_: [../nowhere/base.yaml]\n");
  expect_config_error([&] { load_config(leaf); },
                      {"leaf.yaml:2:", "base file '../nowhere/base.yaml' not found"});
}

TEST_F(BaseInheritance, PluginPathsAreRelativeToTheDeclaringFile) {
  write("sub/base.yaml", "plugins: [../build/libdetkit-x.so]\n");
  const ConfigNode cfg = load_config(write("leaf.yaml", "_base_: sub/base.yaml\n"));
  const auto paths = config_plugin_paths(cfg);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0], dir.path() + "/build/libdetkit-x.so");
}

TEST(CfgOptions, SetsNestedKeysListElementsAndTypedValues) {
  ConfigNode cfg = parse_yaml_text(
      "optimizer: {lr: 0.02}\ndata:\n  train:\n    pipeline: [{type: A}, {type: B}]\n", "c.yaml");
  apply_cfg_option(cfg, "optimizer.lr=0.01");
  apply_cfg_option(cfg, "data.train.pipeline.1.type=LoadImageFromWebcam");
  apply_cfg_option(cfg, "workflow=[[train, 1], [val, 1]]");
  apply_cfg_option(cfg, "runner.max_epochs=3");
  apply_cfg_option(cfg, "model.flag=true");
  apply_cfg_option(cfg, "work_dir=out dir");
  EXPECT_DOUBLE_EQ(cfg.at("optimizer").at("lr").as_double(), 0.01);
  EXPECT_EQ(cfg.at("data").at("train").at("pipeline").items()[1].at("type").as_string(),
            "LoadImageFromWebcam");
  EXPECT_EQ(cfg.at("workflow").items()[1].items()[0].as_string(), "val");
  EXPECT_EQ(cfg.at("runner").at("max_epochs").as_int(), 3);
  EXPECT_TRUE(cfg.at("model").at("flag").as_bool());
  EXPECT_EQ(cfg.at("work_dir").as_string(), "out dir");
  EXPECT_EQ(cfg.at("optimizer").at("lr").mark().str(), "--cfg-options");
}

TEST(CfgOptions, BadSyntaxIsAClearError) {
  ConfigNode cfg = parse_yaml_text("a: [1, 2]\nb: 3\n", "c.yaml");
  expect_config_error([&] { apply_cfg_option(cfg, "a.b"); }, {"expected KEY=VALUE"});
  expect_config_error([&] { apply_cfg_option(cfg, "=1"); }, {"expected KEY=VALUE"});
  expect_config_error([&] { apply_cfg_option(cfg, "a..b=1"); }, {"empty key segment"});
  expect_config_error([&] { apply_cfg_option(cfg, "a.5=1"); }, {"out of range"});
  expect_config_error([&] { apply_cfg_option(cfg, "a.x=1"); }, {"is a list"});
  expect_config_error([&] { apply_cfg_option(cfg, "b.c=1"); },
                      {"b is int, not a map", "no key 'c'"});
  expect_config_error([&] { apply_cfg_option(cfg, "c=[1, 2"); }, {"not valid YAML"});
}

TEST(ConfigPrinter, ShowsEveryValueWithItsSource) {
  TempDir dir;
  write_file(dir.file("base.yaml"),
             "model:\n  type: M\n  sizes: [1, 2]\nlist: [{type: A, k: 1}]\n");
  write_file(dir.file("leaf.yaml"), "_base_: base.yaml\nmodel: {type: N}\n");
  ConfigNode cfg = load_config(dir.file("leaf.yaml"), {"model.extra=5"});
  const std::string text = format_config(cfg, true);
  EXPECT_NE(text.find("  type: N"), std::string::npos) << text;
  EXPECT_NE(text.find("leaf.yaml:2:"), std::string::npos) << text;
  EXPECT_NE(text.find("sizes: [1, 2]"), std::string::npos) << text;
  EXPECT_NE(text.find("base.yaml:3:"), std::string::npos) << text;
  EXPECT_NE(text.find("extra: 5"), std::string::npos) << text;
  EXPECT_NE(text.find("# --cfg-options"), std::string::npos) << text;
  EXPECT_NE(text.find("  - type: A"), std::string::npos) << text;
  // Without sources, the output is YAML that parses back to the same config.
  const ConfigNode reparsed = parse_yaml_text(format_config(cfg, false), "printed");
  EXPECT_EQ(reparsed, cfg);
}

}  // namespace
}  // namespace detkit

namespace detkit {
namespace {

TEST(YamlReader, MergeKeysFillMissingKeys) {
  const ConfigNode node = parse_yaml_text(
      "norm: &norm {mean: [1, 2], to_rgb: true}\n"
      "a: {type: Normalize, to_rgb: false, <<: *norm}\n"
      "b: {<<: [*norm, {extra: 1}]}\n",
      "m.yaml");
  const ConfigNode& a = node.at("a");
  EXPECT_EQ(a.at("type").as_string(), "Normalize");
  EXPECT_FALSE(a.at("to_rgb").as_bool());  // explicit keys win over merged ones
  EXPECT_EQ(a.at("mean").size(), 2u);
  EXPECT_EQ(a.find("<<"), nullptr);
  EXPECT_EQ(node.at("b").at("extra").as_int(), 1);
  EXPECT_THROW(parse_yaml_text("a: {<<: 3}\n", "bad.yaml"), ConfigError);
}

}  // namespace
}  // namespace detkit

namespace detkit {
namespace {

TEST(BaseInheritanceVariables, UnderscoreKeysAreFileLocalVariables) {
  testing::TempDir dir;
  testing::write_file(dir.file("a.yaml"), "_norm: &n {mean: 1}\nx: {<<: *n, k: 1}\n");
  testing::write_file(dir.file("b.yaml"), "_norm: &n {mean: 2}\ny: {<<: *n}\n");
  testing::write_file(dir.file("c.yaml"), "_base_: [a.yaml, b.yaml]\n_mine: 3\n");
  const ConfigNode cfg = load_config(dir.file("c.yaml"));  // no duplicate-key error for _norm
  EXPECT_EQ(cfg.find("_norm"), nullptr);
  EXPECT_EQ(cfg.find("_mine"), nullptr);
  EXPECT_EQ(cfg.at("x").at("mean").as_int(), 1);
  EXPECT_EQ(cfg.at("y").at("mean").as_int(), 2);
}

}  // namespace
}  // namespace detkit
