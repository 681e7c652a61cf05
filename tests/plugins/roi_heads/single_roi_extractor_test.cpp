// SingleRoIExtractor (plugins/roi_heads) with MMDetection 2.25's semantics:
//   - the level of hand-made RoIs (mmdet and torchvision level mappings), read from features
//     that are constant per level;
//   - every RoI pooled (roi_align / roi_pool ops called directly) from its level, with
//     roi_scale_factor, extra neck levels ignored, empty RoIs, one level;
//   - equality with torchvision 0.14's MultiScaleRoIAlign (level_mapping: torchvision, RoIAlign
//     aligned false, sampling_ratio 2) on 4 levels of 2 images, the reference generated at test
//     time by tests/reference/gen_roi_extractor.py with /usr/bin/python3;
//   - no parameters; bad configs and inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/error.h"
#include "detkit/modeling/roi_extractor.h"
#include "detkit/ops/roi_align.h"
#include "detkit/ops/roi_pool.h"
#include "detkit/registry.h"
#include "detkit/testing.h"
#include "reference_support.h"
#include "test_support.h"

namespace {

using detkit::RoIExtractorBase;

/// The extractor of `yaml` built with `context`.
std::shared_ptr<RoIExtractorBase> extractor(const std::string& yaml,
                                            const detkit::NeckContext& context = {}) {
  return detkit::build<RoIExtractorBase>(detkit::testing::parse_yaml(yaml, "roi.yaml"),
                                         "model.roi_head.bbox_roi_extractor", context);
}

/// A neck of `channels` channels per level with the given strides.
detkit::NeckContext neck(std::vector<int64_t> strides, int64_t channels = 256) {
  detkit::NeckContext context;
  for (int64_t stride : strides)
    context.input_shapes.push_back({channels, stride});
  context.input_origin = "neck FPN (model.neck)";
  return context;
}

/// Square RoIs of image 0 with the given sides, from (10, 10).
torch::Tensor square_rois(const std::vector<double>& sides) {
  torch::Tensor rois = torch::zeros({static_cast<int64_t>(sides.size()), 5});
  for (size_t i = 0; i < sides.size(); ++i) {
    rois[i] = torch::tensor({0.0, 10.0, 10.0, 10.0 + sides[i], 10.0 + sides[i]}, torch::kFloat);
  }
  return rois;
}

/// Levels of strides 4 ... 32 of a 1024 x 1024 image, one channel, level i constant i.
std::vector<torch::Tensor> constant_levels() {
  std::vector<torch::Tensor> features;
  for (int64_t i = 0; i < 4; ++i)
    features.push_back(torch::full({1, 1, 256 >> i, 256 >> i}, static_cast<float>(i)));
  return features;
}

/// The level each RoI was pooled from (the mean of its constant features).
std::vector<int64_t> pooled_levels(RoIExtractorBase& roi_extractor, const torch::Tensor& rois) {
  const torch::Tensor pooled = roi_extractor.forward(constant_levels(), rois);
  const torch::Tensor means = pooled.mean({1, 2, 3});
  std::vector<int64_t> levels;
  for (int64_t i = 0; i < means.size(0); ++i)
    levels.push_back(std::lround(means[i].item<double>()));
  return levels;
}

class SingleRoIExtractorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto report = detkit::testing::load_plugins({ROI_HEADS_PLUGIN_FILE});
    ASSERT_TRUE(report.ok()) << report.str();
  }
};

TEST_F(SingleRoIExtractorTest, MapsRoIsToLevelsByScale) {
  const torch::Tensor rois = square_rois({30, 56, 112, 224, 448, 1000});
  // mmdet: floor(log2(scale / 56 + 1e-6)) clamped to [0, 3].
  auto mmdet = extractor("{type: SingleRoIExtractor, out_channels: 1}");
  EXPECT_EQ(pooled_levels(*mmdet, rois), (std::vector<int64_t>{0, 0, 1, 2, 3, 3}));
  auto coarse = extractor("{type: SingleRoIExtractor, out_channels: 1, finest_scale: 112}");
  EXPECT_EQ(pooled_levels(*coarse, rois), (std::vector<int64_t>{0, 0, 0, 1, 2, 3}));
  // torchvision: floor(4 + log2(scale / 112) + 1e-6) clamped to [2, 5], minus 2.
  auto tv = extractor(
      "{type: SingleRoIExtractor, out_channels: 1, level_mapping: torchvision,"
      " canonical_scale: 112}");
  EXPECT_EQ(pooled_levels(*tv, rois), (std::vector<int64_t>{0, 1, 2, 3, 3, 3}));
}

