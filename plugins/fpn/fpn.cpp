// FPN (fpn.h): construction, the level bookkeeping MMDetection's FPN does in __init__, the
// forward pass and the registration as the neck `FPN`.
#include "fpn.h"

#include <detkit/error.h>
#include <detkit/registry.h>

#include <algorithm>
#include <utility>

namespace detkit::necks {

namespace {

/// "[a, b, c]".
std::string list_text(const std::vector<int64_t>& values) {
  return ConfigValue<std::vector<int64_t>>::to(values).to_flow();
}

/// "HxW" of an (N, C, H, W) tensor.
std::string size_text(const torch::Tensor& map) {
  return std::to_string(map.size(2)) + "x" + std::to_string(map.size(3));
}

/// MMDetection's init_cfg of FPN: Xavier(layer=Conv2d, distribution=uniform).
ConfigNode default_init_cfg() {
  ConfigNode init_cfg = ConfigNode::make_map();
  init_cfg.set("type", "Xavier");
  init_cfg.set("layer", "Conv2d");
  init_cfg.set("distribution", "uniform");
  return init_cfg;
}

/// Where extra convs read, from add_extra_convs ("" for false, "on_input" for true). Throws
/// InvalidParameter for another value.
std::string extra_convs_source(const ConfigNode& value, const std::string& type) {
  if (value.is_bool()) return value.as_bool() ? "on_input" : "";
  if (value.is_string()) {
    const std::string& where = value.as_string();
    if (where == "on_input" || where == "on_lateral" || where == "on_output") return where;
  }
  throw InvalidParameter("add_extra_convs", type +
                                                ": add_extra_convs must be a bool or one of "
                                                "on_input|on_lateral|on_output, got " +
                                                value.to_flow());
}

}  // namespace

FPNOptions::FPNOptions(std::vector<int64_t> in_channels, int64_t out_channels, int64_t num_outs)
    : in_channels_(std::move(in_channels)), out_channels_(out_channels), num_outs_(num_outs) {}

Schema pyramid_schema(const Schema& declared, const std::vector<std::string>& required,
                      const std::vector<std::string>& dropped) {
  auto contains = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  Schema schema(declared.summary());
  for (ParamSpec spec : declared.params()) {
    if (contains(dropped, spec.name)) continue;
    if (contains(required, spec.name)) {
      spec.required = true;
      spec.nullable = false;
      spec.default_value = ConfigNode();
    }
    schema.add_spec(std::move(spec));
  }
  return schema;
}

FPNImpl::FPNImpl(const FPNOptions& options, std::vector<int64_t> in_strides)
    : FPNImpl(options, std::move(in_strides), "FPN", /*upsample=*/true) {}

FPNImpl::FPNImpl(const FPNOptions& options_, std::vector<int64_t> in_strides, std::string type,
                 bool upsample)
    : BaseModule(default_init_cfg()),
      options(options_),
      type_(std::move(type)),
      in_strides_(std::move(in_strides)) {
  check_options(options, type_);
  const auto inputs = static_cast<int64_t>(options.in_channels().size());
  if (inputs == 0) throw InvalidParameter("in_channels", type_ + ": in_channels is empty");
  const int64_t start = options.start_level(), end = options.end_level();
  const int64_t num_outs = options.num_outs();
  if (start >= inputs) {
    throw InvalidParameter("start_level", type_ + ": start_level (" + std::to_string(start) +
                                              ") must be below the number of backbone levels (" +
                                              std::to_string(inputs) + ", in_channels " +
                                              list_text(options.in_channels()) + ")");
  }
  if (end == -1 || end == inputs - 1) {
    backbone_end_level_ = inputs;
    if (num_outs < inputs - start) {
      throw InvalidParameter(
          "num_outs", type_ + ": num_outs (" + std::to_string(num_outs) +
                          ") is smaller than the number of backbone levels used (" +
                          std::to_string(inputs - start) + ": levels " + std::to_string(start) +
                          " to " + std::to_string(inputs - 1) + " of in_channels " +
                          list_text(options.in_channels()) + ")");
    }
  } else {
    if (end < start || end >= inputs) {
      throw InvalidParameter("end_level", type_ + ": end_level (" + std::to_string(end) +
                                              ") must be -1 or in [start_level " +
                                              std::to_string(start) + ", " +
                                              std::to_string(inputs - 1) + "] (in_channels " +
                                              list_text(options.in_channels()) + ")");
    }
    backbone_end_level_ = end + 1;
    if (num_outs != end - start + 1) {
      throw InvalidParameter(
          "num_outs",
          type_ + ": num_outs (" + std::to_string(num_outs) +
              ") must equal end_level - start_level + 1 = " + std::to_string(end - start + 1) +
              ": no extra levels when end_level (" + std::to_string(end) +
              ") is not the last backbone level (" + std::to_string(inputs - 1) + ")");
    }
  }
  extra_convs_on_ = extra_convs_source(options.add_extra_convs(), type_);
  if (in_strides_.empty()) {
    for (int64_t i = 0; i < inputs; ++i)
      in_strides_.push_back(int64_t{4} << i);
  } else if (static_cast<int64_t>(in_strides_.size()) != inputs) {
    throw InvalidParameter("in_channels", type_ + ": " + std::to_string(inputs) +
                                              " in_channels but " +
                                              std::to_string(in_strides_.size()) + " strides");
  }

  const UpsampleOptions& up = options.upsample_cfg();
  if (!upsample && (up.mode() != "nearest" || up.scale_factor() || up.align_corners())) {
    throw InvalidParameter("upsample_cfg", type_ +
                                               " has no upsample_cfg (it upsamples nearest "
                                               "to the finer level's size)");
  }
  if (up.align_corners() && up.mode() != "bilinear") {
    throw InvalidParameter("upsample_cfg", type_ +
                                               ": upsample_cfg.align_corners needs mode "
                                               "bilinear, got mode " +
                                               up.mode());
  }
  ConfigNode upsample_cfg = ConfigNode::make_map();
  upsample_cfg.set("type", up.mode());
  if (up.scale_factor()) upsample_cfg.set("scale_factor", *up.scale_factor());
  if (up.align_corners()) upsample_cfg.set("align_corners", *up.align_corners());
  UpsampleLayerContext upsample_context;
  upsample_context.in_channels = upsample_context.out_channels = options.out_channels();
  upsample_ = build_upsample_layer(upsample_cfg, upsample_context, "upsample_cfg");

  const int64_t out = options.out_channels();
  for (int64_t i = start; i < backbone_end_level_; ++i) {
    lateral_convs->push_back(make_conv(options.in_channels()[i], out, 1, 1,
                                       /*with_norm=*/!options.no_norm_on_lateral()));
    fpn_convs->push_back(make_conv(out, out, 3, 1, /*with_norm=*/true));
  }
  const int64_t extra_levels = num_outs - backbone_end_level_ + start;
  if (!extra_convs_on_.empty()) {
    for (int64_t i = 0; i < extra_levels; ++i) {
      const int64_t in = i == 0 && extra_convs_on_ == "on_input"
                             ? options.in_channels()[backbone_end_level_ - 1]
                             : out;
      fpn_convs->push_back(make_conv(in, out, 3, 2, /*with_norm=*/true));
    }
  }
  register_module("lateral_convs", lateral_convs);
  register_module("fpn_convs", fpn_convs);
}

Schema FPNImpl::schema() {
  return pyramid_schema(schema_of<FPNOptions>(), {"out_channels", "num_outs"});
}

std::shared_ptr<FPNImpl> FPNImpl::create(const ComponentConfig& cfg, const NeckContext& context) {
  return create_as<FPNImpl>(cfg, context);
}

ConvModule FPNImpl::make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                              bool with_norm) const {
  return ConvModule(ConvModuleOptions(in, out, kernel)
                        .stride(stride)
                        .padding(kernel / 2)
                        .conv_cfg(options.conv_cfg())
                        .norm_cfg(with_norm ? options.norm_cfg() : ConfigNode())
                        .act_cfg(options.act_cfg())
                        .inplace(false));
}

