// The fused sigmoid focal loss on CUDA (see focal_loss_kernel.h): one thread per element
// computes the loss and d loss / d pred in one pass, as MMCV's sigmoid_focal_loss kernels do.
// Compiled only when LibTorch has CUDA (plugins/losses/CMakeLists.txt).
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>

#include "focal_loss_element.h"
#include "focal_loss_kernel.h"

namespace detkit::losses {

namespace {

constexpr int kThreadsPerBlock = 256;
/// Enough blocks to fill any current GPU; larger inputs loop (grid-stride).
constexpr int64_t kMaxBlocks = 4096;

/// The loss (and, with kWithGrad, its derivative) of `count` elements of rows of `classes`;
/// the target is labels[row] (one-hot, `classes` meaning background) or dense[i].
template <typename T, bool kGammaTwo, bool kWithGrad>
__global__ void sigmoid_focal_loss_kernel(int64_t count, int64_t classes,
                                          const T* __restrict__ pred,
                                          const int64_t* __restrict__ labels,
                                          const T* __restrict__ dense, T gamma, T alpha,
                                          T* __restrict__ loss, T* __restrict__ grad) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const T x = pred[i];
    const T t = labels != nullptr ? (labels[i / classes] == i % classes ? T(1) : T(0)) : dense[i];
    const T e = exp(-fabs(x));
    const T l = log1p(e);
    const T pt_pow = kGammaTwo ? T(0) : pow(wrong_probability(sigmoid_from(x, e), t), gamma);
    T value, derivative;
    focal_element<T, kGammaTwo, kWithGrad>(x, e, l, t, pt_pow, gamma, alpha, value, derivative);
    loss[i] = value;
    if (kWithGrad) grad[i] = derivative;
  }
}

/// Launches the kernel for this gamma and gradient.
template <typename T>
void launch(const torch::Tensor& pred, const torch::Tensor& target, T gamma, T alpha,
            torch::Tensor& loss, torch::Tensor& grad) {
  const int64_t count = pred.numel(), classes = pred.size(1);
  const bool labels = target.scalar_type() == torch::kLong;
  const int64_t* label_data = labels ? target.data_ptr<int64_t>() : nullptr;
  const T* dense_data = labels ? nullptr : target.data_ptr<T>();
  T* grad_data = grad.defined() ? grad.data_ptr<T>() : nullptr;
  const int blocks = static_cast<int>(
      std::min<int64_t>(kMaxBlocks, (count + kThreadsPerBlock - 1) / kThreadsPerBlock));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  auto run = [&](auto kernel) {
    kernel<<<blocks, kThreadsPerBlock, 0, stream>>>(count, classes, pred.data_ptr<T>(),
                                                     label_data, dense_data, gamma, alpha,
                                                     loss.data_ptr<T>(), grad_data);
  };
  const bool gamma_two = gamma == T(2);
  if (gamma_two && grad_data != nullptr) run(sigmoid_focal_loss_kernel<T, true, true>);
  if (gamma_two && grad_data == nullptr) run(sigmoid_focal_loss_kernel<T, true, false>);
  if (!gamma_two && grad_data != nullptr) run(sigmoid_focal_loss_kernel<T, false, true>);
  if (!gamma_two && grad_data == nullptr) run(sigmoid_focal_loss_kernel<T, false, false>);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void sigmoid_focal_loss_cuda(const torch::Tensor& pred, const torch::Tensor& target, double gamma,
                             double alpha, torch::Tensor& loss, torch::Tensor& grad) {
  if (pred.numel() == 0) return;
  const c10::cuda::CUDAGuard device_guard(pred.device());
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "sigmoid_focal_loss_cuda", [&] {
    launch<scalar_t>(pred, target, static_cast<scalar_t>(gamma), static_cast<scalar_t>(alpha),
                     loss, grad);
  });
}

}  // namespace detkit::losses
