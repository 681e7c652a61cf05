// CUDA kernels of detkit::roi_pool and detkit::_roi_pool_backward (compiled only when LibTorch
// has CUDA: DETKIT_WITH_CUDA). One thread per output element (RoI, channel, bin): the same
// rounding, bin edges and strict `>` maximum as the CPU kernel (cpu/roi_pool_kernel.cpp); the
// backward pass adds each output's gradient at its argmax with an atomic.
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <ATen/cuda/Atomic.cuh>

#include <cfloat>
#include <tuple>

namespace detkit::ops {
namespace {

constexpr int kThreads = 256;

/// Blocks for `n` threads (grid-stride loops cover the rest).
unsigned blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
}

/// `v` clipped to [0, size].
__device__ inline int64_t clip(int64_t v, int64_t size) {
  return v < 0 ? 0 : (v > size ? size : v);
}

template <typename T>
__global__ void roi_pool_forward_kernel(int64_t total, const T* input, const T* rois,
                                        double spatial_scale, int64_t channels, int64_t height,
                                        int64_t width, int pooled_height, int pooled_width,
                                        T* output, int64_t* argmax) {
  for (int64_t index = blockIdx.x * blockDim.x + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_width, ph = (index / pooled_width) % pooled_height;
    const int64_t c = (index / pooled_width / pooled_height) % channels;
    const int64_t k = index / pooled_width / pooled_height / channels;
    const T* roi = rois + k * 5;
    // Rounding and bin edges in the accumulation type (float for half, as the CPU's float).
    using A = at::acc_type<T, /*is_cuda=*/true>;
    const A scale = static_cast<A>(spatial_scale);
    const auto batch = static_cast<int64_t>(roi[0]);
    const auto start_w = static_cast<int64_t>(round(static_cast<A>(roi[1]) * scale));
    const auto start_h = static_cast<int64_t>(round(static_cast<A>(roi[2]) * scale));
    const auto end_w = static_cast<int64_t>(round(static_cast<A>(roi[3]) * scale));
    const auto end_h = static_cast<int64_t>(round(static_cast<A>(roi[4]) * scale));
    const int64_t roi_w = max(end_w - start_w + 1, int64_t(1));
    const int64_t roi_h = max(end_h - start_h + 1, int64_t(1));
    const A bin_h = static_cast<A>(roi_h) / static_cast<A>(pooled_height);
    const A bin_w = static_cast<A>(roi_w) / static_cast<A>(pooled_width);
    const int64_t h0 =
        clip(static_cast<int64_t>(floor(static_cast<A>(ph) * bin_h)) + start_h, height);
    const int64_t h1 =
        clip(static_cast<int64_t>(ceil(static_cast<A>(ph + 1) * bin_h)) + start_h, height);
    const int64_t w0 =
        clip(static_cast<int64_t>(floor(static_cast<A>(pw) * bin_w)) + start_w, width);
    const int64_t w1 =
        clip(static_cast<int64_t>(ceil(static_cast<A>(pw + 1) * bin_w)) + start_w, width);
    const T* map = input + (batch * channels + c) * height * width;
    A best = (h1 <= h0 || w1 <= w0) ? A(0) : static_cast<A>(-FLT_MAX);
    int64_t best_at = -1;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t at = h * width + w;
        const A value = static_cast<A>(map[at]);
        if (value > best) {
          best = value;
          best_at = at;
        }
      }
    }
    output[index] = static_cast<T>(best);
    argmax[index] = best_at;
  }
}

template <typename T>
__global__ void roi_pool_backward_kernel(int64_t total, const T* grad, const T* rois,
                                         const int64_t* argmax, int64_t channels, int64_t plane,
                                         int64_t bins, T* grad_input) {
  for (int64_t index = blockIdx.x * blockDim.x + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    if (argmax[index] < 0) continue;
    const int64_t c = (index / bins) % channels, k = index / bins / channels;
    const auto batch = static_cast<int64_t>(rois[k * 5]);
    gpuAtomicAdd(grad_input + (batch * channels + c) * plane + argmax[index], grad[index]);
  }
}

/// The registered forward kernel (inputs validated by detkit::ops::roi_pool).
std::tuple<at::Tensor, at::Tensor> roi_pool_cuda(const at::Tensor& input, const at::Tensor& rois,
                                                 double spatial_scale, int64_t pooled_height,
                                                 int64_t pooled_width) {
  TORCH_CHECK(input.is_cuda() && rois.is_cuda(), "roi_pool: input and rois must be on CUDA");
  TORCH_CHECK(input.scalar_type() == rois.scalar_type(), "roi_pool: dtypes differ");
  c10::cuda::CUDAGuard device_guard(input.device());
  const std::vector<int64_t> shape{rois.size(0), input.size(1), pooled_height, pooled_width};
  at::Tensor output = at::zeros(shape, input.options());
  at::Tensor argmax = at::full(shape, -1, input.options().dtype(at::kLong));
  const int64_t total = output.numel();
  if (total == 0) return {output, argmax};
  const at::Tensor in = input.contiguous(), r = rois.contiguous();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(input.scalar_type(), "roi_pool_cuda", [&] {
    roi_pool_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, in.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), spatial_scale, in.size(1),
        in.size(2), in.size(3), static_cast<int>(pooled_height), static_cast<int>(pooled_width),
        output.data_ptr<scalar_t>(), argmax.data_ptr<int64_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {output, argmax};
}

/// The registered backward kernel: the gradient of the (batch, channels, height, width) input.
at::Tensor roi_pool_backward_cuda(const at::Tensor& grad, const at::Tensor& rois,
                                  const at::Tensor& argmax, double /*spatial_scale*/,
                                  int64_t pooled_height, int64_t pooled_width, int64_t batch_size,
                                  int64_t channels, int64_t height, int64_t width) {
  TORCH_CHECK(grad.is_cuda() && rois.is_cuda() && argmax.is_cuda(),
              "roi_pool backward: tensors must be on CUDA");
  c10::cuda::CUDAGuard device_guard(grad.device());
  at::Tensor grad_input = at::zeros({batch_size, channels, height, width}, rois.options());
  const int64_t total = grad.numel();
  if (total == 0) return grad_input;
  const at::Tensor g = grad.contiguous().to(rois.scalar_type()), r = rois.contiguous();
  const at::Tensor a = argmax.contiguous();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(rois.scalar_type(), "roi_pool_backward_cuda", [&] {
    roi_pool_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, g.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), a.data_ptr<int64_t>(), channels,
        height * width, pooled_height * pooled_width, grad_input.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

}  // namespace
}  // namespace detkit::ops

TORCH_LIBRARY_IMPL(detkit, CUDA, m) {
  m.impl("roi_pool", TORCH_FN(detkit::ops::roi_pool_cuda));
  m.impl("_roi_pool_backward", TORCH_FN(detkit::ops::roi_pool_backward_cuda));
}
