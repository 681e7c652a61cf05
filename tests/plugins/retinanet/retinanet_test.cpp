// The RetinaNet detector built from YAML, as a config builds it, with the SDK template's toy
// backbone (MobileNet) and neck (TemplateNeck, 5 levels at strides 8 ... 128): loss() and
// predict() on a tiny batch, parameter names, the context checks (in_channels of the head vs
// the neck, num_classes vs the dataset) and an image smaller than the largest stride.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "test_support.h"

namespace {

using detkit::DetectorBase;

/// A small RetinaNet; `head_extra` adds entries to bbox_head.
std::string retinanet_yaml(const std::string& head_extra = "") {
  return R"({type: RetinaNet,
  backbone: {type: MobileNet, widen_factor: 0.25, out_indices: [1, 2, 3]},
  neck: {type: TemplateNeck, out_channels: 16, num_outs: 5},
  bbox_head: {type: RetinaHead, num_classes: 2, in_channels: 16, stacked_convs: 2,
              feat_channels: 16,
              loss_cls: {type: FocalLoss, use_sigmoid: true, gamma: 2.0, alpha: 0.25,
                         loss_weight: 1.0},
              loss_bbox: {type: L1Loss, loss_weight: 1.0})" +
         head_extra + R"(},
  train_cfg: {assigner: {type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4,
                         min_pos_iou: 0, ignore_iof_thr: -1},
              allowed_border: -1, pos_weight: -1, debug: false},
  test_cfg: {nms_pre: 1000, min_bbox_size: 0, score_thr: 0.05,
             nms: {type: nms, iou_threshold: 0.5}, max_per_img: 100}})";
}

/// The dataset's classes of the tests.
detkit::DetectorContext two_classes() {
  detkit::DetectorContext context;
  context.classes =
      detkit::Known<std::vector<std::string>>({"cat", "dog"}, "the test dataset's classes");
  return context;
}

/// A batch of `n` random images of `size` x `size` pixels, each with one box per class.
detkit::ImageBatch tiny_batch(int64_t n, int64_t size) {
  torch::manual_seed(7);
  detkit::ImageBatch batch;
  batch.images = torch::randn({n, 3, size, size});
  for (int64_t i = 0; i < n; ++i) {
    detkit::DetSample sample;
    sample.meta.ori_shape = {size / 2, size / 2, 3};
    sample.meta.img_shape = {size, size, 3};
    sample.meta.pad_shape = {size, size, 3};
    sample.meta.scale_factor = {2.0, 2.0, 2.0, 2.0};
    const float s = static_cast<float>(size);
    sample.gt = detkit::Instances(
        detkit::Boxes(torch::tensor({{0.1f * s, 0.1f * s, 0.5f * s, 0.6f * s},
                                     {0.55f * s, 0.4f * s, 0.95f * s, 0.9f * s}})),
        torch::tensor({0, 1}, torch::kLong));
    batch.samples.push_back(sample);
  }
  return batch;
}

class RetinaNetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins(
        {LOSSES_PLUGIN_FILE, RETINANET_PLUGIN_FILE, TEMPLATE_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
  }

  static std::shared_ptr<DetectorBase> build(const std::string& yaml) {
    return detkit::build<DetectorBase>(detkit::testing::parse_yaml(yaml, "retinanet.yaml"), "model",
                                       two_classes());
  }
};

TEST_F(RetinaNetTest, LossAndPredictOnATinyBatch) {
  auto model = build(retinanet_yaml());
  EXPECT_EQ(model->class_names(), std::vector<std::string>({"cat", "dog"}));
  const detkit::ImageBatch batch = tiny_batch(2, 64);

  model->train();
  const detkit::LossDict losses = model->loss(batch);
  ASSERT_TRUE(losses.contains("loss_cls"));
  ASSERT_TRUE(losses.contains("loss_bbox"));
  const double loss_cls = losses["loss_cls"].item<double>();
  const double loss_bbox = losses["loss_bbox"].item<double>();
  EXPECT_TRUE(std::isfinite(loss_cls) && loss_cls > 0) << loss_cls;
  EXPECT_TRUE(std::isfinite(loss_bbox) && loss_bbox > 0) << loss_bbox;
  (losses["loss_cls"] + losses["loss_bbox"]).backward();
  const auto parameters = model->named_parameters();
  for (const char* name : {"bbox_head.retina_cls.weight", "bbox_head.retina_reg.weight",
                           "bbox_head.cls_convs.0.conv.weight"}) {
    ASSERT_TRUE(parameters.contains(name)) << name;
    EXPECT_GT(parameters[name].grad().abs().sum().item<double>(), 0) << name;
  }

  model->eval();
  torch::NoGradGuard no_grad;
  const std::vector<detkit::Instances> results = model->predict(batch);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) {
    ASSERT_GT(result.size(), 0);
    EXPECT_LE(result.size(), 100);
    // By decreasing score, above score_thr, labels of the two classes.
    EXPECT_TRUE(torch::equal(std::get<0>(result.scores().sort(0, true)), result.scores()));
    EXPECT_GT(result.scores().min().item<double>(), 0.05);
    EXPECT_GE(result.labels().min().item<int64_t>(), 0);
    EXPECT_LE(result.labels().max().item<int64_t>(), 1);
    // In the original image's pixels: the 64-pixel image was resized by 2 from 32.
    EXPECT_GE(result.boxes().tensor().min().item<double>(), 0);
    EXPECT_LE(result.boxes().tensor().max().item<double>(), 32.0 + 1e-4);
  }
}

