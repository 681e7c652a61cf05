// roi_align: the `detkit::roi_align` / `detkit::_roi_align_backward` operator schemas, the
// autograd function that ties them together (gradients to the features only), the public entry
// points that validate their inputs, boxes_to_rois and the RoIAlign module.
#include "detkit/ops/roi_align.h"

#include <torch/library.h>
#include <torch/torch.h>

#include <ostream>

#include "detkit/error.h"
#include "roi_checks.h"

// The schemas; the kernels register themselves per backend (cpu/roi_align_kernel.cpp,
// cuda/roi_align_kernel.cu).
TORCH_LIBRARY_FRAGMENT(detkit, m) {
  m.def(
      "roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int sampling_ratio, bool aligned) -> Tensor");
  m.def(
      "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int batch_size, int channels, int height, int width, "
      "int sampling_ratio, bool aligned) -> Tensor");
}

namespace detkit::ops {
namespace {

using ForwardSignature = torch::Tensor(const torch::Tensor&, const torch::Tensor&, double, int64_t,
                                       int64_t, int64_t, bool);
using BackwardSignature = torch::Tensor(const torch::Tensor&, const torch::Tensor&, double, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool);

/// The dispatcher's handle of detkit::roi_align.
const c10::TypedOperatorHandle<ForwardSignature>& forward_operator() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("detkit::roi_align", "")
                             .typed<ForwardSignature>();
  return op;
}

/// The dispatcher's handle of detkit::_roi_align_backward.
const c10::TypedOperatorHandle<BackwardSignature>& backward_operator() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("detkit::_roi_align_backward", "")
                             .typed<BackwardSignature>();
  return op;
}

/// roi_align as an autograd function: the forward kernel, and the backward kernel for the
/// gradient of the input (the RoIs get none).
class RoIAlignFunction : public torch::autograd::Function<RoIAlignFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& rois, double spatial_scale,
                               int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio,
                               bool aligned) {
    ctx->save_for_backward({rois});
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["sampling_ratio"] = sampling_ratio;
    ctx->saved_data["aligned"] = aligned;
    ctx->saved_data["input_shape"] = input.sizes();
    return forward_operator().call(input, rois, spatial_scale, pooled_height, pooled_width,
                                   sampling_ratio, aligned);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const torch::Tensor rois = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["input_shape"].toIntVector();
    const torch::Tensor grad_input = backward_operator().call(
        grad_outputs[0], rois, ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(), shape[0],
        shape[1], shape[2], shape[3], ctx->saved_data["sampling_ratio"].toInt(),
        ctx->saved_data["aligned"].toBool());
    // Only the features get a gradient: the RoIs and the settings get none (as torchvision).
    return {grad_input,      torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor boxes_to_rois(const std::vector<torch::Tensor>& boxes) {
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const torch::Tensor& b = boxes[i];
    if (!b.defined() || b.dim() != 2 || b.size(1) != 4) {
      throw Error("boxes_to_rois: boxes of image " + std::to_string(i) +
                  " must be a (K, 4) xyxy tensor, got " +
                  (b.defined() ? "shape " + c10::str(b.sizes()) : "an undefined tensor"));
    }
    if (b.scalar_type() != boxes[0].scalar_type() || b.device() != boxes[0].device()) {
      throw Error("boxes_to_rois: boxes of image " + std::to_string(i) + " are " +
                  c10::toString(b.scalar_type()) + " on " + b.device().str() +
                  " but those of image 0 " + c10::toString(boxes[0].scalar_type()) + " on " +
                  boxes[0].device().str());
    }
    parts.push_back(
        torch::cat({torch::full({b.size(0), 1}, static_cast<double>(i), b.options()), b}, 1));
  }
  if (parts.empty()) return torch::zeros({0, 5});
  return torch::cat(parts, 0);
}

torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois,
                        torch::ExpandingArray<2> output_size, double spatial_scale,
                        int64_t sampling_ratio, bool aligned) {
  const torch::Tensor checked =
      checked_rois("roi_align", forward_operator(), input, rois, output_size, spatial_scale);
  return RoIAlignFunction::apply(input, checked, spatial_scale, (*output_size)[0],
                                 (*output_size)[1], sampling_ratio, aligned);
}

torch::Tensor roi_align(const torch::Tensor& input, const std::vector<torch::Tensor>& boxes,
                        torch::ExpandingArray<2> output_size, double spatial_scale,
                        int64_t sampling_ratio, bool aligned) {
  torch::Tensor rois = boxes_to_rois(boxes);
  if (input.defined()) rois = rois.to(input.device());
  return roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned);
}

RoIAlignOptions::RoIAlignOptions(torch::ExpandingArray<2> output_size)
    : output_size_(output_size) {}

RoIAlignImpl::RoIAlignImpl(const RoIAlignOptions& options_) : options(options_) {
  check_pool_parameters("RoIAlign", options.output_size(), options.spatial_scale());
}

void RoIAlignImpl::reset() {}

torch::Tensor RoIAlignImpl::forward(const torch::Tensor& input, const torch::Tensor& rois) {
  return roi_align(input, rois, options.output_size(), options.spatial_scale(),
                   options.sampling_ratio(), options.aligned());
}

void RoIAlignImpl::pretty_print(std::ostream& stream) const {
  stream << "RoIAlign(output_size=(" << (*options.output_size())[0] << ", "
         << (*options.output_size())[1] << "), spatial_scale=" << options.spatial_scale()
         << ", sampling_ratio=" << options.sampling_ratio()
         << ", aligned=" << (options.aligned() ? "true" : "false") << ")";
}

}  // namespace detkit::ops
