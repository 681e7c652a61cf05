// MMCV's weight init functions (mmcv/cnn/utils/weight_init.py) on PyTorch's torch.nn.init
// arithmetic: gains, fans and bounds in double precision exactly as Python computes them, then
// one fill_/normal_/uniform_ per tensor, so a seeded run draws the numbers Python draws.
#include <cmath>
#include <string>

#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "init_internal.h"

namespace detkit {

namespace {

/// torch.nn.init._calculate_fan_in_and_fan_out.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const torch::Tensor& tensor,
                                               const char* initializer) {
  if (tensor.dim() < 2) {
    throw Error(std::string(initializer) +
                ": fan in and fan out can not be computed for a tensor with fewer than 2 "
                "dimensions (shape " +
                detail::torch_size_repr(tensor.sizes()) +
                "); restrict the initializer's `layer` to layers whose weight has 2 or more "
                "dimensions (Conv2d, Linear), not norm layers");
  }
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d)
    receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

/// torch.nn.init._calculate_correct_fan.
int64_t correct_fan(const torch::Tensor& tensor, const std::string& mode) {
  if (mode != "fan_in" && mode != "fan_out") {
    throw Error("Kaiming: mode '" + mode + "' is not supported, use one of fan_in, fan_out");
  }
  const auto fans = fan_in_and_fan_out(tensor, "Kaiming");
  return mode == "fan_in" ? fans.first : fans.second;
}

/// Whether `tensor` has a zero-size dimension (PyTorch then warns and leaves it alone).
bool has_no_elements(const torch::Tensor& tensor) {
  if (tensor.numel() != 0) return false;
  model_warning("Initializing zero-element tensors is a no-op");
  return true;
}

void check_distribution(const std::string& distribution, const char* initializer) {
  if (distribution != "normal" && distribution != "uniform") {
    throw Error(std::string(initializer) + ": distribution must be 'normal' or 'uniform', got '" +
                distribution + "'");
  }
}

/// Sets the module's bias (when it has one) to `bias`.
void fill_bias(torch::nn::Module& module, double bias) {
  torch::Tensor b = detail::direct_parameter(module, "bias");
  if (!b.defined()) return;
  torch::NoGradGuard no_grad;
  b.fill_(bias);
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  static const char* const linear[] = {"linear",           "conv1d",           "conv2d",
                                       "conv3d",           "conv_transpose1d", "conv_transpose2d",
                                       "conv_transpose3d", "sigmoid"};
  for (const char* name : linear) {
    if (nonlinearity == name) return 1.0;
  }
  if (nonlinearity == "tanh") return 5.0 / 3;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4;
  throw Error("unsupported nonlinearity '" + nonlinearity +
              "' (use linear, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, "
              "conv_transpose3d, sigmoid, tanh, relu, leaky_relu or selu)");
}

void kaiming_normal_(torch::Tensor& tensor, double a, const std::string& mode,
                     const std::string& nonlinearity) {
  if (has_no_elements(tensor)) return;
  const int64_t fan = correct_fan(tensor, mode);
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  torch::NoGradGuard no_grad;
  tensor.normal_(0, std);
}

void kaiming_uniform_(torch::Tensor& tensor, double a, const std::string& mode,
                      const std::string& nonlinearity) {
  if (has_no_elements(tensor)) return;
  const int64_t fan = correct_fan(tensor, mode);
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  const double bound = std::sqrt(3.0) * std;
  torch::NoGradGuard no_grad;
  tensor.uniform_(-bound, bound);
}

void xavier_normal_(torch::Tensor& tensor, double gain) {
  const auto fans = fan_in_and_fan_out(tensor, "Xavier");
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fans.first + fans.second));
  torch::NoGradGuard no_grad;
  tensor.normal_(0., std);
}

void xavier_uniform_(torch::Tensor& tensor, double gain) {
  const auto fans = fan_in_and_fan_out(tensor, "Xavier");
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fans.first + fans.second));
  const double bound = std::sqrt(3.0) * std;
  torch::NoGradGuard no_grad;
  tensor.uniform_(-bound, bound);
}

torch::Tensor& trunc_normal_(torch::Tensor& tensor, double mean, double std, double a, double b) {
  const auto norm_cdf = [](double x) { return (1. + std::erf(x / std::sqrt(2.))) / 2.; };
  if (mean < a - 2 * std || mean > b + 2 * std) {
    model_warning(
        "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of "
        "values may be incorrect.");
  }
  torch::NoGradGuard no_grad;
  const double lower = norm_cdf((a - mean) / std);
  const double upper = norm_cdf((b - mean) / std);
  tensor.uniform_(2 * lower - 1, 2 * upper - 1);
  tensor.erfinv_();
  tensor.mul_(std * std::sqrt(2.));
  tensor.add_(mean);
  tensor.clamp_(a, b);
  return tensor;
}

void constant_init(torch::nn::Module& module, double val, double bias) {
  torch::Tensor w = detail::direct_parameter(module, "weight");
  if (w.defined()) {
    torch::NoGradGuard no_grad;
    w.fill_(val);
  }
  fill_bias(module, bias);
}

void xavier_init(torch::nn::Module& module, double gain, double bias,
                 const std::string& distribution) {
  check_distribution(distribution, "xavier_init");
  torch::Tensor w = detail::direct_parameter(module, "weight");
  if (w.defined()) {
    if (distribution == "uniform") {
      xavier_uniform_(w, gain);
    } else {
      xavier_normal_(w, gain);
    }
  }
  fill_bias(module, bias);
}

void normal_init(torch::nn::Module& module, double mean, double std, double bias) {
  torch::Tensor w = detail::direct_parameter(module, "weight");
  if (w.defined()) {
    torch::NoGradGuard no_grad;
    w.normal_(mean, std);
  }
  fill_bias(module, bias);
}

void trunc_normal_init(torch::nn::Module& module, double mean, double std, double a, double b,
                       double bias) {
  torch::Tensor w = detail::direct_parameter(module, "weight");
  if (w.defined()) trunc_normal_(w, mean, std, a, b);
  fill_bias(module, bias);
}

void uniform_init(torch::nn::Module& module, double a, double b, double bias) {
  torch::Tensor w = detail::direct_parameter(module, "weight");
  if (w.defined()) {
    torch::NoGradGuard no_grad;
    w.uniform_(a, b);
  }
  fill_bias(module, bias);
}

void kaiming_init(torch::nn::Module& module, double a, const std::string& mode,
                  const std::string& nonlinearity, double bias, const std::string& distribution) {
  check_distribution(distribution, "kaiming_init");
  torch::Tensor w = detail::direct_parameter(module, "weight");
  if (w.defined()) {
    if (distribution == "uniform") {
      kaiming_uniform_(w, a, mode, nonlinearity);
    } else {
      kaiming_normal_(w, a, mode, nonlinearity);
    }
  }
  fill_bias(module, bias);
}

void caffe2_xavier_init(torch::nn::Module& module, double bias) {
  kaiming_init(module, 1, "fan_in", "leaky_relu", bias, "uniform");
}

double bias_init_with_prob(double prior_prob) {
  if (!(prior_prob > 0.0 && prior_prob < 1.0)) {
    throw Error("bias_init_with_prob: the prior probability must lie in (0, 1), got " +
                detail::python_float_repr(prior_prob));
  }
  return -std::log((1 - prior_prob) / prior_prob);
}

}  // namespace detkit
