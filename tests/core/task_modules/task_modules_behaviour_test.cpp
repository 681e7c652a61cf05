// The task modules' behaviour on hand-made cases (MMDetection's semantics worked out by hand):
// MaxIoUAssigner's min_pos_iou, neg_iou_thr ranges, ignore_iof_thr, gt_max_assign_all, the
// low-quality overwrite order, empty inputs; PseudoSampler; BboxOverlaps2D; AnchorGenerator's
// documented example; and the clear errors of bad parameters and bad inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "detkit/core/anchor_generators.h"
#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"
#include "task_modules_reference.h"

namespace detkit::testing {
namespace {

torch::Tensor boxes(std::vector<std::vector<float>> rows) {
  std::vector<float> flat;
  for (const auto& row : rows)
    flat.insert(flat.end(), row.begin(), row.end());
  return torch::tensor(flat).view({-1, 4});
}

torch::Tensor longs(std::vector<int64_t> values) {
  return torch::tensor(values, torch::kInt64);
}

/// The message of the ConfigError that building `yaml` throws ("" and a failure when none).
template <class Base>
std::string build_error(const std::string& yaml) {
  try {
    build_yaml<Base>(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << yaml;
  return "";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// ------------------------------------------------------------------------------- assigner

TEST(MaxIoUAssigner, MinPosIouGatesLowQualityMatches) {
  // IoU(prior 0, gt) = 100 / 300 = 1/3; prior 1 does not touch the gt.
  const auto priors = boxes({{0, 0, 10, 10}, {20, 20, 30, 30}});
  const auto gt = boxes({{0, 0, 10, 30}});
  const auto low = build_yaml<AssignerBase>(
      "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.3, min_pos_iou: 0.3}");
  AssignResult r = low->assign(priors, gt, longs({7}));
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({1, 0})));
  EXPECT_TRUE(torch::equal(r.labels, longs({7, -1})));
  EXPECT_NEAR(r.max_overlaps[0].item<float>(), 1.0 / 3.0, 1e-6);
  const auto high = build_yaml<AssignerBase>(
      "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.3, min_pos_iou: 0.4}");
  r = high->assign(priors, gt, longs({7}));
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({-1, 0})));  // 1/3 is in [0.3, 0.5): ignored
  const auto off = build_yaml<AssignerBase>(
      "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.3, match_low_quality: false}");
  EXPECT_TRUE(torch::equal(off->assign(priors, gt, longs({7})).gt_inds, longs({-1, 0})));
}

TEST(MaxIoUAssigner, NegativeRange) {
  // IoUs with the gt [0, 0, 10, 10]: 0.05 and 0.2 and 0.
  const auto priors = boxes({{0, 0, 10, 0.5}, {0, 0, 10, 2}, {50, 50, 60, 60}});
  const auto gt = boxes({{0, 0, 10, 10}});
  const auto assigner = build_yaml<AssignerBase>(
      "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: [0.1, 0.4], "
      "match_low_quality: false}");
  EXPECT_TRUE(torch::equal(assigner->assign(priors, gt, longs({1})).gt_inds, longs({-1, 0, -1})));
}

TEST(MaxIoUAssigner, GtMaxAssignAll) {
  // Priors 0 and 1 tie at IoU 1/3 with the gt; prior 2 is far away.
  const auto priors = boxes({{0, 0, 10, 30}, {0, -20, 10, 10}, {50, 50, 60, 60}});
  const auto gt = boxes({{0, 0, 10, 10}});
  const std::string base = "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.3, ";
  EXPECT_TRUE(torch::equal(
      build_yaml<AssignerBase>(base + "gt_max_assign_all: true}")->assign(priors, gt, {}).gt_inds,
      longs({1, 1, 0})));
  EXPECT_TRUE(torch::equal(
      build_yaml<AssignerBase>(base + "gt_max_assign_all: false}")->assign(priors, gt, {}).gt_inds,
      longs({1, -1, 0})));
}

TEST(MaxIoUAssigner, LaterGroundTruthOverwritesLowQualityMatch) {
  // Prior 0 has IoU 0.5 with both gts: positive for gt 0 (its first best), then each gt's
  // low-quality match claims it in order, so gt 1 (the last) keeps it.
  const auto priors = boxes({{0, 0, 10, 10}, {100, 100, 110, 110}});
  const auto gts = boxes({{0, 0, 10, 20}, {0, 0, 20, 10}});
  const auto assigner =
      build_yaml<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4}");
  const AssignResult r = assigner->assign(priors, gts, longs({3, 4}));
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({2, 0})));
  EXPECT_TRUE(torch::equal(r.labels, longs({4, -1})));
}

