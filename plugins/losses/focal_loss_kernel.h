// The fused sigmoid focal loss of FocalLoss (focal_loss.cpp): one pass over the logits computes
// the element-wise loss and, when pred needs a gradient, d loss / d pred; backward is one
// multiplication by the incoming gradient. CPU kernel here (focal_loss_kernel.cpp), CUDA kernel
// in focal_loss_kernel.cu when LibTorch has CUDA (MMCV has the same split for its CUDA op).
#pragma once

#include <torch/torch.h>

#include <optional>

namespace detkit::losses {

/// The element-wise sigmoid focal loss of logits `pred` (N, C), as MMDetection's
/// py_sigmoid_focal_loss before weighting and reduction:
///   p = sigmoid(pred), pt = (1 - p) t + p (1 - t),
///   loss = bce_with_logits(pred, t) * (alpha t + (1 - alpha)(1 - t)) * pt^gamma,
/// where t is `target` (a tensor of pred's shape: one-hot or soft targets) or the one-hot rows of
/// integer labels of shape (N,) (label == C is background: an all-zero row). The result has
/// pred's shape and dtype and is differentiable with respect to pred.
///
/// Returns nullopt for inputs the kernel does not take, so that the caller's tensor-op path
/// computes them or reports what is wrong with them: pred not a float/double (N, C) tensor on
/// CPU (or CUDA in a CUDA build), labels outside [0, C] or not integer, a target of another
/// shape, or a target that itself requires a gradient. Not twice differentiable.
std::optional<torch::Tensor> fused_sigmoid_focal_loss(const torch::Tensor& pred,
                                                      const torch::Tensor& target, double gamma,
                                                      double alpha);

#ifdef DETKIT_WITH_CUDA
/// The CUDA kernel of fused_sigmoid_focal_loss (focal_loss_kernel.cu). `pred` is contiguous
/// (N, C); `target` is contiguous: int64 labels (N,), or of pred's shape and dtype. Fills `loss`
/// and, when defined, `grad` = d loss / d pred (both contiguous, of pred's shape).
void sigmoid_focal_loss_cuda(const torch::Tensor& pred, const torch::Tensor& target, double gamma,
                             double alpha, torch::Tensor& loss, torch::Tensor& grad);
#endif

}  // namespace detkit::losses
