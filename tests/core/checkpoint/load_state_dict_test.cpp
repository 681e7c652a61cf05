// load_state_dict (MMCV's semantics and the failing policies), and the torchvision -> MMDetection
// key conversion on real torchvision state dicts generated at test time.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "checkpoint_test_utils.h"
#include "detkit/core/checkpoint_convert.h"
#include "detkit/core/runtime.h"

namespace detkit::testing {
namespace {

/// conv (3 -> 4, 1x1) + bn: the keys of a tiny backbone.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(Tiny);

class LoadStateDictTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_runtime(); }
};

/// A state dict for Tiny with every tensor filled with `value`.
StateDict filled(const Tiny& tiny, double value) {
  StateDict sd;
  for (const auto& item : named_tensors(*tiny))
    sd.insert(item.key(), torch::full_like(item.value(), value));
  return sd;
}

TEST_F(LoadStateDictTest, NamedTensorsFollowPythonsStateDictOrder) {
  Tiny tiny;
  EXPECT_EQ(
      named_tensors(*tiny).keys(),
      (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias",
                                "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
}

TEST_F(LoadStateDictTest, CopiesMatchingTensorsAndReportsTheRestLikeMmcv) {
  Tiny tiny;
  StateDict sd = filled(tiny, 0.5);
  sd.erase("bn.running_var");
  sd.erase("bn.num_batches_tracked");  // never reported missing
  sd["conv.weight"] = torch::zeros({5, 3, 1, 1});
  sd.insert("head.fc.weight", torch::zeros({2}));
  const LoadReport report = load_state_dict(*tiny, sd, /*strict=*/false);
  EXPECT_EQ(report.missing_keys, (std::vector<std::string>{"bn.running_var"}));
  EXPECT_EQ(report.unexpected_keys, (std::vector<std::string>{"head.fc.weight"}));
  ASSERT_EQ(report.size_mismatches.size(), 1u);
  EXPECT_EQ(report.message(),
            "The model and loaded state dict do not match exactly\n\n"
            "size mismatch for conv.weight: copying a param with shape torch.Size([5, 3, 1, 1]) "
            "from checkpoint, the shape in current model is torch.Size([4, 3, 1, 1]).\n"
            "unexpected key in source state_dict: head.fc.weight\n\n"
            "missing keys in source state_dict: bn.running_var\n");
  EXPECT_TRUE(torch::all(tiny->conv->bias == 0.5).item<bool>());
  EXPECT_TRUE(torch::all(tiny->bn->running_mean == 0.5).item<bool>());
  EXPECT_FALSE(torch::all(tiny->conv->weight == 0).item<bool>());  // skipped, kept its init
  EXPECT_TRUE(torch::all(tiny->bn->running_var == 1).item<bool>());
}

TEST_F(LoadStateDictTest, FailingPoliciesListEveryMismatchAndCopyNothing) {
  Tiny tiny;
  StateDict sd = filled(tiny, 0.5);
  sd["conv.weight"] = torch::zeros({5, 3, 1, 1});
  sd["bn.weight"] = torch::zeros({3});
  const std::string shapes =
      checkpoint_error([&] { load_state_dict(*tiny, sd, LoadPolicy::fail_on_size_mismatch); });
  EXPECT_NE(shapes.find("The checkpoint's shapes do not fit the model (2 tensors)"),
            std::string::npos)
      << shapes;
  EXPECT_NE(shapes.find("size mismatch for conv.weight"), std::string::npos);
  EXPECT_NE(shapes.find("size mismatch for bn.weight: copying a param with shape "
                        "torch.Size([3]) from checkpoint, the shape in current model is "
                        "torch.Size([4])."),
            std::string::npos);
  EXPECT_FALSE(torch::all(tiny->conv->bias == 0.5).item<bool>());  // nothing copied

  // Only names missing/unexpected: fail_on_size_mismatch loads, strict refuses.
  StateDict renamed = filled(tiny, 0.25);
  renamed.erase("conv.bias");
  renamed.insert("extra", torch::ones({1}));
  EXPECT_EQ(load_state_dict(*tiny, renamed, LoadPolicy::fail_on_size_mismatch).missing_keys,
            (std::vector<std::string>{"conv.bias"}));
  EXPECT_TRUE(torch::all(tiny->bn->weight == 0.25).item<bool>());
  const std::string strict = checkpoint_error([&] { load_state_dict(*tiny, renamed, true); });
  EXPECT_NE(strict.find("unexpected key in source state_dict: extra"), std::string::npos);
  EXPECT_NE(strict.find("missing keys in source state_dict: conv.bias"), std::string::npos);
  EXPECT_TRUE(load_state_dict(*tiny, filled(tiny, 1.0), true).clean());
}

/// The "key [shape]" lines of tests/data/mmdet_keys/<name>.
std::vector<std::pair<std::string, std::string>> reference_keys(const std::string& name) {
  std::ifstream in(data_path("mmdet_keys/" + name));
  std::vector<std::pair<std::string, std::string>> keys;
  std::string key, shape;
  while (in >> key >> shape)
    keys.emplace_back(key, shape);
  return keys;
}

std::string shape_of(const torch::Tensor& tensor) {
  std::string out = "[";
  for (const int64_t size : tensor.sizes())
    out += (out.size() > 1 ? "," : "") + std::to_string(size);
  return out + "]";
}

TEST_F(LoadStateDictTest, TorchvisionRetinanetConvertsToMmdetectionsKeysAndShapes) {
  TempDir dir;
  run_reference({"torchvision", dir.path()});
  const StateDict torchvision = load_checkpoint(dir.file("retinanet_resnet50_fpn.pth")).state_dict;
  const StateDict converted = convert_torchvision_state_dict(torchvision, "retinanet");
  const auto reference = reference_keys("mmdet_keys_retinanet_r50_fpn_1x_coco.txt");
  ASSERT_EQ(reference.size(), 354u);
  std::vector<std::string> expected_keys;
  for (const auto& [key, shape] : reference) {
    expected_keys.push_back(key);
    const torch::Tensor* tensor = converted.find(key);
    ASSERT_NE(tensor, nullptr) << key;
    // torchvision's P6 reads P5 (256 channels), MMDetection's reads C5 (2048): the one shape
    // that cannot agree.
    if (key == "neck.fpn_convs.3.conv.weight") {
      EXPECT_EQ(shape_of(*tensor), "[256,256,3,3]");
      EXPECT_EQ(shape, "[256,2048,3,3]");
      continue;
    }
    EXPECT_EQ(shape_of(*tensor), shape) << key;
  }
  std::vector<std::string> keys = converted.keys();
  std::sort(keys.begin(), keys.end());
  std::sort(expected_keys.begin(), expected_keys.end());
  EXPECT_EQ(keys, expected_keys);
  // The tensors are the file's, renamed.
  EXPECT_TRUE(converted["backbone.layer3.5.conv2.weight"].is_same(
      torchvision["backbone.body.layer3.5.conv2.weight"]));
  EXPECT_TRUE(converted["neck.fpn_convs.4.conv.bias"].is_same(
      torchvision["backbone.fpn.extra_blocks.p7.bias"]));
  EXPECT_TRUE(converted["bbox_head.cls_convs.2.conv.weight"].is_same(
      torchvision["head.classification_head.conv.2.0.weight"]));
  EXPECT_TRUE(converted["bbox_head.retina_reg.weight"].is_same(
      torchvision["head.regression_head.bbox_reg.weight"]));

  const StateDict resnet = load_checkpoint(dir.file("resnet18.pth")).state_dict;
  const StateDict backbone = convert_torchvision_state_dict(resnet, "resnet");
  EXPECT_EQ(backbone.size(), resnet.size() - 2);  // fc.weight, fc.bias dropped
  EXPECT_EQ(backbone.find("fc.weight"), nullptr);
  EXPECT_TRUE(backbone["layer4.1.bn2.running_var"].is_same(resnet["layer4.1.bn2.running_var"]));
}

TEST_F(LoadStateDictTest, ConversionRefusesUnknownKeysAndModels) {
  StateDict sd;
  sd.insert("backbone.body.conv1.weight", torch::zeros({1}));
  sd.insert("backbone.body.bn1.running_var", torch::zeros({1}));  // FrozenBatchNorm2d: no count
  sd.insert("roi_heads.box_predictor.cls_score.weight", torch::zeros({1}));
  sd.insert("head.classification_head.conv.1.weight", torch::zeros({1}));  // a ReLU's index
  const std::string message =
      checkpoint_error([&] { convert_torchvision_state_dict(sd, "retinanet"); });
  EXPECT_NE(message.find("not a torchvision retinanet one: 2 unknown keys: "
                         "roi_heads.box_predictor.cls_score.weight, "
                         "head.classification_head.conv.1.weight"),
            std::string::npos)
      << message;
  EXPECT_NE(checkpoint_error([&] {
              convert_torchvision_state_dict(sd, "yolo");
            }).find("unknown torchvision model 'yolo' (supported: retinanet, fasterrcnn, resnet)"),
            std::string::npos);
  sd.erase("roi_heads.box_predictor.cls_score.weight");
  sd.erase("head.classification_head.conv.1.weight");
  sd.insert("head.classification_head.conv.2.weight", torch::zeros({1}));  // old layout: conv 1
  const StateDict converted = convert_torchvision_state_dict(sd, "retinanet");
  EXPECT_EQ(converted.keys(),
            (std::vector<std::string>{"backbone.conv1.weight", "backbone.bn1.running_var",
                                      "backbone.bn1.num_batches_tracked",
                                      "bbox_head.cls_convs.1.conv.weight"}));
  EXPECT_EQ(converted["backbone.bn1.num_batches_tracked"].scalar_type(), torch::kLong);
}

TEST_F(LoadStateDictTest, TorchvisionFasterRcnnConvertsWithTheBackgroundLast) {
  // A fasterrcnn_resnet50_fpn-like state dict: one key of each rule, tiny tensors, C = 4
  // torchvision classes (row 0 its background).
  const torch::Tensor cls_weight = torch::arange(8, torch::kFloat).reshape({4, 2});
  const torch::Tensor cls_bias = torch::tensor({0.5f, 1.5f, 2.5f, 3.5f});
  const torch::Tensor reg_weight = torch::arange(32, torch::kFloat).reshape({16, 2});
  StateDict sd;
  sd.insert("backbone.body.layer1.0.downsample.1.running_var", torch::ones({2}));
  sd.insert("backbone.fpn.inner_blocks.3.0.weight", torch::zeros({1}));
  sd.insert("backbone.fpn.layer_blocks.0.0.bias", torch::zeros({1}));
  sd.insert("rpn.head.conv.0.0.weight", torch::zeros({1}));
  sd.insert("rpn.head.cls_logits.bias", torch::zeros({1}));
  sd.insert("rpn.head.bbox_pred.weight", torch::zeros({1}));
  sd.insert("roi_heads.box_head.fc6.weight", torch::zeros({1}));
  sd.insert("roi_heads.box_head.fc7.bias", torch::zeros({1}));
  sd.insert("roi_heads.box_predictor.cls_score.weight", cls_weight);
  sd.insert("roi_heads.box_predictor.cls_score.bias", cls_bias);
  sd.insert("roi_heads.box_predictor.bbox_pred.weight", reg_weight);
  const StateDict converted = convert_torchvision_state_dict(sd, "fasterrcnn");
  EXPECT_EQ(
      converted.keys(),
      (std::vector<std::string>{
          "backbone.layer1.0.downsample.1.running_var",
          "backbone.layer1.0.downsample.1.num_batches_tracked", "neck.lateral_convs.3.conv.weight",
          "neck.fpn_convs.0.conv.bias", "rpn_head.rpn_conv.weight", "rpn_head.rpn_cls.bias",
          "rpn_head.rpn_reg.weight", "roi_head.bbox_head.shared_fcs.0.weight",
          "roi_head.bbox_head.shared_fcs.1.bias", "roi_head.bbox_head.fc_cls.weight",
          "roi_head.bbox_head.fc_cls.bias", "roi_head.bbox_head.fc_reg.weight"}));
  EXPECT_TRUE(converted["rpn_head.rpn_conv.weight"].is_same(sd["rpn.head.conv.0.0.weight"]));
  // fc_cls: a never-scoring row 0, torchvision's classes 1..3, its background last.
  EXPECT_TRUE(torch::equal(
      converted["roi_head.bbox_head.fc_cls.weight"],
      torch::tensor({0.f, 0.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 0.f, 1.f}).reshape({5, 2})));
  EXPECT_TRUE(torch::equal(converted["roi_head.bbox_head.fc_cls.bias"],
                           torch::tensor({-10000.f, 1.5f, 2.5f, 3.5f, 0.5f})));
  // The never-scoring class's probability is exactly 0 in float32; the others are torchvision's.
  const torch::Tensor logits =
      torch::tensor({{4.f, -3.f, 20.f, 1.f, 7.f}}) + converted["roi_head.bbox_head.fc_cls.bias"];
  const torch::Tensor probs = torch::softmax(logits, 1);
  EXPECT_EQ(probs[0][0].item<float>(), 0.f);
  EXPECT_TRUE(torch::allclose(probs.slice(1, 1), torch::softmax(logits.slice(1, 1), 1)));
  // fc_reg: unchanged, one box for each of the C classes.
  EXPECT_TRUE(converted["roi_head.bbox_head.fc_reg.weight"].is_same(reg_weight));

  // The older torchvision RPN layout, and keys no fasterrcnn has.
  StateDict old;
  old.insert("rpn.head.conv.bias", torch::zeros({1}));
  EXPECT_EQ(convert_torchvision_state_dict(old, "fasterrcnn").keys(),
            (std::vector<std::string>{"rpn_head.rpn_conv.bias"}));
  sd.insert("backbone.fpn.extra_blocks.p6.weight", torch::zeros({1}));  // retinanet's P6
  sd.insert("roi_heads.box_head.fc8.weight", torch::zeros({1}));
  const std::string message =
      checkpoint_error([&] { convert_torchvision_state_dict(sd, "fasterrcnn"); });
  EXPECT_NE(message.find("not a torchvision fasterrcnn one: 2 unknown keys: "
                         "backbone.fpn.extra_blocks.p6.weight, roi_heads.box_head.fc8.weight"),
            std::string::npos)
      << message;
  // A box classifier of the wrong shape.
  StateDict flat;
  flat.insert("roi_heads.box_predictor.cls_score.weight", torch::zeros({4}));
  EXPECT_NE(checkpoint_error([&] { convert_torchvision_state_dict(flat, "fasterrcnn"); })
                .find("'roi_head.bbox_head.fc_cls.weight' has shape [4], not a box "
                      "classifier's (C, in)"),
            std::string::npos);
}

}  // namespace
}  // namespace detkit::testing
