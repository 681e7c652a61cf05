// nms / batched_nms against torchvision (tests/data/ops/reference.pt, from
// tests/reference/gen_ops.py: random and clustered boxes, exact score ties on identical boxes,
// both batched_nms strategies, empty inputs), against a brute-force greedy NMS on random
// inputs, and their errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "detkit/error.h"
#include "detkit/ops/box_iou.h"
#include "detkit/ops/nms.h"
#include "ops_reference.h"

namespace {

using detkit::Error;
using detkit::ops::batched_nms;
using detkit::ops::nms;
using detkit::testing::load_ops_cases;

using detkit::testing::error_of;

TEST(Nms, KeepsTheSameIndicesInTheSameOrderAsTorchvision) {
  for (const auto& c : load_ops_cases("nms")) {
    const auto kept = nms(c.tensor("boxes"), c.tensor("scores"), c.number("iou_threshold"));
    EXPECT_EQ(kept.scalar_type(), torch::kLong) << c.name;
    EXPECT_TRUE(torch::equal(kept, c.tensor("expected")))
        << c.name << "\nkept:     " << kept.view({1, -1})
        << "\nexpected: " << c.tensor("expected").view({1, -1});
  }
}

TEST(BatchedNms, KeepsTheSameIndicesInTheSameOrderAsTorchvision) {
  for (const auto& c : load_ops_cases("batched_nms")) {
    const auto kept = batched_nms(c.tensor("boxes"), c.tensor("scores"), c.tensor("idxs"),
                                  c.number("iou_threshold"));
    EXPECT_TRUE(torch::equal(kept, c.tensor("expected")))
        << c.name << "\nkept:     " << kept.view({1, -1})
        << "\nexpected: " << c.tensor("expected").view({1, -1});
  }
}

/// Greedy NMS written with tensor ops, one kept box at a time (slow but obviously right).
torch::Tensor brute_force_nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                              double iou_threshold) {
  const auto order = std::get<1>(scores.sort(0, /*descending=*/true));
  const auto iou = detkit::ops::box_iou(boxes, boxes);
  auto alive = torch::ones({boxes.size(0)}, torch::kBool);
  std::vector<int64_t> kept;
  for (int64_t k = 0; k < order.size(0); ++k) {
    const int64_t i = order[k].item<int64_t>();
    if (!alive[i].item<bool>()) continue;
    kept.push_back(i);
    alive.logical_and_(iou[i] <= iou_threshold);
  }
  return torch::tensor(kept, torch::kLong);
}

TEST(Nms, EqualsABruteForceGreedyNmsOnRandomBoxes) {
  torch::manual_seed(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 1 + trial * 13;
    const auto xy = torch::rand({n, 2}) * 50;
    const auto boxes = torch::cat({xy, xy + torch::rand({n, 2}) * 30 + 1}, 1);
    // Distinct scores, so that the visiting order does not depend on how ties are broken.
    const auto scores = torch::randperm(n).to(torch::kFloat32);
    const double threshold = 0.1 + 0.04 * trial;
    EXPECT_TRUE(
        torch::equal(nms(boxes, scores, threshold), brute_force_nms(boxes, scores, threshold)))
        << "trial " << trial;
  }
}

TEST(Nms, EmptyInputsGiveAnEmptyInt64Result) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const auto none = torch::zeros({0, 4}, dtype), no_scores = torch::zeros({0}, dtype);
    const auto kept = nms(none, no_scores, 0.5);
    EXPECT_EQ(kept.sizes(), torch::IntArrayRef({0}));
    EXPECT_EQ(kept.scalar_type(), torch::kLong);
    EXPECT_EQ(batched_nms(none, no_scores, torch::zeros({0}, torch::kLong), 0.5).numel(), 0);
  }
}

TEST(Nms, RejectsBadInputsWithActionableErrors) {
  const auto boxes = torch::rand({3, 4}), scores = torch::rand({3});
  EXPECT_NE(error_of([&] {
              nms(boxes.view({3, 2, 2}), scores, 0.5);
            }).find("(N, 4)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nms(boxes, torch::rand({4}), 0.5); }).find("3 boxes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nms(boxes, scores.to(torch::kFloat64), 0.5); }).find("Double"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              nms(boxes.to(torch::kHalf), scores.to(torch::kHalf), 0.5);
            }).find("float32 or float64"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              batched_nms(boxes, scores, torch::zeros({2}, torch::kLong), 0.5);
            }).find("one category per box"),
            std::string::npos);
}

TEST(Nms, ReportsADeviceWithoutKernelAsAnError) {
  // Meta tensors stand for a device that has no nms kernel (as CUDA in a CPU-only build).
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  const std::string message = error_of([&] {
    nms(torch::empty({3, 4}, meta), torch::empty({3}, meta), 0.5);
  });
  EXPECT_NE(message.find("no kernel for boxes on meta"), std::string::npos) << message;
  EXPECT_THROW(batched_nms(torch::empty({3, 4}, meta), torch::empty({3}, meta),
                           torch::zeros({3}, meta.dtype(torch::kLong)), 0.5),
               Error);
}

}  // namespace
