// The fused sigmoid focal loss (see focal_loss_kernel.h): the autograd function and its CPU
// kernel.
//
// CPU kernel. Rows are split over LibTorch's intra-op threads (at::parallel_for); each thread
// walks its rows in blocks small enough to stay in cache. Per block, exp(-|x|) and its log1p are
// computed by ATen's vectorised (SLEEF) kernels on the block's scratch buffers — the plugin
// cannot include SLEEF itself — and one loop, which the compiler vectorises, turns them into the
// loss and its derivative. So the logits are read once, the loss and the gradient written once,
// instead of the ~40 full-size tensors the composed formula reads and writes.
#include "focal_loss_kernel.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "focal_loss_element.h"

namespace detkit::losses {

namespace {

/// Elements per block: enough to amortise the ATen calls on the scratch buffers, few enough for
/// the block's six arrays to stay in the core's L2 cache.
constexpr int64_t kBlockElements = 16384;

/// pt = 1 - p_t of one row into `out`, from its logits `x`, `e` = exp(-|x|) and target `t`
/// (kDense) or an all-zero target.
template <typename T, bool kDense>
void wrong_probability_row(int64_t n, const T* __restrict x, const T* __restrict e,
                           const T* __restrict t, T* __restrict out) {
  for (int64_t c = 0; c < n; ++c)
    out[c] = wrong_probability(sigmoid_from(x[c], e[c]), kDense ? t[c] : T(0));
}

/// The loss (and, with kWithGrad, its derivative) of one row into `loss` (`grad`), from its
/// logits `x`, `e` = exp(-|x|), `l` = log1p(e), the target `t` (kDense) or an all-zero target,
/// and `w` = pt^gamma unless kGammaTwo.
template <typename T, bool kDense, bool kGammaTwo, bool kWithGrad>
void loss_row(int64_t n, const T* __restrict x, const T* __restrict e, const T* __restrict l,
              const T* __restrict t, const T* __restrict w, T gamma, T alpha, T* __restrict loss,
              T* __restrict grad) {
  for (int64_t c = 0; c < n; ++c) {
    T value, derivative;
    focal_element<T, kGammaTwo, kWithGrad>(x[c], e[c], l[c], kDense ? t[c] : T(0),
                                           kGammaTwo ? T(0) : w[c], gamma, alpha, value,
                                           derivative);
    loss[c] = value;
    if constexpr (kWithGrad) grad[c] = derivative;
  }
}

/// The CPU kernel on contiguous tensors. The target is `dense` (pred's shape) or, when `labels`
/// is set, one-hot rows: each row is computed as all-negative (a loop without a per-element
/// test, so that it vectorises), then its labelled column again as a positive.
template <typename T>
struct FocalLossCpu {
  const T* pred;
  const int64_t* labels;  // null when `dense` is used
  const T* dense;
  T* loss;
  T* grad;  // null when no gradient is needed
  int64_t classes;
  T gamma, alpha;

  /// Rows [begin, end), block by block.
  template <bool kDense, bool kGammaTwo, bool kWithGrad>
  void rows(int64_t begin, int64_t end) const {
    const int64_t n = classes, block_rows = std::max<int64_t>(1, kBlockElements / n);
    const auto options = torch::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
    const torch::Tensor exp_buffer = torch::empty({block_rows * n}, options);
    const torch::Tensor log_buffer = torch::empty({block_rows * n}, options);
    const torch::Tensor pow_buffer =
        kGammaTwo ? torch::Tensor() : torch::empty({block_rows * n}, options);
    for (int64_t first = begin; first < end; first += block_rows) {
      const int64_t rows = std::min(block_rows, end - first), offset = first * n;
      const T* x = pred + offset;
      const T* t = kDense ? dense + offset : nullptr;
      torch::Tensor e = exp_buffer.narrow(0, 0, rows * n), l = log_buffer.narrow(0, 0, rows * n);
      T* ep = e.data_ptr<T>();
      negative_abs(rows * n, x, ep);
      e.exp_();
      at::log1p_out(l, e);
      const T* lp = l.data_ptr<T>();
      T* wp = nullptr;
      if constexpr (!kGammaTwo) {
        torch::Tensor w = pow_buffer.narrow(0, 0, rows * n);
        wp = w.data_ptr<T>();
        for (int64_t r = 0, i = 0; r < rows; ++r, i += n) {
          wrong_probability_row<T, kDense>(n, x + i, ep + i, kDense ? t + i : nullptr, wp + i);
          if (const int64_t c = positive_column(first + r); c >= 0) {
            wp[i + c] = wrong_probability(sigmoid_from(x[i + c], ep[i + c]), T(1));
          }
        }
        w.pow_(gamma);
      }
      T* out = loss + offset;
      T* d = kWithGrad ? grad + offset : nullptr;
      for (int64_t r = 0, i = 0; r < rows; ++r, i += n) {
        loss_row<T, kDense, kGammaTwo, kWithGrad>(
            n, x + i, ep + i, lp + i, kDense ? t + i : nullptr, kGammaTwo ? nullptr : wp + i, gamma,
            alpha, out + i, kWithGrad ? d + i : nullptr);
        if (const int64_t c = positive_column(first + r); c >= 0) {
          const int64_t j = i + c;
          T derivative;
          focal_element<T, kGammaTwo, kWithGrad>(x[j], ep[j], lp[j], T(1), kGammaTwo ? T(0) : wp[j],
                                                 gamma, alpha, out[j], derivative);
          if constexpr (kWithGrad) d[j] = derivative;
        }
      }
    }
  }

