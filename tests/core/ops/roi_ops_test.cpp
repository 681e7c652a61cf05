// roi_align / roi_pool against torchvision, forward and backward, on references that
// tests/reference/gen_roi_ops.py computes at test time with Debian's /usr/bin/python3 (RoIs
// inside, partly and wholly outside the map, tiny, larger than the map, of zero and negative
// size; aligned or not; fixed and adaptive sampling; several output sizes; no RoIs), plus the
// per-image boxes form, the modules and the errors (NaN / infinite coordinates, bad batch
// indices, bad shapes and parameters, devices without a kernel).
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <sstream>

#include "detkit/error.h"
#include "detkit/ops/roi_align.h"
#include "detkit/ops/roi_pool.h"
#include "ops_reference.h"

namespace {

using detkit::Error;
using detkit::ops::roi_align;
using detkit::ops::roi_pool;
using detkit::testing::OpsCase;

/// The cases of `op` in the file gen_roi_ops.py writes (run once per process).
std::vector<OpsCase> load_roi_cases(const std::string& op) {
  static const c10::IValue all = [] {
    const detkit::testing::TempDir dir;
    const std::string file = dir.file("roi_ops.pt");
    const auto run = detkit::testing::run_process(
        {"/usr/bin/python3", std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_roi_ops.py",
         file});
    if (run.exit_code != 0) throw std::runtime_error("gen_roi_ops.py failed: " + run.err);
    const std::string bytes = detkit::testing::read_file(file);
    return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  }();
  std::vector<OpsCase> cases;
  for (const c10::IValue& item : all.toListRef()) {
    auto dict = item.toGenericDict();
    if (dict.at("op").toStringRef() == op) cases.push_back({dict.at("name").toStringRef(), dict});
  }
  EXPECT_FALSE(cases.empty()) << "no '" << op << "' case";
  return cases;
}

/// Same shape and dtype, values equal to 1e-5.
void expect_close(const torch::Tensor& actual, const torch::Tensor& expected,
                  const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type()) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-5, 1e-5))
      << what << ": largest difference " << (actual - expected).abs().max().item<double>();
}

/// Output and input gradient of `pool` (a roi op applied to the case's input) against the case.
template <typename Pool>
void expect_matches_case(const OpsCase& c, Pool pool) {
  const torch::Tensor input = c.tensor("input").clone().requires_grad_(true);
  const torch::Tensor output = pool(input);
  expect_close(output, c.tensor("expected"), c.name + " (forward)");
  output.backward(c.tensor("grad_output"));
  ASSERT_TRUE(input.grad().defined()) << c.name;
  expect_close(input.grad(), c.tensor("expected_grad"), c.name + " (backward)");
}

/// {h, w} of the case's output size.
torch::ExpandingArray<2> output_size_of(const OpsCase& c) {
  const auto size = c.values.at("output_size").toListRef();
  return torch::ExpandingArray<2>({size[0].toInt(), size[1].toInt()});
}

using detkit::testing::error_of;

TEST(RoIAlign, MatchesTorchvisionForwardAndBackward) {
  for (const auto& c : load_roi_cases("roi_align")) {
    expect_matches_case(c, [&](const torch::Tensor& input) {
      return roi_align(input, c.tensor("rois"), output_size_of(c), c.number("spatial_scale"),
                       c.values.at("sampling_ratio").toInt(), c.flag("aligned"));
    });
  }
}

TEST(RoIPool, MatchesTorchvisionForwardAndBackward) {
  for (const auto& c : load_roi_cases("roi_pool")) {
    expect_matches_case(c, [&](const torch::Tensor& input) {
      return roi_pool(input, c.tensor("rois"), output_size_of(c), c.number("spatial_scale"));
    });
  }
}

TEST(RoIAlign, PerImageBoxesEqualRois) {
  const auto input = torch::randn({2, 4, 10, 12});
  const std::vector<torch::Tensor> boxes = {
      torch::tensor({{1.f, 1.f, 6.f, 5.f}}),
      torch::tensor({{0.f, 2.f, 9.f, 8.f}, {3.f, 3.f, 4.f, 9.f}})};
  const auto rois = torch::tensor(
      {{0.f, 1.f, 1.f, 6.f, 5.f}, {1.f, 0.f, 2.f, 9.f, 8.f}, {1.f, 3.f, 3.f, 4.f, 9.f}});
  EXPECT_TRUE(torch::equal(detkit::ops::boxes_to_rois(boxes), rois));
  EXPECT_TRUE(torch::equal(roi_align(input, boxes, 3, 0.5, 2, true),
                           roi_align(input, rois, 3, 0.5, 2, true)));
  EXPECT_TRUE(torch::equal(roi_pool(input, boxes, {2, 3}), roi_pool(input, rois, {2, 3})));
}

