// The SDK contract: kinds, typed build contexts, parameters declared once, schema forms.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <utility>

#include "detkit/core/config.h"
#include "detkit/core/config_check.h"
#include "detkit/core/runtime.h"
#include "detkit/modeling/loss.h"
#include "detkit/modeling/neck.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

using namespace detkit::testing;

// ---------------------------------------------------------------- kinds

template <uint32_t... I>
constexpr bool every_kind_has_traits(std::integer_sequence<uint32_t, I...>) {
  // Instantiating KindTraits<K>::Base for a kind without an entry fails to compile.
  return (std::is_class_v<typename KindTraits<static_cast<Kind>(I)>::Context> && ...);
}
static_assert(every_kind_has_traits(std::make_integer_sequence<uint32_t, kKindCount>()),
              "every kind has a base class and a build context");

TEST(Kinds, NamesAreUniqueAndRoundTrip) {
  std::set<std::string> names;
  for (Kind kind : all_kinds()) {
    const std::string name = kind_name(kind);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(kind_from_name(name), kind);
  }
  EXPECT_EQ(all_kinds().size(), kKindCount);
  // The heads MMDetection keeps in one HEADS registry are separate kinds here.
  for (const char* name : {"dense_head", "roi_head", "bbox_head", "mask_head", "norm_layer",
                           "conv_layer", "activation_layer", "upsample_layer", "iou_calculator",
                           "runner", "optimizer_constructor"}) {
    EXPECT_TRUE(kind_from_name(name).has_value()) << name;
  }
}

TEST(Kinds, UnknownKindNumberIsAnErrorNotACrash) {
  const Kind bogus = static_cast<Kind>(kKindCount + 40);
  EXPECT_THROW(Registry::of(bogus), PluginError);
  EXPECT_EQ(std::string(kind_name(bogus)), "unknown kind " + std::to_string(kKindCount + 40));
  EXPECT_FALSE(kind_is_module(bogus));
}

// ------------------------------------------------- a component declared once

/// Nested options (like optimizer_config.grad_clip).
struct ClipOptions {
  TORCH_ARG(double, max_norm) = 35.0;
  TORCH_ARG(double, norm_type) = 2.0;

 public:
  template <class P>
  void declare(P& p) {
    DETKIT_PARAM(p, max_norm, "largest norm").greater_than(0);
    DETKIT_PARAM(p, norm_type, "p of the norm").greater_than(0);
  }
};

/// A neck whose options use every declaration form.
struct ContractNeckOptions {
  TORCH_ARG(std::optional<std::vector<int64_t>>, in_channels) = std::nullopt;
  TORCH_ARG(int64_t, out_channels) = 8;
  TORCH_ARG(double, beta) = 1.0;
  TORCH_ARG(std::vector<bool>, stage_with_dcn) = std::vector<bool>({false, true});
  TORCH_ARG(std::vector<std::vector<int64_t>>, img_scale) =
      std::vector<std::vector<int64_t>>({{1333, 800}});
  TORCH_ARG(ConfigNode, add_extra_convs) = ConfigNode(false);
  TORCH_ARG(ClipOptions, clip) = {};
  TORCH_ARG(ConfigNode, loss) = ConfigNode();

 public:
  template <class P>
  void declare(P& p) {
    p.summary("A test neck.");
    DETKIT_PARAM(p, in_channels, "input channels (from the backbone when absent)");
    DETKIT_PARAM(p, out_channels, "output channels").min(1);
    DETKIT_PARAM(p, beta, "an exclusive bound").greater_than(0);
    DETKIT_PARAM(p, stage_with_dcn, "a list of bools");
    DETKIT_PARAM(p, img_scale, "pairs").each([] {
      ParamSpec pair = param_spec_of<std::vector<int64_t>>();
      pair.length = 2;
      pair.min = 1;
      return pair;
    }());
    ParamSpec mode = param_spec_of<std::string>();
    mode.choices = {"on_input", "on_lateral", "on_output"};
    ParamSpec flag = param_spec_of<bool>();
    DETKIT_PARAM(p, add_extra_convs, "bool or where").or_one_of({flag, mode});
    DETKIT_NESTED(p, clip, "clipping");
    DETKIT_COMPONENT(p, loss, loss, "an optional loss").nullable();
  }
};

