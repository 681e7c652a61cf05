// The SDK's AnchorHead machinery (detkit/modeling/anchor_head.h, libdetkit), exercised through
// RetinaHead on cases small enough to check by hand: one level of stride 16 with one 16 x 16
// anchor per cell (AnchorGenerator, center_offset 0), so the 2 x 2 map of a 32 x 32 image has
// the anchors
//   0: [-8, -8, 8, 8]   1: [8, -8, 24, 8]   2: [-8, 8, 8, 24]   3: [8, 8, 24, 24].
// Also: empty ground truth, valid flags and allowed_border, pos_weight, the average factor of a
// batch, predict()'s rescaling and order, RetinaHead's parameter names, and bad inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/anchor_head.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/init.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "test_support.h"

namespace {

using detkit::AnchorHead;
using detkit::DenseHeadBase;

/// RetinaHead on one level of one 16 x 16 anchor per cell; `extra` adds config entries.
std::string tiny_head_yaml(const std::string& extra = "") {
  return "{type: RetinaHead, num_classes: 3, in_channels: 4, feat_channels: 4, stacked_convs: 1,"
         " anchor_generator: {type: AnchorGenerator, strides: [16], ratios: [1.0], scales: [1.0],"
         " base_sizes: [16]},"
         " loss_cls: {type: FocalLoss, use_sigmoid: true, gamma: 2.0, alpha: 0.25},"
         " loss_bbox: {type: L1Loss}" +
         extra + "}";
}

/// A 32 x 32 image (padded to `pad_h` x 32) with the given ground truth.
detkit::DetSample sample_with(std::vector<std::vector<float>> boxes, std::vector<int64_t> labels,
                              int64_t pad_h = 32) {
  detkit::DetSample sample;
  sample.meta.ori_shape = {32, 32, 3};
  sample.meta.img_shape = {32, 32, 3};
  sample.meta.pad_shape = {pad_h, 32, 3};
  torch::Tensor box_tensor = torch::zeros({static_cast<int64_t>(boxes.size()), 4});
  for (size_t i = 0; i < boxes.size(); ++i)
    box_tensor[i] = torch::tensor(boxes[i]);
  sample.gt = detkit::Instances(detkit::Boxes(box_tensor), torch::tensor(labels, torch::kLong));
  return sample;
}

class AnchorHeadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins({LOSSES_PLUGIN_FILE, RETINANET_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
  }

  /// Builds the tiny head (with `extra` config entries) as an AnchorHead.
  static std::shared_ptr<AnchorHead> tiny_head(const std::string& extra = "") {
    auto head = std::dynamic_pointer_cast<AnchorHead>(
        detkit::testing::build_from_yaml<DenseHeadBase>(tiny_head_yaml(extra), "bbox_head"));
    EXPECT_NE(head, nullptr);
    return head;
  }

  /// The targets of the 2 x 2 map for `samples`.
  static detkit::AnchorTargets targets_of(const AnchorHead& head,
                                          const std::vector<detkit::DetSample>& samples) {
    return head.get_targets(head.get_anchors({{2, 2}}, samples, torch::TensorOptions()), samples);
  }
};

TEST_F(AnchorHeadTest, AnchorsOfTheTinyGrid) {
  auto head = tiny_head();
  const detkit::BatchAnchors anchors =
      head->get_anchors({{2, 2}}, {sample_with({}, {})}, torch::TensorOptions());
  const torch::Tensor expected = torch::tensor({{-8.f, -8.f, 8.f, 8.f},
                                                {8.f, -8.f, 24.f, 8.f},
                                                {-8.f, 8.f, 8.f, 24.f},
                                                {8.f, 8.f, 24.f, 24.f}});
  ASSERT_EQ(anchors.multi_level.size(), 1u);
  EXPECT_TRUE(torch::equal(anchors.multi_level[0], expected)) << anchors.multi_level[0];
  EXPECT_EQ(anchors.num_level_anchors(), std::vector<int64_t>({4}));
  EXPECT_TRUE(anchors.valid_flags[0].all().item<bool>());
}

TEST_F(AnchorHeadTest, TargetsOfOneBox) {
  // gt [10, 10, 26, 26] overlaps anchor 3 with IoU 14*14 / (2*256 - 196) = 0.62 >= 0.5: it is
  // positive with label 2 and target dx = dy = (18 - 16) / 16, dw = dh = log(16 / 16) = 0; the
  // others have IoU < 0.4 and are negatives.
  auto head = tiny_head();
  const auto targets = targets_of(*head, {sample_with({{10, 10, 26, 26}}, {2})});
  EXPECT_TRUE(torch::equal(targets.labels, torch::tensor({{3, 3, 3, 2}}, torch::kLong)));
  EXPECT_TRUE(torch::equal(targets.label_weights, torch::ones({1, 4})));
  torch::Tensor expected_targets = torch::zeros({1, 4, 4});
  expected_targets[0][3] = torch::tensor({0.125f, 0.125f, 0.f, 0.f});
  EXPECT_TRUE(torch::allclose(targets.bbox_targets, expected_targets, 1e-6, 1e-6))
      << targets.bbox_targets;
  torch::Tensor expected_weights = torch::zeros({1, 4, 4});
  expected_weights[0][3] = 1;
  EXPECT_TRUE(torch::equal(targets.bbox_weights, expected_weights));
  EXPECT_TRUE(torch::equal(targets.pos_inds[0], torch::tensor({3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(targets.neg_inds[0], torch::tensor({0, 1, 2}, torch::kLong)));
  EXPECT_DOUBLE_EQ(targets.avg_factor, 1.0);
}

TEST_F(AnchorHeadTest, IgnoredAnchorsBetweenThresholdsHaveNoWeight) {
  // gt [-8, -8, 8, -0.8] overlaps anchor 0 with IoU 16 * 7.2 / 256 = 0.45, between neg_iou_thr
  // 0.4 and pos_iou_thr 0.5, and no other anchor; with min_pos_iou 0.5 the low-quality rule
  // does not promote it either: anchor 0 is ignored (background label, weight 0).
  auto head = tiny_head(
      ", train_cfg: {assigner: {type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4,"
      " min_pos_iou: 0.5, ignore_iof_thr: -1}}");
  const auto targets = targets_of(*head, {sample_with({{-8, -8, 8, -0.8f}}, {1})});
  // IoU 0.45: ignored (weight 0, background label), no positive.
  EXPECT_TRUE(torch::equal(targets.labels, torch::tensor({{3, 3, 3, 3}}, torch::kLong)));
  EXPECT_TRUE(torch::equal(targets.label_weights, torch::tensor({{0.f, 1.f, 1.f, 1.f}})));
  EXPECT_EQ(targets.pos_inds[0].numel(), 0);
  EXPECT_DOUBLE_EQ(targets.avg_factor, 1.0);  // max(num_pos, 1)
}

TEST_F(AnchorHeadTest, ValidFlagsAndAllowedBorder) {
  // Padded to 16 x 32: the second row of cells lies outside the padded image.
  auto head = tiny_head();
  const auto anchors =
      head->get_anchors({{2, 2}}, {sample_with({}, {}, /*pad_h=*/16)}, torch::TensorOptions());
  EXPECT_TRUE(torch::equal(anchors.valid_flags[0], torch::tensor({true, true, false, false})));
  const auto invalid = head->get_targets(anchors, {sample_with({}, {}, 16)});
  EXPECT_TRUE(torch::equal(invalid.label_weights, torch::tensor({{1.f, 1.f, 0.f, 0.f}})));

  // allowed_border 0: only anchor 3 lies inside the 32 x 32 image.
  auto bordered = tiny_head(", train_cfg: {allowed_border: 0}");
  const auto targets = targets_of(*bordered, {sample_with({}, {})});
  EXPECT_TRUE(torch::equal(targets.label_weights, torch::tensor({{0.f, 0.f, 0.f, 1.f}})));
  // allowed_border 8 admits every anchor (x1, y1 >= -8; x2, y2 < 40).
  auto wide = tiny_head(", train_cfg: {allowed_border: 8}");
  EXPECT_TRUE(
      torch::equal(targets_of(*wide, {sample_with({}, {})}).label_weights, torch::ones({1, 4})));
}

TEST_F(AnchorHeadTest, PosWeightAndBatchAverageFactor) {
  auto head = tiny_head(", train_cfg: {pos_weight: 2.5}");
  // Image 0: one positive; image 1: two positives (anchors 0 and 3); image 2: none.
  const auto targets = targets_of(
      *head, {sample_with({{10, 10, 26, 26}}, {2}),
              sample_with({{-8, -8, 8, 8}, {8, 8, 24, 24}}, {0, 1}), sample_with({}, {})});
  EXPECT_FLOAT_EQ(targets.label_weights[0][3].item<float>(), 2.5f);
  EXPECT_FLOAT_EQ(targets.label_weights[0][0].item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(targets.labels[1], torch::tensor({0, 3, 3, 1}, torch::kLong)));
  // MMDetection: sum over images of max(num_pos, 1) = 1 + 2 + 1.
  EXPECT_DOUBLE_EQ(targets.avg_factor, 4.0);
}

TEST_F(AnchorHeadTest, EmptyGroundTruth) {
  auto head = tiny_head();
  torch::manual_seed(0);
  const auto outputs = head->forward({torch::randn({1, 4, 2, 2})});
  const auto samples = std::vector<detkit::DetSample>{sample_with({}, {})};
  const auto targets = targets_of(*head, samples);
  EXPECT_TRUE(torch::equal(targets.labels, torch::full({1, 4}, 3, torch::kLong)));
  EXPECT_TRUE(torch::equal(targets.label_weights, torch::ones({1, 4})));
  const detkit::LossDict losses = head->loss(outputs, samples);
  EXPECT_GT(losses["loss_cls"].item<double>(), 0);
  EXPECT_EQ(losses["loss_bbox"].item<double>(), 0);
  // The box loss still belongs to the graph (zero gradients, no error).
  (losses["loss_cls"] + losses["loss_bbox"]).backward();
}

TEST_F(AnchorHeadTest, PredictRescalesSortsAndLimits) {
  auto head = tiny_head(", test_cfg: {score_thr: 0.0, max_per_img: 5, nms: {iou_threshold: 1.0}}");
  // Logits: class c of anchor a = a + c / 10 (3 classes); zero deltas (boxes = anchors).
  torch::Tensor cls = torch::zeros({1, 3, 2, 2});
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t c = 0; c < 3; ++c)
      cls[0][c][a / 2][a % 2] = static_cast<float>(a) + c / 10.0f;
  const detkit::MultiLevelOutputs outputs{{cls}, {torch::zeros({1, 4, 2, 2})}};
  auto sample = sample_with({}, {});
  sample.meta.scale_factor = {2.0, 4.0, 2.0, 4.0};
  const auto results = head->predict(outputs, {sample});
  ASSERT_EQ(results.size(), 1u);
  const detkit::Instances& result = results[0];
  ASSERT_EQ(result.size(), 5);
  // By decreasing score: anchor 3 classes 2, 1, 0, then anchor 2 classes 2, 1.
  EXPECT_TRUE(torch::equal(result.labels(), torch::tensor({2, 1, 0, 2, 1}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(result.scores(),
                              torch::sigmoid(torch::tensor({3.2f, 3.1f, 3.0f, 2.2f, 2.1f}))));
  // Anchor 3 clipped to the 32 x 32 image ([8, 8, 24, 24]) and divided by the scale factor;
  // anchor 2 [-8, 8, 8, 24] clipped to [0, 8, 8, 24].
  EXPECT_TRUE(torch::allclose(result.boxes().tensor()[0], torch::tensor({4.f, 2.f, 12.f, 6.f})));
  EXPECT_TRUE(torch::allclose(result.boxes().tensor()[3], torch::tensor({0.f, 2.f, 4.f, 6.f})));

  // Nothing above score_thr: an empty result.
  auto strict = tiny_head(", test_cfg: {score_thr: 0.999}");
  const auto none = strict->predict(outputs, {sample});
  EXPECT_EQ(none[0].size(), 0);
}

TEST_F(AnchorHeadTest, NmsPreKeepsTheBestPairsPerLevel) {
  auto head = tiny_head(", test_cfg: {score_thr: 0.0, nms_pre: 2, nms: {iou_threshold: 1.0}}");
  torch::Tensor cls = torch::arange(12, torch::kFloat).reshape({1, 3, 2, 2});
  const detkit::MultiLevelOutputs outputs{{cls}, {torch::zeros({1, 4, 2, 2})}};
  const auto results = head->predict(outputs, {sample_with({}, {})});
  ASSERT_EQ(results[0].size(), 2);
  // The two best (anchor, class) pairs: class 2 of anchors 3 and 2 (logits 11 and 10).
  EXPECT_TRUE(torch::equal(results[0].labels(), torch::tensor({2, 2}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(results[0].scores(), torch::sigmoid(torch::tensor({11.f, 10.f}))));
}

TEST_F(AnchorHeadTest, StateDictKeysAreMMDetections) {
  // The defaults are MMDetection's RetinaHead (80 classes, 256 channels, 4 stacked convs).
  auto head = detkit::testing::build_from_yaml<DenseHeadBase>(
      "{type: RetinaHead, loss_cls: {type: FocalLoss, use_sigmoid: true}, "
      "loss_bbox: {type: L1Loss}}",
      "bbox_head");
  std::ostringstream actual;
  for (const auto& item : head->named_parameters()) {
    actual << "bbox_head." << item.key() << " [";
    for (int64_t d = 0; d < item.value().dim(); ++d)
      actual << (d ? "," : "") << item.value().size(d);
    actual << "]\n";
  }
  EXPECT_EQ(head->named_buffers().size(), 0u);
  EXPECT_EQ(actual.str(), detkit::testing::read_file(
                              detkit::testing::data_path("retinanet/retina_head_keys.txt")));
}

TEST_F(AnchorHeadTest, InitCfgIsMMDetections) {
  // Normal(std 0.01) on every Conv2d (the towers' convs too: a torch ModuleList has no
  // init_weights of its own, so ConvModule's kaiming init does not run again), retina_cls with
  // the bias of a 0.01 foreground prior.
  torch::manual_seed(3);
  auto head = detkit::testing::build_from_yaml<DenseHeadBase>(
      "{type: RetinaHead, num_classes: 4, in_channels: 32, feat_channels: 32, "
      "loss_cls: {type: FocalLoss}, loss_bbox: {type: L1Loss}}",
      "bbox_head");
  detkit::init_weights(*head);
  const auto parameters = head->named_parameters();
  const double prior_bias = detkit::bias_init_with_prob(0.01);
  EXPECT_TRUE(torch::allclose(parameters["retina_cls.bias"], torch::full({36}, prior_bias)));
  EXPECT_TRUE(torch::equal(parameters["retina_reg.bias"], torch::zeros({36})));
  for (const char* name : {"cls_convs.0.conv.weight", "reg_convs.3.conv.weight",
                           "retina_cls.weight", "retina_reg.weight"}) {
    const double std = parameters[name].std().item<double>();
    EXPECT_NEAR(std, 0.01, 0.001) << name;
  }
  EXPECT_TRUE(torch::equal(parameters["cls_convs.2.conv.bias"], torch::zeros({32})));
}

TEST_F(AnchorHeadTest, ContextDisagreementsNameBothOrigins) {
  detkit::HeadContext context;
  context.input_shapes = {{4, 16}};
  context.input_origin = "neck TestNeck (model.neck)";
  context.num_classes = detkit::Known<int64_t>(5, "the dataset's 5 classes");
  const detkit::ConfigNode cfg = detkit::testing::parse_yaml(tiny_head_yaml(), "head.yaml");
  try {
    detkit::build<DenseHeadBase>(cfg, "model.bbox_head", context);
    FAIL() << "num_classes 3 vs 5 accepted";
  } catch (const detkit::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("num_classes"), std::string::npos) << message;
    EXPECT_NE(message.find("the dataset's 5 classes"), std::string::npos) << message;
    EXPECT_NE(message.find("3"), std::string::npos) << message;
  }
  context.num_classes = detkit::Known<int64_t>(3, "the dataset's 3 classes");
  context.input_shapes = {{8, 16}};
  try {
    detkit::build<DenseHeadBase>(cfg, "model.bbox_head", context);
    FAIL() << "in_channels 4 vs 8 accepted";
  } catch (const detkit::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("in_channels"), std::string::npos) << message;
    EXPECT_NE(message.find("neck TestNeck (model.neck)"), std::string::npos) << message;
    EXPECT_NE(message.find("8"), std::string::npos) << message;
  }
  // Anchor strides that are not the neck's.
  context.input_shapes = {{4, 8}};
  try {
    detkit::build<DenseHeadBase>(cfg, "model.bbox_head", context);
    FAIL() << "anchor strides [16] vs levels [8] accepted";
  } catch (const detkit::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("anchor_generator"), std::string::npos) << message;
    EXPECT_NE(message.find("[16]"), std::string::npos) << message;
    EXPECT_NE(message.find("[8]"), std::string::npos) << message;
  }
}

TEST_F(AnchorHeadTest, BadConfigsAreErrors) {
  // A regression loss as loss_cls.
  try {
    detkit::testing::build_from_yaml<DenseHeadBase>(
        "{type: RetinaHead, loss_cls: {type: L1Loss}, loss_bbox: {type: L1Loss}}", "bbox_head");
    FAIL() << "L1Loss accepted as loss_cls";
  } catch (const detkit::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("loss_cls"), std::string::npos) << message;
    EXPECT_NE(message.find("L1Loss"), std::string::npos) << message;
  }
  // An NMS type other than nms, an unknown test_cfg key.
  EXPECT_THROW(tiny_head(", test_cfg: {nms: {type: soft_nms}}"), detkit::ConfigError);
  EXPECT_THROW(tiny_head(", test_cfg: {nms_per: 10}"), detkit::ConfigError);
  // Outputs of the wrong number of levels.
  auto head = tiny_head();
  const detkit::MultiLevelOutputs two_levels{
      {torch::zeros({1, 3, 2, 2}), torch::zeros({1, 3, 1, 1})},
      {torch::zeros({1, 4, 2, 2}), torch::zeros({1, 4, 1, 1})}};
  EXPECT_THROW(head->loss(two_levels, {sample_with({}, {})}), detkit::Error);
  // Samples that are not the batch's.
  const detkit::MultiLevelOutputs one_level{{torch::zeros({1, 3, 2, 2})},
                                            {torch::zeros({1, 4, 2, 2})}};
  EXPECT_THROW(head->loss(one_level, {sample_with({}, {}), sample_with({}, {})}), detkit::Error);
}

}  // namespace
