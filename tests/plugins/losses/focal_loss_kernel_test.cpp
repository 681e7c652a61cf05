// The fused sigmoid focal loss kernel (plugins/losses/focal_loss_kernel.cpp, compiled into this
// test: the plugin keeps its symbols hidden) against MMDetection's composed formula in float64
// autograd: values and gradients for label and soft targets, every gamma path, several blocks
// and threads; and the inputs it hands back to the composed path (nullopt).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "focal_loss_kernel.h"

namespace {

namespace F = torch::nn::functional;
using detkit::losses::fused_sigmoid_focal_loss;

/// MMDetection's py_sigmoid_focal_loss, element-wise (the losses plugin's tensor-op path).
torch::Tensor composed_focal_loss(const torch::Tensor& pred, const torch::Tensor& target,
                                  double gamma, double alpha) {
  torch::Tensor t = target;
  if (target.dim() == 1) {
    t = F::one_hot(target.to(torch::kLong), pred.size(1) + 1)
            .slice(1, 0, pred.size(1))
            .to(pred.dtype());
  }
  const torch::Tensor p = pred.sigmoid();
  const torch::Tensor pt = (1 - p) * t + p * (1 - t);
  const torch::Tensor focal_weight = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma);
  return F::binary_cross_entropy_with_logits(
             pred, t, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone)) *
         focal_weight;
}

/// max |a - b| / (1 + |b|).
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.detach().to(torch::kDouble), y = b.detach().to(torch::kDouble);
  return ((x - y).abs() / (1 + y.abs())).max().item<double>();
}

/// Logits with saturated entries (|x| up to 30 in float, 800 in double) among normal ones.
torch::Tensor logits(int64_t n, int64_t c, torch::Dtype dtype) {
  torch::Tensor x = torch::randn({n, c}, torch::kDouble) * 4;
  x[0][0] = 30;
  x[1][1] = -30;
  if (dtype == torch::kDouble) {
    x[2][2] = 800;
    x[3][0] = -800;
  }
  return x.to(dtype);
}

/// Compares value and gradient (with a random upstream gradient) of the fused kernel and the
/// composed formula on the same inputs.
void expect_matches_composed(const torch::Tensor& x, const torch::Tensor& target, double gamma,
                             double alpha, double tolerance) {
  const torch::Tensor fused_pred = x.detach().clone().requires_grad_(true);
  const torch::Tensor composed_pred = x.detach().to(torch::kDouble).clone().requires_grad_(true);
  const auto fused = fused_sigmoid_focal_loss(fused_pred, target, gamma, alpha);
  ASSERT_TRUE(fused.has_value());
  ASSERT_EQ(fused->sizes(), x.sizes());
  EXPECT_EQ(fused->scalar_type(), x.scalar_type());
  const torch::Tensor composed = composed_focal_loss(
      composed_pred, target.is_floating_point() ? target.to(torch::kDouble) : target, gamma, alpha);
  EXPECT_LT(relative_error(*fused, composed), tolerance);
  const torch::Tensor upstream = torch::rand(x.sizes(), torch::kDouble);
  (*fused * upstream.to(x.dtype())).sum().backward();
  (composed * upstream).sum().backward();
  ASSERT_TRUE(fused_pred.grad().defined());
  // Where the composed gradient is NaN (0 * inf of pt^(gamma - 1) at pt = 0 for gamma < 1) the
  // kernel gives the limit, 0; compare elsewhere.
  const torch::Tensor finite = composed_pred.grad().isfinite();
  EXPECT_LT(relative_error(fused_pred.grad().masked_select(finite.to(torch::kBool)),
                           composed_pred.grad().masked_select(finite)),
            tolerance);
  EXPECT_TRUE(fused_pred.grad().isfinite().all().item<bool>());
}

TEST(FocalLossKernel, MatchesTheComposedFormulaForLabelsAndSoftTargets) {
  // 301 rows of 81 classes: several blocks per thread (a block holds 16384 / 81 = 202 rows),
  // the last one partial.
  for (const int threads : {1, 2}) {
    at::set_num_threads(threads);
    for (const auto dtype : {torch::kDouble, torch::kFloat}) {
      const double tolerance = dtype == torch::kDouble ? 1e-12 : 1e-5;
      for (const double gamma : {2.0, 1.5, 0.0, 0.5}) {
        SCOPED_TRACE(std::to_string(threads) + " thread(s), " + std::string(c10::toString(dtype)) +
                     ", gamma " + std::to_string(gamma));
        torch::manual_seed(3);
        const torch::Tensor x = logits(301, 81, dtype);
        torch::Tensor labels = torch::randint(0, 82, {301}, torch::kLong);
        labels[0] = 0;   // a positive at a saturated logit
        labels[5] = 81;  // background
        expect_matches_composed(x, labels, gamma, 0.25, tolerance);
        expect_matches_composed(x, labels.to(torch::kInt), gamma, 0.6, tolerance);
        torch::Tensor soft = torch::rand({301, 81}, dtype);
        soft[0] = 1;
        soft[1] = 0;
        expect_matches_composed(x, soft, gamma, 0.25, tolerance);
      }
    }
  }
}

TEST(FocalLossKernel, NonContiguousLogitsAndNoGradient) {
  torch::manual_seed(4);
  const torch::Tensor wide = torch::randn({7, 10}, torch::kDouble);
  const torch::Tensor x = wide.t();  // (10, 7), not contiguous
  const torch::Tensor labels = torch::randint(0, 8, {10}, torch::kLong);
  expect_matches_composed(x, labels, 2.0, 0.25, 1e-12);

  // Without a gradient to compute, the result is a plain tensor with the same values.
  const torch::Tensor pred = x.clone().requires_grad_(true);
  torch::Tensor without;
  {
    torch::NoGradGuard no_grad;
    without = *fused_sigmoid_focal_loss(pred, labels, 2.0, 0.25);
  }
  EXPECT_FALSE(without.requires_grad());
  EXPECT_TRUE(torch::equal(without, *fused_sigmoid_focal_loss(x, labels, 2.0, 0.25)));
  EXPECT_EQ(fused_sigmoid_focal_loss(torch::zeros({0, 7}, torch::kDouble),
                                     torch::zeros({0}, torch::kLong), 2.0, 0.25)
                ->numel(),
            0);
}

TEST(FocalLossKernel, HandsBackWhatItDoesNotTake) {
  const torch::Tensor x = torch::randn({4, 3}, torch::kDouble);
  const torch::Tensor labels = torch::tensor({0, 3, 2, 1}, torch::kLong);
  ASSERT_TRUE(fused_sigmoid_focal_loss(x, labels, 2.0, 0.25).has_value());
  // Labels outside [0, C], floating or bool labels, wrong shapes: the composed path reports
  // them with its messages.
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, torch::tensor({0, 4, 2, 1}), 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, torch::tensor({0, -1, 2, 1}), 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, labels.to(torch::kDouble), 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, labels.to(torch::kBool), 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, labels.slice(0, 0, 3), 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, torch::rand({4, 2}, torch::kDouble), 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x.view({12}), labels, 2.0, 0.25));
  // Other dtypes, and targets that need a gradient themselves.
  EXPECT_FALSE(fused_sigmoid_focal_loss(x.to(torch::kHalf), labels, 2.0, 0.25));
  EXPECT_FALSE(fused_sigmoid_focal_loss(x, torch::rand({4, 3}, torch::kDouble).requires_grad_(true),
                                        2.0, 0.25));
}

}  // namespace