  /// The labelled column of row `row`, or -1 (dense targets, background).
  int64_t positive_column(int64_t row) const {
    if (labels == nullptr || labels[row] >= classes) return -1;
    return labels[row];
  }

  /// out = -|x|, the argument of exp.
  static void negative_abs(int64_t count, const T* __restrict x, T* __restrict out) {
    for (int64_t i = 0; i < count; ++i)
      out[i] = -std::abs(x[i]);
  }

  /// All rows, over the intra-op threads.
  void run(int64_t num_rows) const {
    const int64_t grain = std::max<int64_t>(1, kBlockElements / classes);
    at::parallel_for(0, num_rows, grain, [&](int64_t begin, int64_t end) {
      if (labels != nullptr) {
        rows_for<false>(begin, end);
      } else {
        rows_for<true>(begin, end);
      }
    });
  }

  /// rows() for this gamma and gradient.
  template <bool kDense>
  void rows_for(int64_t begin, int64_t end) const {
    const bool gamma_two = gamma == T(2), with_grad = grad != nullptr;
    if (gamma_two && with_grad) rows<kDense, true, true>(begin, end);
    if (gamma_two && !with_grad) rows<kDense, true, false>(begin, end);
    if (!gamma_two && with_grad) rows<kDense, false, true>(begin, end);
    if (!gamma_two && !with_grad) rows<kDense, false, false>(begin, end);
  }
};

/// The CPU kernel, on the arguments of sigmoid_focal_loss_cuda (focal_loss_kernel.h).
void sigmoid_focal_loss_cpu(const torch::Tensor& pred, const torch::Tensor& target, double gamma,
                            double alpha, torch::Tensor& loss, torch::Tensor& grad) {
  if (pred.numel() == 0) return;
  const bool labels = target.scalar_type() == torch::kLong;
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "sigmoid_focal_loss_cpu", [&] {
    FocalLossCpu<scalar_t> kernel{pred.data_ptr<scalar_t>(),
                                  labels ? target.data_ptr<int64_t>() : nullptr,
                                  labels ? nullptr : target.data_ptr<scalar_t>(),
                                  loss.data_ptr<scalar_t>(),
                                  grad.defined() ? grad.data_ptr<scalar_t>() : nullptr,
                                  pred.size(1),
                                  static_cast<scalar_t>(gamma),
                                  static_cast<scalar_t>(alpha)};
    kernel.run(pred.size(0));
  });
}

/// The autograd function: forward saves d loss / d pred (computed in the same pass as the
/// loss), backward multiplies it by the incoming gradient.
class SigmoidFocalLossFunction : public torch::autograd::Function<SigmoidFocalLossFunction> {
 public:
  /// The element-wise loss; `target` is int64 labels (N,) or of pred's shape and dtype.
  /// `with_grad` says whether backward will be needed.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& pred,
                               const torch::Tensor& target, double gamma, double alpha,
                               bool with_grad) {
    const torch::Tensor logits = pred.contiguous();
    torch::Tensor loss = torch::empty_like(logits);
    torch::Tensor grad = with_grad ? torch::empty_like(logits) : torch::Tensor();
    if (logits.is_cuda()) {
#ifdef DETKIT_WITH_CUDA
      sigmoid_focal_loss_cuda(logits, target, gamma, alpha, loss, grad);
#endif
    } else {
      sigmoid_focal_loss_cpu(logits, target, gamma, alpha, loss, grad);
    }
    ctx->save_for_backward({grad});
    return loss;
  }

  /// d loss / d pred times the incoming gradient; nothing for the other inputs.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const torch::Tensor derivative = ctx->get_saved_variables()[0];
    const torch::Tensor& upstream = grad_outputs[0];
    torch::Tensor grad_pred;
    if (upstream.defined() && derivative.defined()) grad_pred = upstream * derivative;
    return {grad_pred, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::optional<torch::Tensor> fused_sigmoid_focal_loss(const torch::Tensor& pred,
                                                      const torch::Tensor& target, double gamma,
                                                      double alpha) {
  if (!pred.defined() || pred.dim() != 2 ||
      (pred.scalar_type() != torch::kFloat && pred.scalar_type() != torch::kDouble)) {
    return std::nullopt;
  }
#ifdef DETKIT_WITH_CUDA
  if (!pred.device().is_cpu() && !pred.is_cuda()) return std::nullopt;
#else
  if (!pred.device().is_cpu()) return std::nullopt;
#endif
  if (!target.defined() || target.device() != pred.device() || target.requires_grad()) {
    return std::nullopt;
  }
  torch::Tensor kernel_target;  // int64 labels, or pred's shape and dtype
  if (target.dim() == 1) {
    if (target.size(0) != pred.size(0) || target.is_floating_point() || target.is_complex() ||
        target.scalar_type() == torch::kBool) {
      return std::nullopt;
    }
    kernel_target = target.to(torch::kLong).contiguous();
    if (kernel_target.numel() > 0) {
      const auto [low, high] = torch::aminmax(kernel_target);
      if (low.item<int64_t>() < 0 || high.item<int64_t>() > pred.size(1)) return std::nullopt;
    }
  } else {
    if (target.sizes() != pred.sizes()) return std::nullopt;
    kernel_target = target.to(pred.scalar_type()).contiguous();
  }
  const bool with_grad = torch::GradMode::is_enabled() && pred.requires_grad();
  return SigmoidFocalLossFunction::apply(pred, kernel_target, gamma, alpha, with_grad);
}

}  // namespace detkit::losses
