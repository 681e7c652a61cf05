// Build contexts: what the host (or the component that builds another) knows that a config
// should not have to repeat — detectron2's build_backbone(cfg, input_shape) and mmengine's
// per-registry build functions, typed per kind. Each kind's factory receives its context
// (kind_traits.h says which); kinds that need nothing receive NoContext.
//
// Where a config also states a value the context knows (a neck's `in_channels`, a head's
// `num_classes`), ComponentConfig::agree() checks both are equal and names both origins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detkit/engine/optimizer.h"
#include "detkit/export.h"
#include "detkit/modeling/shape_spec.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace detkit {

class RunnerBase;
class DetectorBase;

/// A value known from elsewhere, and where it came from ("backbone ResNet (model.backbone)").
template <class T>
struct Known {
  std::optional<T> value;
  std::string origin;

  Known() = default;
  Known(T v, std::string from) : value(std::move(v)), origin(std::move(from)) {}
  explicit operator bool() const { return value.has_value(); }
};

/// The context of kinds whose factories need only their config.
struct DETKIT_API NoContext {};

/// Backbones: the channels of the images the pipeline produces.
struct DETKIT_API BackboneContext {
  Known<int64_t> in_channels;
};

/// Necks and RoI extractors: the shapes of the levels they consume.
struct DETKIT_API NeckContext {
  std::vector<ShapeSpec> input_shapes;
  /// Who produced them, e.g. "backbone ResNet (model.backbone)".
  std::string input_origin;
};

/// Dense heads and RoI heads: the levels they consume and the number of classes.
struct DETKIT_API HeadContext {
  std::vector<ShapeSpec> input_shapes;
  std::string input_origin;
  Known<int64_t> num_classes;
};

/// RoI box and mask heads: the RoI features they consume and the number of classes.
struct DETKIT_API RoIFeatureContext {
  Known<int64_t> in_channels;
  Known<int64_t> roi_feat_size;
  Known<int64_t> num_classes;
};

/// Detectors: the classes of the dataset they are trained or tested on.
struct DETKIT_API DetectorContext {
  Known<std::vector<std::string>> classes;
};

/// Optimizer constructors: the model whose parameters they group.
struct DETKIT_API OptimizerConstructorContext {
  torch::nn::Module* model = nullptr;
};

/// Optimizers: the parameter groups (named parameters with per-group settings).
struct DETKIT_API OptimizerContext {
  std::vector<ParamGroup> param_groups;
};

/// LR and momentum policies: the optimizer whose groups they drive.
struct DETKIT_API SchedulerContext {
  OptimizerBase* optimizer = nullptr;
};

/// Hooks: the runner they are attached to.
struct DETKIT_API HookContext {
  RunnerBase* runner = nullptr;
};

/// Runners: what they train and where they write.
struct DETKIT_API RunnerContext {
  DetectorBase* model = nullptr;
  OptimizerBase* optimizer = nullptr;
  std::string work_dir;
};

/// Norm layers: the number of features (MMCV's build_norm_layer(cfg, num_features)).
struct DETKIT_API NormLayerContext {
  int64_t num_features = 0;
};

/// Convolutions: MMCV's build_conv_layer(cfg, in, out, kernel_size, stride, padding, ...).
struct DETKIT_API ConvLayerContext {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  std::vector<int64_t> kernel_size{1, 1};
  std::vector<int64_t> stride{1, 1};
  std::vector<int64_t> padding{0, 0};
  std::vector<int64_t> dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
};

/// Upsampling layers: the channels (used by learned upsampling such as deconv).
struct DETKIT_API UpsampleLayerContext {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
};

}  // namespace detkit
