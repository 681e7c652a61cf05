// Validation of component configs against schemas, and `config check` of whole configs.
#include <gtest/gtest.h>

#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/core/runtime.h"
#include "detkit/core/validate.h"
#include "detkit/modeling/loss.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

/// A loss registered by the test itself, with one parameter of every type.
class SchemaTestLoss : public LossBase {
 public:
  explicit SchemaTestLoss(double scale) : scale(scale) {}
  torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                        const torch::Tensor& weight, std::optional<double> avg_factor,
                        std::optional<Reduction>) override {
    return weight_reduce_loss((pred - target).abs(), weight, Reduction::mean, avg_factor) * scale;
  }
  double scale;
};

void register_test_components() {
  static bool done = false;
  if (done) return;
  done = true;
  initialize_runtime();
  ComponentInfo info;
  info.kind = Kind::loss;
  info.type = "SchemaTestLoss";
  info.origin = "config_validation_test";
  info.schema = Schema("test loss")
                    .required<int64_t>("num_classes", "number of classes")
                    .min(1)
                    .add<double>("scale", 1.0, "multiplier")
                    .range(0.0, 10.0)
                    .add<std::string>("reduction", "mean", "reduction")
                    .choices({"none", "mean", "sum"})
                    .add<std::vector<int64_t>>("sizes", std::vector<int64_t>{1, 2}, "two sizes")
                    .length(2)
                    .add<std::optional<std::vector<double>>>("class_weight", std::nullopt, "w")
                    .component("inner", Kind::loss, ConfigNode(), "nested loss");
  info.base_type = &typeid(LossBase);
  info.factory = [](const ComponentConfig& cfg, const void*) -> std::shared_ptr<void> {
    if (cfg.get<int64_t>("num_classes") == 13) cfg.fail("num_classes", "13 is not allowed");
    return std::static_pointer_cast<LossBase>(
        std::make_shared<SchemaTestLoss>(cfg.get<double>("scale")));
  };
  Registry::of(Kind::loss).add(info);
}