ConvModuleImpl& FPNImpl::conv_at(const torch::nn::ModuleList& list, size_t index) {
  return *list->ptr(index)->as<ConvModuleImpl>();
}

void FPNImpl::check_features(const std::vector<torch::Tensor>& features) const {
  const auto& in_channels = options.in_channels();
  if (features.size() != in_channels.size()) {
    throw Error(type_ + ": expected " + std::to_string(in_channels.size()) +
                " feature maps (in_channels " + list_text(in_channels) + "), got " +
                std::to_string(features.size()));
  }
  for (size_t i = 0; i < features.size(); ++i) {
    if (!features[i].defined() || features[i].dim() != 4 || features[i].size(1) != in_channels[i]) {
      throw Error(type_ + ": feature map " + std::to_string(i) + " must be (N, " +
                  std::to_string(in_channels[i]) + ", H, W) as in_channels says, got " +
                  (features[i].defined() ? list_text(features[i].sizes().vec()) : "undefined"));
    }
  }
}

std::vector<torch::Tensor> FPNImpl::top_down(const std::vector<torch::Tensor>& features) const {
  const int64_t start = options.start_level();
  std::vector<torch::Tensor> laterals;
  for (size_t i = 0; i < lateral_convs->size(); ++i) {
    laterals.push_back(conv_at(lateral_convs, i).forward(features[start + i]));
  }
  const bool by_factor = options.upsample_cfg().scale_factor().has_value();
  for (size_t i = laterals.size() - 1; i > 0; --i) {
    const auto finer_size = laterals[i - 1].sizes().slice(2);
    const torch::Tensor upsampled =
        by_factor ? upsample_->forward(laterals[i]) : upsample_->forward(laterals[i], finer_size);
    if (upsampled.sizes().slice(2) != finer_size) {
      throw Error(type_ + ": level " + std::to_string(start + i) + " (" + size_text(laterals[i]) +
                  ") upsampled by scale_factor " +
                  std::to_string(*options.upsample_cfg().scale_factor()) + " is " +
                  size_text(upsampled) + ", but level " + std::to_string(start + i - 1) + " is " +
                  size_text(laterals[i - 1]));
    }
    laterals[i - 1] = laterals[i - 1] + upsampled;
  }
  return laterals;
}

