// CPU kernels of detkit::roi_align and detkit::_roi_align_backward. For each RoI, the bilinear
// samples of all its bins (the four neighbouring pixels and their weights) are computed once
// and then applied to every channel. The forward pass runs RoIs in parallel; the backward pass
// runs channels in parallel, so that two threads never add into the same input gradient.
// Sample positions and weights follow torchvision's definition (tested against it to 1e-5).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace detkit::ops {
namespace {

/// One bilinear sample: the offsets in an (H, W) plane of its four neighbours and their
/// weights (all 0 for a sample beyond one pixel outside the map). 32-bit offsets (planes have
/// fewer than 2^31 pixels, checked by checked_rois) keep a float sample in 32 bytes: the
/// samples of a RoI are re-read for every channel.
template <typename T>
struct BilinearSample {
  int32_t offset[4];
  T weight[4];
};

/// The pooling parameters shared by all RoIs.
struct AlignParams {
  double spatial_scale;
  int64_t pooled_height, pooled_width, sampling_ratio;
  bool aligned;
  int64_t height, width;
};

/// The sampling grid of one RoI: where its first bin starts, the bin size, samples per bin side
/// and the divisor of a bin's sum (at least 1).
template <typename T>
struct RoIGrid {
  int64_t batch;
  T start_h, start_w, bin_h, bin_w;
  int64_t grid_h, grid_w;
  T count;
};

/// The grid of `roi` ([batch, x1, y1, x2, y2]).
template <typename T>
RoIGrid<T> roi_grid(const T* roi, const AlignParams& p) {
  RoIGrid<T> g;
  g.batch = static_cast<int64_t>(roi[0]);
  const T offset = p.aligned ? T(0.5) : T(0);
  g.start_w = static_cast<T>(roi[1] * p.spatial_scale - offset);
  g.start_h = static_cast<T>(roi[2] * p.spatial_scale - offset);
  const T end_w = static_cast<T>(roi[3] * p.spatial_scale - offset);
  const T end_h = static_cast<T>(roi[4] * p.spatial_scale - offset);
  T roi_w = end_w - g.start_w;
  T roi_h = end_h - g.start_h;
  if (!p.aligned) {  // legacy behaviour: at least one pixel, so never a negative size
    roi_w = std::max(roi_w, T(1));
    roi_h = std::max(roi_h, T(1));
  }
  g.bin_h = roi_h / static_cast<T>(p.pooled_height);
  g.bin_w = roi_w / static_cast<T>(p.pooled_width);
  g.grid_h = p.sampling_ratio > 0 ? p.sampling_ratio
                                  : static_cast<int64_t>(std::ceil(roi_h / p.pooled_height));
  g.grid_w = p.sampling_ratio > 0 ? p.sampling_ratio
                                  : static_cast<int64_t>(std::ceil(roi_w / p.pooled_width));
  g.count = static_cast<T>(std::max<int64_t>(g.grid_h * g.grid_w, 1));
  return g;
}

/// The bilinear sample at (y, x) of an (height, width) map.
template <typename T>
BilinearSample<T> bilinear_sample(T y, T x, int64_t height, int64_t width) {
  BilinearSample<T> s{};
  if (y < -1 || y > height || x < -1 || x > width) return s;  // outside: contributes 0
  y = std::max(y, T(0));
  x = std::max(x, T(0));
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x);
  int64_t y_high = y_low + 1, x_high = x_low + 1;
  if (y_low >= height - 1) {
    y_low = y_high = height - 1;
    y = static_cast<T>(y_low);
  }
  if (x_low >= width - 1) {
    x_low = x_high = width - 1;
    x = static_cast<T>(x_low);
  }
  const T ly = y - y_low, lx = x - x_low;
  const T hy = 1 - ly, hx = 1 - lx;
  s.offset[0] = static_cast<int32_t>(y_low * width + x_low);
  s.offset[1] = static_cast<int32_t>(y_low * width + x_high);
  s.offset[2] = static_cast<int32_t>(y_high * width + x_low);
  s.offset[3] = static_cast<int32_t>(y_high * width + x_high);
  s.weight[0] = hy * hx;
  s.weight[1] = hy * lx;
  s.weight[2] = ly * hx;
  s.weight[3] = ly * lx;
  return s;
}

/// Fills `samples` with the samples of every bin of grid `g`, bin by bin (row-major), each
/// bin's grid_h * grid_w samples contiguous; empty for a grid without samples.
template <typename T>
void grid_samples(const RoIGrid<T>& g, const AlignParams& p,
                  std::vector<BilinearSample<T>>& samples) {
  samples.clear();
  if (g.grid_h <= 0 || g.grid_w <= 0) return;
  samples.reserve(p.pooled_height * p.pooled_width * g.grid_h * g.grid_w);
  for (int64_t ph = 0; ph < p.pooled_height; ++ph) {
    for (int64_t pw = 0; pw < p.pooled_width; ++pw) {
      for (int64_t iy = 0; iy < g.grid_h; ++iy) {
        const T y = g.start_h + ph * g.bin_h +
                    static_cast<T>(iy + .5f) * g.bin_h / static_cast<T>(g.grid_h);
        for (int64_t ix = 0; ix < g.grid_w; ++ix) {
          const T x = g.start_w + pw * g.bin_w +
                      static_cast<T>(ix + .5f) * g.bin_w / static_cast<T>(g.grid_w);
          samples.push_back(bilinear_sample(y, x, p.height, p.width));
        }
      }
    }
  }
}