TEST(MaxIoUAssigner, IgnoreIofThr) {
  const auto priors = boxes({{0, 0, 10, 10}, {20, 20, 30, 30}, {40, 40, 50, 50}});
  const auto gt = boxes({{40, 40, 50, 50}});
  const auto ignore = boxes({{18, 18, 32, 32}});  // holds prior 1: IoF 1 over it, 100/196 over
                                                  // the ignored box
  const std::string base = "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, ";
  AssignResult r = build_yaml<AssignerBase>(base + "ignore_iof_thr: 0.5}")
                       ->assign(priors, gt, longs({2}), ignore);
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({0, -1, 1})));
  EXPECT_EQ(r.max_overlaps[1].item<float>(), -1.0f);
  r = build_yaml<AssignerBase>(base + "ignore_iof_thr: 0.5, ignore_wrt_candidates: false}")
          ->assign(priors, gt, longs({2}), ignore);
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({0, -1, 1})));
  r = build_yaml<AssignerBase>(base + "ignore_iof_thr: 0.6, ignore_wrt_candidates: false}")
          ->assign(priors, gt, longs({2}), ignore);
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({0, 0, 1})));
  // The default (-1) ignores nothing.
  r = build_yaml<AssignerBase>(base + "}")->assign(priors, gt, longs({2}), ignore);
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({0, 0, 1})));
}

TEST(MaxIoUAssigner, EmptyGroundTruthAndPriors) {
  const auto assigner =
      build_yaml<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4}");
  const auto priors = boxes({{0, 0, 10, 10}, {5, 5, 15, 15}});
  AssignResult r = assigner->assign(priors, torch::zeros({0, 4}), torch::zeros({0}, torch::kLong));
  EXPECT_EQ(r.num_gts, 0);
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({0, 0})));
  EXPECT_TRUE(torch::equal(r.max_overlaps, torch::zeros({2})));
  EXPECT_TRUE(torch::equal(r.labels, longs({-1, -1})));
  r = assigner->assign(torch::zeros({0, 4}), boxes({{0, 0, 4, 4}, {1, 1, 5, 5}}), longs({0, 1}));
  EXPECT_EQ(r.num_gts, 2);
  EXPECT_EQ(r.gt_inds.numel(), 0);
  EXPECT_EQ(r.max_overlaps.numel(), 0);
  EXPECT_EQ(r.labels.numel(), 0);
}

TEST(MaxIoUAssigner, GpuAssignThrKeepsTheDevice) {
  const auto assigner = build_yaml<AssignerBase>(
      "{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0.1, "
      "gpu_assign_thr: 1}");
  const AssignResult r = assigner->assign(boxes({{0, 0, 10, 10}, {50, 50, 60, 60}}),
                                          boxes({{0, 0, 10, 10}, {90, 90, 99, 99}}), longs({5, 6}));
  EXPECT_TRUE(torch::equal(r.gt_inds, longs({1, 0})));
  EXPECT_TRUE(torch::equal(r.labels, longs({5, -1})));
  EXPECT_EQ(r.gt_inds.device(), torch::Device(torch::kCPU));
}

TEST(MaxIoUAssigner, BadParametersAndInputs) {
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: -0.1, "
                                       "neg_iou_thr: 0.4}"),
             "pos_iou_thr");
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, "
                                       "neg_iou_thr: -0.4}"),
             "neg_iou_thr");
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, "
                                       "neg_iou_thr: [0.4, 0.1]}"),
             "low end above its high end");
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, neg_iou_thr: 0.4}"),
             "pos_iou_thr must be set");
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5}"),
             "neg_iou_thr must be set");
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, "
                                       "neg_iou_thr: 0.4, min_pos_iou: -1}"),
             "min_pos_iou");
  EXPECT_HAS(build_error<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, "
                                       "neg_iou_thr: 0.4, iou_calculator: {type: Nope}}"),
             "Nope");
  const auto assigner =
      build_yaml<AssignerBase>("{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4}");
  try {
    assigner->assign(boxes({{0, 0, 1, 1}}), boxes({{0, 0, 1, 1}}), longs({1, 2}));
    ADD_FAILURE() << "no error for 2 labels of 1 box";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "gt_labels must be (G,) for G = 1");
  }
  EXPECT_THROW(assigner->assign(torch::zeros({3, 3}), boxes({{0, 0, 1, 1}}), {}), Error);
}

// ------------------------------------------------------------------------------- sampler

