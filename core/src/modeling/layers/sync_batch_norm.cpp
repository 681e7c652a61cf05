// nn.SyncBatchNorm's arithmetic over detkit's collectives (detkit/engine/dist_utils.h).
//
// Forward (one collective): each rank computes its per-channel count n_r, mean m_r and sum of
// squared deviations M2_r (var_mean, in float32, or float64 for double input), and every rank
// gets every rank's (n_r, m_r, M2_r) — PyTorch's all_gather of (mean, invstd, count) — which
// it combines in float64 with Chan et al.'s pairwise update, in rank order, so all ranks hold
// the same mean and variance. No E[x^2] - mean^2: that loses the variance to cancellation when
// the mean is large against the spread (float32 at mean 1e4, spread 1: no digit left). The
// gather is a float64 all_reduce_sum over a buffer of one row per rank, which only its rank
// fills (the others add exact zeros), so every rank gets the exact values.
// Backward (one collective): the per-channel sum(dy) and sum(dy * xhat) summed over the ranks
// (float32, as PyTorch's all_reduce in the input's dtype); weight and bias gradients stay
// local, as in PyTorch (DDP's gradient averaging then averages them).
#include "sync_batch_norm.h"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "detkit/engine/dist_utils.h"
#include "detkit/error.h"

namespace detkit::layers {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The dimensions batch statistics reduce over: all but the channels (dimension 1).
std::vector<int64_t> reduce_dims(const torch::Tensor& input) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < input.dim(); ++d)
    dims.push_back(d);
  return dims;
}

/// A per-channel vector shaped (1, C, 1, ...) to broadcast against `input`.
torch::Tensor per_channel(const torch::Tensor& values, const torch::Tensor& input) {
  std::vector<int64_t> shape(static_cast<size_t>(input.dim()), 1);
  shape[1] = values.numel();
  return values.reshape(shape);
}

