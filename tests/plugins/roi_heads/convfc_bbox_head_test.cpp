// ConvFCBBoxHead / Shared2FCBBoxHead (plugins/roi_heads) with MMDetection 2.25's semantics:
//   - Shared2FCBBoxHead's parameters equal faster_rcnn_r50_fpn's roi_head.bbox_head keys and
//     shapes; ConvFCBBoxHead's branch layouts (convs, fcs, class-agnostic fc_reg); forward
//     shapes; MMDetection's init (Normal on fc_cls / fc_reg, Xavier uniform on the fcs);
//   - loss(): loss_cls averaged over the RoIs of positive weight, acc, loss_bbox on each
//     positive's own class deltas (or the agnostic 4) averaged over every sampled RoI;
//   - get_bboxes(): background column ignored, per-class decoding clipped to img_shape,
//     rescaled, score_thr, class-aware NMS, max_per_img;
//   - configs contradicting the RoI features or the classes, and bad inputs;
//   - equality with torchvision 0.14's TwoMLPHead + FastRCNNPredictor (background FIRST) with
//     its weights mapped, and its BoxCoder (weights 10, 10, 5, 5) with the head's bbox_coder;
//     the reference generated at test time by tests/reference/gen_bbox_head.py with
//     /usr/bin/python3.
// loss() and get_bboxes() are not on BBoxHeadBase, so this test compiles convfc_bbox_head.cpp
// and builds the class directly (its coder and losses still come from the registries).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "convfc_bbox_head.h"
#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/bbox_head.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "reference_support.h"
#include "test_support.h"

namespace {

using detkit::BBoxHeadBase;
using detkit::testing::error_of;
using roi_heads_plugin::ConvFCBBoxHeadImpl;
using roi_heads_plugin::ConvFCBBoxHeadOptions;

/// The head of `yaml` built through the registry with `context`.
std::shared_ptr<BBoxHeadBase> head_of(const std::string& yaml,
                                      const detkit::RoIFeatureContext& context = {}) {
  return detkit::build<BBoxHeadBase>(detkit::testing::parse_yaml(yaml, "bbox_head.yaml"),
                                     "model.roi_head.bbox_head", context);
}

/// "name [d0,d1]" lines of the parameters, sorted (as the reference key lists are).
std::string parameter_lines(const torch::nn::Module& module) {
  std::vector<std::string> lines;
  for (const auto& item : module.named_parameters()) {
    std::ostringstream line;
    line << item.key() << " [";
    for (int64_t d = 0; d < item.value().dim(); ++d)
      line << (d ? "," : "") << item.value().size(d);
    line << "]";
    lines.push_back(line.str());
  }
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const auto& line : lines)
    text += line + "\n";
  return text;
}

/// A small head built directly: 2 classes, 1 x 1 RoI features of 1 channel, one shared fc.
std::shared_ptr<ConvFCBBoxHeadImpl> small_head(bool agnostic) {
  return std::make_shared<ConvFCBBoxHeadImpl>(ConvFCBBoxHeadOptions()
                                                  .in_channels(1)
                                                  .roi_feat_size(1)
                                                  .num_classes(2)
                                                  .num_shared_fcs(1)
                                                  .fc_out_channels(4)
                                                  .reg_class_agnostic(agnostic));
}

class ConvFCBBoxHeadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins({LOSSES_PLUGIN_FILE, ROI_HEADS_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
  }
};

TEST_F(ConvFCBBoxHeadTest, Shared2FCKeysShapesAndInitAreMMDetections) {
  auto head = head_of("{type: Shared2FCBBoxHead}");
  // mmdet_keys_faster_rcnn_r50_fpn_1x_coco.txt, roi_head.bbox_head.*
  EXPECT_EQ(parameter_lines(*head),
            "fc_cls.bias [81]\nfc_cls.weight [81,1024]\nfc_reg.bias [320]\n"
            "fc_reg.weight [320,1024]\nshared_fcs.0.bias [1024]\n"
            "shared_fcs.0.weight [1024,12544]\nshared_fcs.1.bias [1024]\n"
            "shared_fcs.1.weight [1024,1024]\n");
  const auto [scores, deltas] = head->forward(torch::randn({3, 256, 7, 7}));
  EXPECT_EQ(scores.sizes().vec(), (std::vector<int64_t>{3, 81}));
  EXPECT_EQ(deltas.sizes().vec(), (std::vector<int64_t>{3, 320}));

  auto* base = dynamic_cast<detkit::BaseModule*>(head.get());
  ASSERT_NE(base, nullptr);
  base->init_weights();
  auto params = head->named_parameters();
  EXPECT_NEAR(params["fc_cls.weight"].std().item<double>(), 0.01, 0.001);
  EXPECT_NEAR(params["fc_reg.weight"].std().item<double>(), 0.001, 0.0001);
  // Xavier uniform, gain 1: bound sqrt(6 / (fan_in + fan_out)) (PyTorch's default: 1 /
  // sqrt(fan_in)).
  const double bound = std::sqrt(6.0 / (12544 + 1024)) * (1 + 1e-6);  // float rounding
  EXPECT_LE(params["shared_fcs.0.weight"].abs().max().item<double>(), bound);
  EXPECT_GT(params["shared_fcs.0.weight"].abs().max().item<double>(), 0.99 * bound);
  for (const char* bias : {"fc_cls.bias", "fc_reg.bias", "shared_fcs.0.bias", "shared_fcs.1.bias"})
    EXPECT_EQ(params[bias].abs().max().item<double>(), 0.0) << bias;
}

