// The built-in layers and MMCV's builders: registry names, build_norm_layer's child names,
// MMCV class names, and construction draws / forward outputs against Python
// (tests/data/init/reference.pt, "layers").
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "detkit/error.h"
#include "detkit/registry.h"
#include "init_test_utils.h"

namespace detkit::testing {
namespace {

class LayersTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

c10::Dict<c10::IValue, c10::IValue> layer_case(const std::string& name) {
  for (const auto& c : reference_list("layers")) {
    if (c.at("name").toStringRef() == name) return c;
  }
  throw std::runtime_error("no layer case '" + name + "' in init/reference.pt");
}

TEST_F(LayersTest, TheRegistriesHoldMmcvsNames) {
  const auto types = [](Kind kind) { return Registry::of(kind).types(); };
  for (const char* name : {"BN", "BN1d", "BN2d", "BN3d", "SyncBN", "GN", "LN", "IN", "IN2d"}) {
    EXPECT_NE(Registry::of(Kind::norm_layer).find(name), nullptr) << name;
  }
  EXPECT_EQ(types(Kind::conv_layer), (std::vector<std::string>{"Conv", "Conv2d"}));
  for (const char* name : {"ReLU", "LeakyReLU", "PReLU", "Sigmoid", "GELU", "Clip", "HSwish"}) {
    EXPECT_NE(Registry::of(Kind::activation_layer).find(name), nullptr) << name;
  }
  for (const char* name : {"nearest", "bilinear", "deconv"}) {
    EXPECT_NE(Registry::of(Kind::upsample_layer).find(name), nullptr) << name;
  }
  for (const char* name : {"Constant", "Xavier", "Normal", "TruncNormal", "Uniform", "Kaiming",
                           "Caffe2Xavier", "Pretrained"}) {
    EXPECT_NE(Registry::of(Kind::initializer).find(name), nullptr) << name;
  }
}

TEST_F(LayersTest, BuildNormLayerNamesTheChild) {
  auto [bn_name, bn] = build_norm_layer(yaml("{type: BN, requires_grad: false}"), 8, 1);
  EXPECT_EQ(bn_name, "bn1");
  for (const auto& p : bn->parameters())
    EXPECT_FALSE(p.requires_grad());
  EXPECT_EQ(build_norm_layer(yaml("{type: GN, num_groups: 4}"), 8, "_x").first, "gn_x");
  EXPECT_EQ(build_norm_layer(yaml("{type: SyncBN}"), 8).first, "bn");
  EXPECT_EQ(build_norm_layer(yaml("{type: LN}"), 8).first, "ln");
  EXPECT_EQ(build_norm_layer(yaml("{type: IN}"), 8).first, "in");
  // The BN's state dict keys are PyTorch's.
  std::vector<std::string> keys;
  for (const auto& item : bn->named_buffers())
    keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(mmcv_class_name(*bn), "BatchNorm2d");
  EXPECT_EQ(mmcv_base_names(*bn), std::vector<std::string>{"_BatchNorm"});
}

TEST_F(LayersTest, BuilderErrorsNameTheConfig) {
  try {
    build_norm_layer(yaml("{type: GN, num_groups: 3}"), 8, "", "model.neck.norm_cfg");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("divisible by num_groups"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("model.neck.norm_cfg"), std::string::npos);
  }
  EXPECT_THROW(build_norm_layer(yaml("{type: GN}"), 8), ConfigError);  // num_groups required
  EXPECT_THROW(build_activation_layer(yaml("{type: Relu}")), ConfigError);
  EXPECT_THROW(build_conv_layer(yaml("{type: Conv2d, kernel: 3}"), ConvLayerContext{}),
               ConfigError);
}

TEST_F(LayersTest, Conv2dDrawsAndComputesAsPyTorch) {
  const auto c = layer_case("conv2d");
  ConvLayerContext context;
  context.in_channels = 3;
  context.out_channels = 6;
  context.kernel_size = {3, 5};
  context.stride = {2};
  context.padding = {1, 2};
  context.groups = 3;
  torch::manual_seed(c.at("seed").toInt());
  auto conv = build_conv_layer(ConfigNode(), context);
  EXPECT_TRUE(torch::equal(conv->named_parameters()["weight"], c.at("weight").toTensor()));
  EXPECT_TRUE(torch::equal(conv->named_parameters()["bias"], c.at("bias").toTensor()));
  EXPECT_TRUE(torch::allclose(conv->forward(c.at("input").toTensor()), c.at("output").toTensor(),
                              1e-5, 1e-6));
  std::ostringstream printed;
  conv->pretty_print(printed);
  EXPECT_EQ(printed.str(),
            "Conv2d(3, 6, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), groups=3)");
}

TEST_F(LayersTest, DeconvDrawsAndComputesAsPyTorch) {
  const auto c = layer_case("deconv");
  torch::manual_seed(c.at("seed").toInt());
  auto deconv =
      build_upsample_layer(yaml("{type: deconv, scale_factor: 2}"), UpsampleLayerContext{4, 2});
  EXPECT_TRUE(torch::equal(deconv->named_parameters()["weight"], c.at("weight").toTensor()));
  EXPECT_TRUE(torch::equal(deconv->named_parameters()["bias"], c.at("bias").toTensor()));
  const torch::Tensor x = c.at("input").toTensor();
  EXPECT_TRUE(torch::allclose(deconv->forward(x), c.at("output").toTensor(), 1e-5, 1e-6));
  EXPECT_EQ(deconv->forward(x, {10, 10}).sizes(), (std::vector<int64_t>{1, 2, 10, 10}));
  EXPECT_EQ(mmcv_class_name(*deconv), "ConvTranspose2d");
}

TEST_F(LayersTest, BatchNormTrainsAndEvaluatesAsPyTorch) {
  const auto c = layer_case("batch_norm");
  auto bn = build_norm_layer(yaml("{type: BN}"), 3).second;
  {
    torch::NoGradGuard no_grad;
    bn->named_parameters()["weight"].copy_(c.at("weight").toTensor());
    bn->named_parameters()["bias"].copy_(c.at("bias").toTensor());
  }
  const torch::Tensor x = c.at("input").toTensor();
  bn->train();
  EXPECT_TRUE(torch::allclose(bn->forward(x), c.at("output").toTensor(), 1e-5, 1e-6));
  EXPECT_TRUE(
      torch::allclose(bn->named_buffers()["running_mean"], c.at("running_mean").toTensor()));
  EXPECT_TRUE(torch::allclose(bn->named_buffers()["running_var"], c.at("running_var").toTensor()));
  EXPECT_EQ(bn->named_buffers()["num_batches_tracked"].item<int64_t>(), 1);
  bn->eval();
  EXPECT_TRUE(torch::allclose(bn->forward(x), c.at("output_eval").toTensor(), 1e-5, 1e-6));
  EXPECT_THROW(bn->forward(torch::randn({2, 3})), Error);
}

TEST_F(LayersTest, GroupNormComputesAsPyTorch) {
  const auto c = layer_case("group_norm");
  auto gn = build_norm_layer(yaml("{type: GN, num_groups: 2}"), 4).second;
  {
    torch::NoGradGuard no_grad;
    gn->named_parameters()["weight"].copy_(c.at("weight").toTensor());
    gn->named_parameters()["bias"].copy_(c.at("bias").toTensor());
  }
  EXPECT_TRUE(torch::allclose(gn->forward(c.at("input").toTensor()), c.at("output").toTensor(),
                              1e-5, 1e-6));
}

TEST_F(LayersTest, InterpolationComputesAsPyTorch) {
  for (const char* mode : {"nearest", "bilinear"}) {
    const auto c = layer_case(mode);
    auto layer = build_upsample_layer(yaml(std::string("{type: ") + mode + ", scale_factor: 2.0}"),
                                      UpsampleLayerContext{});
    EXPECT_TRUE(torch::allclose(layer->forward(c.at("input").toTensor()), c.at("output").toTensor(),
                                1e-5, 1e-6))
        << mode;
    EXPECT_EQ(layer->forward(c.at("input").toTensor(), {5, 7}).sizes(),
              (std::vector<int64_t>{1, 2, 5, 7}));
  }
  EXPECT_THROW(
      build_upsample_layer(yaml("{type: nearest}"), {})->forward(torch::randn({1, 1, 2, 2})),
      Error);
}

TEST_F(LayersTest, ActivationsComputeTheirFunctions) {
  const torch::Tensor x = torch::linspace(-3, 3, 13);
  const auto run = [&](const std::string& cfg) {
    return build_activation_layer(yaml(cfg))->forward(x.clone());
  };
  EXPECT_TRUE(torch::equal(run("{type: ReLU}"), torch::relu(x)));
  EXPECT_TRUE(
      torch::allclose(run("{type: LeakyReLU, negative_slope: 0.1}"), torch::leaky_relu(x, 0.1)));
  EXPECT_TRUE(torch::allclose(run("{type: PReLU}"), torch::where(x > 0, x, 0.25 * x)));
  EXPECT_TRUE(torch::allclose(run("{type: ReLU6}"), torch::clamp(x, 0, 6)));
  EXPECT_TRUE(torch::allclose(run("{type: Sigmoid}"), torch::sigmoid(x)));
  EXPECT_TRUE(
      torch::allclose(run("{type: Clip, min: -1.5, max: 0.5}"), torch::clamp(x, -1.5, 0.5)));
  EXPECT_TRUE(torch::allclose(run("{type: HSigmoid}"), torch::clamp((x + 3) / 6, 0, 1)));
  EXPECT_TRUE(torch::allclose(run("{type: GELU}"), torch::gelu(x)));
  // inplace writes the input.
  torch::Tensor y = x.clone();
  build_activation_layer(yaml("{type: ReLU, inplace: true}"))->forward(y);
  EXPECT_TRUE(torch::equal(y, torch::relu(x)));
}

}  // namespace
}  // namespace detkit::testing