/// What the statistics and the normalisation are computed in: float64 for double input, else
/// float32 (half and bfloat16 inputs too).
torch::ScalarType compute_dtype(const torch::Tensor& input) {
  return input.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

/// Every rank's `local` (a 1-D float64 tensor of the same size on each rank), as the rows of a
/// (world size, size) float64 tensor in rank order, through one all_reduce_sum (in float64):
/// each rank writes its values into its own row of a zero buffer, the others add exact zeros.
torch::Tensor gather_exact(const torch::Tensor& local) {
  std::vector<torch::Tensor> buffer = {
      torch::zeros({dist_world_size(), local.numel()}, torch::kDouble)};
  buffer[0][dist_rank()].copy_(local.to(torch::kCPU, torch::kDouble));
  all_reduce_sum(buffer);
  return buffer[0];
}

/// Per-channel moments of a set of values: how many, their mean, and the sum of their squared
/// deviations from it (M2), in float64.
struct Moments {
  double count = 0;
  torch::Tensor mean, m2;
};

/// This rank's moments of `input` (N, C, ...): zero count, mean and M2 for an empty batch.
Moments local_moments(const torch::Tensor& input) {
  const int64_t channels = input.size(1);
  Moments local;
  local.count = channels > 0 ? static_cast<double>(input.numel() / channels) : 0.0;
  if (local.count == 0) {
    local.mean = torch::zeros({channels}, torch::kDouble);
    local.m2 = torch::zeros({channels}, torch::kDouble);
    return local;
  }
  const auto [var, mean] = torch::var_mean(input.detach().to(compute_dtype(input)),
                                           reduce_dims(input), /*unbiased=*/false);
  local.mean = mean.to(torch::kCPU, torch::kDouble);
  local.m2 = var.to(torch::kCPU, torch::kDouble) * local.count;
  return local;
}

/// The moments of all ranks' values together: every rank's moments gathered in one collective
/// and combined pairwise in rank order (Chan, Golub and LeVeque), ranks without values skipped.
Moments global_moments(const Moments& local) {
  const int64_t channels = local.mean.numel();
  const torch::Tensor rows = gather_exact(
      torch::cat({torch::full({1}, local.count, torch::kDouble), local.mean, local.m2}));
  Moments total;
  for (int64_t r = 0; r < rows.size(0); ++r) {
    const double n = rows[r][0].item<double>();
    if (n <= 0) continue;
    const torch::Tensor mean = rows[r].slice(0, 1, 1 + channels);
    const torch::Tensor m2 = rows[r].slice(0, 1 + channels, 1 + 2 * channels);
    if (total.count == 0) {
      total = {n, mean, m2};
      continue;
    }
    const double count = total.count + n;
    const torch::Tensor delta = mean - total.mean;
    total.mean = total.mean + delta * (n / count);
    total.m2 = total.m2 + m2 + delta.square() * (total.count * n / count);
    total.count = count;
  }
  return total;
}

/// y = (x - mean) * invstd * weight + bias with statistics of every rank's batch; its backward
/// sums the statistics of the input gradient over the ranks (one collective).
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  /// Normalises `input` with the global `mean` and `invstd` (compute dtype, input's device);
  /// `count` is the number of values per channel over all ranks.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& mean, const torch::Tensor& invstd,
                               double count) {
    ctx->save_for_backward({input, weight, bias, mean, invstd});
    ctx->saved_data["count"] = count;
    const torch::Tensor scale = weight.defined() ? invstd * weight.to(invstd.dtype()) : invstd;
    torch::Tensor out =
        (input.to(mean.scalar_type()) - per_channel(mean, input)) * per_channel(scale, input);
    if (bias.defined()) out = out + per_channel(bias.to(mean.dtype()), input);
    return out.to(input.scalar_type());
  }

  /// grad_input = weight * invstd / N * (N * dy - sum(dy) - xhat * sum(dy * xhat)) with both
  /// sums over all ranks; grad_weight = sum(dy * xhat) and grad_bias = sum(dy) of this rank.
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& input = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& bias = saved[2];
    const torch::Tensor& mean = saved[3];
    const torch::Tensor& invstd = saved[4];
    const double count = ctx->saved_data["count"].toDouble();
    const torch::Tensor dy = grad_outputs[0].to(mean.scalar_type());
    const torch::Tensor xhat =
        (input.to(mean.scalar_type()) - per_channel(mean, input)) * per_channel(invstd, input);
    const std::vector<int64_t> dims = reduce_dims(input);
    const torch::Tensor sum_dy = dy.sum(dims);
    const torch::Tensor sum_dy_xhat = (dy * xhat).sum(dims);
    torch::Tensor grad_input, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      // Copies: the local sums are the weight and bias gradients.
      std::vector<torch::Tensor> sums = {
          sum_dy.to(torch::kCPU, sum_dy.scalar_type(), false, /*copy=*/true),
          sum_dy_xhat.to(torch::kCPU, sum_dy_xhat.scalar_type(), false, /*copy=*/true)};
      all_reduce_sum(sums);
      const torch::Tensor total_dy = sums[0].to(mean.device());
      const torch::Tensor total_dy_xhat = sums[1].to(mean.device());
      const torch::Tensor scale =
          (weight.defined() ? invstd * weight.to(invstd.dtype()) : invstd) / count;
      grad_input = (per_channel(scale, input) * (dy * count - per_channel(total_dy, input) -
                                                 xhat * per_channel(total_dy_xhat, input)))
                       .to(input.scalar_type());
    }
    if (weight.defined() && ctx->needs_input_grad(1)) grad_weight = sum_dy_xhat.to(weight.dtype());
    if (bias.defined() && ctx->needs_input_grad(2)) grad_bias = sum_dy.to(bias.dtype());
    return {grad_input, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight,
                              const torch::Tensor& bias, const torch::Tensor& running_mean,
                              const torch::Tensor& running_var, double momentum, double eps) {
  const Moments total = global_moments(local_moments(input));
  if (total.count <= 1) {
    throw Error("SyncBatchNorm: expected more than 1 value per channel when training, got " +
                std::to_string(static_cast<int64_t>(total.count)) + " over " +
                std::to_string(dist_world_size()) + " processes");
  }
  const torch::Tensor var = total.m2 / total.count;
  {
    torch::NoGradGuard no_grad;
    if (running_mean.defined()) {
      running_mean.mul_(1 - momentum).add_(total.mean.to(running_mean.options()) * momentum);
    }
    if (running_var.defined()) {
      const torch::Tensor unbiased = total.m2 / (total.count - 1);
      running_var.mul_(1 - momentum).add_(unbiased.to(running_var.options()) * momentum);
    }
  }
  const auto options = torch::TensorOptions(input.device()).dtype(compute_dtype(input));
  return SyncBatchNormFunction::apply(input, weight, bias, total.mean.to(options),
                                      (var + eps).rsqrt().to(options), total.count);
}

}  // namespace detkit::layers
