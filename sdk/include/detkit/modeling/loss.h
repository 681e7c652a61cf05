// The loss interface (kind `loss`) and MMDetection's shared reduction logic.
#pragma once

#include <torch/nn/module.h>

#include <optional>
#include <string>

#include "detkit/kind.h"
#include "detkit/schema.h"

namespace detkit {

/// How an element-wise loss is reduced.
enum class Reduction { none, mean, sum };

/// Parses "none" / "mean" / "sum"; throws Error otherwise.
DETKIT_API Reduction reduction_from_string(const std::string& text);
/// "none" / "mean" / "sum".
DETKIT_API const char* reduction_name(Reduction reduction);

}  // namespace detkit

/// Reductions are configured as strings ("none", "mean", "sum").
template <>
struct detkit::ConfigValue<detkit::Reduction> {
  static Reduction from(const ConfigNode& node) { return reduction_from_string(node.as_string()); }
  static ConfigNode to(Reduction value) { return ConfigNode(reduction_name(value)); }
};
template <>
struct detkit::ParamTypeOf<detkit::Reduction> : detkit::ParamTypeOf<std::string> {};

namespace detkit {

/// The form of a loss's inputs, which each loss declares (LossBase::input_form) so that a tool
/// can call any registered loss without knowing it by name (`detkit benchmark losses`).
enum class LossInput {
  /// pred: class scores (N, C); target: labels (N,) in [0, C], where C is background (sigmoid
  /// classification, e.g. FocalLoss).
  sigmoid_scores,
  /// pred: class scores (N, C), C counting the background class; target: labels (N,) in
  /// [0, C) (softmax classification, e.g. CrossEntropyLoss).
  softmax_scores,
  /// pred and target: boxes (N, 4) as x1, y1, x2, y2 with x1 < x2, y1 < y2 (e.g. GIoULoss).
  boxes,
  /// pred and target: tensors of one shape, any values, e.g. box deltas (N, 4) (e.g. L1Loss).
  elementwise,
};

/// Base class of every loss component. The call mirrors MMDetection's
/// `loss(pred, target, weight=None, avg_factor=None, reduction_override=None)`:
///   - `weight` (optional, undefined tensor = none) multiplies the element-wise loss; it is
///     broadcast as MMDetection does (per-sample weights of shape (N,) for class losses);
///   - `avg_factor` replaces the element count in the mean;
///   - `reduction_override` replaces the configured reduction.
/// Implementations multiply by their `loss_weight`.
class DETKIT_API LossBase : public torch::nn::Module {
 public:
  ~LossBase() override;

  /// Computes the loss of `pred` against `target`.
  virtual torch::Tensor forward(const torch::Tensor& pred, const torch::Tensor& target,
                                const torch::Tensor& weight = {},
                                std::optional<double> avg_factor = std::nullopt,
                                std::optional<Reduction> reduction_override = std::nullopt) = 0;

  /// The form of `pred` and `target` this loss takes; LossInput::elementwise unless overridden.
  virtual LossInput input_form() const;
};

/// Applies an element-wise `weight` (if defined) and reduces: `none` keeps the shape; `sum`
/// sums; `mean` divides the sum by `avg_factor` (+ float eps, as MMDetection) when given,
/// else takes the mean. `sum` with an `avg_factor` is an error, as in MMDetection.
DETKIT_API torch::Tensor weight_reduce_loss(torch::Tensor loss, const torch::Tensor& weight,
                                            Reduction reduction, std::optional<double> avg_factor);

}  // namespace detkit