TEST(RoIAlign, EmptyRoisGiveAnEmptyOutputAndZeroGradients) {
  const auto input = torch::randn({2, 3, 8, 8}).requires_grad_(true);
  const auto none = roi_align(input, torch::zeros({0, 5}), {7, 5}, 0.25, 0, true);
  EXPECT_EQ(none.sizes(), torch::IntArrayRef({0, 3, 7, 5}));
  none.sum().backward();
  EXPECT_TRUE(torch::equal(input.grad(), torch::zeros_like(input)));
  EXPECT_EQ(roi_pool(input, std::vector<torch::Tensor>{}, 2).sizes(),
            torch::IntArrayRef({0, 3, 2, 2}));
  EXPECT_EQ(roi_align(input, {torch::zeros({0, 4}), torch::zeros({0, 4})}, 2).sizes(),
            torch::IntArrayRef({0, 3, 2, 2}));
}

TEST(RoIAlign, NegativeSizeRoisFollowTorchvision) {
  const auto input = torch::randn({1, 2, 9, 9}, torch::kFloat64).requires_grad_(true);
  // Not aligned: a RoI of negative size is one pixel wide and high from its first corner.
  const auto negative = torch::tensor({{0.0, 6.0, 5.0, 2.0, 1.0}}, torch::kFloat64);
  const auto one_pixel = torch::tensor({{0.0, 6.0, 5.0, 7.0, 6.0}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(roi_align(input, negative, 3, 1.0, 0, false),
                              roi_align(input, one_pixel, 3, 1.0, 0, false)));
  EXPECT_TRUE(torch::allclose(roi_align(input, negative, 3, 1.0, 2, false),
                              roi_align(input, one_pixel, 3, 1.0, 2, false)));
  // roi_pool: a RoI of negative size is its first corner's pixel.
  const auto corner = torch::tensor({{0.0, 6.0, 5.0, 6.0, 5.0}}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(roi_pool(input, negative, 2), roi_pool(input, corner, 2)));
  // Aligned with adaptive sampling: no samples, so 0 and no gradient (where torchvision fails
  // for a negative height with a positive width: "cannot create std::vector larger than
  // max_size()").
  const auto flat =
      torch::tensor({{0.0, 1.0, 7.0, 8.0, 0.5}, {0.0, 6.0, 5.0, 2.0, 1.0}}, torch::kFloat64);
  const auto pooled = roi_align(input, flat, {1, 1}, 1.0, 0, true);
  EXPECT_TRUE(torch::equal(pooled, torch::zeros({2, 2, 1, 1}, torch::kFloat64)));
  pooled.sum().backward();
  EXPECT_TRUE(torch::equal(input.grad(), torch::zeros_like(input)));
}

TEST(RoIAlign, GradientsGoToTheFeaturesNotTheRois) {
  const auto input = torch::randn({1, 2, 6, 6}).requires_grad_(true);
  const auto rois = torch::tensor({{0.f, 1.f, 1.f, 4.f, 5.f}}).requires_grad_(true);
  roi_align(input, rois, 2, 1.0, 2, true).sum().backward();
  roi_pool(input, rois, 2).sum().backward();
  EXPECT_TRUE(input.grad().defined());
  EXPECT_FALSE(rois.grad().defined());
}

TEST(RoIAlign, RejectsRoisWithNaNOrInfiniteCoordinatesOrBadBatchIndices) {
  const auto input = torch::randn({2, 1, 5, 5});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    std::vector<float> bad_row;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{0, 1, nan, 3, 4}, "roi 2 ([0, 1, nan, 3, 4]) has a NaN coordinate"},
      {{nan, 1, 2, 3, 4}, "roi 2 ([nan, 1, 2, 3, 4]) has a NaN coordinate"},
      {{0, 1, 2, inf, 4}, "roi 2 ([0, 1, 2, inf, 4]) has an infinite coordinate"},
      {{1, 1, 2, 3, -inf}, "has an infinite coordinate"},
      {{2, 1, 2, 3, 4}, "roi 2 ([2, 1, 2, 3, 4]) has a batch index that is not an image"},
      {{-1, 1, 2, 3, 4},
       "has a batch index that is not an image of the input (an integer in [0, 2))"},
      {{0.5, 1, 2, 3, 4}, "has a batch index that is not an image"},
  };
  for (const auto& c : cases) {
    auto rois = torch::tensor({0.f, 0.f, 0.f, 2.f, 2.f, 1.f, 1.f, 1.f, 4.f, 4.f}).reshape({2, 5});
    rois = torch::cat({rois, torch::tensor(c.bad_row).reshape({1, 5})});
    const std::string align = error_of([&] { roi_align(input, rois, 2); });
    EXPECT_EQ(align.rfind("roi_align: roi 2 (", 0), 0u) << align;
    EXPECT_NE(align.find(c.message), std::string::npos) << align;
    const std::string pool = error_of([&] { roi_pool(input, rois, 2); });
    EXPECT_NE(pool.find(c.message), std::string::npos) << pool;
  }
}