std::string validation_error(const std::string& yaml) {
  register_test_components();
  const ConfigNode cfg = parse_yaml_text(yaml, "test.yaml");
  try {
    validate_component(Kind::loss, cfg, "model.loss");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Validation, ValidConfigGetsDefaultsAndTypedValues) {
  register_test_components();
  const ConfigNode cfg = parse_yaml_text("{type: SchemaTestLoss, num_classes: 3, scale: 2}", "t");
  const ComponentConfig view = validate_component(Kind::loss, cfg, "loss");
  EXPECT_EQ(view.type(), "SchemaTestLoss");
  EXPECT_EQ(view.get<int64_t>("num_classes"), 3);
  EXPECT_DOUBLE_EQ(view.get<double>("scale"), 2.0);  // an int where a float is declared
  EXPECT_EQ(view.get<std::string>("reduction"), "mean");
  EXPECT_EQ(view.get<std::vector<int64_t>>("sizes"), (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(view.get<std::optional<std::vector<double>>>("class_weight").has_value());
  EXPECT_EQ(view.node("reduction").mark().origin, "default");
  auto loss = build<LossBase>(cfg, "loss");
  auto* typed = dynamic_cast<SchemaTestLoss*>(loss.get());
  ASSERT_NE(typed, nullptr);
  EXPECT_DOUBLE_EQ(typed->scale, 2.0);
}

TEST(Validation, UnknownTypeSuggestsTheClosestName) {
  const std::string error = validation_error("{type: SchemaTestLos, num_classes: 1}");
  EXPECT_NE(error.find("test.yaml:1:8"), std::string::npos) << error;
  EXPECT_NE(error.find("model.loss.type"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown loss type 'SchemaTestLos'"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean 'SchemaTestLoss'"), std::string::npos) << error;
  EXPECT_NE(error.find("known loss types:"), std::string::npos) << error;
}

TEST(Validation, UnknownParameterSuggestsAndListsParameters) {
  const std::string error = validation_error("type: SchemaTestLoss\nnum_classes: 1\nscael: 2\n");
  EXPECT_NE(error.find("test.yaml:3:1"), std::string::npos) << error;
  EXPECT_NE(error.find("model.loss.scael"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean 'scale'"), std::string::npos) << error;
  EXPECT_NE(error.find("num_classes, scale, reduction"), std::string::npos) << error;
}

TEST(Validation, WrongTypeNamesExpectedAndFound) {
  const std::string error = validation_error("{type: SchemaTestLoss, num_classes: 1, scale: big}");
  EXPECT_NE(error.find("model.loss.scale: expected float, got string big"), std::string::npos)
      << error;
  EXPECT_NE(validation_error("{type: SchemaTestLoss, num_classes: 1.5}").find("expected int"),
            std::string::npos);
  EXPECT_NE(validation_error("{type: SchemaTestLoss, num_classes: 1, sizes: [1, x]}")
                .find("model.loss.sizes.1"),
            std::string::npos);
}

TEST(Validation, MissingRequiredParameter) {
  const std::string error = validation_error("{type: SchemaTestLoss}");
  EXPECT_NE(error.find("requires parameter 'num_classes' (int): number of classes"),
            std::string::npos)
      << error;
}

TEST(Validation, RangeChoicesAndLength) {
  EXPECT_NE(
      validation_error("{type: SchemaTestLoss, num_classes: 1, scale: 11}").find("in [0, 10]"),
      std::string::npos);
  EXPECT_NE(validation_error("{type: SchemaTestLoss, num_classes: 0}").find(">= 1"),
            std::string::npos);
  const std::string choice =
      validation_error("{type: SchemaTestLoss, num_classes: 1, reduction: meen}");
  EXPECT_NE(choice.find("one of none|mean|sum"), std::string::npos) << choice;
  EXPECT_NE(choice.find("did you mean 'mean'"), std::string::npos) << choice;
  EXPECT_NE(validation_error("{type: SchemaTestLoss, num_classes: 1, sizes: [1]}")
                .find("expected 2 elements"),
            std::string::npos);
}

TEST(Validation, NestedComponentsAreValidatedWithTheirPath) {
  const std::string error = validation_error(
      "{type: SchemaTestLoss, num_classes: 1, inner: {type: SchemaTestLoss, num_classes: 1, "
      "bogus: 1}}");
  EXPECT_NE(error.find("model.loss.inner.bogus"), std::string::npos) << error;
}

TEST(Validation, AllErrorsAreReportedAtOnce) {
  const std::string error =
      validation_error("{type: SchemaTestLoss, scale: -1, reduction: x, typo: 1}");
  EXPECT_NE(error.find("4 config errors"), std::string::npos) << error;
}

TEST(Validation, MissingTypeAndNonMap) {
  EXPECT_NE(validation_error("{num_classes: 1}").find("missing 'type'"), std::string::npos);
  EXPECT_NE(validation_error("[1, 2]").find("expected a loss config"), std::string::npos);
}

TEST(Validation, FactoryChecksAreLocated) {
  register_test_components();
  const ConfigNode cfg = parse_yaml_text("type: SchemaTestLoss\nnum_classes: 13\n", "f.yaml");
  try {
    build<LossBase>(cfg, "model.loss");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("f.yaml:2:14: model.loss.num_classes: 13 is not allowed"),
              std::string::npos)
        << e.what();
  }
}

TEST(ConfigCheck, UnknownTopLevelKeySuggests) {
  register_test_components();
  const ConfigNode cfg = parse_yaml_text("optimzer: {type: SGD}\n_my_var: 3\n", "top.yaml");
  const auto errors = check_config(cfg).errors;
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("top.yaml:1:1: optimzer: unknown key 'optimzer' in the config; did you "
                           "mean 'optimizer'?"),
            std::string::npos)
      << errors[0];
}

TEST(ConfigCheck, DataSectionAndComponentKindsAreChecked) {
  register_test_components();
  const ConfigNode cfg = parse_yaml_text(
      "data: {samples_per_gpu: 0, trian: {}}\ncustom_hooks: [{type: SchemaTestLoss}]\n", "d.yaml");
  const auto errors = check_config(cfg).errors;
  std::string all;
  for (const auto& e : errors)
    all += e + "\n";
  EXPECT_NE(all.find("data.samples_per_gpu"), std::string::npos) << all;
  EXPECT_NE(all.find("did you mean 'train'"), std::string::npos) << all;
  EXPECT_NE(all.find("'SchemaTestLoss' is a loss, but a hook is expected"), std::string::npos)
      << all;
}

}  // namespace
}  // namespace detkit