class ContractNeckImpl : public NeckBase {
 public:
  using Options = ContractNeckOptions;
  ContractNeckImpl(const Options& options_, std::vector<ShapeSpec> inputs)
      : options(options_), inputs_(std::move(inputs)) {
    check_options(options, "ContractNeck");
  }
  static std::shared_ptr<ContractNeckImpl> create(const ComponentConfig& cfg,
                                                  const NeckContext& context) {
    auto options = options_from<Options>(cfg);
    Known<std::vector<int64_t>> known;
    if (!context.input_shapes.empty()) {
      std::vector<int64_t> channels;
      for (const auto& shape : context.input_shapes)
        channels.push_back(shape.channels);
      known = Known<std::vector<int64_t>>(channels, context.input_origin);
    }
    if (known && cfg.is_set("in_channels")) {
      const auto given = cfg.get<std::vector<int64_t>>("in_channels");
      if (given != *known.value) cfg.disagree("in_channels", ConfigValue<std::vector<int64_t>>::to(*known.value), known.origin);
    }
    return std::make_shared<ContractNeckImpl>(options, context.input_shapes);
  }
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features) override {
    return features;
  }
  std::vector<ShapeSpec> output_shapes() const override { return inputs_; }
  Options options;

 private:
  std::vector<ShapeSpec> inputs_;
};
TORCH_MODULE(ContractNeck);

void register_contract_components() {
  static bool done = false;
  if (done) return;
  done = true;
  initialize_runtime();
  ComponentInfo info = detail::describe<Kind::neck, ContractNeckImpl>("ContractNeck");
  info.origin = "sdk_contract_test";
  Registry::of(Kind::neck).add(std::move(info));
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ParamsDeclaredOnce, SchemaComesFromTheDeclaration) {
  register_contract_components();
  const Schema& schema = Registry::of(Kind::neck).get("ContractNeck").schema;
  EXPECT_EQ(schema.summary(), "A test neck.");
  ASSERT_NE(schema.find("beta"), nullptr);
  EXPECT_EQ(schema.find("beta")->constraint_text(), "> 0");
  EXPECT_EQ(schema.find("out_channels")->default_value, ConfigNode(int64_t{8}));
  EXPECT_EQ(schema.find("stage_with_dcn")->type_text(), "list[bool]");
  EXPECT_EQ(schema.find("img_scale")->type_text(), "list[list[int](len 2)]");
  EXPECT_EQ(schema.find("add_extra_convs")->type_text(),
            "bool|one of on_input|on_lateral|on_output");
  ASSERT_EQ(schema.find("clip")->type, ParamType::nested);
  EXPECT_EQ(schema.find("clip")->nested->find("max_norm")->default_value, ConfigNode(35.0));
  EXPECT_EQ(schema.find("loss")->kind, Kind::loss);
}

TEST(ParamsDeclaredOnce, ConfigIsReadIntoTheOptions) {
  register_contract_components();
  const ConfigNode cfg = parse_yaml_text(
      "{type: ContractNeck, out_channels: 4, stage_with_dcn: [true], img_scale: [[2, 3], [4, "
      "5]], add_extra_convs: on_output, clip: {max_norm: 10}}",
      "neck.yaml");
  auto neck = build<NeckBase>(cfg, "model.neck");
  auto* self = dynamic_cast<ContractNeckImpl*>(neck.get());
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->options.out_channels(), 4);
  EXPECT_EQ(self->options.stage_with_dcn(), std::vector<bool>({true}));
  EXPECT_EQ(self->options.img_scale(), std::vector<std::vector<int64_t>>({{2, 3}, {4, 5}}));
  EXPECT_EQ(self->options.add_extra_convs(), ConfigNode("on_output"));
  EXPECT_EQ(self->options.clip().max_norm(), 10.0);
  EXPECT_EQ(self->options.clip().norm_type(), 2.0);  // the nested default
  EXPECT_EQ(repr_of("ContractNeck", self->options).substr(0, 45),
            "ContractNeck(in_channels=null, out_channels=4");
}

