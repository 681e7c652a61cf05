// The SDK layout fingerprint: a 64-bit FNV-1a hash of the sizes, alignments and member offsets
// of every SDK type whose layout is compiled into plugins (inline members, value types that
// cross the host/plugin boundary, base classes plugins derive from, and the standard library
// types they are made of).
//
// A plugin computes it at compile time from the headers it was built with and carries it in its
// descriptor (detkit/plugin.h); libdetkit computes it from its own headers
// (BuildInfo::layout_fingerprint()). The host rejects a plugin whose fingerprint differs, so a
// layout change can never pass as a compatible SDK minor: any change to a listed layout must
// bump DETKIT_SDK_ABI_MAJOR (tests/sdk/abi_fingerprint_test.cpp records the value of each major).
//
// To add a type: one line in DETKIT_ABI_LAYOUT below (and its header in the includes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/component_config.h"
#include "detkit/config_node.h"
#include "detkit/data/dataset.h"
#include "detkit/data/transform.h"
#include "detkit/engine/hook.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/engine/scheduler.h"
#include "detkit/error.h"
#include "detkit/evaluation/metric.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/bbox_head.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/detector.h"
#include "detkit/modeling/loss.h"
#include "detkit/modeling/mask_head.h"
#include "detkit/modeling/neck.h"
#include "detkit/modeling/roi_extractor.h"
#include "detkit/modeling/roi_head.h"
#include "detkit/modeling/shape_spec.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "detkit/schema.h"
#include "detkit/structures/boxes.h"
#include "detkit/structures/det_sample.h"
#include "detkit/structures/image_batch.h"
#include "detkit/structures/instances.h"

namespace detkit::detail {

/// A type alias for the list below (a macro argument cannot contain a top-level comma).
using StringTensorMap = std::map<std::string, torch::Tensor>;

}  // namespace detkit::detail

