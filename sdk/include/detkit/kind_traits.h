// The one place that says, for every kind, the base class its components derive from and the
// build context its factories receive. A kind without an entry here cannot be registered
// (compile-time error); plugins cannot add entries (every kind already has one).
#pragma once

#include <type_traits>

#include "detkit/build_context.h"
#include "detkit/kind.h"

namespace detkit {

class BackboneBase;
class NeckBase;
class DenseHeadBase;
class RoIHeadBase;
class BBoxHeadBase;
class MaskHeadBase;
class RoIExtractorBase;
class LossBase;
class DetectorBase;
class HookBase;
class SchedulerBase;
class OptimizerBase;
class OptimizerConstructorBase;
class RunnerBase;
class DatasetBase;
class TransformBase;
class MetricBase;
class InitializerBase;
class NormLayerBase;
class ConvLayerBase;
class ActivationLayerBase;
class UpsampleLayerBase;
class IoUCalculatorBase;
class AnchorGeneratorBase;
class AssignerBase;
class SamplerBase;
class BBoxCoderBase;

namespace detail {
template <class>
inline constexpr bool always_false = false;
}  // namespace detail

/// For kind K: `Base` (what its components derive from) and `Context` (what its factories
/// receive besides the config).
template <Kind K>
struct KindTraits {
  static_assert(detail::always_false<std::integral_constant<Kind, K>>,
                "this kind has no base class in this SDK: components cannot be registered in it");
};

/// The kind whose base class is Base.
template <class Base>
struct KindOf {
  static_assert(detail::always_false<Base>,
                "not the base class of a kind: build<Base>() and registration need one of the "
                "base classes listed in detkit/kind_traits.h");
};

#define DETKIT_KIND_TRAITS_(KIND, BASE, CONTEXT)     \
  template <>                                        \
  struct KindTraits<Kind::KIND> {                    \
    using Base = BASE;                               \
    using Context = CONTEXT;                         \
  };                                                 \
  template <>                                        \
  struct KindOf<BASE> {                              \
    static constexpr Kind value = Kind::KIND;        \
  }

DETKIT_KIND_TRAITS_(backbone, BackboneBase, BackboneContext);
DETKIT_KIND_TRAITS_(neck, NeckBase, NeckContext);
DETKIT_KIND_TRAITS_(dense_head, DenseHeadBase, HeadContext);
DETKIT_KIND_TRAITS_(roi_head, RoIHeadBase, HeadContext);
DETKIT_KIND_TRAITS_(bbox_head, BBoxHeadBase, RoIFeatureContext);
DETKIT_KIND_TRAITS_(mask_head, MaskHeadBase, RoIFeatureContext);
DETKIT_KIND_TRAITS_(roi_extractor, RoIExtractorBase, NeckContext);
DETKIT_KIND_TRAITS_(loss, LossBase, NoContext);
DETKIT_KIND_TRAITS_(detector, DetectorBase, DetectorContext);
DETKIT_KIND_TRAITS_(hook, HookBase, HookContext);
DETKIT_KIND_TRAITS_(scheduler, SchedulerBase, SchedulerContext);
DETKIT_KIND_TRAITS_(optimizer, OptimizerBase, OptimizerContext);
DETKIT_KIND_TRAITS_(optimizer_constructor, OptimizerConstructorBase, OptimizerConstructorContext);
DETKIT_KIND_TRAITS_(runner, RunnerBase, RunnerContext);
DETKIT_KIND_TRAITS_(dataset, DatasetBase, NoContext);
DETKIT_KIND_TRAITS_(transform, TransformBase, NoContext);
DETKIT_KIND_TRAITS_(metric, MetricBase, NoContext);
DETKIT_KIND_TRAITS_(initializer, InitializerBase, NoContext);
DETKIT_KIND_TRAITS_(norm_layer, NormLayerBase, NormLayerContext);
DETKIT_KIND_TRAITS_(conv_layer, ConvLayerBase, ConvLayerContext);
DETKIT_KIND_TRAITS_(activation_layer, ActivationLayerBase, NoContext);
DETKIT_KIND_TRAITS_(upsample_layer, UpsampleLayerBase, UpsampleLayerContext);
DETKIT_KIND_TRAITS_(iou_calculator, IoUCalculatorBase, NoContext);
DETKIT_KIND_TRAITS_(anchor_generator, AnchorGeneratorBase, NoContext);
DETKIT_KIND_TRAITS_(assigner, AssignerBase, NoContext);
DETKIT_KIND_TRAITS_(sampler, SamplerBase, NoContext);
DETKIT_KIND_TRAITS_(bbox_coder, BBoxCoderBase, NoContext);

#undef DETKIT_KIND_TRAITS_

/// The base class of kind K.
template <Kind K>
using KindBaseT = typename KindTraits<K>::Base;
/// The build context of kind K.
template <Kind K>
using KindContextT = typename KindTraits<K>::Context;
/// The build context of the kind whose base class is Base.
template <class Base>
using ContextOf = typename KindTraits<KindOf<Base>::value>::Context;

}  // namespace detkit
