// Component kinds: one registry per kind (DESIGN.md §3).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// What a registered component is. The YAML position of a `type:` decides which kind it must be
/// (e.g. `model.backbone` is a backbone).
enum class Kind {
  backbone,
  neck,
  head,  ///< dense heads and RoI heads
  roi_extractor,
  loss,
  detector,
  hook,
  scheduler,  ///< LR and momentum policies
  optimizer,
  dataset,
  transform,
  metric,
  initializer,
  anchor_generator,
  assigner,
  sampler,
  bbox_coder,
};

/// The name of a kind as configs and messages spell it ("backbone", "bbox_coder").
DETKIT_API const char* kind_name(Kind kind);
/// The kind named `name`, if any.
DETKIT_API std::optional<Kind> kind_from_name(std::string_view name);
/// Every kind, in declaration order.
DETKIT_API const std::vector<Kind>& all_kinds();
/// Whether components of this kind are torch::nn::Module objects (and so accept `init_cfg`).
DETKIT_API bool kind_is_module(Kind kind);

/// Maps a kind to the C++ base class its components derive from. Each kind's interface header
/// declares its mapping with DETKIT_DECLARE_KIND_BASE.
template <Kind K>
struct KindBase;
/// The reverse mapping: the kind of a base class.
template <class Base>
struct KindOf;

}  // namespace detkit

/// Declares that components of kind KIND derive from BASE (use at global scope).
#define DETKIT_DECLARE_KIND_BASE(KIND, BASE)                      \
  template <>                                                     \
  struct detkit::KindBase<::detkit::Kind::KIND> {                 \
    using type = BASE;                                            \
  };                                                              \
  template <>                                                     \
  struct detkit::KindOf<BASE> {                                   \
    static constexpr ::detkit::Kind value = ::detkit::Kind::KIND; \
  }
