// RPNHead (with the SDK's AnchorHead machinery) against torchvision 0.14's
// RegionProposalNetwork: the reference is generated at test time by tests/reference/gen_rpn.py,
// run with Debian's /usr/bin/python3 into a temporary folder. Same weights (MMDetection's names
// mapped to torchvision's in the script), two images of different sizes in one padded batch,
// five levels, TorchvisionAnchorGenerator with 3 anchors per location:
//   - objectness and deltas of every level to 1e-4;
//   - the anchors of every level equal torchvision's;
//   - proposals() against RegionProposalNetwork in eval mode (pre_nms_top_n 100 as nms_pre,
//     post_nms_top_n 60 as max_per_img, nms_thresh 0.7, torchvision's min_size 1e-3 as
//     min_bbox_size): the same boxes in the same order, and their scores, to 1e-3.
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

/// The head as torchvision's RPN is set up in the script: 64 channels, fasterrcnn_resnet50_fpn's
/// anchors, its test-time filtering.
constexpr const char* kHeadYaml = R"({
  type: RPNHead, in_channels: 64, feat_channels: 64,
  anchor_generator: {type: TorchvisionAnchorGenerator,
                     sizes: [[32], [64], [128], [256], [512]],
                     aspect_ratios: [[0.5, 1.0, 2.0]], strides: [4, 8, 16, 32, 64]},
  test_cfg: {nms_pre: 100, max_per_img: 60, nms: {type: nms, iou_threshold: 0.7},
             min_bbox_size: 0.001}})";

/// The level sizes of the script.
const std::vector<std::pair<int64_t, int64_t>> kLevels = {
    {16, 32}, {8, 16}, {4, 8}, {2, 4}, {1, 2}};

class RPNReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins({LOSSES_PLUGIN_FILE, RPN_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
    const detkit::testing::TempDir dir;
    detkit::testing::run_reference_script("gen_rpn.py", {dir.file("rpn_reference.pt")});
    reference_ = new Reference(dir.file("rpn_reference.pt"));
  }
  static void TearDownTestSuite() { delete reference_; }

  void SetUp() override {
    detkit::HeadContext context;
    context.input_shapes = {{64, 4}, {64, 8}, {64, 16}, {64, 32}, {64, 64}};
    context.input_origin = "the test's features";
    context.num_classes = detkit::Known<int64_t>(80, "the test's classes");
    head = std::dynamic_pointer_cast<AnchorHead>(
        detkit::build<DenseHeadBase>(detkit::testing::parse_yaml(kHeadYaml), "rpn_head", context));
    ASSERT_NE(head, nullptr);
    head->eval();  // proposals filtered as test_cfg says (torchvision's eval mode)
    torch::NoGradGuard no_grad;
    ASSERT_EQ(head->named_parameters().size(), 6u);
    for (auto& parameter : head->named_parameters()) {
      const std::string key = "weight." + parameter.key();
      ASSERT_TRUE(reference().contains(key)) << "no reference weight for " << parameter.key();
      ASSERT_EQ(parameter.value().sizes(), reference()(key).sizes()) << parameter.key();
      parameter.value().copy_(reference()(key));
    }
    for (size_t level = 0; level < kLevels.size(); ++level)
      features.push_back(reference()("feat." + std::to_string(level)));
    for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{64, 128}, {50, 100}}) {
      detkit::DetSample sample;
      sample.meta.ori_shape = {h, w, 3};
      sample.meta.img_shape = {h, w, 3};
      sample.meta.pad_shape = {64, 128, 3};
      samples.push_back(sample);
    }
  }

  static const Reference& reference() { return *reference_; }

  std::shared_ptr<AnchorHead> head;
  std::vector<torch::Tensor> features;
  std::vector<detkit::DetSample> samples;

 private:
  static Reference* reference_;
};
Reference* RPNReference::reference_ = nullptr;

TEST_F(RPNReference, ObjectnessAndDeltasMatchTorchvision) {
  torch::NoGradGuard no_grad;
  const detkit::MultiLevelOutputs outputs = head->forward(features);
  ASSERT_EQ(outputs.size(), 2u);
  ASSERT_EQ(outputs[0].size(), kLevels.size());
  for (size_t level = 0; level < kLevels.size(); ++level) {
    const torch::Tensor& cls = reference()("cls." + std::to_string(level));
    const torch::Tensor& reg = reference()("reg." + std::to_string(level));
    ASSERT_EQ(outputs[0][level].sizes(), cls.sizes()) << "level " << level;
    ASSERT_EQ(outputs[1][level].sizes(), reg.sizes()) << "level " << level;
    EXPECT_LT((outputs[0][level] - cls).abs().max().item<double>(), 1e-4) << "level " << level;
    EXPECT_LT((outputs[1][level] - reg).abs().max().item<double>(), 1e-4) << "level " << level;
  }
}

TEST_F(RPNReference, AnchorsMatchTorchvision) {
  const detkit::BatchAnchors anchors = head->get_anchors(kLevels, samples, torch::TensorOptions());
  ASSERT_EQ(anchors.multi_level.size(), kLevels.size());
  for (size_t level = 0; level < kLevels.size(); ++level) {
    const torch::Tensor& expected = reference()("anchors." + std::to_string(level));
    ASSERT_EQ(anchors.multi_level[level].sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(anchors.multi_level[level], expected)) << "level " << level;
  }
}

TEST_F(RPNReference, ProposalsMatchTorchvisionRegionProposalNetwork) {
  torch::NoGradGuard no_grad;
  // predict() with scale_factor 1: the proposals in the network input's pixels.
  const std::vector<detkit::Instances> results = head->predict(head->forward(features), samples);
  ASSERT_EQ(results.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const torch::Tensor& boxes = reference()("boxes." + std::to_string(i));
    const torch::Tensor& scores = reference()("scores." + std::to_string(i));
    ASSERT_EQ(boxes.size(0), 60) << "image " << i;
    ASSERT_EQ(results[i].size(), boxes.size(0)) << "image " << i;
    EXPECT_LT((results[i].boxes().tensor() - boxes).abs().max().item<double>(), 1e-3)
        << "image " << i;
    EXPECT_LT((results[i].scores() - scores).abs().max().item<double>(), 1e-3) << "image " << i;
    EXPECT_TRUE(torch::equal(results[i].labels(), torch::zeros({60}, torch::kLong)));
  }
}

}  // namespace
