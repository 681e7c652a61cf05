// The behaviour of init_cfg and init_weights() beyond the reference cases: the statistics of
// the random initializers, the second-call warning, Pretrained's early return, errors with
// actionable messages, class-name matching of LibTorch's own layers, containers, user-defined
// init_weights, an initializer added from outside libdetkit, and the registry attaching a
// config's init_cfg to the component it builds.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "detkit/error.h"
#include "detkit/modeling/backbone.h"
#include "detkit/registry.h"
#include "init_test_utils.h"

namespace detkit::testing {
namespace {

class InitSemantics : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

/// The weight of a fresh registry conv after `init_cfg` (seeded).
torch::Tensor init_conv(int64_t in, int64_t out, int64_t k, const std::string& init_cfg) {
  auto conv = conv2d(in, out, k);
  torch::manual_seed(0);
  initialize(*conv, yaml(init_cfg));
  return conv->named_parameters()["weight"];
}

TEST_F(InitSemantics, KaimingUsesMmcvDefaultsFanOutReluNormal) {
  const torch::Tensor w = init_conv(64, 128, 3, "{type: Kaiming, layer: Conv2d}");
  const double expected = std::sqrt(2.0 / (128 * 9));  // fan_out, gain sqrt(2)
  EXPECT_NEAR(w.std().item<double>(), expected, 0.03 * expected);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.05 * expected);
  const torch::Tensor fan_in =
      init_conv(64, 128, 3, "{type: Kaiming, layer: Conv2d, mode: fan_in}");
  EXPECT_NEAR(fan_in.std().item<double>(), std::sqrt(2.0 / (64 * 9)), 0.03 * std::sqrt(2.0 / 576));
}

TEST_F(InitSemantics, UniformFamiliesStayInsideTheirBounds) {
  const torch::Tensor xavier =
      init_conv(32, 64, 3, "{type: Xavier, layer: Conv2d, distribution: uniform, gain: 2}");
  const double xavier_bound = 2 * std::sqrt(6.0 / (32 * 9 + 64 * 9));
  EXPECT_LE(xavier.abs().max().item<double>(), xavier_bound);
  EXPECT_GT(xavier.abs().max().item<double>(), 0.95 * xavier_bound);
  // Caffe2Xavier: kaiming_uniform(a=1, fan_in, leaky_relu): bound sqrt(3 / fan_in).
  const torch::Tensor caffe2 = init_conv(32, 64, 3, "{type: Caffe2Xavier, layer: Conv2d}");
  EXPECT_LE(caffe2.abs().max().item<double>(), std::sqrt(3.0 / (32 * 9)));
  EXPECT_GT(caffe2.abs().max().item<double>(), 0.95 * std::sqrt(3.0 / (32 * 9)));
  const torch::Tensor trunc =
      init_conv(32, 64, 3, "{type: TruncNormal, layer: Conv2d, std: 1.0, a: -0.5, b: 0.25}");
  EXPECT_GE(trunc.min().item<double>(), -0.5);
  EXPECT_LE(trunc.max().item<double>(), 0.25);
}

TEST_F(InitSemantics, TruncNormalWarnsWhenTheMeanIsFarOutside) {
  MessageCapture capture;
  init_conv(2, 2, 1, "{type: TruncNormal, layer: Conv2d, mean: 5, std: 1, a: -1, b: 1}");
  ASSERT_EQ(capture.warnings.size(), 1u);
  EXPECT_NE(capture.warnings[0].find("mean is more than 2 std from [a, b]"), std::string::npos);
}

TEST_F(InitSemantics, SecondCallWarnsAndChangesNothing) {
  Toy toy(yaml("{type: Normal, layer: [Conv2d, Linear], std: 0.1}"));
  init_weights(*toy);
  EXPECT_TRUE(toy->is_init());
  const torch::Tensor after_first = flat_parameters(*toy).clone();
  MessageCapture capture;
  init_weights(*toy);
  ASSERT_EQ(capture.warnings.size(), 1u);
  EXPECT_EQ(capture.warnings[0], "init_weights of Toy has been called more than once.");
  EXPECT_TRUE(torch::equal(flat_parameters(*toy), after_first));
}

TEST_F(InitSemantics, AChildInitialisedFirstWarnsWhenItsParentRuns) {
  Toy toy(ConfigNode(), yaml("{type: Constant, layer: Conv2d, val: 2}"));
  toy->head->init_weights();
  MessageCapture capture;
  const InitLog log = init_weights(*toy);
  ASSERT_EQ(capture.warnings.size(), 1u);
  EXPECT_EQ(capture.warnings[0], "init_weights of Head has been called more than once.");
  // The head changed before the top-level call began: the top-level log sees no change.
  for (const auto& record : log) {
    EXPECT_EQ(record.info, "The value is the same before and after calling `init_weights` of Toy ")
        << record.name;
  }
}

TEST_F(InitSemantics, PretrainedDictReturnsBeforeTheChildren) {
  TempDir dir;
  const std::string checkpoint = dir.file("toy.pt");
  {
    Toy source;
    torch::NoGradGuard no_grad;
    for (auto& p : source->parameters())
      p.fill_(0.5);
    torch::save(source, checkpoint);
  }
  Toy toy(yaml("{type: Pretrained, checkpoint: '" + checkpoint + "'}"),
          yaml("{type: Constant, layer: Conv2d, val: 9}"));
  MessageCapture capture;
  const InitLog log = init_weights(*toy);
  // The head's own init_cfg did not run: its weights are the checkpoint's.
  EXPECT_TRUE(torch::all(toy->head->cls->named_parameters()["weight"] == 0.5).item<bool>());
  EXPECT_FALSE(toy->is_init());
  EXPECT_FALSE(toy->head->is_init());
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].info, "PretrainedInit: load from " + checkpoint);
  ASSERT_GE(capture.info.size(), 2u);
  EXPECT_EQ(capture.info[1], "load model from: " + checkpoint);

  // In a list, Pretrained does not return early: the children run after it.
  Toy listed(yaml("[{type: Pretrained, checkpoint: '" + checkpoint + "'}]"),
             yaml("{type: Constant, layer: Conv2d, val: 9}"));
  init_weights(*listed);
  EXPECT_TRUE(torch::all(listed->head->cls->named_parameters()["weight"] == 9).item<bool>());
  EXPECT_TRUE(listed->is_init());
}

