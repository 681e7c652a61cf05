// The fpn plugin's FPN and PAFPN built from YAML through the registry, as a config builds them:
// parameter names and shapes equal MMDetection's checkpoints (tests/data/mmdet_keys), output
// shapes from the backbone's context, MMDetection's default init, the printed form, and every
// bad input with its message.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/neck.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "test_support.h"

namespace {

using detkit::NeckBase;
using detkit::NeckContext;
using detkit::ShapeSpec;

/// Loads the fpn plugin (once per process).
void load_fpn_plugin() {
  static const bool loaded = [] {
    const auto report =
        detkit::testing::load_plugins({std::string(DETKIT_PLUGIN_DIR) + "/libdetkit-fpn.so"});
    EXPECT_TRUE(report.ok()) << report.str();
    return report.ok();
  }();
  ASSERT_TRUE(loaded);
}

/// The neck `yaml` describes, built with the backbone shapes `inputs` (none: no context).
std::shared_ptr<NeckBase> build_neck(const std::string& yaml,
                                     const std::vector<ShapeSpec>& inputs = {}) {
  NeckContext context;
  context.input_shapes = inputs;
  context.input_origin = "backbone ResNet (model.backbone)";
  return detkit::build<NeckBase>(detkit::testing::parse_yaml(yaml, "neck.yaml"), "model.neck",
                                 context);
}

/// The message of the detkit::Error `fn` throws ("(no error)" if none).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const detkit::Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_CONTAINS(TEXT, PART) \
  EXPECT_NE(std::string(TEXT).find(PART), std::string::npos) << "in: " << (TEXT)

/// ResNet-like levels: channels `channels`, strides 4, 8, 16, ...
std::vector<ShapeSpec> levels(const std::vector<int64_t>& channels) {
  std::vector<ShapeSpec> shapes;
  for (size_t i = 0; i < channels.size(); ++i) {
    ShapeSpec shape;
    shape.channels = channels[i];
    shape.stride = int64_t{4} << i;
    shapes.push_back(shape);
  }
  return shapes;
}

/// "name [d0,d1,...]" for every parameter, as the mmdet_keys files list them.
std::vector<std::string> key_lines(const torch::nn::Module& module, const std::string& prefix) {
  std::vector<std::string> lines;
  for (const auto& item : module.named_parameters()) {
    std::string shape;
    for (int64_t d : item.value().sizes())
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    lines.push_back(prefix + item.key() + " [" + shape + "]");
  }
  return lines;
}

/// The lines of tests/data/mmdet_keys/<file> that start with `prefix`.
std::vector<std::string> reference_lines(const std::string& file, const std::string& prefix) {
  std::ifstream in(detkit::testing::data_path("mmdet_keys/" + file));
  EXPECT_TRUE(in.good()) << file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  }
  return lines;
}

TEST(Fpn, ParameterNamesEqualMmdetectionRetinaNet) {
  load_fpn_plugin();
  auto neck = build_neck(
      "{type: FPN, in_channels: [256, 512, 1024, 2048], out_channels: 256, start_level: 1, "
      "add_extra_convs: on_input, num_outs: 5}");
  const auto expected = reference_lines("mmdet_keys_retinanet_r50_fpn_1x_coco.txt", "neck.");
  ASSERT_EQ(expected.size(), 16u);
  EXPECT_EQ(key_lines(*neck, "neck."), expected);
}

TEST(Fpn, ParameterNamesEqualMmdetectionFasterRcnn) {
  load_fpn_plugin();
  auto neck =
      build_neck("{type: FPN, out_channels: 256, num_outs: 5}", levels({256, 512, 1024, 2048}));
  const auto expected = reference_lines("mmdet_keys_faster_rcnn_r50_fpn_1x_coco.txt", "neck.");
  ASSERT_EQ(expected.size(), 16u);
  EXPECT_EQ(key_lines(*neck, "neck."), expected);
}