TEST_F(ConvFCBBoxHeadTest, BranchLayoutsFollowConvFCBBoxHead) {
  struct Case {
    std::string yaml;
    std::string lines;
    std::vector<int64_t> deltas;
  };
  const std::string sizes =
      "type: ConvFCBBoxHead, in_channels: 4, roi_feat_size: 2, num_classes: 2, "
      "conv_out_channels: 3, fc_out_channels: 5";
  const std::vector<Case> cases = {
      // A shared conv, then a cls fc on the flattened conv output and a reg conv.
      {"{" + sizes + ", num_shared_convs: 1, num_cls_fcs: 1, num_reg_convs: 1}",
       "cls_fcs.0.bias [5]\ncls_fcs.0.weight [5,12]\nfc_cls.bias [3]\nfc_cls.weight [3,5]\n"
       "fc_reg.bias [8]\nfc_reg.weight [8,12]\nreg_convs.0.conv.bias [3]\n"
       "reg_convs.0.conv.weight [3,3,3,3]\nshared_convs.0.conv.bias [3]\n"
       "shared_convs.0.conv.weight [3,4,3,3]\n",
       {6, 8}},
      // One shared fc on the flattened RoI features; agnostic fc_reg.
      {"{" + sizes + ", num_shared_fcs: 1, reg_class_agnostic: true}",
       "fc_cls.bias [3]\nfc_cls.weight [3,5]\nfc_reg.bias [4]\nfc_reg.weight [4,5]\n"
       "shared_fcs.0.bias [5]\nshared_fcs.0.weight [5,16]\n",
       {6, 4}},
  };
  for (const auto& c : cases) {
    auto head = head_of(c.yaml);
    EXPECT_EQ(parameter_lines(*head), c.lines) << c.yaml;
    const auto [scores, deltas] = head->forward(torch::randn({6, 4, 2, 2}));
    EXPECT_EQ(scores.sizes().vec(), (std::vector<int64_t>{6, 3})) << c.yaml;
    EXPECT_EQ(deltas.sizes().vec(), c.deltas) << c.yaml;
  }
}

TEST_F(ConvFCBBoxHeadTest, LossSelectsEachPositivesClassDeltas) {
  // RoIs of labels 0, 1 and background (2); row 1 is misclassified (argmax 0).
  const torch::Tensor cls_score =
      torch::tensor({3.f, 1.f, 0.f, 2.f, 1.f, 0.f, 0.f, 0.f, 1.f}).reshape({3, 3});
  const torch::Tensor labels = torch::tensor({0, 1, 2}, torch::kLong);
  const torch::Tensor label_weights = torch::tensor({1.f, 1.f, 0.f});
  const torch::Tensor targets = torch::zeros({3, 4}), weights = torch::ones({3, 4});
  // Cross entropy of rows 0 and 1 over the 2 RoIs of positive weight.
  const double expected_cls =
      -(torch::log_softmax(cls_score, 1)[0][0] + torch::log_softmax(cls_score, 1)[1][1])
           .item<double>() /
      2.0;

  // Class-specific: row 0 uses deltas 0..3 (all 1), row 1 deltas 4..7 (all 2); the 9s are the
  // other class's. L1 summed over the positives, averaged over the 3 sampled RoIs: 12 / 3.
  auto specific = small_head(false);
  const torch::Tensor pred = torch::tensor({1.f, 1.f, 1.f, 1.f, 9.f, 9.f, 9.f, 9.f,  //
                                            9.f, 9.f, 9.f, 9.f, 2.f, 2.f, 2.f, 2.f,  //
                                            7.f, 7.f, 7.f, 7.f, 7.f, 7.f, 7.f, 7.f})
                                 .reshape({3, 8});
  auto losses = specific->loss(cls_score, pred, labels, label_weights, targets, weights);
  EXPECT_NEAR(losses["loss_cls"].item<double>(), expected_cls, 1e-5);
  EXPECT_NEAR(losses["loss_bbox"].item<double>(), 4.0, 1e-5);
  EXPECT_NEAR(losses["acc"].item<double>(), 200.0 / 3.0, 1e-4);

  // Class-agnostic: the only 4 deltas of each positive.
  auto agnostic = small_head(true);
  const torch::Tensor pred4 =
      torch::tensor({1.f, 1.f, 1.f, 1.f, 2.f, 2.f, 2.f, 2.f, 7.f, 7.f, 7.f, 7.f}).reshape({3, 4});
  losses = agnostic->loss(cls_score, pred4, labels, label_weights, targets, weights);
  EXPECT_NEAR(losses["loss_bbox"].item<double>(), 4.0, 1e-5);

  // No positive: loss_bbox 0.
  losses = specific->loss(cls_score, pred, torch::full({3}, 2, torch::kLong), label_weights,
                          targets, weights);
  EXPECT_EQ(losses["loss_bbox"].item<double>(), 0.0);
}

