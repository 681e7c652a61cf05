// The class names MMCV's `layer` matching sees: `m.__class__.__name__` and the names of the
// direct base classes. detkit's own layers and BaseModules answer for themselves (MmcvNamed);
// components built by the registry are named by their `type`; LibTorch's layers by their
// Python names (torch::nn::Conv2dImpl is PyTorch's nn.Conv2d, whose base is _ConvNd).
#include <string>
#include <utility>
#include <vector>

#include "detkit/modeling/base_module.h"
#include "init_internal.h"

namespace detkit {

namespace {

/// "torch::nn::Conv2dImpl" -> "Conv2d": the last scope of a C++ class name, without "Impl".
std::string python_style_name(const std::string& cpp_name) {
  std::string name = cpp_name;
  const size_t template_start = name.find('<');
  const size_t scope = name.rfind("::", template_start);
  if (scope != std::string::npos) name = name.substr(scope + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0)
    name.resize(name.size() - 4);
  return name;
}

/// Whether `name` is a class of LibTorch's frontend (torch::nn::...).
bool is_torch_layer(const std::string& cpp_name) {
  return cpp_name.rfind("torch::nn::", 0) == 0;
}

/// PyTorch's direct base class of the nn layer `name` (the Python class name).
std::string torch_base_name(const std::string& name) {
  struct Family {
    const char* prefix;
    const char* base;
  };
  // Order matters: ConvTranspose before Conv, AdaptiveAvgPool before AvgPool.
  static const Family kFamilies[] = {
      {"ConvTranspose", "_ConvTransposeNd"},
      {"Conv", "_ConvNd"},
      {"BatchNorm", "_BatchNorm"},
      {"InstanceNorm", "_InstanceNorm"},
      {"AdaptiveAvgPool", "_AdaptiveAvgPoolNd"},
      {"AdaptiveMaxPool", "_AdaptiveMaxPoolNd"},
      {"AvgPool", "_AvgPoolNd"},
      {"MaxPool", "_MaxPoolNd"},
      {"Dropout", "_DropoutNd"},
  };
  for (const auto& family : kFamilies) {
    if (name.rfind(family.prefix, 0) == 0) {
      // nn.Dropout, nn.Dropout2d, ... derive from _DropoutNd; AlphaDropout too, not matched here.
      return family.base;
    }
  }
  return "Module";
}

}  // namespace

std::string mmcv_class_name(const torch::nn::Module& module) {
  if (const auto* named = dynamic_cast<const MmcvNamed*>(&module)) {
    return named->mmcv_class_name();
  }
  std::string registered = detail::registered_class_name(module);
  if (!registered.empty()) return registered;
  return python_style_name(module.name());
}

std::vector<std::string> mmcv_base_names(const torch::nn::Module& module) {
  if (const auto* named = dynamic_cast<const MmcvNamed*>(&module)) {
    return named->mmcv_base_names();
  }
  if (!detail::registered_class_name(module).empty()) return {"BaseModule"};
  const std::string cpp_name = module.name();
  if (is_torch_layer(cpp_name)) return {torch_base_name(python_style_name(cpp_name))};
  return {"Module"};
}

std::string SequentialImpl::mmcv_class_name() const {
  return "Sequential";
}

std::vector<std::string> SequentialImpl::mmcv_base_names() const {
  return {"BaseModule", "Sequential"};
}

std::string ModuleListImpl::mmcv_class_name() const {
  return "ModuleList";
}

std::vector<std::string> ModuleListImpl::mmcv_base_names() const {
  return {"BaseModule", "ModuleList"};
}

}  // namespace detkit