TEST(Fpn, NormAndPafpnChildrenHaveMmdetectionNames) {
  load_fpn_plugin();
  auto fpn = build_neck(
      "{type: FPN, out_channels: 8, num_outs: 3, norm_cfg: {type: GN, "
      "num_groups: 2}, no_norm_on_lateral: true}",
      levels({4, 6}));
  EXPECT_EQ(key_lines(*fpn, ""),
            (std::vector<std::string>{
                "lateral_convs.0.conv.weight [8,4,1,1]", "lateral_convs.0.conv.bias [8]",
                "lateral_convs.1.conv.weight [8,6,1,1]", "lateral_convs.1.conv.bias [8]",
                "fpn_convs.0.conv.weight [8,8,3,3]", "fpn_convs.0.gn.weight [8]",
                "fpn_convs.0.gn.bias [8]", "fpn_convs.1.conv.weight [8,8,3,3]",
                "fpn_convs.1.gn.weight [8]", "fpn_convs.1.gn.bias [8]"}));
  auto pafpn = build_neck("{type: PAFPN, out_channels: 8, num_outs: 3}", levels({4, 6, 10}));
  const auto lines = key_lines(*pafpn, "");
  ASSERT_EQ(lines.size(), 20u);
  EXPECT_EQ(lines[12], "downsample_convs.0.conv.weight [8,8,3,3]");
  EXPECT_EQ(lines[14], "downsample_convs.1.conv.weight [8,8,3,3]");
  EXPECT_EQ(lines[16], "pafpn_convs.0.conv.weight [8,8,3,3]");
  EXPECT_EQ(lines[19], "pafpn_convs.1.conv.bias [8]");
}

TEST(Fpn, OutputShapesFollowTheBackbone) {
  load_fpn_plugin();
  const auto backbone = levels({4, 6, 8, 10});
  auto retina = build_neck(
      "{type: FPN, out_channels: 8, start_level: 1, add_extra_convs: on_input, num_outs: 5}",
      backbone);
  std::vector<int64_t> strides;
  for (const auto& shape : retina->output_shapes()) {
    EXPECT_EQ(shape.channels, 8);
    strides.push_back(shape.stride);
  }
  EXPECT_EQ(strides, (std::vector<int64_t>{8, 16, 32, 64, 128}));

  auto faster = build_neck("{type: PAFPN, out_channels: 8, num_outs: 5}", backbone);
  strides.clear();
  for (const auto& shape : faster->output_shapes())
    strides.push_back(shape.stride);
  EXPECT_EQ(strides, (std::vector<int64_t>{4, 8, 16, 32, 64}));

  auto partial = build_neck("{type: FPN, out_channels: 8, end_level: 2, num_outs: 3}", backbone);
  strides.clear();
  for (const auto& shape : partial->output_shapes())
    strides.push_back(shape.stride);
  EXPECT_EQ(strides, (std::vector<int64_t>{4, 8, 16}));

  // The maps forward() returns have those strides on a 64x64 image.
  std::vector<torch::Tensor> features;
  for (const auto& level : backbone)
    features.push_back(torch::randn({2, level.channels, 64 / level.stride, 64 / level.stride}));
  const auto outs = retina->forward(features);
  ASSERT_EQ(outs.size(), 5u);
  for (size_t i = 0; i < outs.size(); ++i) {
    const int64_t side = 64 / retina->output_shapes()[i].stride;
    EXPECT_EQ(outs[i].sizes(),
              (std::vector<int64_t>{2, 8, std::max<int64_t>(side, 1), std::max<int64_t>(side, 1)}));
  }
}

TEST(Fpn, DefaultInitIsXavierUniformOnEveryConv) {
  load_fpn_plugin();
  auto neck = build_neck("{type: FPN, out_channels: 8, num_outs: 4, add_extra_convs: true}",
                         levels({4, 6, 10}));
  const detkit::InitLog log = detkit::init_weights(*neck);
  ASSERT_EQ(log.size(), neck->named_parameters().size());
  for (const auto& record : log) {
    // Biases were already 0 (ConvModule's init), so MMCV's log calls them unchanged.
    if (record.name.find(".bias") != std::string::npos) continue;
    EXPECT_CONTAINS(record.info, "XavierInit: gain=1, distribution=uniform, bias=0");
  }
  for (const auto& item : neck->named_parameters()) {
    const torch::Tensor& value = item.value();
    if (item.key().find(".bias") != std::string::npos) {
      EXPECT_EQ(value.abs().max().item<double>(), 0.0) << item.key();
      continue;
    }
    const double fan_in = value.size(1) * value.size(2) * value.size(3);
    const double fan_out = value.size(0) * value.size(2) * value.size(3);
    const double bound = std::sqrt(6.0 / (fan_in + fan_out));
    EXPECT_LE(value.abs().max().item<double>(), bound) << item.key();
    EXPECT_GT(value.abs().max().item<double>(), 0.5 * bound) << item.key();
  }
  // A config's init_cfg replaces the default, as in MMDetection.
  auto constant = build_neck(
      "{type: FPN, out_channels: 8, num_outs: 3, init_cfg: {type: Constant, val: 0.5, layer: "
      "Conv2d}}",
      levels({4, 6, 10}));
  detkit::init_weights(*constant);
  for (const auto& item : constant->named_parameters()) {
    if (item.key().find(".weight") != std::string::npos) {
      EXPECT_TRUE(item.value().eq(0.5).all().item<bool>()) << item.key();
    }
  }
}