TEST(ParamsDeclaredOnce, EveryFormIsValidatedWithItsLocation) {
  register_contract_components();
  auto check = [](const std::string& yaml) {
    return error_of([&] { build<NeckBase>(parse_yaml_text(yaml, "n.yaml"), "model.neck"); });
  };
  EXPECT_NE(check("{type: ContractNeck, beta: 0}").find("n.yaml:1:28: model.neck.beta: value 0 "
                                                        "is out of range: must be > 0"),
            std::string::npos)
      << check("{type: ContractNeck, beta: 0}");
  EXPECT_NE(check("{type: ContractNeck, stage_with_dcn: [1]}").find("elements of type bool"),
            std::string::npos);
  EXPECT_NE(check("{type: ContractNeck, img_scale: [[1, 2, 3]]}")
                .find("model.neck.img_scale.0: expected 2 elements, got 3"),
            std::string::npos);
  EXPECT_NE(check("{type: ContractNeck, add_extra_convs: on_inptu}")
                .find("model.neck.add_extra_convs: expected"),
            std::string::npos)
      << check("{type: ContractNeck, add_extra_convs: on_inptu}");
  EXPECT_NE(check("{type: ContractNeck, clip: {max_norm: 1, nrom_type: 2}}")
                .find("model.neck.clip.nrom_type: unknown parameter 'nrom_type' of clip; did you "
                      "mean 'norm_type'?"),
            std::string::npos);
  EXPECT_NE(check("{type: ContractNeck, clip: {max_norm: -1}}")
                .find("model.neck.clip.max_norm: value -1 is out of range"),
            std::string::npos);
}

TEST(ParamsDeclaredOnce, OptionsBuiltInCxxAreCheckedAgainstTheSameDeclaration) {
  ContractNeckOptions options;
  options.beta(-1.0);
  try {
    ContractNeckImpl neck(options, {});
    FAIL() << "accepted beta -1";
  } catch (const InvalidParameter& e) {
    EXPECT_EQ(e.param(), "beta");
    EXPECT_NE(std::string(e.what()).find("ContractNeck: beta: value -1.0 is out of range"),
              std::string::npos)
        << e.what();
  }
}

// ------------------------------------------------------------ build contexts

TEST(BuildContext, NeckReceivesTheBackboneShapes) {
  register_contract_components();
  NeckContext context{{{64, 4}, {128, 8}}, "backbone ResNet (model.backbone)"};
  auto neck = build<NeckBase>(parse_yaml_text("{type: ContractNeck}", "n.yaml"), "model.neck",
                              context);
  ASSERT_EQ(neck->output_shapes().size(), 2u);
  EXPECT_EQ(neck->output_shapes()[1].channels, 128);
}

TEST(BuildContext, DisagreementNamesBothValuesAndOrigins) {
  register_contract_components();
  NeckContext context{{{64, 4}, {128, 8}}, "backbone ResNet (model.backbone)"};
  const std::string message = error_of([&] {
    build<NeckBase>(parse_yaml_text("{type: ContractNeck,\n in_channels: [64, 256]}", "n.yaml"),
                    "model.neck", context);
  });
  EXPECT_NE(message.find("n.yaml:2:15: model.neck.in_channels: in_channels = [64, 256] here "
                         "disagrees with [64, 128] from backbone ResNet (model.backbone)"),
            std::string::npos)
      << message;
}

