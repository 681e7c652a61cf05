// MobileNet: a small MobileNet-style backbone, registered as the backbone type `MobileNet`.
#include "mobilenet.h"

#include <detkit/error.h>
#include <detkit/modeling/freezing.h>
#include <detkit/registry.h>

#include <algorithm>
#include <string>

namespace mobilenet_plugin {

namespace {

/// Base channels of the stem and of the four stages at widen_factor 1.
constexpr int64_t kStemChannels = 32;
constexpr int64_t kStageChannels[] = {128, 256, 512, 1024};
constexpr int64_t kNumStages = 4;

/// Throws InvalidParameter(param, message) unless `ok`: reported at the parameter's config key.
void check_option(bool ok, const char* param, const std::string& message) {
  if (!ok) throw detkit::InvalidParameter(param, "MobileNet: " + message);
}

/// MMDetection's make_divisible: `value` rounded to the nearest multiple of `divisor`, at least
/// `divisor` and never more than 10% below `value`.
int64_t make_divisible(double value, int64_t divisor = 8) {
  int64_t rounded =
      std::max<int64_t>(divisor, static_cast<int64_t>(value + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * value) rounded += divisor;
  return rounded;
}

/// Checks the declared constraints, then what a declaration cannot express.
void check_options(const MobileNetOptions& o) {
  detkit::check_options(o, "MobileNet");
  check_option(!o.out_indices().empty(), "out_indices", "out_indices must not be empty");
  for (size_t i = 1; i < o.out_indices().size(); ++i) {
    check_option(o.out_indices()[i] > o.out_indices()[i - 1], "out_indices",
                 "out_indices must be strictly increasing (outputs come in stage order)");
  }
}

}  // namespace

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ ConvBnRelu ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

ConvBnReluImpl::ConvBnReluImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                               int64_t groups) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                       .stride(stride)
                                                       .padding(kernel / 2)
                                                       .groups(groups)
                                                       .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(out));
}

torch::Tensor ConvBnReluImpl::forward(const torch::Tensor& x) {
  return torch::relu(bn(conv(x)));
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ DepthwiseSeparable ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

DepthwiseSeparableImpl::DepthwiseSeparableImpl(int64_t in, int64_t out, int64_t stride) {
  depthwise = register_module("depthwise", ConvBnRelu(in, in, 3, stride, in));
  pointwise = register_module("pointwise", ConvBnRelu(in, out, 1, 1));
}

torch::Tensor DepthwiseSeparableImpl::forward(const torch::Tensor& x) {
  return pointwise(depthwise(x));
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ MobileNet ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

MobileNetImpl::MobileNetImpl(const MobileNetOptions& options_) : options(options_) {
  check_options(options);
  reset();
}

std::shared_ptr<MobileNetImpl> MobileNetImpl::create(const detkit::ComponentConfig& cfg,
                                                     const detkit::BackboneContext& context) {
  auto options = detkit::options_from<MobileNetOptions>(cfg);
  options.in_channels(cfg.agree<int64_t>("in_channels", context.in_channels));
  return std::make_shared<MobileNetImpl>(options);
}

void MobileNetImpl::reset() {
  stem_channels_ = make_divisible(kStemChannels * options.widen_factor());
  conv1 = register_module("conv1", ConvBnRelu(options.in_channels(), stem_channels_, 3, 2));
  layers.clear();
  stage_channels_.clear();
  int64_t in = stem_channels_;
  for (int64_t stage = 0; stage < kNumStages; ++stage) {
    const int64_t out = make_divisible(kStageChannels[stage] * options.widen_factor());
    torch::nn::Sequential layer;
    for (int64_t block = 0; block < options.stage_blocks()[stage]; ++block) {
      layer->push_back(DepthwiseSeparable(block == 0 ? in : out, out, block == 0 ? 2 : 1));
    }
    layers.push_back(register_module("layer" + std::to_string(stage + 1), layer));
    stage_channels_.push_back(out);
    in = out;
  }
  reset_parameters();
  freeze_stages();
}

void MobileNetImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, /*a=*/0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    }
  }
}

std::vector<torch::Tensor> MobileNetImpl::forward(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != options.in_channels()) {
    throw detkit::Error("MobileNet: expected images of shape (N, " +
                        std::to_string(options.in_channels()) + ", H, W), got " +
                        c10::str(images.sizes()));
  }
  std::vector<torch::Tensor> outs;
  torch::Tensor x = conv1(images);
  for (int64_t stage = 0; stage < kNumStages; ++stage) {
    x = layers[stage]->forward(x);
    const auto& wanted = options.out_indices();
    if (std::find(wanted.begin(), wanted.end(), stage) != wanted.end()) outs.push_back(x);
  }
  return outs;
}

std::vector<detkit::ShapeSpec> MobileNetImpl::output_shapes() const {
  std::vector<detkit::ShapeSpec> shapes;
  for (int64_t stage : options.out_indices()) {
    detkit::ShapeSpec shape;
    shape.channels = stage_channels_[stage];
    shape.stride = int64_t{4} << stage;  // the stem and every stage halve the resolution
    shapes.push_back(shape);
  }
  return shapes;
}

void MobileNetImpl::train(bool on) {
  detkit::BackboneBase::train(on);
  freeze_stages();
  if (on && options.norm_eval()) detkit::batch_norms_to_eval(*this);
}

void MobileNetImpl::freeze_stages() {
  if (options.frozen_stages() < 0) return;
  std::vector<std::shared_ptr<torch::nn::Module>> frozen = {conv1.ptr()};
  for (int64_t stage = 0; stage < options.frozen_stages(); ++stage) {
    frozen.push_back(layers[stage].ptr());
  }
  for (auto& module : frozen)
    detkit::freeze_module(*module);
}

void MobileNetImpl::pretty_print(std::ostream& stream) const {
  stream << detkit::repr_of("mobilenet_plugin::MobileNet", options);
}

DETKIT_REGISTER_MODULE(backbone, MobileNet);

}  // namespace mobilenet_plugin