/// The ConfigError message init_cfg `text` raises on the Toy model.
std::string init_error(const std::string& text) {
  Toy toy(yaml(text));
  try {
    init_weights(*toy);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no ConfigError";
}

TEST_F(InitSemantics, MalformedInitCfgsAreConfigErrors) {
  EXPECT_NE(init_error("{type: Normal, override: {std: 0.1}}")
                .find("`override` must contain the key \"name\""),
            std::string::npos);
  EXPECT_NE(init_error("{type: Normal, override: {name: fc, std: 0.1}}")
                .find("`override` need \"type\" key, but got {'std': 0.1}"),
            std::string::npos);
  const std::string missing = init_error("{type: Normal, override: {name: fcc}}");
  EXPECT_NE(missing.find("module did not have attribute fcc"), std::string::npos) << missing;
  EXPECT_NE(missing.find("stem, bn, blocks, head, fc"), std::string::npos) << missing;
  EXPECT_NE(missing.find("did you mean 'fc'"), std::string::npos) << missing;
  EXPECT_NE(init_error("3").find("init_cfg must be a dict or a list of dict, but got 3"),
            std::string::npos);
  EXPECT_NE(init_error("{type: Kaimingg}").find("Kaiming"), std::string::npos);
  EXPECT_NE(init_error("{type: Pretrained, checkpoint: x.pth, layer: Conv2d}")
                .find("unknown parameter 'layer'"),
            std::string::npos);
  EXPECT_NE(init_error("{type: Normal, bias_prob: 1}").find("bias_prob"), std::string::npos);
  EXPECT_NE(init_error("{type: Normal, layer: 3}").find("layer"), std::string::npos);
}

TEST_F(InitSemantics, KaimingOnAOneDimensionalWeightSaysWhy) {
  Toy toy(yaml("{type: Kaiming, layer: BatchNorm2d}"));
  try {
    init_weights(*toy);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than 2 dimensions"), std::string::npos);
  }
}

TEST_F(InitSemantics, LibTorchLayersAnswerMmcvClassNames) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 1));
  torch::nn::BatchNorm2d bn(3);
  torch::nn::Linear linear(2, 2);
  torch::nn::GroupNorm gn(torch::nn::GroupNormOptions(1, 3));
  EXPECT_EQ(mmcv_class_name(*conv), "Conv2d");
  EXPECT_EQ(mmcv_base_names(*conv), std::vector<std::string>{"_ConvNd"});
  EXPECT_EQ(mmcv_class_name(*bn), "BatchNorm2d");
  EXPECT_EQ(mmcv_base_names(*bn), std::vector<std::string>{"_BatchNorm"});
  EXPECT_EQ(mmcv_class_name(*linear), "Linear");
  EXPECT_EQ(mmcv_class_name(*gn), "GroupNorm");
  auto built_bn = build_norm_layer(yaml("{type: SyncBN}"), 3).second;
  EXPECT_EQ(mmcv_class_name(*built_bn), "SyncBatchNorm");
  EXPECT_EQ(mmcv_class_name(*conv2d(1, 1, 1)), "Conv2d");
  Toy toy;
  EXPECT_EQ(mmcv_class_name(*toy), "Toy");
  EXPECT_EQ(mmcv_class_name(*toy->blocks), "Sequential");

  torch::nn::Sequential native(conv, bn);
  initialize(*native, yaml("[{type: Constant, layer: _BatchNorm, val: 3}, "
                           "{type: Constant, layer: Conv2d, val: 4, bias: 5}]"));
  EXPECT_TRUE(torch::all(bn->weight == 3).item<bool>());
  EXPECT_TRUE(torch::all(conv->weight == 4).item<bool>());
  EXPECT_TRUE(torch::all(conv->bias == 5).item<bool>());
}