void FPNImpl::add_extra_levels(std::vector<torch::Tensor>& outs,
                               const std::vector<torch::Tensor>& features,
                               const std::vector<torch::Tensor>& laterals) const {
  const auto used = static_cast<int64_t>(outs.size());
  if (options.num_outs() <= used) return;
  namespace F = torch::nn::functional;
  if (extra_convs_on_.empty()) {
    while (static_cast<int64_t>(outs.size()) < options.num_outs()) {
      outs.push_back(F::max_pool2d(outs.back(), F::MaxPool2dFuncOptions(1).stride(2)));
    }
    return;
  }
  const torch::Tensor& source = extra_convs_on_ == "on_input" ? features[backbone_end_level_ - 1]
                                : extra_convs_on_ == "on_lateral" ? laterals.back()
                                                                  : outs.back();
  outs.push_back(conv_at(fpn_convs, used).forward(source));
  for (int64_t i = used + 1; i < options.num_outs(); ++i) {
    const torch::Tensor previous =
        options.relu_before_extra_convs() ? torch::relu(outs.back()) : outs.back();
    outs.push_back(conv_at(fpn_convs, i).forward(previous));
  }
}

std::vector<torch::Tensor> FPNImpl::forward(const std::vector<torch::Tensor>& features) {
  check_features(features);
  const std::vector<torch::Tensor> laterals = top_down(features);
  std::vector<torch::Tensor> outs;
  for (size_t i = 0; i < laterals.size(); ++i) {
    outs.push_back(conv_at(fpn_convs, i).forward(laterals[i]));
  }
  add_extra_levels(outs, features, laterals);
  return outs;
}

std::vector<ShapeSpec> FPNImpl::output_shapes() const {
  std::vector<ShapeSpec> shapes;
  for (int64_t i = 0; i < options.num_outs(); ++i) {
    ShapeSpec shape;
    shape.channels = options.out_channels();
    const int64_t level = options.start_level() + i;
    shape.stride = level < backbone_end_level_ ? in_strides_[level] : shapes.back().stride * 2;
    shapes.push_back(shape);
  }
  return shapes;
}

std::vector<std::string> FPNImpl::mmcv_base_names() const {
  return {"BaseModule"};
}

void FPNImpl::pretty_print(std::ostream& stream) const {
  stream << repr_of(type_, options);
}

DETKIT_REGISTER_MODULE(neck, FPN);

}  // namespace detkit::necks
