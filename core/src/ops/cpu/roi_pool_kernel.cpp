// CPU kernels of detkit::roi_pool and detkit::_roi_pool_backward. The forward pass runs RoIs in
// parallel: each RoI is rounded to whole pixels, its bins are cut once and the maximum of each
// bin is taken in every channel (remembering where it was). The backward pass runs channels in
// parallel, adding each output's gradient to the input element that was its maximum. Rounding
// and bin edges follow torchvision's definition (tested against it).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <tuple>
#include <vector>

namespace detkit::ops {
namespace {

/// The pixels [h_begin, h_end) x [w_begin, w_end) of one bin, clipped to the map.
struct Bin {
  int64_t h_begin, h_end, w_begin, w_end;
  bool empty() const { return h_end <= h_begin || w_end <= w_begin; }
};

/// The bins of `roi` ([batch, x1, y1, x2, y2]), row-major, in a (height, width) map.
template <typename T>
void roi_bins(const T* roi, T spatial_scale, int64_t pooled_height, int64_t pooled_width,
              int64_t height, int64_t width, std::vector<Bin>& bins) {
  const int64_t start_w = static_cast<int64_t>(std::round(roi[1] * spatial_scale));
  const int64_t start_h = static_cast<int64_t>(std::round(roi[2] * spatial_scale));
  const int64_t end_w = static_cast<int64_t>(std::round(roi[3] * spatial_scale));
  const int64_t end_h = static_cast<int64_t>(std::round(roi[4] * spatial_scale));
  // Both ends included, and at least one pixel: a RoI of negative size is one pixel.
  const int64_t roi_w = std::max<int64_t>(end_w - start_w + 1, 1);
  const int64_t roi_h = std::max<int64_t>(end_h - start_h + 1, 1);
  const T bin_h = static_cast<T>(roi_h) / static_cast<T>(pooled_height);
  const T bin_w = static_cast<T>(roi_w) / static_cast<T>(pooled_width);
  const auto clip = [](int64_t v, int64_t size) { return std::min(std::max<int64_t>(v, 0), size); };
  bins.clear();
  for (int64_t ph = 0; ph < pooled_height; ++ph) {
    const auto h0 = static_cast<int64_t>(std::floor(static_cast<T>(ph) * bin_h));
    const auto h1 = static_cast<int64_t>(std::ceil(static_cast<T>(ph + 1) * bin_h));
    for (int64_t pw = 0; pw < pooled_width; ++pw) {
      const auto w0 = static_cast<int64_t>(std::floor(static_cast<T>(pw) * bin_w));
      const auto w1 = static_cast<int64_t>(std::ceil(static_cast<T>(pw + 1) * bin_w));
      bins.push_back({clip(h0 + start_h, height), clip(h1 + start_h, height),
                      clip(w0 + start_w, width), clip(w1 + start_w, width)});
    }
  }
}

template <typename T>
void roi_pool_forward_impl(const torch::Tensor& input, const torch::Tensor& rois, T spatial_scale,
                           int64_t pooled_height, int64_t pooled_width, torch::Tensor& output,
                           torch::Tensor& argmax) {
  const int64_t channels = input.size(1), height = input.size(2), width = input.size(3);
  const int64_t plane = height * width;
  const int64_t num_bins = pooled_height * pooled_width;
  const T* in = input.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  T* out = output.data_ptr<T>();
  int64_t* arg = argmax.data_ptr<int64_t>();
  at::parallel_for(0, rois.size(0), 1, [&](int64_t begin, int64_t end) {
    std::vector<Bin> bins;
    for (int64_t k = begin; k < end; ++k) {
      const T* roi = roi_data + k * 5;
      roi_bins(roi, spatial_scale, pooled_height, pooled_width, height, width, bins);
      const auto batch = static_cast<int64_t>(roi[0]);
      for (int64_t c = 0; c < channels; ++c) {
        const T* map = in + (batch * channels + c) * plane;
        const int64_t first = (k * channels + c) * num_bins;
        for (int64_t b = 0; b < num_bins; ++b) {
          const Bin& bin = bins[b];
          // An empty bin gives 0; NaN never wins a comparison, so an all-NaN bin gives -FLT_MAX.
          T best = bin.empty() ? T(0) : static_cast<T>(-FLT_MAX);
          int64_t best_at = -1;
          for (int64_t h = bin.h_begin; h < bin.h_end; ++h) {
            for (int64_t w = bin.w_begin; w < bin.w_end; ++w) {
              const int64_t at = h * width + w;
              if (map[at] > best) {
                best = map[at];
                best_at = at;
              }
            }
          }
          out[first + b] = best;
          arg[first + b] = best_at;
        }
      }
    }
  });
}

template <typename T>
void roi_pool_backward_impl(const torch::Tensor& grad, const torch::Tensor& rois,
                            const torch::Tensor& argmax, torch::Tensor& grad_input) {
  const int64_t channels = grad_input.size(1);
  const int64_t plane = grad_input.size(2) * grad_input.size(3);
  const int64_t num_bins = grad.size(2) * grad.size(3);
  const T* g_out = grad.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  const int64_t* arg = argmax.data_ptr<int64_t>();
  T* g_in = grad_input.data_ptr<T>();
  at::parallel_for(0, channels, 1, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t k = 0; k < rois.size(0); ++k) {
      const auto batch = static_cast<int64_t>(roi_data[k * 5]);
      for (int64_t c = c_begin; c < c_end; ++c) {
        T* map = g_in + (batch * channels + c) * plane;
        const int64_t first = (k * channels + c) * num_bins;
        for (int64_t b = 0; b < num_bins; ++b) {
          if (arg[first + b] >= 0) map[arg[first + b]] += g_out[first + b];
        }
      }
    }
  });
}