TEST_F(InitSemantics, ContainersAndPlainModulesTakeAnInitCfg) {
  ModuleList list(yaml("{type: Constant, layer: Conv2d, val: 1.5}"), conv2d(2, 2, 1),
                  conv2d(2, 2, 1));
  const InitLog log = init_weights(*list);
  EXPECT_TRUE(list->is_init());
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].name, "0.weight");
  EXPECT_EQ(log[0].info, "ConstantInit: val=1.5, bias=0");
  EXPECT_EQ(log[1].info, "ConstantInit: val=1.5, bias=0");

  // A LibTorch container given an init_cfg becomes a BaseModule for init_weights.
  torch::nn::Sequential native(torch::nn::Linear(2, 2));
  set_init_cfg(*native, yaml("{type: Constant, layer: Linear, val: 7}"));
  EXPECT_TRUE(has_init_weights(*native));
  init_weights(*native);
  EXPECT_TRUE(torch::all(native->named_parameters()["0.weight"] == 7).item<bool>());
  EXPECT_TRUE(init_state(*native)->is_init);
}

/// A module with its own init_weights (MMDetection heads override it this way).
class CustomHeadImpl : public torch::nn::Module, public BaseModule {
 public:
  CustomHeadImpl() {
    cls = register_module("cls", conv2d(2, 2, 1));
    other = register_module("other", conv2d(2, 2, 1));
  }
  void init_weights() override {
    BaseModule::init_weights();
    normal_init(*cls, 0, 0.01, bias_init_with_prob(0.01));
  }
  std::shared_ptr<ConvLayerBase> cls, other;
};
TORCH_MODULE(CustomHead);

class HolderImpl : public torch::nn::Module, public BaseModule {
 public:
  HolderImpl() { head = register_module("head", CustomHead()); }
  CustomHead head{nullptr};
};
TORCH_MODULE(Holder);

TEST_F(InitSemantics, UserDefinedInitWeightsIsRecordedByTheParent) {
  Holder holder;
  const InitLog log = init_weights(*holder);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].name, "head.cls.weight");
  EXPECT_EQ(log[0].info, "Initialized by user-defined `init_weights` in CustomHead ");
  EXPECT_EQ(log[2].info,
            "The value is the same before and after calling `init_weights` of Holder ");
  EXPECT_NEAR(holder->head->cls->named_parameters()["bias"][0].item<double>(), -4.59511985013459,
              1e-6);
}

