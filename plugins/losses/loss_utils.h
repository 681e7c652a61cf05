// Helpers shared by the components of the losses plugin (private to the plugin, not SDK).
#pragma once

#include <ATen/ExpandUtils.h>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "detkit/component_config.h"
#include "detkit/error.h"
#include "detkit/modeling/loss.h"
#include "detkit/params.h"

namespace detkit::losses {

/// The reduction of one call: `reduction_override` when given, else the configured one.
inline Reduction effective_reduction(Reduction configured, std::optional<Reduction> override_) {
  return override_ ? *override_ : configured;
}

/// A shape as text: "[8, 4]".
inline std::string shape_text(c10::IntArrayRef sizes) {
  std::ostringstream out;
  out << sizes;
  return out.str();
}
/// A tensor's shape as text: "[8, 4]".
inline std::string shape_text(const torch::Tensor& t) {
  return shape_text(t.sizes());
}

/// Throws Error "<loss>: <message>" unless `ok`.
inline void check_input(bool ok, const char* loss, const std::string& message) {
  if (!ok) throw Error(std::string(loss) + ": " + message);
}

/// Checks that `pred` and `target` have the same shape (element-wise losses).
inline void check_same_shape(const char* loss, const torch::Tensor& pred,
                             const torch::Tensor& target) {
  check_input(pred.sizes() == target.sizes(), loss,
              "pred and target must have the same shape, got " + shape_text(pred) + " and " +
                  shape_text(target));
}

/// `weight` as a floating tensor (integer and bool weights become float32, as MMDetection's
/// `weight.float()`; floating weights keep their dtype).
inline torch::Tensor floating_weight(const torch::Tensor& weight) {
  if (!weight.defined() || weight.is_floating_point()) return weight;
  return weight.to(torch::kFloat);
}

/// Checks that an element-wise `weight` (if defined) broadcasts to `loss` without enlarging it.
inline void check_weight_broadcasts(const char* loss_name, const torch::Tensor& weight,
                                    const torch::Tensor& loss) {
  if (!weight.defined()) return;
  bool ok = weight.dim() <= loss.dim();
  if (ok) {
    try {
      ok = at::infer_size(weight.sizes(), loss.sizes()) == loss.sizes();
    } catch (const c10::Error&) {
      ok = false;
    }
  }
  check_input(ok, loss_name,
              "weight of shape " + shape_text(weight) +
                  " does not broadcast to the loss of shape " + shape_text(loss));
}

/// MMDetection's `@weighted_loss` around an element-wise regression loss (l1_loss,
/// smooth_l1_loss): an empty target gives pred.sum() * 0, otherwise `elementwise(pred, target)`
/// on equal shapes; then weight_reduce_loss.
template <class Elementwise>
torch::Tensor weighted_elementwise_loss(const char* loss_name, const torch::Tensor& pred,
                                        const torch::Tensor& target, const torch::Tensor& weight,
                                        Reduction reduction, std::optional<double> avg_factor,
                                        Elementwise elementwise) {
  const torch::Tensor w = floating_weight(weight);
  if (target.numel() == 0) return weight_reduce_loss(pred.sum() * 0, w, reduction, avg_factor);
  check_same_shape(loss_name, pred, target);
  const torch::Tensor loss = elementwise(pred, target);
  check_weight_broadcasts(loss_name, w, loss);
  return weight_reduce_loss(loss, w, reduction, avg_factor);
}

}  // namespace detkit::losses
