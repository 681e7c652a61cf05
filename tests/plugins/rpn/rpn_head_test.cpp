// RPNHead (plugins/rpn) on cases small enough to check by hand, with MMDetection 2.25's
// semantics: one level of stride 16 with one 16 x 16 anchor per cell (AnchorGenerator,
// center_offset 0), so the 2 x 2 map of a 32 x 32 image has the anchors
//   0: [-8, -8, 8, 8]   1: [8, -8, 24, 8]   2: [-8, 8, 8, 24]   3: [8, 8, 24, 24].
// Also: MMDetection's parameter names, class-agnostic losses, empty ground truth, the
// RandomSampler it trains with, and bad configs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/anchor_head.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "test_support.h"

namespace {

using detkit::DenseHeadBase;

/// RPNHead on one level of one 16 x 16 anchor per cell; `extra` adds config entries.
std::string tiny_rpn_yaml(const std::string& extra = "") {
  return "{type: RPNHead, in_channels: 4, feat_channels: 4,"
         " anchor_generator: {type: AnchorGenerator, strides: [16], ratios: [1.0], scales: [1.0],"
         " base_sizes: [16]}" +
         extra + "}";
}

std::shared_ptr<DenseHeadBase> tiny_rpn(const std::string& extra = "") {
  return detkit::testing::build_from_yaml<DenseHeadBase>(tiny_rpn_yaml(extra), "rpn_head");
}

/// A 32 x 32 image with the given ground truth.
detkit::DetSample sample_with(std::vector<std::vector<float>> boxes, std::vector<int64_t> labels) {
  detkit::DetSample sample;
  sample.meta.ori_shape = {32, 32, 3};
  sample.meta.img_shape = {32, 32, 3};
  sample.meta.pad_shape = {32, 32, 3};
  torch::Tensor box_tensor = torch::zeros({static_cast<int64_t>(boxes.size()), 4});
  for (size_t i = 0; i < boxes.size(); ++i)
    box_tensor[i] = torch::tensor(boxes[i]);
  sample.gt = detkit::Instances(detkit::Boxes(box_tensor), torch::tensor(labels, torch::kLong));
  return sample;
}

/// The message of the ConfigError `yaml` raises when built with `context` ("" if none).
std::string build_error(const std::string& yaml, const detkit::HeadContext& context = {}) {
  try {
    detkit::build<DenseHeadBase>(detkit::testing::parse_yaml(yaml, "rpn.yaml"), "model.rpn_head",
                                 context);
  } catch (const detkit::ConfigError& e) {
    return e.what();
  }
  return "";
}

class RPNHeadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins({LOSSES_PLUGIN_FILE, RPN_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
  }
};

TEST_F(RPNHeadTest, StateDictKeysAreMMDetections) {
  // The defaults are faster_rcnn_r50_fpn's rpn_head (256 channels, 3 anchors, sigmoid).
  auto head = detkit::testing::build_from_yaml<DenseHeadBase>("{type: RPNHead}", "rpn_head");
  std::ostringstream actual;
  for (const auto& item : head->named_parameters()) {
    actual << "rpn_head." << item.key() << " [";
    for (int64_t d = 0; d < item.value().dim(); ++d)
      actual << (d ? "," : "") << item.value().size(d);
    actual << "]\n";
  }
  EXPECT_EQ(actual.str(),
            "rpn_head.rpn_conv.weight [256,256,3,3]\nrpn_head.rpn_conv.bias [256]\n"
            "rpn_head.rpn_cls.weight [3,256,1,1]\nrpn_head.rpn_cls.bias [3]\n"
            "rpn_head.rpn_reg.weight [12,256,1,1]\nrpn_head.rpn_reg.bias [12]\n");
  // A softmax loss: two scores (foreground, background) per anchor.
  auto softmax = detkit::testing::build_from_yaml<DenseHeadBase>(
      "{type: RPNHead, loss_cls: {type: CrossEntropyLoss, use_sigmoid: false}}", "rpn_head");
  EXPECT_EQ(softmax->named_parameters()["rpn_cls.weight"].size(0), 6);
}

TEST_F(RPNHeadTest, ProposalsFollowMMDetectionsGetBboxesSingle) {
  // Logits 2, 1, 0, -1 on anchors 0..3 and zero deltas: the clipped anchors, which only touch.
  const torch::Tensor cls = torch::tensor({2.f, 1.f, 0.f, -1.f}).reshape({1, 1, 2, 2});
  const torch::Tensor clipped = torch::tensor({0.f, 0.f, 8.f, 8.f, 8.f, 0.f, 24.f, 8.f, 0.f, 8.f,
                                               8.f, 24.f, 8.f, 8.f, 24.f, 24.f})
                                    .reshape({4, 4});
  struct Case {
    std::string test_cfg;
    std::vector<int64_t> kept;
  };
  const std::vector<Case> cases = {
      {"{}", {0, 1, 2, 3}},
      {"{nms_pre: 2}", {0, 1}},                // the best 2 of the level
      {"{max_per_img: 3}", {0, 1, 2}},         // after NMS
      {"{min_bbox_size: 8}", {3}},             // width and height must exceed it
      {"{nms_pre: 3, min_bbox_size: 8}", {}},  // nothing left: no proposals
  };
  for (const Case& c : cases) {
    auto head = tiny_rpn(", test_cfg: " + c.test_cfg);
    head->eval();
    const auto results =
        head->predict({{cls}, {torch::zeros({1, 4, 2, 2})}}, {sample_with({}, {})});
    ASSERT_EQ(results.size(), 1u);
    const torch::Tensor kept = torch::tensor(c.kept, torch::kLong);
    ASSERT_EQ(results[0].size(), kept.size(0)) << c.test_cfg;
    EXPECT_TRUE(torch::equal(results[0].boxes().tensor(), clipped.index_select(0, kept)))
        << c.test_cfg;
    EXPECT_TRUE(
        torch::allclose(results[0].scores(), cls.reshape({-1}).index_select(0, kept).sigmoid()))
        << c.test_cfg;
    EXPECT_TRUE(torch::equal(results[0].labels(), torch::zeros({kept.size(0)}, torch::kLong)));
  }
  // Doubled anchors (dw = dh = log 2): [0,0,16,16], [0,0,32,16], [0,0,16,32], [0,0,32,32];
  // NMS at 0.4 drops 1 and 2 (IoU 0.5 with 0), keeps 3 (IoU 0.25). predict() divides by
  // scale_factor.
  auto head = tiny_rpn(", test_cfg: {nms: {iou_threshold: 0.4}}");
  head->eval();
  torch::Tensor deltas = torch::zeros({1, 4, 2, 2});
  deltas.slice(1, 2, 4).fill_(std::log(2.0));
  detkit::DetSample sample = sample_with({}, {});
  sample.meta.scale_factor = {2.0, 2.0, 2.0, 2.0};
  const auto results = head->predict({{cls}, {deltas}}, {sample});
  EXPECT_TRUE(
      torch::allclose(results[0].boxes().tensor(),
                      torch::tensor({0.f, 0.f, 8.f, 8.f, 0.f, 0.f, 16.f, 16.f}).reshape({2, 4})));
}

TEST_F(RPNHeadTest, TrainingModeFiltersAsProposalCfgSays) {
  // MMDetection's train_cfg.rpn_proposal: in training mode the proposals of a two-stage
  // detector's RoI head are filtered by proposal_cfg, in eval mode by test_cfg.
  const torch::Tensor cls = torch::tensor({2.f, 1.f, 0.f, -1.f}).reshape({1, 1, 2, 2});
  auto head = tiny_rpn(", test_cfg: {nms_pre: 2}, proposal_cfg: {nms_pre: 3, max_per_img: 3}");
  const detkit::MultiLevelOutputs outputs = {{cls}, {torch::zeros({1, 4, 2, 2})}};
  head->train();
  EXPECT_EQ(head->predict(outputs, {sample_with({}, {})})[0].size(), 3);
  head->eval();
  EXPECT_EQ(head->predict(outputs, {sample_with({}, {})})[0].size(), 2);
  // Its defaults are faster_rcnn_r50_fpn's rpn_proposal.
  const auto defaults = detkit::Registry::of(detkit::Kind::dense_head).find("RPNHead");
  ASSERT_NE(defaults, nullptr);
  const detkit::ConfigNode* proposal_cfg = nullptr;
  for (const auto& spec : defaults->schema.params()) {
    if (spec.name == "proposal_cfg") proposal_cfg = &spec.default_value;
  }
  ASSERT_NE(proposal_cfg, nullptr);
  EXPECT_EQ(proposal_cfg->to_flow(),
            "{nms_pre: 2000, min_bbox_size: 0.0, score_thr: 0.0, nms: {type: nms, "
            "iou_threshold: 0.7}, max_per_img: 1000}");
}

TEST_F(RPNHeadTest, LossesAreClassAgnostic) {
  // Zero weights, rpn_cls bias 1: every logit is 1. The gt box (label 7) is anchor 3: one
  // positive (loss softplus(-1)), three negatives (softplus(1)); RandomSampler takes all four,
  // so the average factor is 4. Were the label kept, the positive would count as background.
  auto head = tiny_rpn();
  {
    torch::NoGradGuard no_grad;
    for (auto& parameter : head->named_parameters())
      parameter.value().zero_();
    head->named_parameters()["rpn_cls.bias"].fill_(1.0);
  }
  const torch::Tensor feature = torch::zeros({1, 4, 2, 2});
  const auto losses = head->loss(head->forward({feature}), {sample_with({{8, 8, 24, 24}}, {7})});
  ASSERT_EQ(losses.keys(), (std::vector<std::string>{"loss_rpn_cls", "loss_rpn_bbox"}));
  const double softplus1 = std::log1p(std::exp(1.0)), softplus_minus1 = std::log1p(std::exp(-1.0));
  EXPECT_NEAR(losses["loss_rpn_cls"].item<double>(), (softplus_minus1 + 3 * softplus1) / 4, 1e-5);
  EXPECT_NEAR(losses["loss_rpn_bbox"].item<double>(), 0.0, 1e-7);
}

TEST_F(RPNHeadTest, ImageWithoutGroundTruthTrainsOnNegatives) {
  torch::manual_seed(0);
  auto head = tiny_rpn(", train_cfg: {sampler: {type: RandomSampler, num: 2, pos_fraction: 0.5}}");
  const torch::Tensor feature = torch::randn({2, 4, 2, 2});
  const auto losses = head->loss(head->forward({feature}),
                                 {sample_with({}, {}), sample_with({{8, 8, 24, 24}}, {0})});
  const torch::Tensor loss_cls = losses["loss_rpn_cls"], loss_bbox = losses["loss_rpn_bbox"];
  EXPECT_TRUE(std::isfinite(loss_cls.item<double>()));
  EXPECT_GT(loss_cls.item<double>(), 0);
  EXPECT_TRUE(std::isfinite(loss_bbox.item<double>()));
  (loss_cls + loss_bbox).backward();
  EXPECT_GT(head->named_parameters()["rpn_cls.weight"].grad().abs().sum().item<double>(), 0);
  // Every image without ground truth: two negatives each, no box loss.
  const auto empty =
      head->loss(head->forward({feature}), {sample_with({}, {}), sample_with({}, {})});
  EXPECT_GT(empty["loss_rpn_cls"].item<double>(), 0);
  EXPECT_EQ(empty["loss_rpn_bbox"].item<double>(), 0.0);
  auto anchor_head = std::dynamic_pointer_cast<detkit::AnchorHead>(head);
  const auto samples = std::vector<detkit::DetSample>{sample_with({}, {})};
  const auto targets =
      anchor_head->get_targets(anchor_head->get_anchors({{2, 2}}, samples, {}), samples);
  EXPECT_EQ(targets.pos_inds[0].numel(), 0);
  EXPECT_EQ(targets.neg_inds[0].numel(), 2);
}

TEST_F(RPNHeadTest, RandomSamplerFollowsMMDetection) {
  // gt_inds: positives at 0, 2, 5, 10 (boxes 1, 2, 1, 1), ignored 7, negatives elsewhere.
  detkit::AssignResult assignment;
  assignment.num_gts = 2;
  assignment.gt_inds = torch::tensor({1, 0, 2, 0, 0, 1, 0, -1, 0, 0, 1}, torch::kLong);
  const torch::Tensor priors = torch::zeros({11, 4});
  const torch::Tensor gt_boxes =
      torch::tensor({0.f, 0.f, 4.f, 4.f, 1.f, 1.f, 5.f, 5.f}).reshape({2, 4});
  struct Case {
    std::string yaml;
    int64_t pos, neg;
  };
  const std::vector<Case> cases = {
      {"{type: RandomSampler, num: 4, pos_fraction: 0.5, add_gt_as_proposals: false}", 2, 2},
      {"{type: RandomSampler, num: 6, pos_fraction: 0.25, add_gt_as_proposals: false}", 1, 5},
      {"{type: RandomSampler, num: 100, pos_fraction: 0.5, add_gt_as_proposals: false}", 4, 6},
      {"{type: RandomSampler, num: 8, pos_fraction: 0.5, neg_pos_ub: 0.5, "
       "add_gt_as_proposals: false}",
       4, 2},
      {"{type: RandomSampler, num: 100, pos_fraction: 0.5}", 6, 6},  // + the 2 gt boxes
  };
  for (const Case& c : cases) {
    torch::manual_seed(1);
    auto sampler =
        detkit::build<detkit::SamplerBase>(detkit::testing::parse_yaml(c.yaml), "sampler");
    const detkit::SamplingResult result = sampler->sample(assignment, priors, gt_boxes);
    EXPECT_EQ(result.pos_inds.numel(), c.pos) << c.yaml;
    EXPECT_EQ(result.neg_inds.numel(), c.neg) << c.yaml;
    EXPECT_TRUE(torch::equal(result.pos_inds, std::get<0>(result.pos_inds.sort()))) << c.yaml;
    const torch::Tensor gt_inds =
        c.pos == 6 ? torch::cat({torch::tensor({1, 2}, torch::kLong), assignment.gt_inds})
                   : assignment.gt_inds;
    EXPECT_TRUE((gt_inds.index_select(0, result.pos_inds) > 0).all().item<bool>()) << c.yaml;
    EXPECT_TRUE((gt_inds.index_select(0, result.neg_inds) == 0).all().item<bool>()) << c.yaml;
    EXPECT_TRUE(
        torch::equal(result.pos_assigned_gt_inds, gt_inds.index_select(0, result.pos_inds) - 1));
    EXPECT_TRUE(
        torch::equal(result.pos_gt_bboxes, gt_boxes.index_select(0, result.pos_assigned_gt_inds)));
  }
  // The same seed, the same draw.
  auto sampler = detkit::build<detkit::SamplerBase>(
      detkit::testing::parse_yaml("{type: RandomSampler, num: 3, pos_fraction: 0.34}"), "sampler");
  torch::manual_seed(5);
  const torch::Tensor first = sampler->sample(assignment, priors, gt_boxes).neg_inds;
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(sampler->sample(assignment, priors, gt_boxes).neg_inds, first));
}