TEST(Fpn, PrintsItsOptions) {
  load_fpn_plugin();
  std::ostringstream fpn, pafpn;
  build_neck("{type: FPN, out_channels: 8, num_outs: 3}", levels({4, 6}))->pretty_print(fpn);
  EXPECT_CONTAINS(fpn.str(), "FPN(in_channels=[4, 6], out_channels=8, num_outs=3, start_level=0");
  EXPECT_CONTAINS(fpn.str(), "upsample_cfg={mode: nearest");
  build_neck("{type: PAFPN, out_channels: 8, num_outs: 3}", levels({4, 6}))->pretty_print(pafpn);
  EXPECT_CONTAINS(pafpn.str(), "PAFPN(in_channels=[4, 6], out_channels=8");
  EXPECT_EQ(pafpn.str().find("upsample_cfg"), std::string::npos) << pafpn.str();
}

TEST(FpnErrors, InChannelsDisagreeingWithTheBackbone) {
  load_fpn_plugin();
  const std::string message = error_of([] {
    build_neck("{type: FPN, in_channels: [4, 6, 8, 12], out_channels: 8, num_outs: 4}",
               levels({4, 6, 8, 10}));
  });
  EXPECT_CONTAINS(message, "neck.yaml:1:");
  EXPECT_CONTAINS(message, "model.neck.in_channels");
  EXPECT_CONTAINS(message, "[4, 6, 8, 12]");
  EXPECT_CONTAINS(message, "[4, 6, 8, 10] from backbone ResNet (model.backbone)");
  // Equal values are fine.
  EXPECT_NO_THROW(
      build_neck("{type: FPN, in_channels: [4, 6], out_channels: 8, num_outs: 2}", levels({4, 6})));
}

TEST(FpnErrors, MissingInChannelsAndRequiredParameters) {
  load_fpn_plugin();
  EXPECT_CONTAINS(error_of([] { build_neck("{type: FPN, out_channels: 8, num_outs: 2}"); }),
                  "set in_channels (no backbone shapes are known)");
  EXPECT_CONTAINS(error_of([] {
                    build_neck("{type: FPN, num_outs: 2}", levels({4, 6}));
                  }),
                  "out_channels");
  const std::string message = error_of([] {
    build_neck("{type: PAFPN, out_channels: 8}", levels({4, 6}));
  });
  EXPECT_CONTAINS(message, "model.neck");
  EXPECT_CONTAINS(message, "num_outs");
}

TEST(FpnErrors, NumOutsTooSmallForTheUsedLevels) {
  load_fpn_plugin();
  const std::string message = error_of([] {
    build_neck("{type: FPN, out_channels: 8, start_level: 1, num_outs: 2}", levels({4, 6, 8, 10}));
  });
  EXPECT_CONTAINS(message, "model.neck.num_outs");
  EXPECT_CONTAINS(message, "num_outs (2) is smaller than the number of backbone levels used (3");
}

