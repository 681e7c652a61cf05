// ConvModule: MMCV's conv / norm / activation block with MMDetection's child names.
#include "detkit/modeling/conv_module.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "detkit/core/runtime.h"
#include "detkit/error.h"
#include "detkit/modeling/init.h"
#include "detkit/registry.h"

namespace detkit {

namespace {

std::vector<int64_t> as_vector(const torch::ExpandingArray<2>& values) {
  return {(*values)[0], (*values)[1]};
}

void check_options(const ConvModuleOptions& o) {
  const auto& order = o.order();
  const std::set<std::string> names(order.begin(), order.end());
  if (order.size() != 3 || names != std::set<std::string>{"conv", "norm", "act"}) {
    throw InvalidParameter("order",
                           "ConvModule: order must be a permutation of conv, norm and act, e.g. "
                           "[conv, norm, act] or [act, conv, norm]");
  }
  if (o.with_spectral_norm()) {
    throw InvalidParameter("with_spectral_norm",
                           "ConvModule: spectral normalisation is not supported");
  }
  static const std::set<std::string> kPaddingModes = {"zeros", "circular", "reflect", "replicate",
                                                      "zero"};
  if (!kPaddingModes.count(o.padding_mode())) {
    throw InvalidParameter("padding_mode",
                           "ConvModule: padding_mode must be one of zeros, circular, reflect, "
                           "replicate, zero; got '" +
                               o.padding_mode() + "'");
  }
  for (const char* name : {"conv_cfg", "norm_cfg", "act_cfg"}) {
    const ConfigNode& cfg = std::string(name) == "conv_cfg"   ? o.conv_cfg()
                            : std::string(name) == "norm_cfg" ? o.norm_cfg()
                                                              : o.act_cfg();
    if (!cfg.is_null() && !cfg.is_map()) {
      throw InvalidParameter(name, std::string("ConvModule: ") + name +
                                       " must be a map with `type:` or null, got " + cfg.to_flow());
    }
  }
}

/// Whether the activation type `type` declares an `inplace` parameter.
bool takes_inplace(const std::string& type) {
  static const std::set<std::string> kNoInplace = {"Tanh",     "PReLU", "Sigmoid",
                                                   "HSigmoid", "Swish", "GELU"};
  if (kNoInplace.count(type)) return false;
  const ComponentInfo* info = Registry::of(Kind::activation_layer).find(type);
  return info != nullptr && info->schema.find("inplace") != nullptr;
}

}  // namespace

ConfigNode default_act_cfg() {
  ConfigNode cfg = ConfigNode::make_map();
  cfg.set("type", ConfigNode("ReLU"));
  return cfg;
}

ConvModuleOptions::ConvModuleOptions(int64_t in_channels, int64_t out_channels,
                                     torch::ExpandingArray<2> kernel_size)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

ConvModuleImpl::ConvModuleImpl(const ConvModuleOptions& options_) : options(options_) {
  initialize_runtime();
  check_options(options);
  const auto& order = options.order();
  const bool with_norm = !options.norm_cfg().is_null();
  with_bias_ = options.bias().value_or(!with_norm);
  const std::string& mode = options.padding_mode();
  const bool explicit_padding = mode != "zeros" && mode != "circular";
  const auto padding = as_vector(options.padding());

  if (explicit_padding) {
    // MMCV's build_padding_layer: the padding is a child of its own; the conv pads nothing.
    const torch::ExpandingArray<4> pad({padding[1], padding[1], padding[0], padding[0]});
    if (mode == "reflect") {
      padding_layer = register_module("padding_layer", torch::nn::ReflectionPad2d(pad));
    } else if (mode == "replicate") {
      padding_layer = register_module("padding_layer", torch::nn::ReplicationPad2d(pad));
    } else {
      padding_layer = register_module("padding_layer", torch::nn::ZeroPad2d(pad));
    }
    pad_mode_ = mode == "zero" ? "constant" : mode;
    explicit_pad_ = {padding[1], padding[1], padding[0], padding[0]};
  } else if (mode == "circular") {
    // nn.Conv2d(padding_mode='circular') pads circularly, then convolves without padding.
    pad_mode_ = "circular";
    explicit_pad_ = {padding[1], padding[1], padding[0], padding[0]};
  }

  ConvLayerContext context;
  context.in_channels = options.in_channels();
  context.out_channels = options.out_channels();
  context.kernel_size = as_vector(options.kernel_size());
  context.stride = as_vector(options.stride());
  context.padding = explicit_pad_.empty() ? padding : std::vector<int64_t>{0, 0};
  context.dilation = as_vector(options.dilation());
  context.groups = options.groups();
  context.bias = with_bias_;
  conv = register_module("conv", build_conv_layer(options.conv_cfg(), context, "conv_cfg"));

  if (with_norm) {
    const auto position = [&](const char* name) {
      return std::find(order.begin(), order.end(), name) - order.begin();
    };
    const int64_t channels =
        position("norm") > position("conv") ? options.out_channels() : options.in_channels();
    auto built = build_norm_layer(options.norm_cfg(), channels, "", "norm_cfg");
    norm_name_ = built.first;
    norm_ = register_module(norm_name_, built.second);
    if (with_bias_) {
      const auto bases = norm_->mmcv_base_names();
      if (std::find(bases.begin(), bases.end(), "_BatchNorm") != bases.end() ||
          std::find(bases.begin(), bases.end(), "_InstanceNorm") != bases.end()) {
        model_warning("Unnecessary conv bias before batch/instance norm");
      }
    }
  }

  if (!options.act_cfg().is_null()) {
    ConfigNode act_cfg = options.act_cfg();
    const ConfigNode* type = act_cfg.find("type");
    if (type != nullptr && type->is_string() && takes_inplace(type->as_string()) &&
        !act_cfg.contains("inplace")) {
      act_cfg.set("inplace", ConfigNode(options.inplace()));
    }
    activate = register_module("activate", build_activation_layer(act_cfg, "act_cfg"));
  }

  init_weights();
}

void ConvModuleImpl::init_weights() {
  if (!dynamic_cast<BaseModule*>(conv.get())) {
    std::string nonlinearity = "relu";
    double a = 0;
    const ConfigNode* type = options.act_cfg().is_map() ? options.act_cfg().find("type") : nullptr;
    if (activate && type != nullptr && type->is_string() && type->as_string() == "LeakyReLU") {
      nonlinearity = "leaky_relu";
      const ConfigNode* slope = options.act_cfg().find("negative_slope");
      a = slope != nullptr ? slope->as_double() : 0.01;
    }
    kaiming_init(*conv, a, "fan_out", nonlinearity);
  }
  if (norm_) constant_init(*norm_, 1, 0);
}

torch::Tensor ConvModuleImpl::forward(const torch::Tensor& x, bool activate_, bool norm) {
  namespace F = torch::nn::functional;
  torch::Tensor out = x;
  for (const auto& layer : options.order()) {
    if (layer == "conv") {
      if (!explicit_pad_.empty()) {
        auto pad = F::PadFuncOptions(explicit_pad_);
        if (pad_mode_ == "reflect") {
          pad.mode(torch::kReflect);
        } else if (pad_mode_ == "replicate") {
          pad.mode(torch::kReplicate);
        } else if (pad_mode_ == "circular") {
          pad.mode(torch::kCircular);
        } else {
          pad.mode(torch::kConstant);
        }
        out = F::pad(out, pad);
      }
      out = conv->forward(out);
    } else if (layer == "norm" && norm && norm_) {
      out = norm_->forward(out);
    } else if (layer == "act" && activate_ && activate) {
      out = activate->forward(out);
    }
  }
  return out;
}

std::string ConvModuleImpl::mmcv_class_name() const {
  return "ConvModule";
}

std::vector<std::string> ConvModuleImpl::mmcv_base_names() const {
  return {"Module"};
}

void ConvModuleImpl::pretty_print(std::ostream& stream) const {
  stream << "ConvModule(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=(" << (*options.kernel_size())[0] << ", " << (*options.kernel_size())[1]
         << ")";
  if (norm_) stream << ", norm=" << norm_name_;
  if (activate) stream << ", act=" << activate->mmcv_class_name();
  stream << ", order=";
  for (size_t i = 0; i < options.order().size(); ++i)
    stream << (i ? "-" : "") << options.order()[i];
  stream << ")";
}

}  // namespace detkit
