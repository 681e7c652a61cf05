// The template plugin's example components beyond the backbone (sdk/template/template_*.cpp):
// each is built from YAML through the registry, with its kind's build context, from the
// in-tree-built template plugin, and exercised through its SDK base class.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/core/config.h"
#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"
#include "detkit/data/transform.h"
#include "detkit/engine/hook.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/engine/scheduler.h"
#include "detkit/error.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/loss.h"
#include "detkit/modeling/neck.h"
#include "detkit/registry.h"

namespace detkit {
namespace {

/// Loads the fixture plugin unless an earlier test of this process did.
void load_template_plugin() {
  initialize_runtime();
  if (Registry::of(Kind::neck).find("TemplateNeck") != nullptr) return;
  const PluginRecord record =
      PluginManager::instance().load_file(DETKIT_TEMPLATE_PLUGIN, "--plugin");
  ASSERT_EQ(record.status, PluginStatus::loaded) << record.path << ": " << record.reason;
}

/// The config a YAML flow map describes.
ConfigNode yaml(const std::string& text) {
  return parse_yaml_text(text, "test.yaml");
}

/// The message of the ConfigError `build` throws ("" if none is thrown).
template <class Build>
std::string config_error(Build build) {
  try {
    build();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

/// The LR policy's type key, as the top-level schema declares `lr_config`.
const TypeKey kLrPolicy{"policy", "LrUpdaterHook", true, {}};

/// A runner that only reports a position: enough to call hooks and policies.
class FakeRunner : public RunnerBase {
 public:
  void run() override {}
  int64_t epoch() const override { return epoch_; }
  int64_t iter() const override { return iter_; }
  int64_t inner_iter() const override { return iter_; }
  int64_t max_epochs() const override { return max_epochs_; }
  int64_t max_iters() const override { return max_iters_; }
  const std::string& work_dir() const override { return work_dir_; }
  DetectorBase& model() override { throw Error("FakeRunner has no model"); }
  OptimizerBase* optimizer() override { return optimizer_; }
  // SDK 1.1 accessors the template's scheduler does not use.
  const std::string& mode() const override { return mode_; }
  int64_t iters_per_epoch() const override { return max_iters_ / max_epochs_; }
  bool by_epoch() const override { return true; }
  torch::Tensor step_loss() const override { return {}; }
  NamedValues step_log_vars() const override { return {}; }
  int64_t step_num_samples() const override { return 0; }
  void log_update(const std::string&, double, int64_t) override {}
  void log_average(int64_t) override {}
  NamedValues log_output() const override { return {}; }
  void log_put_output(const std::string&, double) override {}
  bool log_ready() const override { return false; }
  void log_clear_output() override {}
  void log_clear() override {}
  void log_info(const std::string&) override {}
  const std::string& timestamp() const override { return mode_; }
  ConfigNode& meta() override { return meta_; }
  std::string save_checkpoint(const std::string&, const std::string&, bool, const ConfigNode&,
                              bool) override {
    return {};
  }
  NamedValues evaluate(const ConfigNode&) override { return {}; }
  std::vector<std::string> dataset_classes() const override { return {}; }

  std::string mode_ = "train";
  ConfigNode meta_ = ConfigNode::make_map();
  int64_t epoch_ = 0, iter_ = 0, max_epochs_ = 1, max_iters_ = 100;
  OptimizerBase* optimizer_ = nullptr;
  std::string work_dir_ = ".";
};

/// SGD over two parameter groups with lrs 0.1 and 0.02.
class FakeOptimizer : public OptimizerBase {
 public:
  FakeOptimizer() {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{torch::zeros({1}, torch::requires_grad())},
                        std::make_unique<torch::optim::SGDOptions>(0.1));
    groups.emplace_back(std::vector<torch::Tensor>{torch::zeros({1}, torch::requires_grad())},
                        std::make_unique<torch::optim::SGDOptions>(0.02));
    sgd_ = std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(0.1));
  }
  torch::optim::Optimizer& optimizer() override { return *sgd_; }
  bool has_momentum() const override { return true; }
  double momentum(size_t) const override { return 0.0; }
  void set_momentum(size_t, double) override {}
  double setdefault(size_t, const std::string&, double value) override { return value; }
  /// The lr of group `i`.
  double lr(size_t i) { return sgd_->param_groups()[i].options().get_lr(); }

 private:
  std::unique_ptr<torch::optim::SGD> sgd_;
};

class TemplateComponentsTest : public ::testing::Test {
 protected:
  void SetUp() override { load_template_plugin(); }
};

TEST_F(TemplateComponentsTest, RegistersOneExamplePerKind) {
  const std::pair<Kind, const char*> expected[] = {
      {Kind::neck, "TemplateNeck"},           {Kind::dense_head, "TemplateHead"},
      {Kind::loss, "TemplateL2Loss"},         {Kind::transform, "TemplateGrayscale"},
      {Kind::hook, "TemplateIterLoggerHook"}, {Kind::scheduler, "TemplatePolyLrUpdaterHook"}};
  for (const auto& [kind, type] : expected) {
    const ComponentInfo* info = Registry::of(kind).find(type);
    ASSERT_NE(info, nullptr) << type;
    EXPECT_EQ(info->origin, std::string(DETKIT_TEMPLATE_PLUGIN)) << type;
    EXPECT_FALSE(info->schema.summary().empty()) << type;
  }
}

// ---- neck --------------------------------------------------------------------------------------

TEST_F(TemplateComponentsTest, NeckIsBuiltFromTheBackbonesShapes) {
  torch::manual_seed(0);
  auto backbone = build<BackboneBase>(yaml("{type: MobileNet, widen_factor: 0.25}"), "b");
  const NeckContext context{backbone->output_shapes(), "backbone MobileNet (model.backbone)"};
  auto neck = build<NeckBase>(yaml("{type: TemplateNeck, out_channels: 16, num_outs: 4}"),
                              "model.neck", context);
  const std::vector<ShapeSpec> shapes = neck->output_shapes();
  ASSERT_EQ(shapes.size(), 4u);
  const int64_t strides[] = {8, 16, 32, 64};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(shapes[i].channels, 16);
    EXPECT_EQ(shapes[i].stride, strides[i]);
  }
  backbone->eval();
  const auto outs = neck->forward(backbone->forward(torch::randn({1, 3, 128, 128})));
  ASSERT_EQ(outs.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(outs[i].sizes().vec(),
              (std::vector<int64_t>{1, 16, 128 / strides[i], 128 / strides[i]}));
  }
  const auto params = neck->named_parameters();
  EXPECT_EQ(params["lateral_convs.0.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{16, 64, 1, 1}));  // 256 * 0.25 input channels
  EXPECT_NE(params.find("fpn_convs.2.conv.bias"), nullptr);
  // norm_cfg reaches the SDK's ConvModule: a `bn` child, and no conv bias ("auto").
  auto normed = build<NeckBase>(yaml("{type: TemplateNeck, out_channels: 8, norm_cfg: {type: BN}}"),
                                "model.neck", context);
  const auto normed_params = normed->named_parameters();
  EXPECT_NE(normed_params.find("lateral_convs.1.bn.weight"), nullptr);
  EXPECT_EQ(normed_params.find("lateral_convs.1.conv.bias"), nullptr);
}

TEST_F(TemplateComponentsTest, NeckInChannelsMustAgreeWithTheBackbone) {
  const NeckContext context{{{64, 8}, {128, 16}}, "backbone MobileNet (model.backbone)"};
  // Stating the same channels is fine.
  EXPECT_NO_THROW(
      build<NeckBase>(yaml("{type: TemplateNeck, in_channels: [64, 128]}"), "model.neck", context));
  const std::string message = config_error([&] {
    build<NeckBase>(yaml("{type: TemplateNeck, in_channels: [64, 256]}"), "model.neck", context);
  });
  EXPECT_NE(message.find("model.neck.in_channels"), std::string::npos) << message;
  EXPECT_NE(message.find("[64, 256] here disagrees with [64, 128]"), std::string::npos) << message;
  EXPECT_NE(message.find("backbone MobileNet (model.backbone)"), std::string::npos) << message;
  EXPECT_NE(message.find("test.yaml:1:"), std::string::npos) << message;
}

TEST_F(TemplateComponentsTest, NeckWithoutContextNeedsInChannels) {
  const std::string message =
      config_error([&] { build<NeckBase>(yaml("{type: TemplateNeck}"), "model.neck"); });
  EXPECT_NE(message.find("model.neck.in_channels"), std::string::npos) << message;
  auto neck = build<NeckBase>(yaml("{type: TemplateNeck, in_channels: [8, 8], out_channels: 4}"),
                              "model.neck");
  ASSERT_EQ(neck->output_shapes().size(), 2u);
  EXPECT_EQ(neck->output_shapes()[1].stride, 8);  // documented default strides 4, 8, ...
  EXPECT_NE(config_error([&] {
              build<NeckBase>(yaml("{type: TemplateNeck, in_channels: [8, 8], num_outs: 1}"),
                              "model.neck");
            }).find("num_outs"),
            std::string::npos);
}

// ---- head --------------------------------------------------------------------------------------

/// The context of a head on 3 levels of 16 channels (strides 8, 16, 32) and 3 classes.
HeadContext head_context() {
  return HeadContext{{{16, 8}, {16, 16}, {16, 32}},
                     "neck TemplateNeck (model.neck)",
                     Known<int64_t>(3, "dataset CocoDataset (data.train)")};
}

TEST_F(TemplateComponentsTest, HeadForwardGivesOneMapPairPerLevel) {
  torch::manual_seed(0);
  auto head = build<DenseHeadBase>(yaml("{type: TemplateHead, feat_channels: 8}"),
                                   "model.bbox_head", head_context());
  const int64_t sizes[] = {8, 4, 2};
  std::vector<torch::Tensor> features;
  for (int64_t size : sizes)
    features.push_back(torch::randn({2, 16, size, size}));
  const MultiLevelOutputs outputs = head->forward(features);
  ASSERT_EQ(outputs.size(), 2u);
  ASSERT_EQ(outputs[0].size(), 3u);
  ASSERT_EQ(outputs[1].size(), 3u);
  for (size_t level = 0; level < 3; ++level) {
    const int64_t s = sizes[level];
    EXPECT_EQ(outputs[0][level].sizes().vec(), (std::vector<int64_t>{2, 3, s, s}));
    EXPECT_EQ(outputs[1][level].sizes().vec(), (std::vector<int64_t>{2, 4, s, s}));
  }
  EXPECT_NE(head->named_parameters().find("conv_cls.weight"), nullptr);
  EXPECT_THROW(head->forward({features[0]}), Error);
}

TEST_F(TemplateComponentsTest, HeadNumClassesMustAgreeWithTheDataset) {
  const std::string message = config_error([&] {
    build<DenseHeadBase>(yaml("{type: TemplateHead, num_classes: 5}"), "model.bbox_head",
                         head_context());
  });
  EXPECT_NE(message.find("model.bbox_head.num_classes"), std::string::npos) << message;
  EXPECT_NE(message.find("dataset CocoDataset"), std::string::npos) << message;
  // A sub-component's error is reported at its own path.
  const std::string loss_message = config_error([&] {
    build<DenseHeadBase>(yaml("{type: TemplateHead, loss_cls: {type: TemplateL2Loss, "
                              "loss_weight: -1}}"),
                         "model.bbox_head", head_context());
  });
  EXPECT_NE(loss_message.find("model.bbox_head.loss_cls.loss_weight"), std::string::npos)
      << loss_message;
}

/// A one-level head (stride 8, 2 classes) whose weights are all zero: every cell scores
/// sigmoid(cls_bias) and predicts distances relu(reg_bias) * 8.
std::shared_ptr<DenseHeadBase> constant_head(const std::string& extra, double cls_bias,
                                             double reg_bias) {
  const HeadContext context{{{4, 8}}, "neck", Known<int64_t>(2, "dataset")};
  auto head = build<DenseHeadBase>(yaml("{type: TemplateHead, feat_channels: 4" + extra + "}"),
                                   "model.bbox_head", context);
  torch::NoGradGuard no_grad;
  for (auto& item : head->named_parameters())
    item.value().zero_();
  head->named_parameters()["conv_cls.bias"].fill_(cls_bias);
  head->named_parameters()["conv_reg.bias"].fill_(reg_bias);
  return head;
}

TEST_F(TemplateComponentsTest, HeadLossEqualsAHandComputation) {
  auto head = constant_head(", loss_bbox: {type: TemplateL2Loss, loss_weight: 2.0}", 0.0, 0.0);
  const MultiLevelOutputs outputs = head->forward({torch::randn({1, 4, 4, 4})});
  DetSample sample;
  sample.gt =
      Instances(Boxes(torch::tensor({{4.0f, 4.0f, 20.0f, 12.0f}})), torch::tensor({int64_t{1}}));
  const LossDict losses = head->loss(outputs, {sample});
  // Centre (12, 8) lies in cell (x 1, y 1), whose point is (12, 12).
  // loss_cls: sigmoid(0) = 0.5 against one-hot targets on 4x4 cells x 2 classes, summed and
  // divided by the 1 positive: 32 * 0.25 = 8.
  EXPECT_NEAR(losses["loss_cls"].item<double>(), 8.0, 1e-5);
  // loss_bbox: prediction 0 against distances (8, 8, 8, 0) / 8; 2 * (1 + 1 + 1 + 0) / 1.
  EXPECT_NEAR(losses["loss_bbox"].item<double>(), 6.0, 1e-5);
  // No ground truth: only background, and a zero (but differentiable) box loss.
  const LossDict empty = head->loss(outputs, {DetSample()});
  EXPECT_NEAR(empty["loss_cls"].item<double>(), 32 * 0.25, 1e-5);
  EXPECT_EQ(empty["loss_bbox"].item<double>(), 0.0);
}

TEST_F(TemplateComponentsTest, HeadPredictDecodesClipsAndRescales) {
  // Every cell: score sigmoid(2) for both classes, distances relu(1) * 8 = 8 to every side.
  auto head = constant_head(", test_cfg: {max_per_img: 100, nms: {iou_threshold: 0.5}}", 2.0, 1.0);
  const MultiLevelOutputs outputs = head->forward({torch::randn({1, 4, 4, 4})});
  DetSample sample;
  sample.meta.img_shape = {32, 32, 3};
  sample.meta.scale_factor = {2.0, 2.0, 2.0, 2.0};
  const std::vector<Instances> results = head->predict(outputs, {sample});
  ASSERT_EQ(results.size(), 1u);
  // 16 cells x 2 classes; neighbouring 16x16 boxes 8 px apart overlap with IoU 1/3 < 0.5.
  const Instances& result = results[0];
  ASSERT_EQ(result.size(), 32);
  EXPECT_NEAR(result.scores()[0].item<double>(), 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
  // The first cell's box (-4, -4, 12, 12) is clipped to (0, 0, 12, 12), then halved.
  const torch::Tensor expected = torch::tensor({0.0f, 0.0f, 6.0f, 6.0f});
  bool found = false;
  for (int64_t i = 0; i < result.size(); ++i) {
    found = found || torch::allclose(result.boxes().tensor()[i], expected);
  }
  EXPECT_TRUE(found) << result.boxes().tensor();
  EXPECT_LE(result.boxes().tensor().max().item<float>(), 16.0f);
  EXPECT_GE(result.boxes().tensor().min().item<float>(), 0.0f);
  // max_per_img and score_thr filter.
  auto capped = constant_head(", test_cfg: {max_per_img: 5}", 2.0, 1.0);
  EXPECT_EQ(capped->predict(outputs, {sample})[0].size(), 5);
  auto low = constant_head(", test_cfg: {score_thr: 0.9}", 2.0, 1.0);
  EXPECT_EQ(low->predict(outputs, {sample})[0].size(), 0);
}

// ---- loss --------------------------------------------------------------------------------------

TEST_F(TemplateComponentsTest, L2LossEqualsAHandComputation) {
  auto loss = build<LossBase>(yaml("{type: TemplateL2Loss, loss_weight: 0.5}"), "loss");
  const torch::Tensor pred = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  const torch::Tensor target = torch::tensor({{0.0f, 2.0f}, {1.0f, 1.0f}});
  const torch::Tensor weight = torch::tensor({{1.0f, 1.0f}, {0.5f, 2.0f}});
  // Squared errors 1, 0, 4, 9; weighted 1, 0, 2, 18 (sum 21).
  EXPECT_NEAR(loss->forward(pred, target, weight).item<double>(), 0.5 * 21 / 4, 1e-6);
  EXPECT_NEAR(loss->forward(pred, target, weight, 3.0).item<double>(), 0.5 * 21 / 3, 1e-5);
  EXPECT_NEAR(loss->forward(pred, target, weight, std::nullopt, Reduction::sum).item<double>(),
              0.5 * 21, 1e-6);
  EXPECT_EQ(loss->forward(pred, target, {}, std::nullopt, Reduction::none).sizes().vec(),
            (std::vector<int64_t>{2, 2}));
  EXPECT_NEAR(loss->forward(pred, target).item<double>(), 0.5 * 14 / 4, 1e-6);
  EXPECT_THROW(loss->forward(pred, target.reshape({4})), Error);
  EXPECT_NE(config_error([&] {
              build<LossBase>(yaml("{type: TemplateL2Loss, reduction: avg}"));
            }).find("reduction"),
            std::string::npos);
}

// ---- transform ---------------------------------------------------------------------------------

/// A sample with a (4, 4, 3) uint8 BGR image of pixel (10, 20, 200).
PipelineSample bgr_sample() {
  PipelineSample sample;
  sample.img = torch::tensor({10, 20, 200}, torch::kUInt8).repeat({4, 4, 1});
  return sample;
}

TEST_F(TemplateComponentsTest, GrayscaleConvertsToLuma) {
  auto always = build<TransformBase>(yaml("{type: TemplateGrayscale, prob: 1.0}"), "pipeline.1");
  PipelineSample sample = bgr_sample();
  ASSERT_TRUE(always->apply(sample));
  // 0.299 * 200 + 0.587 * 20 + 0.114 * 10 = 72.68 -> 73 in every channel.
  EXPECT_TRUE(torch::equal(sample.img, torch::full({4, 4, 3}, 73, torch::kUInt8)));
  // (3, H, W) float RGB, after Normalize(to_rgb) and DefaultFormatBundle.
  PipelineSample chw;
  chw.img = torch::tensor({200.0f, 20.0f, 10.0f}).reshape({3, 1, 1}).repeat({1, 2, 2});
  chw.img_is_chw = true;
  chw.meta.to_rgb = true;
  ASSERT_TRUE(always->apply(chw));
  EXPECT_TRUE(torch::allclose(chw.img, torch::full({3, 2, 2}, 72.68f)));
  PipelineSample gray;
  gray.img = torch::zeros({4, 4, 1}, torch::kUInt8);
  EXPECT_THROW(always->apply(gray), DataError);
  EXPECT_NE(always->repr().find("prob=1"), std::string::npos) << always->repr();
}

TEST_F(TemplateComponentsTest, GrayscaleIsDeterministicWithASeededEngine) {
  auto half = build<TransformBase>(yaml("{type: TemplateGrayscale, prob: 0.5}"), "pipeline.1");
  auto choices = [&](uint64_t seed) {
    random_engine().seed(seed);
    std::vector<bool> converted;
    for (int i = 0; i < 32; ++i) {
      PipelineSample sample = bgr_sample();
      half->apply(sample);
      converted.push_back(sample.img[0][0][0].item<int>() == 73);
    }
    return converted;
  };
  const std::vector<bool> first = choices(7);
  EXPECT_EQ(first, choices(7));
  const auto count = std::count(first.begin(), first.end(), true);
  EXPECT_GT(count, 0);
  EXPECT_LT(count, 32);
  auto never = build<TransformBase>(yaml("{type: TemplateGrayscale, prob: 0}"), "pipeline.1");
  PipelineSample sample = bgr_sample();
  never->apply(sample);
  EXPECT_TRUE(torch::equal(sample.img, bgr_sample().img));
  EXPECT_NE(config_error([&] {
              build<TransformBase>(yaml("{type: TemplateGrayscale, prob: 1.5}"), "pipeline.1");
            }).find("pipeline.1.prob"),
            std::string::npos);
}

// ---- hook --------------------------------------------------------------------------------------

TEST_F(TemplateComponentsTest, IterLoggerHookCountsAndPrintsEveryInterval) {
  FakeRunner runner;
  runner.max_iters_ = 7;
  auto hook = build<HookBase>(yaml("{type: TemplateIterLoggerHook, interval: 3}"), "custom_hooks.0",
                              HookContext{&runner});
  EXPECT_EQ(hook->default_priority(), static_cast<int>(HookPriority::very_low));
  ::testing::internal::CaptureStdout();
  hook->before_run(runner);
  for (int64_t i = 0; i < 7; ++i) {
    runner.iter_ = i;
    hook->before_train_iter(runner);
    hook->after_train_iter(runner);
  }
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out,
            "TemplateIterLoggerHook: 3 iterations (epoch 1, iter 3/7)\n"
            "TemplateIterLoggerHook: 6 iterations (epoch 1, iter 6/7)\n");
  EXPECT_NE(config_error([&] {
              build<HookBase>(yaml("{type: TemplateIterLoggerHook, interval: 0}"), "h");
            }).find("h.interval"),
            std::string::npos);
}

// ---- LR policy ---------------------------------------------------------------------------------

TEST_F(TemplateComponentsTest, LrConfigPolicyNamesThePolyUpdater) {
  const ComponentConfig cfg = validate_component(
      Kind::scheduler, yaml("{policy: TemplatePoly, power: 2.0}"), "lr_config", nullptr, kLrPolicy);
  EXPECT_EQ(cfg.type(), "TemplatePolyLrUpdaterHook");
  EXPECT_EQ(cfg.get<double>("power"), 2.0);
  const std::string message = config_error([&] {
    validate_component(Kind::scheduler, yaml("{policy: TemplatePolly}"), "lr_config", nullptr,
                       kLrPolicy);
  });
  EXPECT_NE(message.find("TemplatePolyLrUpdaterHook"), std::string::npos) << message;
}

TEST_F(TemplateComponentsTest, PolyPolicyFollowsMmcvsFormula) {
  FakeOptimizer optimizer;
  auto policy = build<SchedulerBase>(
      yaml("{policy: TemplatePoly, power: 2.0, min_lr: 0.001, by_epoch: false}"), "lr_config",
      SchedulerContext{&optimizer}, nullptr, kLrPolicy);
  EXPECT_EQ(policy->target(), ScheduleTarget::lr);
  EXPECT_EQ(policy->default_priority(), static_cast<int>(HookPriority::very_high));
  const auto poly = [](double base, double progress, double max) {
    return (base - 0.001) * std::pow(1.0 - progress / max, 2.0) + 0.001;
  };
  for (int64_t iter : {0, 1, 25, 50, 99, 100}) {
    EXPECT_NEAR(policy->value_at(0.1, 0, iter, 1, 100), poly(0.1, iter, 100), 1e-12) << iter;
  }
  // As a hook: base values recorded at before_run, each group set before each iteration.
  FakeRunner runner;
  runner.max_iters_ = 100;
  policy->before_run(runner);
  runner.iter_ = 40;
  policy->before_train_iter(runner);
  EXPECT_NEAR(optimizer.lr(0), poly(0.1, 40, 100), 1e-12);
  EXPECT_NEAR(optimizer.lr(1), poly(0.02, 40, 100), 1e-12);
}

TEST_F(TemplateComponentsTest, PolyPolicyByEpochAndWarmup) {
  auto by_epoch =
      build<SchedulerBase>(yaml("{policy: TemplatePoly}"), "lr_config", {}, nullptr, kLrPolicy);
  // Defaults power 1, min_lr 0, by_epoch: epoch 3 of 12 whatever the iteration.
  EXPECT_NEAR(by_epoch->value_at(0.02, 3, 777, 12, 0), 0.02 * (1 - 3.0 / 12), 1e-12);
  auto warm = build<SchedulerBase>(
      yaml("{policy: TemplatePoly, by_epoch: false, warmup: linear, warmup_iters: 10, "
           "warmup_ratio: 0.1}"),
      "lr_config", {}, nullptr, kLrPolicy);
  const double regular = 0.1 * (1 - 4.0 / 100);
  // MMCV linear warmup: regular * (1 - (1 - iter / warmup_iters) * (1 - ratio)).
  EXPECT_NEAR(warm->value_at(0.1, 0, 4, 1, 100), regular * (1 - 0.6 * 0.9), 1e-12);
  EXPECT_NEAR(warm->value_at(0.1, 0, 0, 1, 100), 0.1 * 0.1, 1e-12);
  EXPECT_NEAR(warm->value_at(0.1, 0, 10, 1, 100), 0.1 * 0.9, 1e-12);
  EXPECT_NE(config_error([&] {
              build<SchedulerBase>(yaml("{policy: TemplatePoly, warmup: cosine}"), "lr_config", {},
                                   nullptr, kLrPolicy);
            }).find("lr_config.warmup"),
            std::string::npos);
}

}  // namespace
}  // namespace detkit
