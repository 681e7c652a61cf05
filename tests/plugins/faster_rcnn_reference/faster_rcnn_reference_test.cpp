// The whole Faster R-CNN (resnet + fpn + rpn + roi_heads + faster_rcnn + losses plugins)
// against torchvision 0.14's fasterrcnn_resnet50_fpn, from the shipped config
// configs/faster_rcnn/faster_rcnn_r50_fpn_torchvision.yaml and torchvision weights converted as
// `detkit checkpoint convert --from torchvision --model fasterrcnn` converts them. The
// reference is generated at test time by tests/reference/gen_faster_rcnn.py (Debian's
// /usr/bin/python3): a fixed seed, BatchNorm statistics perturbed, heads calibrated so that
// scores spread, two inputs of different sizes. Checked on each input:
//   - eval mode: RPN objectness and deltas of every level (1e-4 relative to the level's scale);
//     proposals after NMS (same boxes in the same order, scores, 1e-3); RoI features of given
//     boxes (1e-4); final detections (boxes, scores, labels, in order, 1e-3);
//   - train mode (RPN and RoI head; BatchNorm frozen as norm_eval says), with sampling made
//     deterministic (every positive and negative kept, as torchvision's samplers with a huge
//     batch_size_per_image): the four losses, to 1e-4.
// Also: `detkit infer` with converted weights gives torchvision's own end-to-end detections on
// an 800x1216 image, and the state_dict of faster_rcnn_r50_fpn_1x_coco.yaml's model has exactly
// MMDetection 2.x's keys and shapes (tests/data/mmdet_keys/).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "detkit/checkpoint.h"
#include "detkit/core/checkpoint_convert.h"
#include "detkit/core/config.h"
#include "detkit/core/inference.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/neck.h"
#include "detkit/modeling/roi_extractor.h"
#include "detkit/modeling/roi_head.h"
#include "reference_support.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::child;
using testing::relative_error;
using testing::TempDir;

/// A one-image batch of `images` (1, 3, H, W) with no resizing, and `gt` when given.
ImageBatch batch_of(const torch::Tensor& images, const Instances& gt = {}) {
  ImageBatch batch;
  batch.images = images;
  DetSample sample;
  sample.meta.ori_shape = sample.meta.img_shape =
      sample.meta.pad_shape = {images.size(2), images.size(3), 3};
  sample.gt = gt;
  batch.samples.push_back(sample);
  return batch;
}

/// The torchvision-equivalent detector with the reference's converted weights.
std::shared_ptr<DetectorBase> reference_model(const TempDir& dir,
                                              const std::vector<std::string>& options = {}) {
  const ConfigNode config =
      testing::shipped_config("faster_rcnn/faster_rcnn_r50_fpn_torchvision.yaml", options);
  auto model = build_detector(config, class_names_from(config, nullptr));
  const StateDict converted = convert_torchvision_state_dict(
      load_checkpoint(dir.file("weights.pth")).state_dict, "fasterrcnn");
  const LoadReport report = load_state_dict(*model, converted, LoadPolicy::strict);
  if (!report.clean()) throw std::runtime_error(report.message());
  return model;
}

class FasterRCNNReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::load_in_tree_plugins();
    dir_ = new TempDir();
    testing::run_reference_script("gen_faster_rcnn.py", {dir_->path()});
    ref_ = new testing::ReferenceTensors(dir_->file("reference.pth"));
  }
  static void TearDownTestSuite() {
    delete ref_;
    delete dir_;
  }
  /// The reference tensor `key` + the input's index.
  static const torch::Tensor& ref(const std::string& key, int k) {
    return (*ref_)(key + std::to_string(k));
  }

  static TempDir* dir_;
  static testing::ReferenceTensors* ref_;
};
TempDir* FasterRCNNReference::dir_ = nullptr;
testing::ReferenceTensors* FasterRCNNReference::ref_ = nullptr;

TEST_F(FasterRCNNReference, EvalModeEqualsTorchvision) {
  const auto model = reference_model(*dir_);
  model->eval();
  const auto backbone = child<BackboneBase>(*model, "backbone");
  const auto neck = child<NeckBase>(*model, "neck");
  const auto rpn_head = child<DenseHeadBase>(*model, "rpn_head");
  const auto roi_head = child<RoIHeadBase>(*model, "roi_head");
  ASSERT_TRUE(backbone && neck && rpn_head && roi_head);
  const auto extractor = child<RoIExtractorBase>(*roi_head, "bbox_roi_extractor");
  ASSERT_TRUE(extractor);

  torch::NoGradGuard no_grad;
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("input " + std::to_string(k));
    const ImageBatch batch = batch_of(ref("in", k));
    const std::vector<torch::Tensor> features = neck->forward(backbone->forward(batch.images));
    ASSERT_EQ(features.size(), 5u);
    const MultiLevelOutputs outputs = rpn_head->forward(features);
    for (size_t l = 0; l < features.size(); ++l) {
      const std::string level = std::to_string(k) + "_" + std::to_string(l);
      EXPECT_LT(relative_error(outputs[0][l], (*ref_)("rpn_cls" + level)), 1e-4) << "level " << l;
      EXPECT_LT(relative_error(outputs[1][l], (*ref_)("rpn_reg" + level)), 1e-4) << "level " << l;
    }

    // Proposals: the scale factor is 1, so predict()'s rescaling changes nothing.
    const Instances proposals = rpn_head->predict(outputs, batch.samples).front();
    ASSERT_GT(ref("proposals", k).size(0), 100);
    testing::expect_same_detections(proposals, ref("proposals", k), ref("proposal_scores", k),
                                    torch::zeros({ref("proposals", k).size(0)}, torch::kLong),
                                    1e-3);

    const torch::Tensor boxes = ref("roi_boxes", k);
    const torch::Tensor rois = torch::cat({torch::zeros({boxes.size(0), 1}), boxes}, 1);
    EXPECT_LT(relative_error(extractor->forward(features, rois), ref("roi_feats", k)), 1e-4);

    const Instances found = model->predict(batch).front();
    ASSERT_GT(ref("det_scores", k).size(0), 10);
    testing::expect_same_detections(found, ref("det_boxes", k), ref("det_scores", k),
                                    ref("det_labels", k), 1e-3);
  }
}