TEST_F(RPNHeadTest, BadConfigsAreErrors) {
  struct Case {
    std::string yaml;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      // The head is class-agnostic (the dataset's 80 classes are not asked for).
      {tiny_rpn_yaml(", num_classes: 2"), {"num_classes", "class-agnostic", "2"}},
      {tiny_rpn_yaml(", train_cfg: {sampler: {type: RandomSampler, num: 4, pos_fraction: 0.5, "
                     "add_gt_as_proposals: true}}"),
       {"add_gt_as_proposals"}},
      {tiny_rpn_yaml(", train_cfg: {sampler: {type: RandomSampler, pos_fraction: 0.5, "
                     "add_gt_as_proposals: false}}"),
       {"num"}},
  };
  detkit::HeadContext context;
  context.num_classes = detkit::Known<int64_t>(80, "the dataset's 80 classes");
  for (const Case& c : cases) {
    const std::string message = build_error(c.yaml, context);
    ASSERT_FALSE(message.empty()) << c.yaml << " accepted";
    for (const auto& part : c.expected)
      EXPECT_NE(message.find(part), std::string::npos) << message;
  }
  // num_classes 1 and the dataset's 80 classes agree: the RPN does not classify.
  EXPECT_EQ(build_error(tiny_rpn_yaml(", num_classes: 1"), context), "");
  // Anchor strides that are not the neck's levels.
  context.input_shapes = {{4, 8}, {4, 16}};
  context.input_origin = "neck FPN (model.neck)";
  const std::string message = build_error(tiny_rpn_yaml(), context);
  EXPECT_NE(message.find("[16]"), std::string::npos) << message;
  EXPECT_NE(message.find("[8, 16]"), std::string::npos) << message;
  EXPECT_NE(message.find("neck FPN (model.neck)"), std::string::npos) << message;
}

}  // namespace
