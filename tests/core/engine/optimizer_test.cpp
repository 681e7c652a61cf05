// Optimizers built from YAML as `optimizer:` builds them: PyTorch's update rules, the state
// saved in PyTorch's layout and restored (a resumed optimizer continues exactly), MMCV's
// paramwise_cfg rules (custom_keys longest first, bias / norm / depth-wise rules), and the
// errors for bad configs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "detkit/core/optimizers.h"
#include "detkit/error.h"
#include "detkit/testing.h"

namespace {

using detkit::testing::parse_yaml;

/// A module with the parameter kinds paramwise_cfg distinguishes.
struct ToyNetImpl : torch::nn::Module {
  ToyNetImpl() {
    backbone = register_module("backbone",
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).bias(true)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    dw = register_module("dw", torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).groups(4)));
    head = register_module("head", torch::nn::Linear(4, 2));
  }
  torch::nn::Conv2d backbone{nullptr}, dw{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ToyNet);

class OptimizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { detkit::testing::load_plugins({}); }
};

/// The lr and weight decay of every group, as "lr/wd".
std::vector<std::string> group_settings(detkit::OptimizerBase& optimizer) {
  std::vector<std::string> out;
  for (auto& group : optimizer.optimizer().param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    out.push_back(c10::str(o.lr(), "/", o.weight_decay()));
  }
  return out;
}

TEST_F(OptimizerTest, WithoutParamwiseCfgOneGroupHoldsEveryParameter) {
  ToyNet net;
  auto optimizer = detkit::build_optimizer(
      *net, parse_yaml("{type: SGD, lr: 0.02, momentum: 0.9, weight_decay: 0.0001}"));
  ASSERT_EQ(optimizer->num_groups(), 1u);
  EXPECT_EQ(optimizer->optimizer().param_groups()[0].params().size(), net->parameters().size());
  EXPECT_DOUBLE_EQ(optimizer->lr(0), 0.02);
  EXPECT_DOUBLE_EQ(optimizer->momentum(0), 0.9);
}

TEST_F(OptimizerTest, ParamwiseCfgFollowsMmcvRules) {
  ToyNet net;
  auto optimizer = detkit::build_optimizer(*net, parse_yaml(R"({type: SGD, lr: 0.1,
      weight_decay: 0.01, paramwise_cfg: {bias_lr_mult: 2.0, bias_decay_mult: 0.0,
      norm_decay_mult: 0.5, dwconv_decay_mult: 0.25,
      custom_keys: {head: {lr_mult: 0.1, decay_mult: 3.0}, head.bias: {lr_mult: 0.5}}}})"));
  // One group per parameter, in named_parameters() order: backbone.weight, backbone.bias,
  // bn.weight, bn.bias, dw.weight, dw.bias, head.weight, head.bias.
  ASSERT_EQ(optimizer->num_groups(), 8u);
  const std::vector<std::string> expected = {
      "0.1/0.01",    // backbone.weight: defaults
      "0.2/0",       // backbone.bias: bias_lr_mult, bias_decay_mult
      "0.1/0.005",   // bn.weight: norm_decay_mult
      "0.1/0.005",   // bn.bias: norm layers keep their lr, norm decay first
      "0.1/0.0025",  // dw.weight: dwconv_decay_mult
      "0.2/0.0025",  // dw.bias: bias lr, but dwconv decay comes before bias decay
      "0.01/0.03",   // head.weight: custom key "head"
      "0.05/0.01",   // head.bias: the longer key "head.bias" wins; its decay_mult defaults to 1
  };
  EXPECT_EQ(group_settings(*optimizer), expected);
}

TEST_F(OptimizerTest, FrozenParametersGetAnUnmodifiedGroup) {
  ToyNet net;
  net->backbone->weight.set_requires_grad(false);
  auto optimizer = detkit::build_optimizer(
      *net,
      parse_yaml("{type: SGD, lr: 0.1, weight_decay: 0.01, paramwise_cfg: {custom_keys: {backbone: "
                 "{lr_mult: 0}}}}"));
  EXPECT_EQ(group_settings(*optimizer)[0], "0.1/0.01");  // frozen: defaults
  EXPECT_EQ(group_settings(*optimizer)[1], "0/0.01");    // backbone.bias: lr_mult 0
}

TEST_F(OptimizerTest, DecayMultWithoutWeightDecayIsMmcvsError) {
  ToyNet net;
  try {
    detkit::build_optimizer(
        *net, parse_yaml("{type: SGD, lr: 0.1, paramwise_cfg: {norm_decay_mult: 0}}", "o.yaml"));
    FAIL() << "expected an error";
  } catch (const detkit::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("base_wd should not be None"), std::string::npos)
        << e.what();
  }
}