TEST_F(RetinaNetTest, ParameterNamesArePrefixedAsMMDetections) {
  auto model = build(retinanet_yaml());
  bool backbone = false, neck = false, head = false;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    backbone = backbone || name.rfind("backbone.", 0) == 0;
    neck = neck || name.rfind("neck.", 0) == 0;
    head = head || name.rfind("bbox_head.", 0) == 0;
    EXPECT_TRUE(name.rfind("backbone.", 0) == 0 || name.rfind("neck.", 0) == 0 ||
                name.rfind("bbox_head.", 0) == 0)
        << name;
  }
  EXPECT_TRUE(backbone && neck && head);
  const auto parameters = model->named_parameters();
  // 2 classes x 9 anchors; 4 deltas x 9 anchors.
  EXPECT_EQ(parameters["bbox_head.retina_cls.weight"].sizes(), torch::IntArrayRef({18, 16, 3, 3}));
  EXPECT_EQ(parameters["bbox_head.retina_reg.bias"].sizes(), torch::IntArrayRef({36}));
  EXPECT_TRUE(parameters.contains("bbox_head.reg_convs.1.conv.weight"));
}

TEST_F(RetinaNetTest, HeadInChannelsDisagreeingWithTheNeckIsAnErrorNamingBoth) {
  try {
    build(
        retinanet_yaml().replace(retinanet_yaml().find("in_channels: 16"), 15, "in_channels: 32"));
    FAIL() << "in_channels 32 vs the neck's 16 accepted";
  } catch (const detkit::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("model.bbox_head"), std::string::npos) << message;
    EXPECT_NE(message.find("in_channels"), std::string::npos) << message;
    EXPECT_NE(message.find("32"), std::string::npos) << message;
    EXPECT_NE(message.find("16"), std::string::npos) << message;
    EXPECT_NE(message.find("neck TemplateNeck (model.neck)"), std::string::npos) << message;
    EXPECT_NE(message.find("retinanet.yaml"), std::string::npos) << message;
  }
}

TEST_F(RetinaNetTest, NumClassesDisagreeingWithTheDatasetIsAnError) {
  try {
    build(retinanet_yaml().replace(retinanet_yaml().find("num_classes: 2"), 14, "num_classes: 3"));
    FAIL() << "num_classes 3 vs 2 classes accepted";
  } catch (const detkit::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("num_classes"), std::string::npos) << message;
    EXPECT_NE(message.find("the dataset's 2 classes"), std::string::npos) << message;
  }
}

TEST_F(RetinaNetTest, DetectorTestCfgReplacesTheHeads) {
  // model.test_cfg (max_per_img 100) wins over bbox_head.test_cfg (max_per_img 3).
  auto model = build(retinanet_yaml(", test_cfg: {max_per_img: 3, score_thr: 0.0}"));
  model->eval();
  torch::NoGradGuard no_grad;
  const auto results = model->predict(tiny_batch(1, 64));
  EXPECT_GT(results[0].size(), 3);
  EXPECT_LE(results[0].size(), 100);
}

TEST_F(RetinaNetTest, ImageSmallerThanTheLargestStride) {
  // 40 x 40 pixels: the stride-64 and stride-128 levels have one cell each, partly outside the
  // image; anchors whose cells lie in the padded image stay valid, loss and predict run.
  auto model = build(retinanet_yaml());
  const detkit::ImageBatch batch = tiny_batch(1, 40);
  const detkit::LossDict losses = model->loss(batch);
  EXPECT_TRUE(std::isfinite(losses["loss_cls"].item<double>()));
  EXPECT_TRUE(std::isfinite(losses["loss_bbox"].item<double>()));
  model->eval();
  torch::NoGradGuard no_grad;
  const auto results = model->predict(batch);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_LE(results[0].boxes().tensor().max().item<double>(), 20.0 + 1e-4);
}

TEST_F(RetinaNetTest, MissingPartsAreErrors) {
  EXPECT_THROW(build("{type: RetinaNet, bbox_head: {type: RetinaHead}}"), detkit::ConfigError);
  EXPECT_THROW(build("{type: RetinaNet, backbone: {type: MobileNet}}"), detkit::ConfigError);
  EXPECT_THROW(build("{type: RetinaNet, backbone: {type: NoSuchBackbone}, "
                     "bbox_head: {type: RetinaHead}}"),
               detkit::ConfigError);
}

}  // namespace