TEST(BuildContext, AgreeTakesTheKnownValueWhenTheConfigIsSilent) {
  register_contract_components();
  const ComponentConfig cfg = validate_component(
      Kind::neck, parse_yaml_text("{type: ContractNeck}", "n.yaml"), "model.neck");
  EXPECT_EQ(cfg.agree<int64_t>("out_channels", Known<int64_t>(256, "the head")), 256);
  EXPECT_EQ(cfg.agree<int64_t>("out_channels", Known<int64_t>()), 8);
  const ComponentConfig set = validate_component(
      Kind::neck, parse_yaml_text("{type: ContractNeck, out_channels: 16}", "n.yaml"),
      "model.neck");
  EXPECT_THROW(set.agree<int64_t>("out_channels", Known<int64_t>(256, "the head")), ConfigError);
  EXPECT_EQ(set.agree<int64_t>("out_channels", Known<int64_t>(16, "the head")), 16);
}

TEST(BuildContext, BuiltTypeIsCheckedAtRunTime) {
  BuiltComponent built{std::make_shared<int>(1), &typeid(LossBase), "Fake"};
  EXPECT_NO_THROW(check_built_type(built, Kind::loss, typeid(LossBase)));
  EXPECT_THROW(check_built_type(built, Kind::neck, typeid(NeckBase)), Error);
  built.base_type = nullptr;
  EXPECT_THROW(check_built_type(built, Kind::loss, typeid(LossBase)), Error);
}

// ---------------------------------------------------------------- type keys

TEST(TypeKey, MapsPolicyNamesAsMmcv) {
  const TypeKey lr{"policy", "LrUpdaterHook", true, {}};
  EXPECT_EQ(lr.resolve("step"), "StepLrUpdaterHook");
  EXPECT_EQ(lr.resolve("CosineAnnealing"), "CosineAnnealingLrUpdaterHook");
  EXPECT_EQ(lr.resolve("fixed"), "FixedLrUpdaterHook");
  const TypeKey momentum{"policy", "MomentumUpdaterHook", true, {}};
  EXPECT_EQ(momentum.resolve("cyclic"), "CyclicMomentumUpdaterHook");
  EXPECT_EQ(TypeKey{}.resolve("FocalLoss"), "FocalLoss");
}

// --------------------------------------------------------------- config check

TEST(ConfigCheckSections, EverySectionIsValidatedOrReportedUnchecked) {
  register_contract_components();
  const ConfigNode cfg = parse_yaml_text(
      "optimizer_config: {grad_clip: {max_norm: 0, norm_type: 2}}\n"
      "workflow: [[train, 1], [vall, 1]]\n"
      "log_config: {interval: 0, hooks: []}\n"
      "lr_config: {policy: step, step: [8, 11]}\n"
      "data: {train_dataloader: {samples_per_gpu: 0}}\n"
      "model: {type: RetinaNet, neck: {type: ContractNeck, beta: -2}}\n",
      "cfg.yaml");
  const ConfigCheckResult result = check_config(cfg);
  std::string all;
  for (const auto& e : result.errors)
    all += e + "\n";
  EXPECT_NE(all.find("cfg.yaml:1:42: optimizer_config.grad_clip.max_norm: value 0 is out of range"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("workflow.1.0: 'vall' is not allowed: one of train|val"), std::string::npos)
      << all;
  EXPECT_NE(all.find("log_config.interval: value 0"), std::string::npos) << all;
  EXPECT_NE(all.find("data.train_dataloader.samples_per_gpu"), std::string::npos) << all;
  EXPECT_NE(all.find("model.neck.beta: value -2 is out of range"), std::string::npos) << all;
  std::string notes;
  for (const auto& n : result.unchecked)
    notes += n + "\n";
  EXPECT_NE(notes.find("lr_config: not checked: no scheduler type is registered yet (load a "
                       "plugin that provides 'StepLrUpdaterHook')"),
            std::string::npos)
      << notes;
  EXPECT_NE(notes.find("model: not checked as a whole: no detector type is registered"),
            std::string::npos)
      << notes;
}

}  // namespace
}  // namespace detkit