TEST_F(SingleRoIExtractorTest, PoolsEachRoIFromItsLevel) {
  torch::manual_seed(3);
  const std::vector<int64_t> strides = {4, 8, 16, 32, 64};
  std::vector<torch::Tensor> features;  // 2 images of 128 x 128, 5 levels (the 5th unused)
  for (int64_t stride : strides)
    features.push_back(torch::randn({2, 3, 128 / stride, 128 / stride}));
  torch::Tensor rois = torch::tensor({{0.0, 5.0, 6.0, 30.0, 40.0},
                                      {1.0, 0.0, 0.0, 127.0, 120.0},
                                      {1.0, 20.0, 30.0, 80.0, 100.0},
                                      {0.0, 60.5, 10.0, 64.0, 13.0},
                                      {0.0, -50.0, -40.0, 200.0, 180.0},
                                      {1.0, -100.0, -100.0, 400.0, 400.0}},
                                     torch::kFloat);
  const double factor = 1.5;
  const torch::Tensor scale = torch::sqrt((rois.select(1, 3) - rois.select(1, 1)) *
                                          (rois.select(1, 4) - rois.select(1, 2)));
  const torch::Tensor levels =
      torch::floor(torch::log2(scale / 56 + 1e-6)).clamp(0, 3).to(torch::kLong);
  const std::vector<int64_t> level_list(levels.data_ptr<int64_t>(),
                                        levels.data_ptr<int64_t>() + levels.numel());
  EXPECT_EQ(level_list, (std::vector<int64_t>{0, 1, 0, 0, 2, 3}));  // every level is used
  torch::Tensor scaled = rois.clone();
  for (int64_t i = 0; i < rois.size(0); ++i) {
    const auto r = rois[i];
    const double cx = (r[1].item<double>() + r[3].item<double>()) / 2;
    const double cy = (r[2].item<double>() + r[4].item<double>()) / 2;
    const double w = (r[3].item<double>() - r[1].item<double>()) * factor;
    const double h = (r[4].item<double>() - r[2].item<double>()) * factor;
    scaled[i] = torch::tensor({r[0].item<double>(), cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2},
                              torch::kFloat);
  }
  const std::string context_yaml = "out_channels: 3, roi_scale_factor: 1.5";
  for (const bool pool : {false, true}) {
    SCOPED_TRACE(pool ? "RoIPool" : "RoIAlign");
    const std::string layer = pool ? "{type: RoIPool, output_size: 5}"
                                   : "{type: RoIAlign, output_size: 5, sampling_ratio: 0}";
    auto roi_extractor =
        extractor("{type: SingleRoIExtractor, roi_layer: " + layer + ", " + context_yaml + "}",
                  neck(strides, 3));
    EXPECT_EQ(roi_extractor->output_size(), 5);
    EXPECT_EQ(roi_extractor->out_channels(), 3);
    const torch::Tensor actual = roi_extractor->forward(features, rois);
    ASSERT_EQ(actual.sizes(), (std::vector<int64_t>{6, 3, 5, 5}));
    for (int64_t i = 0; i < rois.size(0); ++i) {
      const int64_t level = levels[i].item<int64_t>();
      const double spatial_scale = 1.0 / static_cast<double>(strides[level]);
      const torch::Tensor roi = scaled.slice(0, i, i + 1);
      const torch::Tensor expected =
          pool ? detkit::ops::roi_pool(features[level], roi, {5, 5}, spatial_scale)
               : detkit::ops::roi_align(features[level], roi, {5, 5}, spatial_scale, 0, true);
      EXPECT_TRUE(torch::allclose(actual.slice(0, i, i + 1), expected, 1e-6, 1e-6))
          << "roi " << i << " (level " << level << ")";
    }
  }
  // No RoIs: (0, C, S, S). One level: every RoI pooled from it.
  auto default_extractor = extractor("{type: SingleRoIExtractor, out_channels: 3}");
  EXPECT_EQ(default_extractor->forward(features, torch::zeros({0, 5})).sizes(),
            (std::vector<int64_t>{0, 3, 7, 7}));
  auto single = extractor("{type: SingleRoIExtractor, out_channels: 3, featmap_strides: [8]}");
  EXPECT_TRUE(torch::allclose(single->forward({features[1]}, rois),
                              detkit::ops::roi_align(features[1], rois, {7, 7}, 1.0 / 8, 0, true)));
}

TEST_F(SingleRoIExtractorTest, HasNoParameters) {
  auto roi_extractor = extractor("{type: SingleRoIExtractor}", neck({4, 8, 16, 32, 64}));
  EXPECT_TRUE(roi_extractor->named_parameters().is_empty());
  EXPECT_TRUE(roi_extractor->named_buffers().is_empty());
  EXPECT_EQ(roi_extractor->out_channels(), 256);
  EXPECT_EQ(roi_extractor->output_size(), 7);
}