TEST(PseudoSampler, TakesEveryPositiveAndNegative) {
  const auto sampler = build_yaml<SamplerBase>("{type: PseudoSampler}");
  AssignResult assignment;
  assignment.num_gts = 2;
  assignment.gt_inds = longs({0, 2, -1, 1, 0, 2});
  const auto gts = boxes({{0, 0, 1, 1}, {5, 5, 6, 6}});
  const SamplingResult s = sampler->sample(assignment, torch::zeros({6, 4}), gts);
  EXPECT_TRUE(torch::equal(s.pos_inds, longs({1, 3, 5})));
  EXPECT_TRUE(torch::equal(s.neg_inds, longs({0, 4})));
  EXPECT_TRUE(torch::equal(s.pos_assigned_gt_inds, longs({1, 0, 1})));
  EXPECT_TRUE(torch::equal(s.pos_gt_bboxes, boxes({{5, 5, 6, 6}, {0, 0, 1, 1}, {5, 5, 6, 6}})));
  // No ground truth: everything negative, (0, 4) positives' boxes.
  assignment.num_gts = 0;
  assignment.gt_inds = longs({0, 0});
  const SamplingResult empty =
      sampler->sample(assignment, torch::zeros({2, 4}), torch::zeros({0, 4}));
  EXPECT_EQ(empty.pos_inds.numel(), 0);
  EXPECT_TRUE(torch::equal(empty.neg_inds, longs({0, 1})));
  EXPECT_EQ(empty.pos_gt_bboxes.sizes(), (torch::IntArrayRef{0, 4}));
  // Mismatched inputs.
  EXPECT_THROW(sampler->sample(assignment, torch::zeros({3, 4}), torch::zeros({0, 4})), Error);
  EXPECT_THROW(sampler->sample(assignment, torch::zeros({2, 4}), gts), Error);
}

// ------------------------------------------------------------------------- iou calculator

TEST(BboxOverlaps2D, ModesAlignedAndScores) {
  const auto calculator = build_yaml<IoUCalculatorBase>("{type: BboxOverlaps2D}");
  const auto a = boxes({{0, 0, 10, 10}, {0, 0, 20, 20}});
  const auto b = boxes({{0, 0, 10, 20}});
  EXPECT_TRUE(torch::allclose(calculator->compute(a, b), torch::tensor({0.5f, 0.5f}).view({2, 1})));
  EXPECT_TRUE(
      torch::allclose(calculator->compute(a, b, "iof"), torch::tensor({1.0f, 0.5f}).view({2, 1})));
  EXPECT_TRUE(torch::allclose(calculator->compute(a, a, "iou", true), torch::ones({2})));
  // A 5th (score) column is dropped.
  const auto scored = torch::cat({a, torch::ones({2, 1})}, 1);
  EXPECT_TRUE(torch::equal(calculator->compute(scored, b), calculator->compute(a, b)));
  EXPECT_THROW(calculator->compute(a, b, "dice"), Error);
  EXPECT_THROW(calculator->compute(torch::zeros({2, 3}), b), Error);
  const auto half = build_yaml<IoUCalculatorBase>("{type: BboxOverlaps2D, dtype: fp16, scale: 2}");
  const torch::Tensor fp16 = half->compute(a, b);
  EXPECT_EQ(fp16.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(fp16, calculator->compute(a, b), 1e-3, 1e-3));
  EXPECT_HAS(build_error<IoUCalculatorBase>("{type: BboxOverlaps2D, dtype: fp64}"), "fp16");
}

// ---------------------------------------------------------------------- anchor generators

TEST(AnchorGenerator, DocumentedExample) {
  // MMDetection's docstring: AnchorGenerator([16], [1.], [1.], [9]) on a 2x2 map.
  const auto generator = build_yaml<AnchorGeneratorBase>(
      "{type: AnchorGenerator, strides: [16], ratios: [1.0], scales: [1.0], base_sizes: [9]}");
  const auto anchors = generator->grid_priors({{2, 2}}, torch::kFloat32);
  EXPECT_TRUE(torch::equal(anchors[0], boxes({{-4.5, -4.5, 4.5, 4.5},
                                              {11.5, -4.5, 20.5, 4.5},
                                              {-4.5, 11.5, 4.5, 20.5},
                                              {11.5, 11.5, 20.5, 20.5}})));
  // float64 on request; an empty level gives (0, 4).
  const auto doubles = generator->grid_priors({{0, 3}}, torch::kFloat64);
  EXPECT_EQ(doubles[0].scalar_type(), torch::kFloat64);
  EXPECT_EQ(doubles[0].sizes(), (torch::IntArrayRef{0, 4}));
}