TEST(FpnErrors, LevelsOutOfRange) {
  load_fpn_plugin();
  const auto backbone = levels({4, 6, 8, 10});
  std::string message = error_of(
      [&] { build_neck("{type: FPN, out_channels: 8, end_level: 4, num_outs: 5}", backbone); });
  EXPECT_CONTAINS(message, "model.neck.end_level");
  EXPECT_CONTAINS(message, "end_level (4) must be -1 or in [start_level 0, 3]");
  message = error_of([&] {
    build_neck("{type: PAFPN, out_channels: 8, start_level: 2, end_level: 1, num_outs: 1}",
               backbone);
  });
  EXPECT_CONTAINS(message, "end_level (1) must be -1 or in [start_level 2, 3]");
  message = error_of(
      [&] { build_neck("{type: FPN, out_channels: 8, end_level: 2, num_outs: 5}", backbone); });
  EXPECT_CONTAINS(message, "model.neck.num_outs");
  EXPECT_CONTAINS(message, "num_outs (5) must equal end_level - start_level + 1 = 3");
  message = error_of(
      [&] { build_neck("{type: FPN, out_channels: 8, start_level: 4, num_outs: 5}", backbone); });
  EXPECT_CONTAINS(message, "model.neck.start_level");
  EXPECT_CONTAINS(message, "start_level (4) must be below the number of backbone levels (4");
  message = error_of(
      [&] { build_neck("{type: FPN, out_channels: 8, end_level: -2, num_outs: 5}", backbone); });
  EXPECT_CONTAINS(message, "model.neck.end_level");
}

TEST(FpnErrors, UnknownAddExtraConvs) {
  load_fpn_plugin();
  std::string message = error_of([] {
    build_neck("{type: FPN, out_channels: 8, num_outs: 3, add_extra_convs: on_inputs}",
               levels({4, 6}));
  });
  EXPECT_CONTAINS(message, "model.neck.add_extra_convs");
  EXPECT_CONTAINS(message, "on_inputs");
  EXPECT_CONTAINS(message, "on_input|on_lateral|on_output");
  message = error_of([] {
    build_neck("{type: PAFPN, out_channels: 8, num_outs: 3, add_extra_convs: 1}", levels({4, 6}));
  });
  EXPECT_CONTAINS(message, "model.neck.add_extra_convs");
}

TEST(FpnErrors, UpsampleCfg) {
  load_fpn_plugin();
  std::string message = error_of([] {
    build_neck("{type: PAFPN, out_channels: 8, num_outs: 2, upsample_cfg: {mode: nearest}}",
               levels({4, 6}));
  });
  EXPECT_CONTAINS(message, "unknown parameter 'upsample_cfg' of PAFPN");
  message = error_of([] {
    build_neck("{type: FPN, out_channels: 8, num_outs: 2, upsample_cfg: {mode: bicubic}}",
               levels({4, 6}));
  });
  EXPECT_CONTAINS(message, "model.neck.upsample_cfg.mode");
  message = error_of([] {
    build_neck(
        "{type: FPN, out_channels: 8, num_outs: 2, upsample_cfg: {mode: nearest, "
        "align_corners: true}}",
        levels({4, 6}));
  });
  EXPECT_CONTAINS(message, "align_corners needs mode bilinear");
  // scale_factor 2 on levels that do not halve exactly: the sizes are named.
  auto neck = build_neck(
      "{type: FPN, out_channels: 8, num_outs: 2, upsample_cfg: {mode: nearest, scale_factor: 2}}",
      levels({4, 6}));
  message = error_of([&] {
    neck->forward({torch::randn({1, 4, 13, 17}), torch::randn({1, 6, 7, 9})});
  });
  EXPECT_CONTAINS(message, "level 1 (7x9) upsampled by scale_factor 2");
  EXPECT_CONTAINS(message, "is 14x18, but level 0 is 13x17");
}

TEST(FpnErrors, BadFeatureMaps) {
  load_fpn_plugin();
  auto neck = build_neck("{type: FPN, out_channels: 8, num_outs: 2}", levels({4, 6}));
  std::string message = error_of([&] { neck->forward({torch::randn({1, 4, 8, 8})}); });
  EXPECT_CONTAINS(message, "FPN: expected 2 feature maps (in_channels [4, 6]), got 1");
  message = error_of([&] {
    neck->forward({torch::randn({1, 4, 8, 8}), torch::randn({1, 5, 4, 4})});
  });
  EXPECT_CONTAINS(message,
                  "feature map 1 must be (N, 6, H, W) as in_channels says, got [1, 5, 4, 4]");
  message = error_of([&] { neck->forward({torch::randn({4, 8, 8}), torch::randn({1, 6, 4, 4})}); });
  EXPECT_CONTAINS(message, "feature map 0 must be (N, 4, H, W)");
}

}  // namespace