/// Every type whose layout plugins compile in. TYPE(T) hashes sizeof(T) and alignof(T);
/// FIELD(T, m) hashes the offset and size of the public member `m` (for plain structs, so that
/// reordering members of equal size is caught too). Types with private members get TYPE only.
#define DETKIT_ABI_LAYOUT(TYPE, FIELD)                                              \
  /* the standard library and LibTorch types SDK types are made of */               \
  TYPE(std::string)                                                                 \
  TYPE(std::vector<std::string>)                                                    \
  TYPE(std::function<void()>)                                                       \
  TYPE(std::shared_ptr<void>)                                                       \
  TYPE(std::optional<double>)                                                       \
  TYPE(::detkit::detail::StringTensorMap)                                           \
  TYPE(torch::Tensor)                                                               \
  TYPE(torch::nn::Module)                                                           \
  /* config */                                                                      \
  TYPE(::detkit::SourceMark)                                                        \
  FIELD(::detkit::SourceMark, file)                                                 \
  FIELD(::detkit::SourceMark, line)                                                 \
  FIELD(::detkit::SourceMark, column)                                               \
  FIELD(::detkit::SourceMark, origin)                                               \
  TYPE(::detkit::ConfigNode)                                                        \
  TYPE(::detkit::ConfigEntry)                                                       \
  FIELD(::detkit::ConfigEntry, key)                                                 \
  FIELD(::detkit::ConfigEntry, key_mark)                                            \
  FIELD(::detkit::ConfigEntry, value)                                               \
  /* registry */                                                                    \
  TYPE(::detkit::ParamSpec)                                                         \
  FIELD(::detkit::ParamSpec, name)                                                  \
  FIELD(::detkit::ParamSpec, type)                                                  \
  FIELD(::detkit::ParamSpec, required)                                              \
  FIELD(::detkit::ParamSpec, nullable)                                              \
  FIELD(::detkit::ParamSpec, default_value)                                         \
  FIELD(::detkit::ParamSpec, doc)                                                   \
  FIELD(::detkit::ParamSpec, choices)                                               \
  FIELD(::detkit::ParamSpec, min)                                                   \
  FIELD(::detkit::ParamSpec, max)                                                   \
  FIELD(::detkit::ParamSpec, length)                                                \
  FIELD(::detkit::ParamSpec, kind)                                                  \
  TYPE(::detkit::Schema)                                                            \
  TYPE(::detkit::ComponentConfig)                                                   \
  TYPE(::detkit::ComponentInfo)                                                     \
  FIELD(::detkit::ComponentInfo, kind)                                              \
  FIELD(::detkit::ComponentInfo, type)                                              \
  FIELD(::detkit::ComponentInfo, schema)                                            \
  FIELD(::detkit::ComponentInfo, factory)                                           \
  FIELD(::detkit::ComponentInfo, origin)                                            \
  /* structures */                                                                  \
  TYPE(::detkit::ShapeSpec)                                                         \
  FIELD(::detkit::ShapeSpec, channels)                                              \
  FIELD(::detkit::ShapeSpec, stride)                                                \
  TYPE(::detkit::Boxes)                                                             \
  TYPE(::detkit::Instances)                                                         \
  TYPE(::detkit::ImageMeta)                                                         \
  FIELD(::detkit::ImageMeta, filename)                                              \
  FIELD(::detkit::ImageMeta, ori_filename)                                          \
  FIELD(::detkit::ImageMeta, image_id)                                              \
  FIELD(::detkit::ImageMeta, index)                                                 \
  FIELD(::detkit::ImageMeta, ori_shape)                                             \
  FIELD(::detkit::ImageMeta, img_shape)                                             \
  FIELD(::detkit::ImageMeta, pad_shape)                                             \
  FIELD(::detkit::ImageMeta, scale_factor)                                          \
  FIELD(::detkit::ImageMeta, keep_ratio)                                            \
  FIELD(::detkit::ImageMeta, flip)                                                  \
  FIELD(::detkit::ImageMeta, flip_direction)                                        \
  FIELD(::detkit::ImageMeta, norm_mean)                                             \
  FIELD(::detkit::ImageMeta, norm_std)                                              \
  FIELD(::detkit::ImageMeta, to_rgb)                                                \
  TYPE(::detkit::DetSample)                                                         \
  FIELD(::detkit::DetSample, meta)                                                  \
  FIELD(::detkit::DetSample, gt)                                                    \
  FIELD(::detkit::DetSample, gt_ignore)                                             \
  FIELD(::detkit::DetSample, pred)                                                  \
  TYPE(::detkit::PipelineSample)                                                    \
  FIELD(::detkit::PipelineSample, img)                                              \
  FIELD(::detkit::PipelineSample, img_is_chw)                                       \
  FIELD(::detkit::PipelineSample, ann)                                              \
  FIELD(::detkit::PipelineSample, ann_ignore)                                       \
  TYPE(::detkit::ImageBatch)                                                        \
  FIELD(::detkit::ImageBatch, images)                                               \
  FIELD(::detkit::ImageBatch, samples)                                              \
  /* data and evaluation */                                                         \
  TYPE(::detkit::DataInfo)                                                          \
  FIELD(::detkit::DataInfo, filename)                                               \
  FIELD(::detkit::DataInfo, image_id)                                               \
  FIELD(::detkit::DataInfo, width)                                                  \
  FIELD(::detkit::DataInfo, height)                                                 \
  FIELD(::detkit::DataInfo, gt)                                                     \
  FIELD(::detkit::DataInfo, gt_ignore)                                              \
  FIELD(::detkit::DataInfo, ignore_labels)                                          \
  TYPE(::detkit::Pipeline)                                                          \
  TYPE(::detkit::CustomDatasetOptions)                                              \
  FIELD(::detkit::CustomDatasetOptions, ann_file)                                   \
  FIELD(::detkit::CustomDatasetOptions, img_prefix)                                 \
  FIELD(::detkit::CustomDatasetOptions, pipeline)                                   \
  FIELD(::detkit::CustomDatasetOptions, classes)                                    \
  FIELD(::detkit::CustomDatasetOptions, class_renames)                              \
  FIELD(::detkit::CustomDatasetOptions, filter_empty_gt)                            \
  FIELD(::detkit::CustomDatasetOptions, test_mode)                                  \
  FIELD(::detkit::CustomDatasetOptions, skip_invalid)                               \
  FIELD(::detkit::CustomDatasetOptions, seed)                                       \
  TYPE(::detkit::MetricResult)                                                      \
  FIELD(::detkit::MetricResult, values)                                             \
  FIELD(::detkit::MetricResult, report)                                             \
  /* base classes plugins derive from (their size places the subclass's members) */ \
  TYPE(::detkit::DatasetBase)                                                       \
  TYPE(::detkit::CustomDataset)                                                     \
  TYPE(::detkit::TransformBase)                                                     \
  TYPE(::detkit::MetricBase)                                                        \
  TYPE(::detkit::BackboneBase)                                                      \
  TYPE(::detkit::LossBase)                                                          \
  TYPE(::detkit::NeckBase)                                                          \
  TYPE(::detkit::DenseHeadBase)                                                     \
  TYPE(::detkit::RoIHeadBase)                                                       \
  TYPE(::detkit::BBoxHeadBase)                                                      \
  TYPE(::detkit::MaskHeadBase)                                                      \
  TYPE(::detkit::RoIExtractorBase)                                                  \
  TYPE(::detkit::DetectorBase)                                                      \
  TYPE(::detkit::IoUCalculatorBase)                                                 \
  TYPE(::detkit::AnchorGeneratorBase)                                               \
  TYPE(::detkit::AssignerBase)                                                      \
  TYPE(::detkit::SamplerBase)                                                       \
  TYPE(::detkit::BBoxCoderBase)                                                     \
  TYPE(::detkit::HookBase)                                                          \
  TYPE(::detkit::SchedulerBase)                                                     \
  TYPE(::detkit::OptimizerBase)                                                     \
  TYPE(::detkit::OptimizerConstructorBase)                                          \
  TYPE(::detkit::RunnerBase)                                                        \
  /* errors thrown across the boundary */                                           \
  TYPE(::detkit::Error)                                                             \
  TYPE(::detkit::ConfigError)                                                       \
  TYPE(::detkit::InvalidParameter)                                                  \
  TYPE(::detkit::PluginError)                                                       \
  TYPE(::detkit::DataError)                                                         \
  /* build contexts and the values factories exchange with the host */              \
  TYPE(::detkit::TypeKey)                                                           \
  TYPE(::detkit::BuiltComponent)                                                    \
  TYPE(::detkit::ParamCollector)                                                    \
  TYPE(::detkit::ParamReader)                                                       \
  TYPE(::detkit::BackboneContext)                                                   \
  TYPE(::detkit::NeckContext)                                                       \
  TYPE(::detkit::HeadContext)                                                       \
  TYPE(::detkit::RoIFeatureContext)                                                 \
  TYPE(::detkit::DetectorContext)                                                   \
  TYPE(::detkit::OptimizerConstructorContext)                                       \
  TYPE(::detkit::OptimizerContext)                                                  \
  TYPE(::detkit::SchedulerContext)                                                  \
  TYPE(::detkit::HookContext)                                                       \
  TYPE(::detkit::RunnerContext)                                                     \
  TYPE(::detkit::NormLayerContext)                                                  \
  TYPE(::detkit::ConvLayerContext)                                                  \
  TYPE(::detkit::UpsampleLayerContext)                                              \
  TYPE(::detkit::NamedParameter)                                                    \
  TYPE(::detkit::ParamGroup)                                                        \
  TYPE(::detkit::AssignResult)                                                      \
  TYPE(::detkit::SamplingResult)