/// An initializer defined outside libdetkit, as a plugin would: weight = 42 on `layer`.
class FortyTwoInit : public BaseInit {
 public:
  using BaseInit::BaseInit;
  static Schema schema() { return common_schema("Everything is 42."); }
  static std::shared_ptr<FortyTwoInit> create(const ComponentConfig& cfg) {
    return std::make_shared<FortyTwoInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override { constant_init(m, 42, bias().value); }
  std::string record() const override { return "FortyTwoInit: bias=" + bias().str(); }
};

TEST_F(InitSemantics, AnInitializerCanBeAddedFromOutside) {
  if (Registry::of(Kind::initializer).find("FortyTwo") == nullptr) {
    ComponentInfo info = detail::describe<Kind::initializer, FortyTwoInit>("FortyTwo");
    info.origin = "init_semantics_test";
    Registry::of(Kind::initializer).add(std::move(info));
  }
  Toy toy(yaml("{type: FortyTwo, layer: Linear, override: {name: stem}}"));
  const InitLog log = init_weights(*toy);
  EXPECT_TRUE(torch::all(toy->fc->weight == 42).item<bool>());
  EXPECT_TRUE(torch::all(toy->stem->named_parameters()["weight"] == 42).item<bool>());
  EXPECT_EQ(log[0].info, "FortyTwoInit: bias=0");
}

/// A backbone that does not derive from BaseModule: the registry gives it its init_cfg.
class InitProbeBackbone : public BackboneBase {
 public:
  static Schema schema() { return Schema("test backbone"); }
  static std::shared_ptr<InitProbeBackbone> create(const ComponentConfig&, const BackboneContext&) {
    return std::make_shared<InitProbeBackbone>();
  }
  InitProbeBackbone() { conv = register_module("conv", conv2d(3, 2, 1)); }
  std::vector<torch::Tensor> forward(const torch::Tensor& x) override { return {conv->forward(x)}; }
  std::vector<ShapeSpec> output_shapes() const override { return {}; }
  std::shared_ptr<ConvLayerBase> conv;
};

TEST_F(InitSemantics, TheRegistryAttachesTheConfigsInitCfg) {
  if (Registry::of(Kind::backbone).find("InitProbe") == nullptr) {
    ComponentInfo info = detail::describe<Kind::backbone, InitProbeBackbone>("InitProbe");
    info.origin = "init_semantics_test";
    Registry::of(Kind::backbone).add(std::move(info));
  }
  auto backbone = build<BackboneBase>(
      yaml("{type: InitProbe, init_cfg: {type: Constant, layer: Conv2d, val: 0.5}}"),
      "model.backbone");
  ASSERT_NE(init_state(*backbone), nullptr);
  EXPECT_EQ(init_state(*backbone)->path, "model.backbone.init_cfg");
  EXPECT_EQ(mmcv_class_name(*backbone), "InitProbe");
  MessageCapture capture;
  init_weights(*backbone);
  EXPECT_TRUE(torch::all(backbone->named_parameters()["conv.weight"] == 0.5).item<bool>());
  ASSERT_FALSE(capture.info.empty());
  EXPECT_EQ(capture.info[0],
            "initialize InitProbe with init_cfg {'type': 'Constant', 'layer': 'Conv2d', 'val': "
            "0.5}");

  // Without init_cfg it is still a BaseModule (MMDetection's backbones all are).
  auto plain = build<BackboneBase>(yaml("{type: InitProbe}"), "model.backbone");
  EXPECT_TRUE(has_init_weights(*plain));
  // Layers are plain modules unless given an init_cfg.
  EXPECT_FALSE(has_init_weights(*build_norm_layer(yaml("{type: BN}"), 2).second));
}

TEST_F(InitSemantics, NumbersPrintAsPythonPrintsThem) {
  EXPECT_EQ(python_repr(yaml("{a: 1.0e-05, b: 0.0001, c: 1.0e+16, d: 1.0e+15, e: 0.1, f: 100.0}")),
            "{'a': 1e-05, 'b': 0.0001, 'c': 1e+16, 'd': 1000000000000000.0, 'e': 0.1, 'f': 100.0}");
  EXPECT_EQ(python_repr(yaml("[true, null, \"it's\", 'a', -0.0, 3]")),
            "[True, None, \"it's\", 'a', -0.0, 3]");
  EXPECT_EQ(InitNumber(bias_init_with_prob(0.01)).str(), "-4.59511985013459");
  EXPECT_EQ(InitNumber(0).str(), "0");
  EXPECT_EQ(InitNumber(0.0).str(), "0.0");
}

}  // namespace
}  // namespace detkit::testing
