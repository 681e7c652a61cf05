// Boxes: construction, MMDetection's geometry, selection and concatenation, and device safety
// (checked with meta tensors, which fail on any op that mixes in a CPU tensor, as a GPU would).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "detkit/error.h"
#include "detkit/structures/boxes.h"

namespace {

using detkit::Boxes;
using detkit::Error;
using detkit::FlipDirection;

Boxes boxes_of(std::vector<float> values) {
  const int64_t n = static_cast<int64_t>(values.size()) / 4;
  return Boxes(torch::tensor(values).reshape({n, 4}));
}

void expect_boxes(const Boxes& boxes, std::vector<float> expected) {
  const auto want = torch::tensor(expected).reshape({-1, 4});
  EXPECT_TRUE(torch::allclose(boxes.tensor(), want)) << boxes.tensor() << "\nexpected\n" << want;
}

const torch::TensorOptions kMeta = torch::TensorOptions().device(torch::kMeta);

TEST(Boxes, ConstructionChecksTheShapeAndConvertsToFloat32) {
  EXPECT_EQ(Boxes().tensor().sizes(), torch::IntArrayRef({0, 4}));
  EXPECT_TRUE(Boxes(torch::Tensor()).empty());
  EXPECT_EQ(Boxes(torch::zeros({0})).size(), 0);
  const Boxes ints(torch::tensor({1, 2, 3, 4}, torch::kInt64).reshape({1, 4}));
  EXPECT_EQ(ints.tensor().scalar_type(), torch::kFloat32);
  EXPECT_EQ(Boxes(torch::zeros({2, 4}, torch::kFloat64)).tensor().scalar_type(), torch::kFloat32);
  EXPECT_THROW(Boxes(torch::zeros({2, 5})), Error);
  EXPECT_THROW(Boxes(torch::zeros({4})), Error);
  EXPECT_THROW(Boxes(torch::zeros({3, 0})), Error);  // 3 boxes without coordinates
}

TEST(Boxes, GeometryFollowsMMDetection) {
  Boxes b = boxes_of({10, 20, 40, 60, 0, 0, 5, 5});
  EXPECT_TRUE(torch::equal(b.widths(), torch::tensor({30.f, 5.f})));
  EXPECT_TRUE(torch::equal(b.heights(), torch::tensor({40.f, 5.f})));
  EXPECT_TRUE(torch::equal(b.areas(), torch::tensor({1200.f, 25.f})));

  b.scale(0.5, 2.0);
  expect_boxes(b, {5, 40, 20, 120, 0, 0, 2.5, 10});
  b.translate(-3, 1);
  expect_boxes(b, {2, 41, 17, 121, -3, 1, -0.5, 11});
  b.clip(/*height=*/100, /*width=*/16);
  expect_boxes(b, {2, 41, 16, 100, 0, 1, 0, 11});

  Boxes f = boxes_of({10, 20, 40, 60});
  f.flip(/*height=*/100, /*width=*/50, FlipDirection::horizontal);
  expect_boxes(f, {10, 20, 40, 60});  // W - x2, y1, W - x1, y2
  f = boxes_of({10, 20, 30, 60});
  f.flip(100, 50, FlipDirection::horizontal);
  expect_boxes(f, {20, 20, 40, 60});
  f.flip(100, 50, FlipDirection::vertical);
  expect_boxes(f, {20, 40, 40, 80});
  f.flip(100, 50, FlipDirection::diagonal);
  expect_boxes(f, {10, 20, 30, 60});
}

TEST(Boxes, GeometryDoesNotModifyTensorsSharedWithOtherBoxes) {
  const Boxes original = boxes_of({1, 2, 3, 4});
  Boxes copy = original;
  copy.scale(2, 2);
  copy.translate(1, 1);
  copy.clip(5, 5);
  expect_boxes(original, {1, 2, 3, 4});
}

TEST(Boxes, SelectsAndConcatenates) {
  const Boxes b = boxes_of({0, 0, 1, 1, 0, 0, 0, 5, 2, 2, 4, 4});
  EXPECT_TRUE(torch::equal(b.nonempty(), torch::tensor({true, false, true})));
  EXPECT_TRUE(torch::equal(b.nonempty(1.5), torch::tensor({false, false, true})));
  expect_boxes(b.index(b.nonempty()), {0, 0, 1, 1, 2, 2, 4, 4});
  expect_boxes(b.index(torch::tensor({2, 0})), {2, 2, 4, 4, 0, 0, 1, 1});
  expect_boxes(Boxes::cat({b.index(torch::tensor({0})), Boxes(), b.index(torch::tensor({2}))}),
               {0, 0, 1, 1, 2, 2, 4, 4});
  EXPECT_TRUE(Boxes::cat({}).empty());
  EXPECT_TRUE(Boxes::cat({Boxes(), Boxes()}).empty());
}

TEST(Boxes, EveryOperationStaysOnTheBoxesDevice) {
  Boxes b(torch::empty({3, 4}, kMeta));
  EXPECT_EQ(b.device(), torch::Device(torch::kMeta));
  b.scale(2, 3);
  b.translate(1, 1);
  b.clip(10, 10);
  for (auto direction :
       {FlipDirection::horizontal, FlipDirection::vertical, FlipDirection::diagonal}) {
    b.flip(10, 10, direction);
  }
  EXPECT_TRUE(b.tensor().is_meta());
  EXPECT_EQ(b.tensor().sizes(), torch::IntArrayRef({3, 4}));
  EXPECT_TRUE(b.areas().is_meta());
  EXPECT_TRUE(b.nonempty(1.0).is_meta());
  EXPECT_TRUE(b.index(torch::tensor({0, 2})).tensor().is_meta());
  // Default (CPU) empty boxes join boxes on another device.
  const Boxes joined = Boxes::cat({Boxes(), b, Boxes()});
  EXPECT_TRUE(joined.tensor().is_meta());
  EXPECT_EQ(joined.size(), 3);
}

TEST(Boxes, MovesBetweenDevices) {
  const Boxes cpu = boxes_of({1, 2, 3, 4});
  EXPECT_EQ(cpu.to(torch::kCPU).tensor().data_ptr(), cpu.tensor().data_ptr());  // no copy
  const Boxes meta = cpu.to(torch::kMeta);
  EXPECT_TRUE(meta.tensor().is_meta());
  EXPECT_EQ(meta.tensor().scalar_type(), torch::kFloat32);
  try {
    Boxes::cat({cpu, meta});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu and on meta"), std::string::npos) << e.what();
  }
}

}  // namespace
