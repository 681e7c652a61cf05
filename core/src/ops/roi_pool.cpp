// roi_pool: the `detkit::roi_pool` / `detkit::_roi_pool_backward` operator schemas, the autograd
// function that ties them together (gradients to the features only, through the argmax of each
// output), the public entry points that validate their inputs and the RoIPool module.
#include "detkit/ops/roi_pool.h"

#include <torch/library.h>
#include <torch/torch.h>

#include <ostream>
#include <tuple>

#include "detkit/ops/roi_align.h"
#include "roi_checks.h"

// The schemas; the kernels register themselves per backend (cpu/roi_pool_kernel.cpp,
// cuda/roi_pool_kernel.cu). The forward also returns the argmax of each output (its offset in
// the input's (H, W) plane, -1 for an empty bin), which the backward routes gradients through.
TORCH_LIBRARY_FRAGMENT(detkit, m) {
  m.def(
      "roi_pool(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width) -> (Tensor, Tensor)");
  m.def(
      "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
      "int pooled_height, int pooled_width, int batch_size, int channels, int height, "
      "int width) -> Tensor");
}

namespace detkit::ops {
namespace {

using ForwardSignature = std::tuple<torch::Tensor, torch::Tensor>(const torch::Tensor&,
                                                                  const torch::Tensor&, double,
                                                                  int64_t, int64_t);
using BackwardSignature = torch::Tensor(const torch::Tensor&, const torch::Tensor&,
                                        const torch::Tensor&, double, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, int64_t);

/// The dispatcher's handle of detkit::roi_pool.
const c10::TypedOperatorHandle<ForwardSignature>& forward_operator() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("detkit::roi_pool", "")
                             .typed<ForwardSignature>();
  return op;
}

/// The dispatcher's handle of detkit::_roi_pool_backward.
const c10::TypedOperatorHandle<BackwardSignature>& backward_operator() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("detkit::_roi_pool_backward", "")
                             .typed<BackwardSignature>();
  return op;
}

/// roi_pool as an autograd function: the forward kernel, and the backward kernel for the
/// gradient of the input (the RoIs get none).
class RoIPoolFunction : public torch::autograd::Function<RoIPoolFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& rois, double spatial_scale,
                               int64_t pooled_height, int64_t pooled_width) {
    auto [output, argmax] =
        forward_operator().call(input, rois, spatial_scale, pooled_height, pooled_width);
    ctx->save_for_backward({rois, argmax});
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["input_shape"] = input.sizes();
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto shape = ctx->saved_data["input_shape"].toIntVector();
    const torch::Tensor grad_input = backward_operator().call(
        grad_outputs[0], saved[0], saved[1], ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(), shape[0],
        shape[1], shape[2], shape[3]);
    // Only the features get a gradient: the RoIs and the settings get none (as torchvision).
    return {grad_input, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor roi_pool(const torch::Tensor& input, const torch::Tensor& rois,
                       torch::ExpandingArray<2> output_size, double spatial_scale) {
  const torch::Tensor checked =
      checked_rois("roi_pool", forward_operator(), input, rois, output_size, spatial_scale);
  return RoIPoolFunction::apply(input, checked, spatial_scale, (*output_size)[0],
                                (*output_size)[1]);
}

torch::Tensor roi_pool(const torch::Tensor& input, const std::vector<torch::Tensor>& boxes,
                       torch::ExpandingArray<2> output_size, double spatial_scale) {
  torch::Tensor rois = boxes_to_rois(boxes);
  if (input.defined()) rois = rois.to(input.device());
  return roi_pool(input, rois, output_size, spatial_scale);
}

RoIPoolOptions::RoIPoolOptions(torch::ExpandingArray<2> output_size) : output_size_(output_size) {}

RoIPoolImpl::RoIPoolImpl(const RoIPoolOptions& options_) : options(options_) {
  check_pool_parameters("RoIPool", options.output_size(), options.spatial_scale());
}

void RoIPoolImpl::reset() {}

torch::Tensor RoIPoolImpl::forward(const torch::Tensor& input, const torch::Tensor& rois) {
  return roi_pool(input, rois, options.output_size(), options.spatial_scale());
}

void RoIPoolImpl::pretty_print(std::ostream& stream) const {
  stream << "RoIPool(output_size=(" << (*options.output_size())[0] << ", "
         << (*options.output_size())[1] << "), spatial_scale=" << options.spatial_scale() << ")";
}

}  // namespace detkit::ops