TEST_F(FasterRCNNReference, TrainModeLossesEqualTorchvisions) {
  // Samplers that keep every positive and negative (torchvision's: batch_size_per_image 1e6).
  const auto model = reference_model(*dir_, {"model.train_cfg.rpn.sampler.num=1000000",
                                             "model.train_cfg.rcnn.sampler.num=1000000"});
  model->train();
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("input " + std::to_string(k));
    const LossDict losses = model->loss(
        batch_of(ref("in", k), Instances(Boxes(ref("gt_boxes", k)), ref("gt_labels", k))));
    const std::pair<const char*, const char*> pairs[] = {{"loss_rpn_cls", "loss_objectness"},
                                                         {"loss_rpn_bbox", "loss_rpn_box_reg"},
                                                         {"loss_cls", "loss_classifier"},
                                                         {"loss_bbox", "loss_box_reg"}};
    for (const auto& [ours, theirs] : pairs) {
      ASSERT_TRUE(losses.contains(ours)) << ours;
      const double expected = ref(theirs, k).item<double>();
      EXPECT_GT(expected, 0.0) << theirs;
      EXPECT_NEAR(losses[ours].item<double>(), expected, 1e-4 * expected)
          << ours << " vs torchvision's " << theirs;
    }
    // The losses reach every part that trains.
    torch::Tensor total = torch::zeros({});
    for (const auto& item : losses) {
      if (item.key().find("loss") != std::string::npos) total = total + item.value();
    }
    model->zero_grad();
    total.backward();
    for (const char* name : {"rpn_head.rpn_cls.weight", "roi_head.bbox_head.fc_cls.weight",
                             "roi_head.bbox_head.fc_reg.weight", "neck.fpn_convs.0.conv.weight"}) {
      const torch::Tensor* parameter = model->named_parameters().find(name);
      ASSERT_NE(parameter, nullptr) << name;
      ASSERT_TRUE(parameter->grad().defined()) << name;
      EXPECT_GT(parameter->grad().abs().sum().item<double>(), 0.0) << name;
    }
  }
}

TEST(FasterRCNNInfer, ConvertedTorchvisionWeightsGiveTorchvisionsDetections) {
  TempDir dir;
  testing::run_reference_script("gen_faster_rcnn.py", {dir.path(), "infer"});
  const std::string converted = dir.file("faster_rcnn_tv.pth");
  const auto convert =
      testing::run_detkit({"checkpoint", "convert", "--from", "torchvision", "--model",
                           "fasterrcnn", dir.file("weights.pth"), converted});
  ASSERT_EQ(convert.exit_code, 0) << convert.err;
  const std::string config =
      std::string(DETKIT_SOURCE_DIR) + "/configs/faster_rcnn/faster_rcnn_r50_fpn_torchvision.yaml";
  const auto infer = testing::run_detkit({"infer", config, converted, dir.file("image.png"),
                                          "--out-dir", dir.file("out"), "--score-thr", "0"});
  ASSERT_EQ(infer.exit_code, 0) << infer.err;
  EXPECT_NE(infer.out.find("image.png (1216x800)"), std::string::npos) << infer.out;
  const auto compare = testing::run_process(
      {"/usr/bin/python3", std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_retinanet.py",
       "compare", dir.file("expected.json"), dir.file("out/image.json")});
  EXPECT_EQ(compare.exit_code, 0) << compare.out << compare.err;
}

TEST(FasterRCNNKeys, TheCocoConfigHasMMDetectionsStateDict) {
  testing::load_in_tree_plugins();
  // Without the backbone's Pretrained init (the keys do not depend on it).
  const auto model =
      build_detector(testing::shipped_config("faster_rcnn/faster_rcnn_r50_fpn_1x_coco.yaml",
                                             {"model.backbone.init_cfg=null"}),
                     {});
  std::ifstream in(testing::data_path("mmdet_keys/mmdet_keys_faster_rcnn_r50_fpn_1x_coco.txt"));
  ASSERT_TRUE(in) << "tests/data/mmdet_keys/mmdet_keys_faster_rcnn_r50_fpn_1x_coco.txt";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(testing::tensor_listing(*model), expected.str());
}

}  // namespace
}  // namespace detkit
