// CUDA kernels of detkit::roi_align and detkit::_roi_align_backward (compiled only when
// LibTorch has CUDA: DETKIT_WITH_CUDA). One thread per output element (RoI, channel, bin): it
// walks the bin's samples with the same positions and bilinear weights as the CPU kernel
// (cpu/roi_align_kernel.cpp), in the accumulation type (float for half features). The backward
// pass adds each sample's share of the gradient with atomics.
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <ATen/cuda/Atomic.cuh>

namespace detkit::ops {
namespace {

constexpr int kThreads = 256;

/// Blocks for `n` threads (grid-stride loops cover the rest).
unsigned blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
}

/// The sampling grid of one RoI (see RoIGrid in the CPU kernel).
template <typename A>
struct RoIGrid {
  int64_t batch;
  A start_h, start_w, bin_h, bin_w;
  int grid_h, grid_w;
  A count;
};

template <typename T, typename A>
__device__ RoIGrid<A> roi_grid(const T* roi, double spatial_scale, int pooled_height,
                               int pooled_width, int sampling_ratio, bool aligned) {
  RoIGrid<A> g;
  g.batch = static_cast<int64_t>(roi[0]);
  const A offset = aligned ? A(0.5) : A(0);
  g.start_w = static_cast<A>(static_cast<A>(roi[1]) * spatial_scale - offset);
  g.start_h = static_cast<A>(static_cast<A>(roi[2]) * spatial_scale - offset);
  A roi_w = static_cast<A>(static_cast<A>(roi[3]) * spatial_scale - offset) - g.start_w;
  A roi_h = static_cast<A>(static_cast<A>(roi[4]) * spatial_scale - offset) - g.start_h;
  if (!aligned) {
    roi_w = max(roi_w, A(1));
    roi_h = max(roi_h, A(1));
  }
  g.bin_h = roi_h / static_cast<A>(pooled_height);
  g.bin_w = roi_w / static_cast<A>(pooled_width);
  g.grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(ceil(roi_h / pooled_height));
  g.grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<int>(ceil(roi_w / pooled_width));
  const int samples = g.grid_h * g.grid_w;
  g.count = static_cast<A>(samples > 1 ? samples : 1);
  return g;
}

/// The four neighbours (offsets in an (H, W) plane) and weights of the sample at (y, x);
/// false (and nothing written) for a sample beyond one pixel outside the map.
template <typename A>
__device__ bool bilinear(A y, A x, int64_t height, int64_t width, int64_t* offset, A* weight) {
  if (y < -1 || y > height || x < -1 || x > width) return false;
  y = max(y, A(0));
  x = max(x, A(0));
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x);
  int64_t y_high = y_low + 1, x_high = x_low + 1;
  if (y_low >= height - 1) {
    y_low = y_high = height - 1;
    y = static_cast<A>(y_low);
  }
  if (x_low >= width - 1) {
    x_low = x_high = width - 1;
    x = static_cast<A>(x_low);
  }
  const A ly = y - y_low, lx = x - x_low, hy = 1 - ly, hx = 1 - lx;
  offset[0] = y_low * width + x_low;
  offset[1] = y_low * width + x_high;
  offset[2] = y_high * width + x_low;
  offset[3] = y_high * width + x_high;
  weight[0] = hy * hx;
  weight[1] = hy * lx;
  weight[2] = ly * hx;
  weight[3] = ly * lx;
  return true;
}

template <typename T>
__global__ void roi_align_forward_kernel(int64_t total, const T* input, const T* rois,
                                         double spatial_scale, int64_t channels, int64_t height,
                                         int64_t width, int pooled_height, int pooled_width,
                                         int sampling_ratio, bool aligned, T* output) {
  using A = at::acc_type<T, /*is_cuda=*/true>;
  for (int64_t index = blockIdx.x * blockDim.x + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_width, ph = (index / pooled_width) % pooled_height;
    const int64_t c = (index / pooled_width / pooled_height) % channels;
    const int64_t k = index / pooled_width / pooled_height / channels;
    const RoIGrid<A> g = roi_grid<T, A>(rois + k * 5, spatial_scale, pooled_height, pooled_width,
                                        sampling_ratio, aligned);
    const T* map = input + (g.batch * channels + c) * height * width;
    A sum = 0;
    int64_t offset[4];
    A weight[4];
    for (int iy = 0; iy < g.grid_h; ++iy) {
      const A y = g.start_h + ph * g.bin_h + static_cast<A>(iy + .5f) * g.bin_h / g.grid_h;
      for (int ix = 0; ix < g.grid_w; ++ix) {
        const A x = g.start_w + pw * g.bin_w + static_cast<A>(ix + .5f) * g.bin_w / g.grid_w;
        if (!bilinear(y, x, height, width, offset, weight)) continue;
        sum += weight[0] * static_cast<A>(map[offset[0]]) +
               weight[1] * static_cast<A>(map[offset[1]]) +
               weight[2] * static_cast<A>(map[offset[2]]) +
               weight[3] * static_cast<A>(map[offset[3]]);
      }
    }
    output[index] = static_cast<T>(sum / g.count);
  }
}

