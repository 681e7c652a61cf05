// The task modules against Python references computed at test time by
// tests/reference/gen_task_modules.py (Debian's torch 1.13 / torchvision 0.14): AnchorGenerator
// vs MMDetection's formulas, TorchvisionAnchorGenerator vs torchvision's AnchorGenerator,
// DeltaXYWHBBoxCoder vs torchvision's BoxCoder and MMDetection's formulas, MaxIoUAssigner vs
// torchvision's Matcher. Every component is built from YAML through the registry.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "detkit/core/anchor_generators.h"
#include "detkit/modeling/task_modules.h"
#include "task_modules_reference.h"

namespace detkit::testing {
namespace {

const auto kFloat = torch::TensorOptions().dtype(torch::kFloat32);

/// Max |a - b| as text, for failure messages.
std::string max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return "shapes differ";
  if (a.numel() == 0) return "0";
  return std::to_string((a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>());
}

void expect_levels_equal(const std::vector<torch::Tensor>& actual,
                         const std::vector<torch::Tensor>& expected, const std::string& name) {
  ASSERT_EQ(actual.size(), expected.size()) << name;
  for (size_t level = 0; level < expected.size(); ++level) {
    ASSERT_EQ(actual[level].sizes(), expected[level].sizes()) << name << " level " << level;
    EXPECT_EQ(actual[level].scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(torch::equal(actual[level], expected[level]))
        << name << " level " << level << ": max diff " << max_diff(actual[level], expected[level]);
  }
}

TEST(AnchorGeneratorReference, MatchesMMDetectionFormulas) {
  for (const TaskModuleCase& c : load_task_module_cases("anchor_generator")) {
    SCOPED_TRACE(c.name + " " + c.text("yaml"));
    const auto generator = build_yaml<AnchorGeneratorBase>(c.text("yaml"));
    const auto expected = c.tensors("expected");
    expect_levels_equal(generator->grid_priors(c.sizes("featmap_sizes"), kFloat), expected, c.name);
    // A_l = anchors of a 1-cell-wide level / cells.
    const auto sizes = c.sizes("featmap_sizes");
    const auto per_location = generator->num_base_priors();
    for (size_t level = 0; level < sizes.size(); ++level) {
      EXPECT_EQ(per_location[level] * sizes[level].first * sizes[level].second,
                expected[level].size(0));
    }
  }
}

TEST(AnchorGeneratorReference, RetinaNetSettings) {
  const auto generator = build_yaml<AnchorGeneratorBase>(
      "{type: AnchorGenerator, octave_base_scale: 4, scales_per_octave: 3, "
      "ratios: [0.5, 1.0, 2.0], strides: [8, 16, 32, 64, 128]}");
  EXPECT_EQ(generator->num_base_priors(), std::vector<int64_t>(5, 9));
  EXPECT_EQ(generator->strides(), (std::vector<int64_t>{8, 16, 32, 64, 128}));
}

TEST(TorchvisionAnchorGeneratorReference, MatchesTorchvision) {
  for (const TaskModuleCase& c : load_task_module_cases("torchvision_anchor")) {
    SCOPED_TRACE(c.name);
    const auto built = build_yaml<AnchorGeneratorBase>("{type: TorchvisionAnchorGenerator}");
    const auto* generator = dynamic_cast<const TorchvisionAnchorGenerator*>(built.get());
    ASSERT_NE(generator, nullptr);
    // The defaults are retinanet_resnet50_fpn's.
    EXPECT_EQ(generator->options.sizes(), c.nested_reals("sizes"));
    EXPECT_EQ(generator->num_base_priors(), std::vector<int64_t>(5, 9));
    const auto image = c.tensor("image_size");
    const std::pair<int64_t, int64_t> image_size = {image[0].item<int64_t>(),
                                                    image[1].item<int64_t>()};
    const auto sizes = c.sizes("featmap_sizes");
    expect_levels_equal(generator->grid_priors(sizes, image_size, kFloat), c.tensors("expected"),
                        c.name);
    // Without the image size: torchvision's anchors for an image of featmap_sizes[0] * 8.
    expect_levels_equal(built->grid_priors(sizes, kFloat), c.tensors("expected_inferred"), c.name);
  }
}

TEST(TorchvisionAnchorGeneratorReference, PaddedBatchNeedsNoImageSize) {
  // 800x1216 is a multiple of the first stride: grid_priors alone gives torchvision's anchors.
  for (const TaskModuleCase& c : load_task_module_cases("torchvision_anchor")) {
    if (c.name != "800x1216") continue;
    const auto generator = build_yaml<AnchorGeneratorBase>("{type: TorchvisionAnchorGenerator}");
    expect_levels_equal(generator->grid_priors(c.sizes("featmap_sizes"), kFloat),
                        c.tensors("expected"), c.name);
    return;
  }
  FAIL() << "no 800x1216 case";
}

TEST(DeltaXYWHBBoxCoderReference, MatchesTorchvisionBoxCoder) {
  for (const TaskModuleCase& c : load_task_module_cases("box_coder_tv")) {
    SCOPED_TRACE(c.name);
    const auto coder = build_yaml<BBoxCoderBase>(c.text("yaml"));
    const torch::Tensor encoded = coder->encode(c.tensor("priors"), c.tensor("gt_boxes"));
    EXPECT_TRUE(torch::allclose(encoded, c.tensor("expected_encode"), 1e-5, 1e-5))
        << max_diff(encoded, c.tensor("expected_encode"));
    const torch::Tensor decoded = coder->decode(c.tensor("priors"), c.tensor("deltas"));
    EXPECT_TRUE(torch::allclose(decoded, c.tensor("expected_decode"), 1e-5, 1e-3))
        << max_diff(decoded, c.tensor("expected_decode"));
  }
}

TEST(DeltaXYWHBBoxCoderReference, MatchesMMDetectionFormulas) {
  for (const TaskModuleCase& c : load_task_module_cases("box_coder_mmdet")) {
    SCOPED_TRACE(c.name + " " + c.text("yaml"));
    const auto coder = build_yaml<BBoxCoderBase>(c.text("yaml"));
    const torch::Tensor encoded = coder->encode(c.tensor("priors"), c.tensor("gt_boxes"));
    EXPECT_TRUE(torch::allclose(encoded, c.tensor("expected_encode"), 1e-6, 1e-6))
        << max_diff(encoded, c.tensor("expected_encode"));
    const torch::Tensor shape = c.tensor("max_shape");
    const torch::Tensor decoded =
        coder->decode(c.tensor("priors"), c.tensor("deltas"),
                      {shape[0].item<int64_t>(), shape[1].item<int64_t>()});
    const torch::Tensor expected = c.tensor("expected_decode");
    ASSERT_EQ(decoded.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(decoded, expected, 1e-6, 1e-4)) << max_diff(decoded, expected);
    // Huge deltas stay finite: dw, dh are clamped to |log(16 / 1000)|.
    EXPECT_TRUE(torch::isfinite(decoded).all().item<bool>());
  }
}

TEST(MaxIoUAssignerReference, MatchesTorchvisionMatcher) {
  for (const TaskModuleCase& c : load_task_module_cases("assigner_tv")) {
    SCOPED_TRACE(c.name);
    const auto assigner = build_yaml<AssignerBase>(c.text("yaml"));
    const AssignResult result =
        assigner->assign(c.tensor("priors"), c.tensor("gt_boxes"), c.tensor("gt_labels"));
    EXPECT_EQ(result.num_gts, c.tensor("gt_boxes").size(0));
    EXPECT_TRUE(torch::equal(result.gt_inds, c.tensor("expected_gt_inds")));
    EXPECT_TRUE(torch::equal(result.labels, c.tensor("expected_labels")));
    EXPECT_TRUE(
        torch::allclose(result.max_overlaps, c.tensor("expected_max_overlaps"), 1e-5, 1e-6));
    // The draw exercises every outcome: positives, negatives, ignored and low-quality matches.
    EXPECT_GT((result.gt_inds > 0).sum().item<int64_t>(), 0);
    EXPECT_GT((result.gt_inds == 0).sum().item<int64_t>(), 0);
  }
}

}  // namespace
}  // namespace detkit::testing
