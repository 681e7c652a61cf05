// RetinaHead (with the SDK's AnchorHead machinery) against torchvision 0.14's RetinaNet: the
// reference is generated at test time by tests/reference/gen_retina_head.py, run with Debian's
// /usr/bin/python3 into a temporary folder. Same weights (MMDetection's names mapped to
// torchvision's in the script), three small levels of odd sizes, TorchvisionAnchorGenerator:
//   - raw outputs of every level to 1e-4;
//   - the anchors of every level equal torchvision's;
//   - loss_cls / loss_bbox against RetinaNet.compute_loss (one image, two well-separated boxes,
//     so MaxIoUAssigner's low-quality matches agree with torchvision's Matcher) to 1e-4;
//   - predict() against postprocess_detections (score_thresh 0.05, topk 1000, nms 0.5, 300
//     detections): boxes, scores and labels in the same order, to 1e-3.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/modeling/anchor_head.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "reference_support.h"
#include "test_support.h"

namespace {

using detkit::AnchorHead;
using detkit::DenseHeadBase;

using Reference = detkit::testing::ReferenceTensors;

/// The head as the test config builds it: 8 channels, 3 classes, torchvision's anchors of the
/// first three retinanet_resnet50_fpn levels, torchvision's postprocessing settings.
constexpr const char* kHeadYaml = R"({
  type: RetinaHead, feat_channels: 8,
  anchor_generator: {type: TorchvisionAnchorGenerator,
                     sizes: [[32, 40, 50], [64, 80, 101], [128, 161, 203]],
                     aspect_ratios: [[0.5, 1.0, 2.0]], strides: [8, 16, 32]},
  loss_cls: {type: FocalLoss, use_sigmoid: true, gamma: 2.0, alpha: 0.25, loss_weight: 1.0},
  loss_bbox: {type: L1Loss, loss_weight: 1.0},
  test_cfg: {nms_pre: 1000, min_bbox_size: 0, score_thr: 0.05,
             nms: {type: nms, iou_threshold: 0.5}, max_per_img: 300}})";

class RetinaHeadReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins({LOSSES_PLUGIN_FILE, RETINANET_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
    const detkit::testing::TempDir dir;
    detkit::testing::run_reference_script("gen_retina_head.py",
                                          {dir.file("retina_head_reference.pt")});
    reference_ = new Reference(dir.file("retina_head_reference.pt"));
  }
  static void TearDownTestSuite() { delete reference_; }

  void SetUp() override {
    detkit::HeadContext context;
    context.input_shapes = {{8, 8}, {8, 16}, {8, 32}};
    context.input_origin = "the test's features";
    context.num_classes = detkit::Known<int64_t>(3, "the test's classes");
    head = std::dynamic_pointer_cast<AnchorHead>(
        detkit::build<DenseHeadBase>(detkit::testing::parse_yaml(kHeadYaml), "bbox_head", context));
    ASSERT_NE(head, nullptr);
    torch::NoGradGuard no_grad;
    for (auto& parameter : head->named_parameters()) {
      const std::string key = "weight." + parameter.key();
      ASSERT_TRUE(reference().contains(key)) << "no reference weight for " << parameter.key();
      ASSERT_EQ(parameter.value().sizes(), reference()(key).sizes()) << parameter.key();
      parameter.value().copy_(reference()(key));
    }
    for (int level = 0; level < 3; ++level)
      features.push_back(reference()("feat." + std::to_string(level)));
    detkit::DetSample sample;
    sample.meta.ori_shape = {72, 56, 3};
    sample.meta.img_shape = {72, 56, 3};
    sample.meta.pad_shape = {72, 56, 3};
    sample.gt = detkit::Instances(detkit::Boxes(reference()("gt_boxes")), reference()("gt_labels"));
    samples = {sample};
  }

  static const Reference& reference() { return *reference_; }

  std::shared_ptr<AnchorHead> head;
  std::vector<torch::Tensor> features;
  std::vector<detkit::DetSample> samples;

 private:
  static Reference* reference_;
};
Reference* RetinaHeadReference::reference_ = nullptr;