template <typename T>
__global__ void roi_align_backward_kernel(int64_t total, const T* grad, const T* rois,
                                          double spatial_scale, int64_t channels, int64_t height,
                                          int64_t width, int pooled_height, int pooled_width,
                                          int sampling_ratio, bool aligned, T* grad_input) {
  using A = at::acc_type<T, /*is_cuda=*/true>;
  for (int64_t index = blockIdx.x * blockDim.x + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_width, ph = (index / pooled_width) % pooled_height;
    const int64_t c = (index / pooled_width / pooled_height) % channels;
    const int64_t k = index / pooled_width / pooled_height / channels;
    const RoIGrid<A> g = roi_grid<T, A>(rois + k * 5, spatial_scale, pooled_height, pooled_width,
                                        sampling_ratio, aligned);
    T* map = grad_input + (g.batch * channels + c) * height * width;
    const A g_bin = static_cast<A>(grad[index]);
    int64_t offset[4];
    A weight[4];
    for (int iy = 0; iy < g.grid_h; ++iy) {
      const A y = g.start_h + ph * g.bin_h + static_cast<A>(iy + .5f) * g.bin_h / g.grid_h;
      for (int ix = 0; ix < g.grid_w; ++ix) {
        const A x = g.start_w + pw * g.bin_w + static_cast<A>(ix + .5f) * g.bin_w / g.grid_w;
        if (!bilinear(y, x, height, width, offset, weight)) continue;
        for (int i = 0; i < 4; ++i)
          gpuAtomicAdd(map + offset[i], static_cast<T>(g_bin * weight[i] / g.count));
      }
    }
  }
}

/// The registered forward kernel (inputs validated by detkit::ops::roi_align).
at::Tensor roi_align_cuda(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                          int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio,
                          bool aligned) {
  TORCH_CHECK(input.is_cuda() && rois.is_cuda(), "roi_align: input and rois must be on CUDA");
  TORCH_CHECK(input.scalar_type() == rois.scalar_type(), "roi_align: dtypes differ");
  c10::cuda::CUDAGuard device_guard(input.device());
  at::Tensor output =
      at::zeros({rois.size(0), input.size(1), pooled_height, pooled_width}, input.options());
  const int64_t total = output.numel();
  if (total == 0) return output;
  const at::Tensor in = input.contiguous(), r = rois.contiguous();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(input.scalar_type(), "roi_align_cuda", [&] {
    roi_align_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, in.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), spatial_scale, in.size(1),
        in.size(2), in.size(3), static_cast<int>(pooled_height), static_cast<int>(pooled_width),
        static_cast<int>(sampling_ratio), aligned, output.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return output;
}

/// The registered backward kernel: the gradient of the (batch, channels, height, width) input.
at::Tensor roi_align_backward_cuda(const at::Tensor& grad, const at::Tensor& rois,
                                   double spatial_scale, int64_t pooled_height,
                                   int64_t pooled_width, int64_t batch_size, int64_t channels,
                                   int64_t height, int64_t width, int64_t sampling_ratio,
                                   bool aligned) {
  TORCH_CHECK(grad.is_cuda() && rois.is_cuda(), "roi_align backward: tensors must be on CUDA");
  TORCH_CHECK(grad.scalar_type() == rois.scalar_type(), "roi_align backward: dtypes differ");
  c10::cuda::CUDAGuard device_guard(grad.device());
  at::Tensor grad_input = at::zeros({batch_size, channels, height, width}, grad.options());
  const int64_t total = grad.numel();
  if (total == 0) return grad_input;
  const at::Tensor g = grad.contiguous(), r = rois.contiguous();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(grad.scalar_type(), "roi_align_backward_cuda", [&] {
    roi_align_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, g.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), spatial_scale, channels, height,
        width, static_cast<int>(pooled_height), static_cast<int>(pooled_width),
        static_cast<int>(sampling_ratio), aligned, grad_input.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

}  // namespace
}  // namespace detkit::ops

TORCH_LIBRARY_IMPL(detkit, CUDA, m) {
  m.impl("roi_align", TORCH_FN(detkit::ops::roi_align_cuda));
  m.impl("_roi_align_backward", TORCH_FN(detkit::ops::roi_align_backward_cuda));
}
