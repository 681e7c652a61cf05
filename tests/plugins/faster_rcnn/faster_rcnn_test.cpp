// The FasterRCNN detector built from YAML as a config builds it, small (ResNet-18 at 1/8 width,
// FPN of 16 channels, 64x64 images): loss() and predict() on a tiny batch, and the bad inputs of
// a two-stage detector: an image without proposals (training and test still run), an image
// with neither proposals nor ground truth, proposals with NaN coordinates, num_classes that
// disagrees with the dataset, featmap_strides that do not match the neck, a misspelt train_cfg
// stage, an RPN head with classes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/detector.h"
#include "detkit/modeling/neck.h"
#include "detkit/modeling/roi_head.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "reference_support.h"
#include "test_support.h"

namespace {

using detkit::DetectorBase;

/// A small Faster R-CNN with `extra` entries appended to the detector's map; `head_extra` to
/// roi_head.bbox_head's.
std::string faster_rcnn_yaml(const std::string& extra = "", const std::string& head_extra = "") {
  return R"({type: FasterRCNN,
  backbone: {type: ResNet, depth: 18, base_channels: 8, norm_eval: false},
  neck: {type: FPN, in_channels: [8, 16, 32, 64], out_channels: 16, num_outs: 5},
  rpn_head: {type: RPNHead, in_channels: 16, feat_channels: 16,
             anchor_generator: {type: AnchorGenerator, scales: [4], ratios: [0.5, 1.0, 2.0],
                                strides: [4, 8, 16, 32, 64]}},
  roi_head: {type: StandardRoIHead,
             bbox_roi_extractor: {type: SingleRoIExtractor, out_channels: 16,
                                  roi_layer: {type: RoIAlign, output_size: 7, sampling_ratio: 0},
                                  featmap_strides: [4, 8, 16, 32]},
             bbox_head: {type: Shared2FCBBoxHead, in_channels: 16, fc_out_channels: 32,
                         num_classes: 2)" +
         head_extra + "}}" + extra + "}";
}

/// `text` with its first `from` replaced by `to` (the test fails when there is none).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

/// The dataset's classes of the tests.
detkit::DetectorContext two_classes() {
  detkit::DetectorContext context;
  context.classes =
      detkit::Known<std::vector<std::string>>({"cat", "dog"}, "the test dataset's classes");
  return context;
}

/// A batch of `n` random 64x64 images (resized by 2 from 32x32), each with one box per class
/// when `with_gt`.
detkit::ImageBatch tiny_batch(int64_t n, bool with_gt = true) {
  torch::manual_seed(7);
  detkit::ImageBatch batch;
  batch.images = torch::randn({n, 3, 64, 64});
  for (int64_t i = 0; i < n; ++i) {
    detkit::DetSample sample;
    sample.meta.ori_shape = {32, 32, 3};
    sample.meta.img_shape = sample.meta.pad_shape = {64, 64, 3};
    sample.meta.scale_factor = {2.0, 2.0, 2.0, 2.0};
    if (with_gt) {
      sample.gt = detkit::Instances(
          detkit::Boxes(torch::tensor({{6.f, 6.f, 32.f, 38.f}, {35.f, 26.f, 61.f, 58.f}})),
          torch::tensor({0, 1}, torch::kLong));
    } else {
      sample.gt =
          detkit::Instances(detkit::Boxes(torch::zeros({0, 4})), torch::zeros({0}, torch::kLong));
    }
    batch.samples.push_back(sample);
  }
  return batch;
}

/// Whether every loss is finite, and their sum (keys with "loss").
torch::Tensor checked_total(const detkit::LossDict& losses) {
  torch::Tensor total = torch::zeros({});
  for (const auto& item : losses) {
    EXPECT_TRUE(std::isfinite(item.value().item<double>())) << item.key();
    if (item.key().find("loss") != std::string::npos) total = total + item.value();
  }
  return total;
}

class FasterRCNNTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { detkit::testing::load_in_tree_plugins(); }

  static std::shared_ptr<DetectorBase> build(const std::string& yaml) {
    return detkit::build<DetectorBase>(detkit::testing::parse_yaml(yaml, "faster_rcnn.yaml"),
                                       "model", two_classes());
  }
};

TEST_F(FasterRCNNTest, LossAndPredictOnATinyBatch) {
  auto model = build(faster_rcnn_yaml());
  EXPECT_EQ(model->class_names(), std::vector<std::string>({"cat", "dog"}));
  const detkit::ImageBatch batch = tiny_batch(2);
  model->train();
  const detkit::LossDict losses = model->loss(batch);
  std::vector<std::string> keys;
  for (const auto& item : losses)
    keys.push_back(item.key());
  EXPECT_EQ(keys, std::vector<std::string>(
                      {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox"}));
  checked_total(losses).backward();
  const auto parameters = model->named_parameters();
  for (const char* name : {"rpn_head.rpn_cls.weight", "rpn_head.rpn_reg.weight",
                           "roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.fc_reg.weight",
                           "roi_head.bbox_head.shared_fcs.0.weight", "backbone.conv1.weight"}) {
    ASSERT_TRUE(parameters.contains(name)) << name;
    EXPECT_GT(parameters[name].grad().abs().sum().item<double>(), 0) << name;
  }

  model->eval();
  torch::NoGradGuard no_grad;
  // A low score_thr, so that the random model detects something.
  auto permissive = build(faster_rcnn_yaml(", test_cfg: {rcnn: {score_thr: 0.0}}"));
  permissive->eval();
  const std::vector<detkit::Instances> results = permissive->predict(batch);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) {
    ASSERT_GT(result.size(), 0);
    EXPECT_LE(result.size(), 100);
    EXPECT_TRUE(torch::equal(std::get<0>(result.scores().sort(0, true)), result.scores()));
    EXPECT_GE(result.labels().min().item<int64_t>(), 0);
    EXPECT_LE(result.labels().max().item<int64_t>(), 1);
    // In the original image's pixels: the 64-pixel image was resized by 2 from 32.
    EXPECT_GE(result.boxes().tensor().min().item<double>(), 0);
    EXPECT_LE(result.boxes().tensor().max().item<double>(), 32.0 + 1e-4);
  }
}

TEST_F(FasterRCNNTest, AnImageWithoutProposalsStillTrainsAndTests) {
  // min_bbox_size 1000: the RPN keeps no proposal, in training and in test.
  auto model = build(faster_rcnn_yaml(
      ", train_cfg: {rpn_proposal: {min_bbox_size: 1000}}, test_cfg: {rpn: {min_bbox_size: 1000}, "
      "rcnn: {score_thr: 0.0}}"));
  model->train();
  // With ground truth: the gt boxes are the RoI head's only proposals (add_gt_as_proposals).
  const detkit::LossDict with_gt = model->loss(tiny_batch(2));
  EXPECT_GT(with_gt["loss_cls"].item<double>(), 0);
  checked_total(with_gt).backward();
  // Without ground truth either: no RoI at all; the RoI losses are 0 and still backpropagate.
  model->zero_grad();
  const detkit::LossDict without = model->loss(tiny_batch(2, /*with_gt=*/false));
  EXPECT_EQ(without["loss_cls"].item<double>(), 0.0);
  EXPECT_EQ(without["loss_bbox"].item<double>(), 0.0);
  EXPECT_GT(without["loss_rpn_cls"].item<double>(), 0);
  checked_total(without).backward();

  model->eval();
  torch::NoGradGuard no_grad;
  const std::vector<detkit::Instances> results = model->predict(tiny_batch(2));
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results)
    EXPECT_EQ(result.size(), 0);
}

TEST_F(FasterRCNNTest, ProposalsWithNaNCoordinatesAreAnError) {
  auto model = build(faster_rcnn_yaml());
  model->eval();
  const auto backbone = detkit::testing::child<detkit::BackboneBase>(*model, "backbone");
  const auto neck = detkit::testing::child<detkit::NeckBase>(*model, "neck");
  const auto roi_head = detkit::testing::child<detkit::RoIHeadBase>(*model, "roi_head");
  ASSERT_TRUE(backbone && neck && roi_head);
  const detkit::ImageBatch batch = tiny_batch(1);
  torch::NoGradGuard no_grad;
  const auto features = neck->forward(backbone->forward(batch.images));
  const float nan = std::nanf("");
  const detkit::Instances proposals(
      detkit::Boxes(torch::tensor({{1.f, 2.f, 20.f, 30.f}, {nan, 2.f, 20.f, 30.f}})),
      torch::zeros({2}, torch::kLong), torch::ones({2}));
  const std::string message = detkit::testing::error_of<std::exception>(
      [&] { roi_head->predict(features, {proposals}, batch.samples); });
  EXPECT_NE(message.find("NaN"), std::string::npos) << message;
  // One proposal set per image.
  EXPECT_NE(detkit::testing::error_of([&] {
              roi_head->predict(features, {}, batch.samples);
            }).find("0 proposal sets for 1 images"),
            std::string::npos);
}

TEST_F(FasterRCNNTest, BadConfigsNameTheProblem) {
  struct Case {
    std::string yaml;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      // The RoI head's classes disagree with the dataset's.
      {replaced(faster_rcnn_yaml(), "num_classes: 2", "num_classes: 3"),
       {"model.roi_head.bbox_head", "num_classes", "3", "the dataset's 2 classes"}},
      // The extractor pools from levels the neck does not have.
      {replaced(faster_rcnn_yaml(), "featmap_strides: [4, 8, 16, 32]",
                "featmap_strides: [8, 16, 32, 64]"),
       {"model.roi_head.bbox_roi_extractor", "featmap_strides [8, 16, 32, 64] do not match",
        "neck FPN (model.neck)"}},
      // A misspelt stage of train_cfg.
      {faster_rcnn_yaml(", train_cfg: {rpn_proposals: {nms_pre: 10}}"),
       {"train_cfg.rpn_proposals: unknown stage", "rpn, rpn_proposal, rcnn"}},
      // RPN heads are class-agnostic.
      {replaced(faster_rcnn_yaml(), "feat_channels: 16,", "feat_channels: 16, num_classes: 2,"),
       {"RPNHead is class-agnostic", "num_classes must be 1"}},
      // A required part is missing.
      {"{type: FasterRCNN, backbone: {type: ResNet, depth: 18}}", {"FasterRCNN needs an rpn_head"}},
  };
  for (const Case& c : cases) {
    const std::string message =
        detkit::testing::error_of<detkit::ConfigError>([&] { build(c.yaml); });
    for (const auto& says : c.says)
      EXPECT_NE(message.find(says), std::string::npos) << "expected '" << says << "' in\n"
                                                       << message;
  }
}

}  // namespace
