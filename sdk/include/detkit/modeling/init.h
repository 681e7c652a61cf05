// Weight initialisation as MMCV 1.7 does it (mmcv/cnn/utils/weight_init.py): the functions
// modules call in their own init_weights() (constant_init, normal_init, kaiming_init with
// MMCV's defaults, bias_init_with_prob, ...) and initialize(module, init_cfg), which applies an
// init_cfg — `layer` matching, `override` by child name, a list in order.
//
// The arithmetic is PyTorch's torch.nn.init (gain, fans, bounds in double precision, then one
// normal_/uniform_ draw per tensor), so with the same seed a model gets the values Python gets.
//
//   detkit::kaiming_init(*conv);                       // fan_out, relu, normal, bias 0
//   detkit::normal_init(*cls, 0, 0.01, detkit::bias_init_with_prob(0.01));
//   detkit::initialize(*head, parse("{type: Normal, layer: Conv2d, std: 0.01}"));
#pragma once

#include <torch/nn/module.h>

#include <optional>
#include <string>

#include "detkit/config_node.h"
#include "detkit/export.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/initializer.h"

namespace detkit {

/// Sets `module.weight` to `val` and `module.bias` to `bias` (each only when present).
DETKIT_API void constant_init(torch::nn::Module& module, double val, double bias = 0);
/// Xavier (Glorot) weight, `distribution` "normal" or "uniform"; constant bias.
DETKIT_API void xavier_init(torch::nn::Module& module, double gain = 1, double bias = 0,
                            const std::string& distribution = "normal");
/// Normal(mean, std) weight; constant bias.
DETKIT_API void normal_init(torch::nn::Module& module, double mean = 0, double std = 1,
                            double bias = 0);
/// Truncated normal weight (trunc_normal_); constant bias.
DETKIT_API void trunc_normal_init(torch::nn::Module& module, double mean = 0, double std = 1,
                                  double a = -2, double b = 2, double bias = 0);
/// Uniform(a, b) weight; constant bias.
DETKIT_API void uniform_init(torch::nn::Module& module, double a = 0, double b = 1,
                             double bias = 0);
/// Kaiming (He) weight with MMCV's defaults (fan_out, relu, normal — not PyTorch's fan_in,
/// leaky_relu); constant bias.
DETKIT_API void kaiming_init(torch::nn::Module& module, double a = 0,
                             const std::string& mode = "fan_out",
                             const std::string& nonlinearity = "relu", double bias = 0,
                             const std::string& distribution = "normal");
/// Caffe2's XavierFill: kaiming_init(a=1, fan_in, leaky_relu, uniform).
DETKIT_API void caffe2_xavier_init(torch::nn::Module& module, double bias = 0);
/// The bias that makes sigmoid(bias) = prior_prob: -log((1 - p) / p) (-4.59512 for 0.01).
DETKIT_API double bias_init_with_prob(double prior_prob);

/// Fills `tensor` from N(mean, std) truncated to [a, b] by MMCV's inverse-CDF method (one
/// uniform_ draw, erfinv, scale, clamp). Warns (model_warning) when mean is more than 2 std
/// outside [a, b], as MMCV does.
DETKIT_API torch::Tensor& trunc_normal_(torch::Tensor& tensor, double mean = 0, double std = 1,
                                        double a = -2, double b = 2);
/// torch.nn.init.calculate_gain: "linear"/"conv*"/"sigmoid" 1, "tanh" 5/3, "relu" sqrt(2),
/// "leaky_relu" sqrt(2 / (1 + slope^2)) (slope `param`, default 0.01), "selu" 3/4. Throws
/// detkit::Error for another name.
DETKIT_API double calculate_gain(const std::string& nonlinearity,
                                 std::optional<double> param = std::nullopt);
/// torch.nn.init.kaiming_normal_ / kaiming_uniform_ (`mode` "fan_in" or "fan_out"); a tensor
/// with fewer than 2 dimensions is an Error, one with no elements is left alone.
DETKIT_API void kaiming_normal_(torch::Tensor& tensor, double a, const std::string& mode,
                                const std::string& nonlinearity);
DETKIT_API void kaiming_uniform_(torch::Tensor& tensor, double a, const std::string& mode,
                                 const std::string& nonlinearity);
/// torch.nn.init.xavier_normal_ / xavier_uniform_.
DETKIT_API void xavier_normal_(torch::Tensor& tensor, double gain = 1);
DETKIT_API void xavier_uniform_(torch::Tensor& tensor, double gain = 1);

/// MMCV's initialize(module, init_cfg): `init_cfg` is an initializer map or a list of them,
/// applied in order. Each entry runs over `module` with `layer` matching; then each of its
/// `override`s (a map or a list; `name` required, a direct child) runs over that whole child —
/// with the entry's own type and arguments when the override has only `name`, else with its
/// own `type` and arguments alone. `path` names init_cfg in error messages. Throws ConfigError
/// for a malformed entry or an unknown child. Inside init_weights() the changed parameters are
/// recorded in the init log.
DETKIT_API void initialize(torch::nn::Module& module, const ConfigNode& init_cfg,
                           const std::string& path = "init_cfg");

/// The value as Python prints a dict of it (MMCV logs init_cfg so): {'type': 'Normal', 'std':
/// 0.01, 'layer': ['Conv2d']}, True, None.
DETKIT_API std::string python_repr(const ConfigNode& node);

}  // namespace detkit
