// The whole RetinaNet (resnet + fpn + retinanet + losses plugins) against torchvision 0.14's,
// from the shipped config configs/retinanet/retinanet_r50_fpn_torchvision.yaml and
// torchvision weights converted as `detkit checkpoint convert --from torchvision --model
// retinanet` converts them. The reference is generated at test time by
// tests/reference/gen_retinanet.py (Debian's /usr/bin/python3): a fixed seed, BatchNorm
// statistics perturbed, two inputs of different sizes. Checked, for ResNet-50 and ResNet-18:
//   - FPN outputs and raw head outputs of every level to 1e-4 (relative to the level's scale);
//   - losses for given targets (torchvision's compute_loss) to 1e-4;
//   - detections (boxes, scores, labels, in order) to 1e-3.
// Also: the state_dict of configs/retinanet/retinanet_r50_fpn_1x_coco.yaml's model has exactly
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
#include "reference_support.h"
#include "test_support.h"

namespace detkit {
namespace {

using testing::child;
using testing::relative_error;
using testing::TempDir;

struct Variant {
  const char* name;
  std::vector<std::string> options;
};

class RetinaNetReference : public ::testing::TestWithParam<Variant> {
 protected:
  static void SetUpTestSuite() { testing::load_in_tree_plugins(); }
};

TEST_P(RetinaNetReference, EqualsTorchvision) {
  const Variant& variant = GetParam();
  TempDir dir;
  testing::run_reference_script("gen_retinanet.py", {dir.path(), variant.name});

  const ConfigNode config =
      testing::shipped_config("retinanet/retinanet_r50_fpn_torchvision.yaml", variant.options);
  const auto model = build_detector(config, class_names_from(config, nullptr));
  const StateDict converted = convert_torchvision_state_dict(
      load_checkpoint(dir.file("weights.pth")).state_dict, "retinanet");
  const LoadReport report = load_state_dict(*model, converted, LoadPolicy::strict);
  ASSERT_TRUE(report.clean()) << report.message();
  model->eval();
  const auto backbone = child<BackboneBase>(*model, "backbone");
  const auto neck = child<NeckBase>(*model, "neck");
  const auto head = child<DenseHeadBase>(*model, "bbox_head");
  ASSERT_TRUE(backbone && neck && head);

  const testing::ReferenceTensors ref(dir.file("reference.pth"));
  torch::NoGradGuard no_grad;
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("input " + std::to_string(k));
    const torch::Tensor images = ref("in" + std::to_string(k));
    const int64_t h = images.size(2), w = images.size(3);
    const std::vector<torch::Tensor> features = neck->forward(backbone->forward(images));
    ASSERT_EQ(features.size(), 5u);
    for (size_t l = 0; l < features.size(); ++l) {
      const std::string level = std::to_string(k) + "_" + std::to_string(l);
      EXPECT_LT(relative_error(features[l], ref("fpn" + level)), 1e-4) << "P" << l + 3;
    }
    const MultiLevelOutputs outputs = head->forward(features);
    for (size_t l = 0; l < features.size(); ++l) {
      const std::string level = std::to_string(k) + "_" + std::to_string(l);
      EXPECT_LT(relative_error(outputs[0][l], ref("cls" + level)), 1e-4) << "level " << l;
      EXPECT_LT(relative_error(outputs[1][l], ref("reg" + level)), 1e-4) << "level " << l;
    }

    ImageBatch batch;
    batch.images = images;
    DetSample sample;
    sample.meta.ori_shape = sample.meta.img_shape = sample.meta.pad_shape = {h, w, 3};
    sample.gt =
        Instances(Boxes(ref("gt_boxes" + std::to_string(k))), ref("gt_labels" + std::to_string(k)));
    batch.samples.push_back(sample);
    const LossDict losses = model->loss(batch);
    const double loss_cls = losses["loss_cls"].item<double>();
    const double loss_bbox = losses["loss_bbox"].item<double>();
    const double ref_cls = ref("loss_cls" + std::to_string(k)).item<double>();
    const double ref_bbox = ref("loss_bbox" + std::to_string(k)).item<double>();
    EXPECT_NEAR(loss_cls, ref_cls, 1e-4 * std::max(1.0, std::abs(ref_cls)));
    EXPECT_NEAR(loss_bbox, ref_bbox, 1e-4 * std::max(1.0, std::abs(ref_bbox)));
    EXPECT_GT(ref_bbox, 0.0);

    const Instances found = model->predict(batch).front();
    ASSERT_GT(ref("det_scores" + std::to_string(k)).size(0), 10);
    testing::expect_same_detections(found, ref("det_boxes" + std::to_string(k)),
                                    ref("det_scores" + std::to_string(k)),
                                    ref("det_labels" + std::to_string(k)), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, RetinaNetReference,
                         ::testing::Values(Variant{"r50", {}},
                                           Variant{"r18",
                                                   {"model.backbone.depth=18",
                                                    "model.neck.in_channels=[128, 256, 512]"}}),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return std::string(info.param.name);
                         });

TEST(RetinaNetInfer, ConvertedTorchvisionWeightsGiveTorchvisionsDetections) {
  TempDir dir;
  const std::string script = std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_retinanet.py";
  const auto generated =
      testing::run_process({"/usr/bin/python3", script, dir.path(), "r50", "infer"});
  ASSERT_EQ(generated.exit_code, 0) << generated.out << generated.err;
  const std::string converted = dir.file("retinanet_tv.pth");
  const auto convert =
      testing::run_detkit({"checkpoint", "convert", "--from", "torchvision", "--model", "retinanet",
                           dir.file("weights.pth"), converted});
  ASSERT_EQ(convert.exit_code, 0) << convert.err;
  const std::string config =
      std::string(DETKIT_SOURCE_DIR) + "/configs/retinanet/retinanet_r50_fpn_torchvision.yaml";
  testing::write_file(dir.file("broken.jpg"), "not an image");
  const auto infer = testing::run_detkit({"infer", config, converted, dir.file("image.png"),
                                          dir.file("broken.jpg"), "--out-dir", dir.file("out"),
                                          "--score-thr", "0"});
  ASSERT_EQ(infer.exit_code, 0) << infer.err;
  EXPECT_NE(infer.out.find("image.png (1216x800): 300 detection(s)"), std::string::npos)
      << infer.out;
  EXPECT_NE(infer.err.find("warning: skipped " + dir.file("broken.jpg")), std::string::npos)
      << infer.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("out/image.jpg")));
  const auto compare =
      testing::run_process({"/usr/bin/python3", script, "compare", dir.file("expected.json"),
                            dir.file("out/image.json")});
  EXPECT_EQ(compare.exit_code, 0) << compare.out << compare.err;