TEST_F(OptimizerTest, BadConfigsAreClearErrors) {
  ToyNet net;
  auto message = [&](const std::string& yaml) -> std::string {
    try {
      detkit::build_optimizer(*net, parse_yaml(yaml, "o.yaml"));
    } catch (const detkit::Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message("{type: SGD}").find("lr"), std::string::npos);
  EXPECT_NE(message("{type: SGD, lr: 0.1, nesterov: true}").find("Nesterov"), std::string::npos);
  EXPECT_NE(message("{type: Adam, betas: [0.9, 1.5]}").find("beta"), std::string::npos);
  EXPECT_NE(message("{type: SGD, lr: 0.1, momentun: 0.9}").find("momentum"), std::string::npos);
  EXPECT_NE(message("{type: SDG, lr: 0.1}").find("SGD"), std::string::npos);
  EXPECT_NE(message("{type: SGD, lr: 0.1, paramwise_cfg: {bias_lr: 2}}").find("bias_lr_mult"),
            std::string::npos);
}

/// Gradients of a fixed quadratic loss.
void step(detkit::OptimizerBase& optimizer, ToyNet& net) {
  optimizer.optimizer().zero_grad();
  torch::Tensor loss = torch::zeros({});
  for (const auto& p : net->parameters())
    loss = loss + (p * p).sum() * 0.5 + p.sum();
  loss.backward();
  optimizer.optimizer().step();
}

/// Every parameter of two nets equal.
void expect_same_parameters(ToyNet& a, ToyNet& b) {
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
}

class OptimizerStateTest : public OptimizerTest,
                           public ::testing::WithParamInterface<std::string> {};

TEST_P(OptimizerStateTest, RestoredStateContinuesExactly) {
  const std::string yaml = GetParam();
  torch::manual_seed(0);
  ToyNet straight, resumed;
  torch::NoGradGuard no_grad_copy;
  for (size_t i = 0; i < straight->parameters().size(); ++i)
    resumed->parameters()[i].copy_(straight->parameters()[i]);
  torch::GradMode::set_enabled(true);
  auto a = detkit::build_optimizer(*straight, parse_yaml(yaml));
  auto b = detkit::build_optimizer(*resumed, parse_yaml(yaml));
  a->setdefault(0, "initial_lr", 0.5);
  for (int i = 0; i < 3; ++i)
    step(*a, straight);
  // b: state of a after 3 steps (as a checkpoint carries it), weights copied.
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < straight->parameters().size(); ++i)
      resumed->parameters()[i].copy_(straight->parameters()[i]);
  }
  auto& state_a = dynamic_cast<detkit::SerializableOptimizer&>(*a);
  auto& state_b = dynamic_cast<detkit::SerializableOptimizer&>(*b);
  state_b.load_state_dict(state_a.state_dict());
  EXPECT_DOUBLE_EQ(b->setdefault(0, "initial_lr", 9.0), 0.5);  // kept with the groups
  for (int i = 0; i < 2; ++i) {
    step(*a, straight);
    step(*b, resumed);
  }
  expect_same_parameters(straight, resumed);
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, OptimizerStateTest,
    ::testing::Values("{type: SGD, lr: 0.1, momentum: 0.9, weight_decay: 0.01}",
                      "{type: Adam, lr: 0.01, weight_decay: 0.001}",
                      "{type: AdamW, lr: 0.01, amsgrad: true}"));

TEST_F(OptimizerTest, MalformedSavedStateIsAClearError) {
  ToyNet net;
  auto adam = detkit::build_optimizer(*net, parse_yaml("{type: Adam, lr: 0.01}"));
  auto& serializable = dynamic_cast<detkit::SerializableOptimizer&>(*adam);
  c10::IValue state = serializable.state_dict();
  auto message = [&](const c10::IValue& betas) -> std::string {
    c10::IValue copy = state.deepcopy();
    auto group = copy.toGenericDict().at("param_groups").toList().get(0).toGenericDict();
    group.insert_or_assign("betas", betas);
    try {
      serializable.load_state_dict(copy);
    } catch (const detkit::Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(c10::ivalue::Tuple::create({c10::IValue("a"), c10::IValue(0.9)}))
                .find("betas[0] is not a number"),
            std::string::npos);
  EXPECT_NE(message(c10::IValue(0.9)).find("not a pair"), std::string::npos);
  EXPECT_EQ(message(c10::ivalue::Tuple::create({c10::IValue(0.8), c10::IValue(0.99)})), "");
  EXPECT_DOUBLE_EQ(adam->momentum(0), 0.8);  // a well-formed pair is taken
}

TEST_F(OptimizerTest, SgdStepIsPytorchsUpdateRule) {
  torch::manual_seed(1);
  ToyNet net;
  auto optimizer = detkit::build_optimizer(
      *net, parse_yaml("{type: SGD, lr: 0.1, momentum: 0.9, weight_decay: 0.01}"));
  const torch::Tensor before = net->head->weight.detach().clone();
  step(*optimizer, net);
  step(*optimizer, net);
  // PyTorch: d = g + wd*p; buf = d (first step), then buf = 0.9*buf + d; p -= lr*buf, with
  // g = p + 1 for the loss above.
  torch::Tensor p = before.clone(), buf;
  for (int i = 0; i < 2; ++i) {
    const torch::Tensor d = (p + 1) + 0.01 * p;
    buf = i == 0 ? d : 0.9 * buf + d;
    p = p - 0.1 * buf;
  }
  EXPECT_TRUE(torch::allclose(net->head->weight.detach(), p, 1e-6, 1e-7));
}

TEST_F(OptimizerTest, StateOfAnotherShapeIsRefusedWithoutChangingAnything) {
  ToyNet net;
  auto a = detkit::build_optimizer(*net, parse_yaml("{type: SGD, lr: 0.1, momentum: 0.9}"));
  step(*a, net);
  auto b = detkit::build_optimizer(
      *net, parse_yaml("{type: SGD, lr: 0.1, momentum: 0.9, paramwise_cfg: {bias_lr_mult: 2}}"));
  try {
    dynamic_cast<detkit::SerializableOptimizer&>(*b).load_state_dict(
        dynamic_cast<detkit::SerializableOptimizer&>(*a).state_dict());
    FAIL() << "expected an error";
  } catch (const detkit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter groups"), std::string::npos) << e.what();
  }
  EXPECT_DOUBLE_EQ(b->lr(1), 0.2);
}

}  // namespace