TEST_F(SingleRoIExtractorTest, EqualsTorchvisionMultiScaleRoIAlign) {
  detkit::testing::TempDir dir;
  detkit::testing::run_reference_script("gen_roi_extractor.py",
                                        {dir.file("roi_extractor_reference.pt")});
  const detkit::testing::ReferenceTensors reference(dir.file("roi_extractor_reference.pt"));
  std::vector<torch::Tensor> features;
  for (int i = 0; i < 4; ++i)
    features.push_back(reference("f" + std::to_string(i)));
  auto roi_extractor = extractor(
      "{type: SingleRoIExtractor, out_channels: 8, level_mapping: torchvision,"
      " roi_layer: {type: RoIAlign, output_size: 7, sampling_ratio: 2, aligned: false}}",
      neck({4, 8, 16, 32, 64}, 8));
  const torch::Tensor actual = roi_extractor->forward(features, reference("rois"));
  const torch::Tensor& expected = reference("expected");
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-5);
}

TEST_F(SingleRoIExtractorTest, RefusesBadConfigs) {
  struct Case {
    std::string yaml;
    std::vector<int64_t> neck_strides;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{type: SingleRoIExtractor, featmap_strides: [8, 16, 32, 64]}",
       {4, 8, 16, 32, 64},
       "featmap_strides [8, 16, 32, 64] do not match the strides [4, 8, 16, 32, 64] of the levels "
       "from neck FPN (model.neck)"},
      {"{type: SingleRoIExtractor, featmap_strides: [4, 8, 16, 32, 64, 128]}",
       {4, 8, 16, 32, 64},
       "do not match the strides"},
      {"{type: SingleRoIExtractor, roi_layer: {type: RoIWarp, output_size: 7}}",
       {},
       "roi_layer type 'RoIWarp' is not supported (RoIAlign or RoIPool)"},
      {"{type: SingleRoIExtractor, roi_layer: {type: RoIPool, output_size: 7, sampling_ratio: 2}}",
       {},
       "roi_layer has no parameter 'sampling_ratio' for RoIPool"},
      {"{type: SingleRoIExtractor, roi_layer: {type: RoIAlign, output_size: 7, pool_mode: max}}",
       {},
       "pool_mode must be 'avg'"},
      {"{type: SingleRoIExtractor, roi_layer: {type: RoIAlign, output_size: 0}}",
       {},
       "output_size must be an integer >= 1"},
      {"{type: SingleRoIExtractor, featmap_strides: []}", {}, "featmap_strides is empty"},
      {"{type: SingleRoIExtractor, featmap_strides: []}", {4, 8}, "featmap_strides is empty"},
      {"{type: SingleRoIExtractor, out_channels: 128}", {4, 8, 16, 32}, "disagrees"},
      {"{type: SingleRoIExtractor, level_mapping: torchvision, featmap_strides: [4, 12]}",
       {},
       "powers of 2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    detkit::NeckContext context =
        c.neck_strides.empty() ? detkit::NeckContext{} : neck(c.neck_strides);
    const std::string message =
        detkit::testing::error_of<detkit::ConfigError>([&] { extractor(c.yaml, context); });
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
    EXPECT_NE(message.find("roi.yaml"), std::string::npos) << message;
  }
}

TEST_F(SingleRoIExtractorTest, RefusesBadInputs) {
  auto roi_extractor = extractor("{type: SingleRoIExtractor, out_channels: 2}");
  const std::vector<torch::Tensor> three(3, torch::zeros({1, 2, 8, 8}));
  const std::vector<torch::Tensor> four(4, torch::zeros({1, 2, 8, 8}));
  EXPECT_NE(detkit::testing::error_of([&] {
              roi_extractor->forward(three, torch::zeros({1, 5}));
            }).find("expected 4 feature levels (featmap_strides [4, 8, 16, 32]), got 3"),
            std::string::npos);
  const std::vector<torch::Tensor> wrong(4, torch::zeros({1, 3, 8, 8}));
  EXPECT_NE(detkit::testing::error_of([&] {
              roi_extractor->forward(wrong, torch::zeros({1, 5}));
            }).find("feature level 0 must be (N, 2, H, W)"),
            std::string::npos);
  EXPECT_NE(detkit::testing::error_of([&] {
              roi_extractor->forward(four, torch::zeros({1, 4}));
            }).find("rois must be (K, 5)"),
            std::string::npos);
}

}  // namespace
