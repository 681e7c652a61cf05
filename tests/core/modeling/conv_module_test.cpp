// ConvModule: MMDetection's child and parameter names, `order`, bias "auto", padding modes,
// the activation's inplace default, and its construction-time initialisation against Python
// (tests/data/init/reference.pt, "conv_modules").
#include "detkit/modeling/conv_module.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "detkit/error.h"
#include "init_test_utils.h"

namespace detkit::testing {
namespace {

class ConvModuleTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

std::vector<std::string> parameter_names(torch::nn::Module& module) {
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters())
    names.push_back(p.key());
  for (const auto& b : module.named_buffers())
    names.push_back(b.key());
  return names;
}

TEST_F(ConvModuleTest, ChildAndParameterNamesAreMmdetections) {
  ConvModule with_bn(ConvModuleOptions(3, 8, 3).padding(1).norm_cfg(yaml("{type: BN}")));
  EXPECT_EQ(parameter_names(*with_bn),
            (std::vector<std::string>{"conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                      "bn.running_var", "bn.num_batches_tracked"}));
  EXPECT_EQ(with_bn->norm_name(), "bn");
  EXPECT_FALSE(with_bn->with_bias());  // bias "auto" with a norm: none
  ConvModule with_gn(
      ConvModuleOptions(4, 8, 1).norm_cfg(yaml("{type: GN, num_groups: 2}")).act_cfg({}));
  EXPECT_EQ(parameter_names(*with_gn),
            (std::vector<std::string>{"conv.weight", "gn.weight", "gn.bias"}));
  EXPECT_FALSE(with_gn->with_activation());
  ConvModule plain(ConvModuleOptions(4, 8, 3));
  EXPECT_EQ(parameter_names(*plain), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  ConvModule prelu(ConvModuleOptions(4, 8, 3).act_cfg(yaml("{type: PReLU}")));
  EXPECT_EQ(parameter_names(*prelu),
            (std::vector<std::string>{"conv.weight", "conv.bias", "activate.weight"}));
}

TEST_F(ConvModuleTest, FpnLateralConvsHaveMmdetectionKeys) {
  // MMDetection's FPN: lateral_convs / fpn_convs are nn.ModuleLists of ConvModules.
  struct Neck : torch::nn::Module {
    Neck() {
      lateral = register_module("lateral_convs", torch::nn::ModuleList());
      fpn = register_module("fpn_convs", torch::nn::ModuleList());
      for (int64_t in : {8, 16}) {
        lateral->push_back(ConvModule(ConvModuleOptions(in, 4, 1).act_cfg({})));
        fpn->push_back(ConvModule(ConvModuleOptions(4, 4, 3).padding(1).act_cfg({})));
      }
    }
    torch::nn::ModuleList lateral{nullptr}, fpn{nullptr};
  };
  auto neck = std::make_shared<Neck>();
  EXPECT_EQ(parameter_names(*neck),
            (std::vector<std::string>{"lateral_convs.0.conv.weight", "lateral_convs.0.conv.bias",
                                      "lateral_convs.1.conv.weight", "lateral_convs.1.conv.bias",
                                      "fpn_convs.0.conv.weight", "fpn_convs.0.conv.bias",
                                      "fpn_convs.1.conv.weight", "fpn_convs.1.conv.bias"}));
}

TEST_F(ConvModuleTest, OrderDecidesTheSequenceAndTheNormChannels) {
  const torch::Tensor x = torch::randn({2, 4, 6, 6});
  for (const std::vector<std::string>& order : {std::vector<std::string>{"conv", "norm", "act"},
                                                {"norm", "conv", "act"},
                                                {"act", "conv", "norm"},
                                                {"conv", "act", "norm"},
                                                {"norm", "act", "conv"},
                                                {"act", "norm", "conv"}}) {
    SCOPED_TRACE(order[0] + "," + order[1] + "," + order[2]);
    ConvModule block(ConvModuleOptions(4, 6, 3)
                         .padding(1)
                         .norm_cfg(yaml("{type: BN}"))
                         .act_cfg(yaml("{type: LeakyReLU, negative_slope: 0.2}"))
                         .order(order));
    const bool norm_after_conv = std::find(order.begin(), order.end(), "norm") >
                                 std::find(order.begin(), order.end(), "conv");
    EXPECT_EQ(block->norm()->named_parameters()["weight"].size(0), norm_after_conv ? 6 : 4);
    block->eval();
    torch::Tensor expected = x.clone();
    for (const auto& step : order) {
      if (step == "conv") expected = block->conv->forward(expected);
      if (step == "norm") expected = block->norm()->forward(expected);
      if (step == "act") expected = torch::leaky_relu(expected, 0.2);
    }
    EXPECT_TRUE(torch::allclose(block->forward(x.clone()), expected));
    // activate=false / norm=false skip those steps.
    torch::Tensor no_act = x.clone();
    for (const auto& step : order) {
      if (step == "conv") no_act = block->conv->forward(no_act);
      if (step == "norm") no_act = block->norm()->forward(no_act);
    }
    EXPECT_TRUE(torch::allclose(block->forward(x.clone(), /*activate=*/false), no_act));
  }
}

TEST_F(ConvModuleTest, BadOptionsAreInvalidParameters) {
  EXPECT_THROW(ConvModule(ConvModuleOptions(2, 2, 1).order({"conv", "norm"})), InvalidParameter);
  EXPECT_THROW(ConvModule(ConvModuleOptions(2, 2, 1).order({"conv", "norm", "norm"})),
               InvalidParameter);
  EXPECT_THROW(ConvModule(ConvModuleOptions(2, 2, 1).with_spectral_norm(true)), InvalidParameter);
  EXPECT_THROW(ConvModule(ConvModuleOptions(2, 2, 1).padding_mode("mirror")), InvalidParameter);
  EXPECT_THROW(ConvModule(ConvModuleOptions(2, 2, 1).norm_cfg(yaml("{type: BNN}"))), ConfigError);
  EXPECT_THROW(ConvModule(ConvModuleOptions(6, 6, 1).norm_cfg(yaml("{type: GN, num_groups: 4}"))),
               ConfigError);
}

TEST_F(ConvModuleTest, PaddingModes) {
  const torch::Tensor x = torch::randn({1, 2, 5, 5});
  ConvModule reflect(ConvModuleOptions(2, 3, 3).padding(1).padding_mode("reflect").act_cfg({}));
  EXPECT_EQ(parameter_names(*reflect), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(reflect->named_children().keys(), (std::vector<std::string>{"padding_layer", "conv"}));
  const auto conv_weight = reflect->conv->named_parameters()["weight"];
  const auto conv_bias = reflect->conv->named_parameters()["bias"];
  const torch::Tensor padded = torch::reflection_pad2d(x, {1, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(reflect->forward(x), torch::conv2d(padded, conv_weight, conv_bias)));
  ConvModule circular(ConvModuleOptions(2, 3, 3).padding(1).padding_mode("circular").act_cfg({}));
  EXPECT_EQ(circular->named_children().keys(), (std::vector<std::string>{"conv"}));
  const torch::Tensor wrapped = torch::nn::functional::pad(
      x, torch::nn::functional::PadFuncOptions({1, 1, 1, 1}).mode(torch::kCircular));
  EXPECT_TRUE(torch::allclose(circular->forward(x),
                              torch::conv2d(wrapped, circular->conv->named_parameters()["weight"],
                                            circular->conv->named_parameters()["bias"])));
}

TEST_F(ConvModuleTest, InplaceDefaultAndBiasWarning) {
  ConvModule relu(ConvModuleOptions(2, 2, 1));
  std::ostringstream printed;
  relu->activate->pretty_print(printed);
  EXPECT_EQ(printed.str(), "ReLU(inplace=true)");
  ConvModule not_inplace(ConvModuleOptions(2, 2, 1).inplace(false));
  std::ostringstream printed2;
  not_inplace->activate->pretty_print(printed2);
  EXPECT_EQ(printed2.str(), "ReLU(inplace=false)");
  // Sigmoid takes no inplace: ConvModule must not add one.
  EXPECT_NO_THROW(ConvModule(ConvModuleOptions(2, 2, 1).act_cfg(yaml("{type: Sigmoid}"))));
  MessageCapture capture;
  ConvModule biased(ConvModuleOptions(2, 2, 1).bias(true).norm_cfg(yaml("{type: BN}")));
  ASSERT_EQ(capture.warnings.size(), 1u);
  EXPECT_EQ(capture.warnings[0], "Unnecessary conv bias before batch/instance norm");
  EXPECT_TRUE(biased->with_bias());
}

TEST_F(ConvModuleTest, ConstructionInitialisesAsPython) {
  for (const auto& c : reference_list("conv_modules")) {
    SCOPED_TRACE(c.at("name").toStringRef());
    ConvModuleOptions options(c.at("cin").toInt(), c.at("cout").toInt(), c.at("kernel").toInt());
    options.padding(c.at("padding").toInt());
    if (c.at("norm").toBool()) options.norm_cfg(yaml("{type: BN}"));
    const std::string act = c.at("act").toStringRef();
    if (act.empty()) {
      options.act_cfg({});
    } else if (act == "LeakyReLU") {
      options.act_cfg(yaml(
          "{type: LeakyReLU, negative_slope: " + std::to_string(c.at("slope").toDouble()) + "}"));
    }
    torch::manual_seed(c.at("seed").toInt());
    ConvModule block(options);
    const auto params = block->conv->named_parameters();
    EXPECT_TRUE(torch::equal(params["weight"], c.at("conv_weight").toTensor()));
    const torch::Tensor bias = c.at("conv_bias").toTensor();
    if (bias.numel() > 0) {
      EXPECT_TRUE(torch::equal(params["bias"], bias));
    } else {
      EXPECT_EQ(params.find("bias"), nullptr);
    }
    if (block->with_norm()) {
      EXPECT_TRUE(torch::all(block->norm()->named_parameters()["weight"] == 1).item<bool>());
    }
  }
}

TEST_F(ConvModuleTest, ParentInitWeightsCallsConvModulesOwn) {
  // A ConvModule that is a direct child of a BaseModule is re-initialised by its own
  // init_weights after the parent's init_cfg (MMCV: it has an init_weights attribute).
  struct ParentImpl : torch::nn::Module, BaseModule {
    ParentImpl() : BaseModule(yaml("{type: Constant, layer: Conv2d, val: 3}")) {
      block = register_module("block", ConvModule(ConvModuleOptions(4, 4, 1)));
    }
    std::string mmcv_class_name() const override { return "Parent"; }
    ConvModule block{nullptr};
  };
  auto parent = std::make_shared<ParentImpl>();
  const InitLog log = init_weights(*parent);
  EXPECT_FALSE(torch::all(parent->block->conv->named_parameters()["weight"] == 3).item<bool>());
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].info, "Initialized by user-defined `init_weights` in ConvModule ");
  EXPECT_EQ(mmcv_class_name(*parent->block), "ConvModule");
}

}  // namespace
}  // namespace detkit::testing