namespace detkit {
namespace detail {

/// FNV-1a 64-bit parameters.
inline constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnvPrime = 0x100000001b3ull;

/// Mixes the 8 bytes of `value` (little-endian order) into the FNV-1a hash `hash`.
constexpr uint64_t fnv1a(uint64_t hash, uint64_t value) {
  for (int byte = 0; byte < 8; ++byte) {
    hash ^= (value >> (8 * byte)) & 0xffu;
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace detail

// offsetof on a struct that is not standard-layout (e.g. one with a std::function member) is
// "conditionally supported"; GCC and Clang support it for classes without virtual bases, which
// the FIELD entries are.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"

/// The layout fingerprint of the SDK headers this translation unit was compiled with.
constexpr uint64_t sdk_layout_fingerprint() {
  uint64_t hash = detail::kFnvOffsetBasis;
#define DETKIT_ABI_HASH_TYPE_(T) hash = detail::fnv1a(detail::fnv1a(hash, sizeof(T)), alignof(T));
#define DETKIT_ABI_HASH_FIELD_(T, M) \
  hash = detail::fnv1a(detail::fnv1a(hash, offsetof(T, M)), sizeof(decltype(T::M)));
  DETKIT_ABI_LAYOUT(DETKIT_ABI_HASH_TYPE_, DETKIT_ABI_HASH_FIELD_)
#undef DETKIT_ABI_HASH_TYPE_
#undef DETKIT_ABI_HASH_FIELD_
#if defined(DETKIT_TEST_FINGERPRINT_SALT)
  // Test hook only (tests/fixtures): simulates headers with other layouts. Never define it.
  hash = detail::fnv1a(hash, static_cast<uint64_t>(DETKIT_TEST_FINGERPRINT_SALT));
#endif
  return hash;
}

#pragma GCC diagnostic pop

}  // namespace detkit