  // The outputs exist now: without --force nothing is overwritten (a bad command line).
  const auto again = testing::run_detkit(
      {"infer", config, converted, dir.file("image.png"), "--out-dir", dir.file("out")});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  // An output that would replace an input is refused even with --force.
  const auto onto_input = testing::run_detkit(
      {"infer", config, converted, dir.file("broken.jpg"), "--out-dir", dir.path(), "--force"});
  EXPECT_EQ(onto_input.exit_code, 2);
  EXPECT_NE(onto_input.err.find("would overwrite the input " + dir.file("broken.jpg")),
            std::string::npos)
      << onto_input.err;
}

TEST(InferCommandLine, BadArgumentsFailBeforeAnyWork) {
  TempDir dir;
  testing::write_file(dir.file("a/x.png"), "");
  testing::write_file(dir.file("b/x.jpg"), "");
  const std::string config =
      std::string(DETKIT_SOURCE_DIR) + "/configs/retinanet/retinanet_r50_fpn_torchvision.yaml";
  const auto expect_usage = [](const std::vector<std::string>& args, const std::string& says) {
    const auto r = testing::run_detkit(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  };
  expect_usage({"infer", config, "none.pth", dir.file("a/x.png"), "--score-thr", "1.5"},
               "--score-thr must be in [0, 1]");
  expect_usage({"infer", config, "none.pth", dir.file("a/x.png"), "--threads", "-1"},
               "--threads must be >= 0");
  expect_usage({"infer", config, "none.pth", dir.file("missing.png")},
               "missing.png: no such file or folder");
  expect_usage({"infer", config, "none.pth", dir.file("a/x.png"), dir.file("b/x.jpg"), "--out-dir",
                dir.file("out")},
               "have the same stem 'x'");
  expect_usage({"infer", config}, "usage: detkit infer");
  expect_usage({"benchmark", "model", config, "--shape", "12x12"}, "--shape expects HxW");
  expect_usage({"benchmark", "model", config, "--shape", "800by1216"}, "--shape expects HxW");
  EXPECT_FALSE(std::filesystem::exists(dir.file("out")));
  // A config without a model is a config error (1), not a crash.
  testing::write_file(dir.file("empty.yaml"), "data: {}\n");
  const auto model = testing::run_detkit({"model", dir.file("empty.yaml")});
  EXPECT_EQ(model.exit_code, 1);
  EXPECT_NE(model.err.find("no 'model' section"), std::string::npos) << model.err;
}

TEST(RetinaNetKeys, TheCocoConfigHasMMDetectionsStateDict) {
  testing::load_in_tree_plugins();
  // Without the backbone's Pretrained init (the keys do not depend on it).
  const ConfigNode config = testing::shipped_config("retinanet/retinanet_r50_fpn_1x_coco.yaml",
                                                    {"model.backbone.init_cfg=null"});
  const auto model = build_detector(config, {});
  std::ifstream in(testing::data_path("mmdet_keys/mmdet_keys_retinanet_r50_fpn_1x_coco.txt"));
  ASSERT_TRUE(in) << "tests/data/mmdet_keys/mmdet_keys_retinanet_r50_fpn_1x_coco.txt";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(testing::tensor_listing(*model), expected.str());
}

}  // namespace
}  // namespace detkit