TEST(RoIAlign, RejectsBadShapesParametersAndDevices) {
  const auto input = torch::randn({1, 2, 6, 6});
  const auto rois = torch::tensor({{0.f, 1.f, 1.f, 4.f, 5.f}});
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  const std::vector<std::pair<std::function<void()>, std::string>> cases = {
      {[&] { roi_align(input[0], rois, 2); }, "input must be (N, C, H, W) features"},
      {[&] { roi_align(input, rois.narrow(1, 1, 4), 2); }, "rois must be a (K, 5) tensor"},
      {[&] { roi_align(input.to(torch::kInt), rois, 2); }, "input must be floating point"},
      {[&] { roi_align(input.to(torch::kHalf), rois, 2); }, "float32 or float64"},
      {[&] {
         roi_align(input, rois, {0, 2});
       },
       "output_size must be positive, got (0, 2)"},
      {[&] { roi_align(input, rois, 2, 0.0); }, "spatial_scale must be a positive number"},
      {[&] { roi_pool(input, rois, 2, std::nan("")); }, "spatial_scale must be a positive"},
      {[&] {
         roi_align(torch::randn({1, 2, 0, 6}), rois, 2);
       },
       "input has an empty feature map"},
      {[&] {
         roi_align(torch::zeros({1, 1, 1, 1}).expand({1, 1, 65536, 32768}), rois, 2);
       },
       "input feature maps of more than 2^31 - 1 pixels are not supported"},
      {[&] {
         roi_pool(torch::empty({1, 2, 6, 6}, meta), torch::empty({1, 5}, meta), 2);
       },
       "no kernel for input on meta"},
      {[&] {
         roi_align(input, std::vector<torch::Tensor>{torch::zeros({2, 5})}, 2);
       },
       "boxes of image 0 must be a (K, 4) xyxy tensor"},
      {[&] { detkit::ops::RoIAlign(detkit::ops::RoIAlignOptions(7).spatial_scale(-1)); },
       "RoIAlign: spatial_scale must be a positive number"},
  };
  for (const auto& [call, message] : cases) {
    const std::string error = error_of(call);
    EXPECT_NE(error.find(message), std::string::npos) << error << "\nexpected: " << message;
  }
}

TEST(RoIAlign, ModulesApplyTheirOptions) {
  const auto input = torch::randn({1, 3, 16, 16});
  const auto rois = torch::tensor({{0.f, 4.f, 8.f, 40.f, 50.f}});
  detkit::ops::RoIAlign align(detkit::ops::RoIAlignOptions(7).spatial_scale(0.25));
  EXPECT_TRUE(torch::equal(align(input, rois), roi_align(input, rois, 7, 0.25, 0, true)));
  detkit::ops::RoIPool pool(detkit::ops::RoIPoolOptions({2, 3}).spatial_scale(0.25));
  EXPECT_TRUE(torch::equal(pool(input, rois), roi_pool(input, rois, {2, 3}, 0.25)));
  std::ostringstream text;
  text << *align;
  EXPECT_EQ(text.str(),
            "RoIAlign(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=0, aligned=true)");
  EXPECT_TRUE(align->parameters().empty());
}

}  // namespace