/// The sum of the bilinear samples [first, last) of `map`.
template <typename T>
T sampled_sum(const BilinearSample<T>* first, const BilinearSample<T>* last, const T* map) {
  T sum = 0;
  for (const BilinearSample<T>* s = first; s != last; ++s) {
    sum += s->weight[0] * map[s->offset[0]] + s->weight[1] * map[s->offset[1]] +
           s->weight[2] * map[s->offset[2]] + s->weight[3] * map[s->offset[3]];
  }
  return sum;
}

template <typename T>
void roi_align_forward_impl(const torch::Tensor& input, const torch::Tensor& rois,
                            const AlignParams& p, torch::Tensor& output) {
  const int64_t channels = input.size(1);
  const int64_t plane = p.height * p.width;
  const int64_t bins = p.pooled_height * p.pooled_width;
  const T* in = input.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  T* out = output.data_ptr<T>();
  at::parallel_for(0, rois.size(0), 1, [&](int64_t begin, int64_t end) {
    std::vector<BilinearSample<T>> samples;
    for (int64_t k = begin; k < end; ++k) {
      const RoIGrid<T> g = roi_grid(roi_data + k * 5, p);
      grid_samples(g, p, samples);
      const int64_t per_bin = samples.empty() ? 0 : g.grid_h * g.grid_w;
      for (int64_t c = 0; c < channels; ++c) {
        const T* map = in + (g.batch * channels + c) * plane;
        T* out_bins = out + (k * channels + c) * bins;
        const BilinearSample<T>* first = samples.data();
        for (int64_t b = 0; b < bins; ++b) {
          out_bins[b] = sampled_sum(first + b * per_bin, first + (b + 1) * per_bin, map) / g.count;
        }
      }
    }
  });
}

template <typename T>
void roi_align_backward_impl(const torch::Tensor& grad, const torch::Tensor& rois,
                             const AlignParams& p, torch::Tensor& grad_input) {
  const int64_t channels = grad_input.size(1);
  const int64_t plane = p.height * p.width;
  const int64_t bins = p.pooled_height * p.pooled_width;
  const T* g_out = grad.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  T* g_in = grad_input.data_ptr<T>();
  at::parallel_for(0, channels, 1, [&](int64_t c_begin, int64_t c_end) {
    std::vector<BilinearSample<T>> samples;
    for (int64_t k = 0; k < rois.size(0); ++k) {
      const RoIGrid<T> g = roi_grid(roi_data + k * 5, p);
      grid_samples(g, p, samples);
      const int64_t per_bin = samples.empty() ? 0 : g.grid_h * g.grid_w;
      for (int64_t c = c_begin; c < c_end; ++c) {
        T* map = g_in + (g.batch * channels + c) * plane;
        const T* g_bins = g_out + (k * channels + c) * bins;
        for (int64_t b = 0; b < bins; ++b) {
          const T g_bin = g_bins[b];
          for (int64_t s = b * per_bin; s < (b + 1) * per_bin; ++s) {
            const BilinearSample<T>& sm = samples[s];
            for (int i = 0; i < 4; ++i)
              map[sm.offset[i]] += g_bin * sm.weight[i] / g.count;
          }
        }
      }
    }
  });
}

/// The registered forward kernel (inputs validated by detkit::ops::roi_align).
torch::Tensor roi_align_cpu(const torch::Tensor& input, const torch::Tensor& rois,
                            double spatial_scale, int64_t pooled_height, int64_t pooled_width,
                            int64_t sampling_ratio, bool aligned) {
  TORCH_CHECK(input.dim() == 4 && rois.dim() == 2 && rois.size(1) == 5,
              "roi_align: bad input or rois shape");
  TORCH_CHECK(input.scalar_type() == rois.scalar_type(), "roi_align: dtypes differ");
  const AlignParams p{spatial_scale, pooled_height, pooled_width, sampling_ratio,
                      aligned,       input.size(2), input.size(3)};
  torch::Tensor output =
      torch::zeros({rois.size(0), input.size(1), pooled_height, pooled_width}, input.options());
  if (output.numel() == 0) return output;
  const torch::Tensor in = input.contiguous(), r = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "roi_align_cpu",
                             [&] { roi_align_forward_impl<scalar_t>(in, r, p, output); });
  return output;
}

/// The registered backward kernel: the gradient of the (batch, channels, height, width) input.
torch::Tensor roi_align_backward_cpu(const torch::Tensor& grad, const torch::Tensor& rois,
                                     double spatial_scale, int64_t pooled_height,
                                     int64_t pooled_width, int64_t batch_size, int64_t channels,
                                     int64_t height, int64_t width, int64_t sampling_ratio,
                                     bool aligned) {
  TORCH_CHECK(grad.dim() == 4 && grad.size(0) == rois.size(0),
              "roi_align backward: bad gradient shape");
  TORCH_CHECK(grad.scalar_type() == rois.scalar_type(), "roi_align backward: dtypes differ");
  const AlignParams p{spatial_scale, pooled_height, pooled_width, sampling_ratio,
                      aligned,       height,        width};
  torch::Tensor grad_input = torch::zeros({batch_size, channels, height, width}, grad.options());
  if (grad.numel() == 0) return grad_input;
  const torch::Tensor g = grad.contiguous(), r = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "roi_align_backward_cpu",
                             [&] { roi_align_backward_impl<scalar_t>(g, r, p, grad_input); });
  return grad_input;
}

}  // namespace
}  // namespace detkit::ops

TORCH_LIBRARY_IMPL(detkit, CPU, m) {
  m.impl("roi_align", TORCH_FN(detkit::ops::roi_align_cpu));
  m.impl("_roi_align_backward", TORCH_FN(detkit::ops::roi_align_backward_cpu));
}