TEST_F(ConvFCBBoxHeadTest, GetBboxesDecodesPerClassAndRunsMulticlassNms) {
  auto head = small_head(false);
  const torch::Tensor rois = torch::tensor({0.f, 0.f, 0.f, 10.f, 10.f,  //
                                            0.f, 1.f, 1.f, 11.f, 11.f,  //
                                            0.f, 50.f, 50.f, 60.f, 60.f})
                                 .reshape({3, 5});
  // Softmax probabilities (class 0, class 1, background).
  const torch::Tensor cls_score =
      torch::log(torch::tensor({0.7f, 0.2f, 0.1f, 0.6f, 0.3f, 0.1f, 0.04f, 0.06f, 0.9f}))
          .reshape({3, 3});
  // RoI 0 class 0: dx -1 (x std 0.1, width 10: 1 px left, clipped at 0); RoI 2 class 1: dx +1.
  torch::Tensor deltas = torch::zeros({3, 8});
  deltas[0][0] = -1.0;
  deltas[2][4] = 1.0;
  detkit::ImageMeta meta;
  meta.img_shape = {100, 100, 3};
  meta.scale_factor = {2.0, 2.0, 2.0, 2.0};
  // Class 0: RoI 0 (0.7) suppresses RoI 1 (0.6, IoU 0.68); RoI 2's 0.04 <= score_thr.
  // Class 1: RoI 1 (0.3) suppresses RoI 0 (0.2); RoI 2 (0.06) is kept; background ignored.
  auto result = head->get_bboxes(rois, cls_score, deltas, meta);
  EXPECT_TRUE(torch::equal(result.labels(), torch::tensor({0, 1, 1}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(result.scores(), torch::tensor({0.7f, 0.3f, 0.06f}), 1e-5));
  const torch::Tensor expected_boxes =
      torch::tensor({0.f, 0.f, 4.5f, 5.f, 0.5f, 0.5f, 5.5f, 5.5f, 25.5f, 25.f, 30.5f, 30.f})
          .reshape({3, 4});
  EXPECT_TRUE(torch::allclose(result.boxes().tensor(), expected_boxes, 1e-4, 1e-4))
      << result.boxes().tensor();
  auto two = head->get_bboxes(rois, cls_score, deltas, meta,
                              roi_heads_plugin::RCNNTestOptions().max_per_img(2));
  EXPECT_EQ(two.size(), 2);
  auto none = head->get_bboxes(rois, cls_score, deltas, meta,
                               roi_heads_plugin::RCNNTestOptions().score_thr(0.95));
  EXPECT_EQ(none.size(), 0);
}

TEST_F(ConvFCBBoxHeadTest, RejectsConfigsContradictingTheContext) {
  detkit::RoIFeatureContext context;
  context.in_channels = {128, "bbox_roi_extractor SingleRoIExtractor"};
  context.roi_feat_size = {14, "bbox_roi_extractor SingleRoIExtractor"};
  context.num_classes = {3, "dataset classes"};
  struct Case {
    std::string yaml;
    std::string parameter;
    bool with_context;
  };
  const std::vector<Case> cases = {
      {"{type: Shared2FCBBoxHead, in_channels: 256, roi_feat_size: 14, num_classes: 3}",
       "in_channels", true},
      {"{type: Shared2FCBBoxHead, in_channels: 128, roi_feat_size: 7, num_classes: 3}",
       "roi_feat_size", true},
      {"{type: Shared2FCBBoxHead, in_channels: 128, roi_feat_size: 14, num_classes: 80}",
       "num_classes", true},
      {"{type: Shared2FCBBoxHead, loss_cls: {type: CrossEntropyLoss, use_sigmoid: true}}",
       "loss_cls", false},
      {"{type: ConvFCBBoxHead, num_shared_fcs: 1, num_cls_convs: 1}", "num_shared_fcs", false},
      {"{type: ConvFCBBoxHead}", "num_shared_fcs", false},  // no layer at all
      {"{type: Shared2FCBBoxHead, num_shared_fcs: 3}", "num_shared_fcs", false},
      {"{type: Shared2FCBBoxHead, num_cls_fcs: 1}", "num_cls_fcs", false},
  };
  for (const auto& c : cases) {
    const std::string message = error_of<detkit::ConfigError>(
        [&] { head_of(c.yaml, c.with_context ? context : detkit::RoIFeatureContext{}); });
    EXPECT_NE(message.find("bbox_head." + c.parameter), std::string::npos) << message;
  }
  // The context fills what the config leaves out.
  auto head = head_of("{type: Shared2FCBBoxHead}", context);
  EXPECT_EQ(head->named_parameters()["fc_cls.weight"].size(0), 4);
  EXPECT_EQ(head->named_parameters()["shared_fcs.0.weight"].size(1), 128 * 14 * 14);
}

TEST_F(ConvFCBBoxHeadTest, RejectsRoIFeaturesOfAnotherShape) {
  auto head = head_of("{type: Shared2FCBBoxHead}");
  for (const auto& sizes :
       std::vector<std::vector<int64_t>>{{2, 128, 7, 7}, {2, 256, 14, 14}, {2, 256 * 49}}) {
    const std::string message =
        error_of<detkit::Error>([&] { head->forward(torch::zeros(sizes)); });
    EXPECT_NE(message.find("RoI features must be (K, 256, 7, 7)"), std::string::npos) << message;
  }
}

TEST_F(ConvFCBBoxHeadTest, EqualsTorchvisionFastRCNNBoxHeadWithWeightsMapped) {
  detkit::testing::TempDir dir;
  detkit::testing::run_reference_script("gen_bbox_head.py", {dir.file("bbox_head_reference.pt")});
  const detkit::testing::ReferenceTensors ref(dir.file("bbox_head_reference.pt"));

  roi_heads_plugin::Shared2FCBBoxHeadOptions options;
  options.in_channels(4).roi_feat_size(3).num_classes(3).fc_out_channels(16);
  auto head = std::make_shared<roi_heads_plugin::Shared2FCBBoxHeadImpl>(options);
  // fc6 / fc7 are shared_fcs.0 / .1; torchvision's class 0 (background) becomes the last
  // score, and its 4 background deltas are dropped.
  const torch::Tensor order = torch::tensor({1, 2, 3, 0}, torch::kLong);
  {
    torch::NoGradGuard no_grad;
    auto params = head->named_parameters();
    params["shared_fcs.0.weight"].copy_(ref("fc6.weight"));
    params["shared_fcs.0.bias"].copy_(ref("fc6.bias"));
    params["shared_fcs.1.weight"].copy_(ref("fc7.weight"));
    params["shared_fcs.1.bias"].copy_(ref("fc7.bias"));
    params["fc_cls.weight"].copy_(ref("cls_score.weight").index_select(0, order));
    params["fc_cls.bias"].copy_(ref("cls_score.bias").index_select(0, order));
    params["fc_reg.weight"].copy_(ref("bbox_pred.weight").slice(0, 4));
    params["fc_reg.bias"].copy_(ref("bbox_pred.bias").slice(0, 4));
  }
  const auto [scores, deltas] = head->forward(ref("x"));
  EXPECT_LT((scores - ref("cls_logits").index_select(1, order)).abs().max().item<double>(), 1e-5);
  EXPECT_LT((deltas - ref("bbox_deltas").slice(1, 4)).abs().max().item<double>(), 1e-5);

  // target_stds 0.1, 0.1, 0.2, 0.2 are torchvision's BoxCoder weights 10, 10, 5, 5.
  const torch::Tensor priors = ref("proposals").repeat_interleave(3, 0);
  const torch::Tensor boxes = head->bbox_coder->decode(priors, deltas.reshape({-1, 4}), {60, 80});
  const torch::Tensor expected = ref("decoded").slice(1, 1).reshape({-1, 4});
  EXPECT_LT((boxes - expected).abs().max().item<double>(), 1e-4);
}

}  // namespace