/// The registered forward kernel (inputs validated by detkit::ops::roi_pool): the pooled
/// features and the argmax of each (an offset in the input's plane, -1 for an empty bin).
std::tuple<torch::Tensor, torch::Tensor> roi_pool_cpu(const torch::Tensor& input,
                                                      const torch::Tensor& rois,
                                                      double spatial_scale, int64_t pooled_height,
                                                      int64_t pooled_width) {
  TORCH_CHECK(input.dim() == 4 && rois.dim() == 2 && rois.size(1) == 5,
              "roi_pool: bad input or rois shape");
  TORCH_CHECK(input.scalar_type() == rois.scalar_type(), "roi_pool: dtypes differ");
  const std::vector<int64_t> shape{rois.size(0), input.size(1), pooled_height, pooled_width};
  torch::Tensor output = torch::zeros(shape, input.options());
  torch::Tensor argmax = torch::full(shape, -1, input.options().dtype(torch::kLong));
  if (output.numel() == 0) return {output, argmax};
  const torch::Tensor in = input.contiguous(), r = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "roi_pool_cpu", [&] {
    roi_pool_forward_impl<scalar_t>(in, r, static_cast<scalar_t>(spatial_scale), pooled_height,
                                    pooled_width, output, argmax);
  });
  return {output, argmax};
}

/// The registered backward kernel: the gradient of the (batch, channels, height, width) input.
torch::Tensor roi_pool_backward_cpu(const torch::Tensor& grad, const torch::Tensor& rois,
                                    const torch::Tensor& argmax, double /*spatial_scale*/,
                                    int64_t pooled_height, int64_t pooled_width, int64_t batch_size,
                                    int64_t channels, int64_t height, int64_t width) {
  TORCH_CHECK(grad.dim() == 4 && grad.sizes() == argmax.sizes() && grad.size(0) == rois.size(0) &&
                  grad.size(2) == pooled_height && grad.size(3) == pooled_width,
              "roi_pool backward: bad gradient shape");
  torch::Tensor grad_input = torch::zeros({batch_size, channels, height, width}, rois.options());
  if (grad.numel() == 0) return grad_input;
  const torch::Tensor g = grad.contiguous().to(rois.scalar_type()), r = rois.contiguous();
  const torch::Tensor a = argmax.contiguous();
  AT_DISPATCH_FLOATING_TYPES(rois.scalar_type(), "roi_pool_backward_cpu",
                             [&] { roi_pool_backward_impl<scalar_t>(g, r, a, grad_input); });
  return grad_input;
}

}  // namespace
}  // namespace detkit::ops

TORCH_LIBRARY_IMPL(detkit, CPU, m) {
  m.impl("roi_pool", TORCH_FN(detkit::ops::roi_pool_cpu));
  m.impl("_roi_pool_backward", TORCH_FN(detkit::ops::roi_pool_backward_cpu));
}