TEST_F(RetinaHeadReference, RawOutputsMatchTorchvision) {
  torch::NoGradGuard no_grad;
  const detkit::MultiLevelOutputs outputs = head->forward(features);
  ASSERT_EQ(outputs.size(), 2u);
  ASSERT_EQ(outputs[0].size(), 3u);
  for (int level = 0; level < 3; ++level) {
    const torch::Tensor& cls = reference()("cls." + std::to_string(level));
    const torch::Tensor& reg = reference()("reg." + std::to_string(level));
    ASSERT_EQ(outputs[0][level].sizes(), cls.sizes()) << "level " << level;
    ASSERT_EQ(outputs[1][level].sizes(), reg.sizes()) << "level " << level;
    EXPECT_LT((outputs[0][level] - cls).abs().max().item<double>(), 1e-4) << "level " << level;
    EXPECT_LT((outputs[1][level] - reg).abs().max().item<double>(), 1e-4) << "level " << level;
  }
}

TEST_F(RetinaHeadReference, AnchorsMatchTorchvision) {
  const detkit::BatchAnchors anchors =
      head->get_anchors({{9, 7}, {5, 4}, {3, 2}}, samples, torch::TensorOptions());
  ASSERT_EQ(anchors.multi_level.size(), 3u);
  for (int level = 0; level < 3; ++level) {
    const torch::Tensor& expected = reference()("anchors." + std::to_string(level));
    ASSERT_EQ(anchors.multi_level[level].sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(anchors.multi_level[level], expected)) << "level " << level;
  }
  ASSERT_EQ(anchors.valid_flags.size(), 1u);
  EXPECT_TRUE(anchors.valid_flags[0].all().item<bool>());
}

TEST_F(RetinaHeadReference, LossesMatchTorchvisionComputeLoss) {
  const detkit::LossDict losses = head->loss(head->forward(features), samples);
  const double loss_cls = losses["loss_cls"].item<double>();
  const double loss_bbox = losses["loss_bbox"].item<double>();
  EXPECT_NEAR(loss_cls, reference()("loss_cls").item<double>(), 1e-4);
  EXPECT_NEAR(loss_bbox, reference()("loss_bbox").item<double>(), 1e-4);
  // The same number of positives as torchvision's Matcher found.
  const detkit::BatchAnchors anchors =
      head->get_anchors({{9, 7}, {5, 4}, {3, 2}}, samples, torch::TensorOptions());
  const detkit::AnchorTargets targets = head->get_targets(anchors, samples);
  EXPECT_EQ(targets.pos_inds[0].numel(), reference()("num_pos").item<int64_t>());
  EXPECT_DOUBLE_EQ(targets.avg_factor, reference()("num_pos").item<double>());
  // Both losses have gradients.
  (losses["loss_cls"] + losses["loss_bbox"]).backward();
  EXPECT_GT(head->named_parameters()["retina_cls.weight"].grad().abs().sum().item<double>(), 0);
  EXPECT_GT(head->named_parameters()["retina_reg.weight"].grad().abs().sum().item<double>(), 0);
}

TEST_F(RetinaHeadReference, PredictionsMatchTorchvisionPostprocess) {
  torch::NoGradGuard no_grad;
  const std::vector<detkit::Instances> results = head->predict(head->forward(features), samples);
  ASSERT_EQ(results.size(), 1u);
  const detkit::Instances& result = results[0];
  const torch::Tensor& boxes = reference()("det_boxes");
  ASSERT_GT(boxes.size(0), 0);
  ASSERT_EQ(result.size(), boxes.size(0));
  EXPECT_LT((result.boxes().tensor() - boxes).abs().max().item<double>(), 1e-3);
  EXPECT_LT((result.scores() - reference()("det_scores")).abs().max().item<double>(), 1e-3);
  EXPECT_TRUE(torch::equal(result.labels(), reference()("det_labels")));
}

}  // namespace
