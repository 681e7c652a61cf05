// The loss interface (kind `loss`) and MMDetection's shared reduction logic.
#pragma once

#include <torch/nn/module.h>

#include <optional>
#include <string>

#include "detkit/kind.h"

namespace detkit {

/// How an element-wise loss is reduced.
enum class Reduction { none, mean, sum };

/// Parses "none" / "mean" / "sum"; throws Error otherwise.
DETKIT_API Reduction reduction_from_string(const std::string& text);
/// "none" / "mean" / "sum".
DETKIT_API const char* reduction_name(Reduction reduction);

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
};

/// Applies an element-wise `weight` (if defined) and reduces: `none` keeps the shape; `sum`
/// sums; `mean` divides the sum by `avg_factor` (+ float eps, as MMDetection) when given,
/// else takes the mean. `sum` with an `avg_factor` is an error, as in MMDetection.
DETKIT_API torch::Tensor weight_reduce_loss(torch::Tensor loss, const torch::Tensor& weight,
                                            Reduction reduction, std::optional<double> avg_factor);

}  // namespace detkit

DETKIT_DECLARE_KIND_BASE(loss, detkit::LossBase);