TEST(AnchorGenerator, BadParameters) {
  const std::string base = "{type: AnchorGenerator, ratios: [1.0], ";
  std::string message = build_error<AnchorGeneratorBase>(
      base + "strides: [8], scales: [1.0], octave_base_scale: 4, scales_per_octave: 3}");
  EXPECT_HAS(message, "scales and octave_base_scale");
  EXPECT_HAS(message, "[1.0]");
  EXPECT_HAS(build_error<AnchorGeneratorBase>(base + "strides: [8], octave_base_scale: 4}"),
             "octave_base_scale without scales_per_octave");
  EXPECT_HAS(build_error<AnchorGeneratorBase>(base + "strides: [8]}"), "none of them");
  message = build_error<AnchorGeneratorBase>(base +
                                             "strides: [8, 16, 32], base_sizes: [8, 16], "
                                             "scales: [1.0]}");
  EXPECT_HAS(message, "2 base_sizes for 3 strides");
  EXPECT_HAS(message, "base_sizes");
  EXPECT_HAS(build_error<AnchorGeneratorBase>("{type: AnchorGenerator, ratios: [1.0], "
                                              "scales: [1.0]}"),
             "strides must be set");
  EXPECT_HAS(build_error<AnchorGeneratorBase>(base + "strides: [8, [4, 4, 4]], scales: [1.0]}"),
             "strides");
  EXPECT_HAS(build_error<AnchorGeneratorBase>(base + "strides: [0], scales: [1.0]}"), "strides");
  EXPECT_HAS(build_error<AnchorGeneratorBase>(base + "strides: [8], scales: [1.0], "
                                                     "centers: [[1, 1]], center_offset: 0.5}"),
             "center_offset");
  EXPECT_HAS(build_error<AnchorGeneratorBase>(base + "strides: [8], scales: [1.0], "
                                                     "center_offset: 2}"),
             "center_offset");
  EXPECT_HAS(build_error<AnchorGeneratorBase>("{type: AnchorGenerator, ratios: [-1.0], "
                                              "strides: [8], scales: [1.0]}"),
             "ratios");
  const auto generator = build_yaml<AnchorGeneratorBase>(base + "strides: [8, 16], scales: [1.0]}");
  try {
    generator->grid_priors({{2, 2}}, torch::kFloat32);
    ADD_FAILURE() << "no error for 1 featmap size of 2 levels";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "1 feature-map sizes for 2 levels");
  }
}

TEST(TorchvisionAnchorGenerator, BadParameters) {
  EXPECT_HAS(build_error<AnchorGeneratorBase>("{type: TorchvisionAnchorGenerator, "
                                              "aspect_ratios: [[1.0], [1.0]]}"),
             "2 lists for 5 levels");
  EXPECT_HAS(build_error<AnchorGeneratorBase>("{type: TorchvisionAnchorGenerator, "
                                              "strides: [8, 16]}"),
             "2 strides for 5 levels");
  EXPECT_HAS(build_error<AnchorGeneratorBase>("{type: TorchvisionAnchorGenerator, "
                                              "sizes: [[32, -1]], strides: [8]}"),
             "sizes");
  const auto generator = build_yaml<AnchorGeneratorBase>(
      "{type: TorchvisionAnchorGenerator, sizes: [[16]], strides: [8]}");
  EXPECT_THROW(generator->grid_priors({{0, 4}}, torch::kFloat32), Error);
}

// ---------------------------------------------------------------------------------- coder

TEST(DeltaXYWHBBoxCoder, RoundTripAndBadInputs) {
  const auto coder =
      build_yaml<BBoxCoderBase>("{type: DeltaXYWHBBoxCoder, target_stds: [0.1, 0.1, 0.2, 0.2]}");
  const auto priors = boxes({{0, 0, 10, 10}, {5, 5, 25, 15}});
  const auto gts = boxes({{1, 2, 9, 12}, {0, 4, 30, 20}});
  EXPECT_TRUE(torch::allclose(coder->decode(priors, coder->encode(priors, gts)), gts, 1e-5, 1e-4));
  EXPECT_EQ(coder->encode_size(), 4);
  EXPECT_EQ(coder->decode(torch::zeros({0, 4}), torch::zeros({0, 4})).numel(), 0);
  try {
    coder->decode(priors, torch::zeros({3, 4}));
    ADD_FAILURE() << "no error for 3 deltas of 2 priors";
  } catch (const Error& e) {
    EXPECT_HAS(e.what(), "priors (2, 4) and deltas (3, 4)");
  }
  EXPECT_THROW(coder->encode(priors, torch::zeros({2, 3})), Error);
  EXPECT_HAS(build_error<BBoxCoderBase>("{type: DeltaXYWHBBoxCoder, target_stds: [1, 1, 0, 1]}"),
             "target_stds");
  EXPECT_HAS(build_error<BBoxCoderBase>("{type: DeltaXYWHBBoxCoder, target_means: [0, 0]}"),
             "target_means");
  EXPECT_HAS(build_error<BBoxCoderBase>("{type: DeltaXYWHBBoxCoder, clip_boder: true}"),
             "clip_border");
}

}  // namespace
}  // namespace detkit::testing
