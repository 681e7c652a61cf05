// box_iou / generalized_box_iou against torchvision and bbox_overlaps against MMDetection's
// formula (tests/data/ops/reference.pt, from tests/reference/gen_ops.py), plus shapes, dtypes,
// devices and errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "detkit/error.h"
#include "detkit/ops/box_iou.h"
#include "ops_reference.h"

namespace {

using detkit::Error;
using detkit::ops::bbox_overlaps;
using detkit::ops::box_iou;
using detkit::ops::generalized_box_iou;
using detkit::ops::OverlapMode;
using detkit::testing::load_ops_cases;

/// Same shape and dtype, values equal up to float rounding (NaN where the reference has NaN).
void expect_matches(const torch::Tensor& actual, const torch::Tensor& expected,
                    const std::string& name) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << name;
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type()) << name;
  const double rtol = expected.scalar_type() == torch::kFloat64 ? 1e-12 : 1e-6;
  EXPECT_TRUE(torch::allclose(actual, expected, rtol, /*atol=*/rtol, /*equal_nan=*/true))
      << name << "\nactual:\n"
      << actual << "\nexpected:\n"
      << expected;
}

/// (N, 4) float boxes from a flat list.
torch::Tensor boxes_of(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size()) / 4;
  return torch::tensor(values).reshape({n, 4});
}

TEST(BoxIou, MatchesTorchvision) {
  for (const auto& c : load_ops_cases("box_iou")) {
    expect_matches(box_iou(c.tensor("boxes1"), c.tensor("boxes2")), c.tensor("expected"), c.name);
  }
}

TEST(GeneralizedBoxIou, MatchesTorchvision) {
  for (const auto& c : load_ops_cases("generalized_box_iou")) {
    expect_matches(generalized_box_iou(c.tensor("boxes1"), c.tensor("boxes2")),
                   c.tensor("expected"), c.name);
  }
}

TEST(BboxOverlaps, MatchesMMDetection) {
  for (const auto& c : load_ops_cases("bbox_overlaps")) {
    const auto mode = detkit::ops::overlap_mode_from_string(c.text("mode"));
    expect_matches(bbox_overlaps(c.tensor("boxes1"), c.tensor("boxes2"), mode, c.flag("is_aligned"),
                                 c.number("eps")),
                   c.tensor("expected"), c.name);
  }
}

TEST(BboxOverlaps, EmptyInputsGiveEmptyResultsOfTheRightShape) {
  const auto none = torch::zeros({0, 4}), three = boxes_of({0, 0, 1, 1, 0, 0, 2, 2, 1, 1, 3, 3});
  EXPECT_EQ(bbox_overlaps(none, three).sizes(), torch::IntArrayRef({0, 3}));
  EXPECT_EQ(bbox_overlaps(three, none).sizes(), torch::IntArrayRef({3, 0}));
  EXPECT_EQ(bbox_overlaps(none, none, OverlapMode::giou, true).sizes(), torch::IntArrayRef({0}));
  // MMDetection's torch.FloatTensor([]) (a flat empty tensor) counts as no boxes.
  EXPECT_EQ(bbox_overlaps(torch::zeros({0}), three).sizes(), torch::IntArrayRef({0, 3}));
  EXPECT_EQ(box_iou(none, three).sizes(), torch::IntArrayRef({0, 3}));
  EXPECT_EQ(generalized_box_iou(three, none).sizes(), torch::IntArrayRef({3, 0}));
}

TEST(BboxOverlaps, KeepsFloatingDtypesAndUpcastsIntegers) {
  const auto a = boxes_of({0, 0, 10, 10, 5, 5, 15, 15});
  // (Half boxes stay half too, but LibTorch's CPU clamp has no half kernel: not testable here.)
  const auto result =
      bbox_overlaps(a.to(torch::kFloat64), a.to(torch::kFloat64), OverlapMode::giou);
  EXPECT_EQ(result.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::allclose(result.to(torch::kFloat32), bbox_overlaps(a, a, OverlapMode::giou)));
  const auto from_int = bbox_overlaps(a.to(torch::kInt64), a.to(torch::kInt64));
  EXPECT_EQ(from_int.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(from_int, bbox_overlaps(a, a)));
  EXPECT_EQ(box_iou(a.to(torch::kFloat64), a.to(torch::kFloat64)).scalar_type(), torch::kFloat64);
  // torchvision's _upcast: half boxes are computed in float32.
  EXPECT_EQ(box_iou(a.to(torch::kFloat16), a).scalar_type(), torch::kFloat32);
}

TEST(BboxOverlaps, StaysOnTheInputDevice) {
  // Meta tensors carry shapes but no data: an op that made a CPU tensor and mixed it in would
  // fail here, as it would on a GPU.
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  const auto a = torch::empty({5, 4}, meta), b = torch::empty({3, 4}, meta);
  for (auto mode : {OverlapMode::iou, OverlapMode::iof, OverlapMode::giou}) {
    const auto pairwise = bbox_overlaps(a, b, mode);
    EXPECT_TRUE(pairwise.is_meta());
    EXPECT_EQ(pairwise.sizes(), torch::IntArrayRef({5, 3}));
    EXPECT_TRUE(bbox_overlaps(a, a, mode, /*is_aligned=*/true).is_meta());
  }
  EXPECT_TRUE(bbox_overlaps(torch::empty({0, 4}, meta), b).is_meta());
  EXPECT_TRUE(box_iou(a, b).is_meta());
  EXPECT_TRUE(generalized_box_iou(a, b).is_meta());
}

TEST(BboxOverlaps, GradientsFlowThroughGiou) {
  auto a = boxes_of({0, 0, 10, 10, 2, 2, 6, 8}).requires_grad_();
  const auto b = boxes_of({1, 1, 9, 12, 20, 20, 30, 30});
  bbox_overlaps(a, b, OverlapMode::giou, /*is_aligned=*/true).sum().backward();
  ASSERT_TRUE(a.grad().defined());
  EXPECT_TRUE(torch::isfinite(a.grad()).all().item<bool>());
  EXPECT_GT(a.grad().abs().sum().item<float>(), 0.0f);
}

TEST(BboxOverlaps, RejectsBadInputsWithActionableErrors) {
  const auto three = torch::zeros({3, 4}), two = torch::zeros({2, 4});
  try {
    bbox_overlaps(three, two, OverlapMode::iou, /*is_aligned=*/true);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 and 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bbox_overlaps(torch::zeros({3, 5}), two), Error);
  EXPECT_THROW(bbox_overlaps(torch::zeros({2, 3, 4}), torch::zeros({3, 3, 4})), Error);
  EXPECT_THROW(box_iou(torch::zeros({1, 3, 4}), two), Error);
  EXPECT_THROW(generalized_box_iou(three, torch::Tensor()), Error);
  EXPECT_THROW(detkit::ops::overlap_mode_from_string("IoU"), Error);
  for (auto mode : {OverlapMode::iou, OverlapMode::iof, OverlapMode::giou}) {
    EXPECT_EQ(detkit::ops::overlap_mode_from_string(detkit::ops::overlap_mode_name(mode)), mode);
  }
}

}  // namespace
