// Component kinds: one registry per kind (DESIGN.md §3).
//
// The list is append-only: a plugin compiled against an older SDK stores kinds as numbers, so a
// kind keeps its number forever and new kinds are added at the end (kind.cpp checks the name
// table against kKindCount at compile time).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// What a registered component is. The YAML position of a `type:` decides which kind it must be
/// (e.g. `model.backbone` is a backbone, `model.roi_head.bbox_head` a bbox_head).
enum class Kind : uint32_t {
  backbone = 0,
  neck = 1,
  dense_head = 2,  ///< AnchorHead, RetinaHead, RPNHead: dense per-location predictions
  roi_head = 3,    ///< StandardRoIHead: runs the RoI branches on proposals
  bbox_head = 4,   ///< Shared2FCBBoxHead: classifies and refines RoI features
  mask_head = 5,   ///< FCNMaskHead: masks from RoI features
  roi_extractor = 6,
  loss = 7,
  detector = 8,
  hook = 9,
  scheduler = 10,  ///< LR and momentum policies (`lr_config`, `momentum_config`)
  optimizer = 11,
  optimizer_constructor = 12,
  runner = 13,
  dataset = 14,
  transform = 15,
  metric = 16,
  initializer = 17,       ///< init_cfg entries: Constant, Xavier, Kaiming, Pretrained, ...
  norm_layer = 18,        ///< what `norm_cfg` names: BN, GN, SyncBN, ...
  conv_layer = 19,        ///< what `conv_cfg` names: Conv2d, ...
  activation_layer = 20,  ///< what `act_cfg` names: ReLU, LeakyReLU, ...
  upsample_layer = 21,    ///< what `upsample_cfg` names: nearest, bilinear, deconv, ...
  iou_calculator = 22,
  anchor_generator = 23,
  assigner = 24,
  sampler = 25,
  bbox_coder = 26,
};

/// The number of kinds this SDK knows (kinds are numbered 0 .. kKindCount - 1).
inline constexpr uint32_t kKindCount = 27;

/// Whether `value` is the number of a kind this SDK knows.
constexpr bool is_known_kind(uint32_t value) {
  return value < kKindCount;
}

/// The name of a kind as configs and messages spell it ("backbone", "bbox_coder"); "unknown
/// kind N" for a number this SDK does not know.
DETKIT_API const char* kind_name(Kind kind);
/// The kind named `name`, if any.
DETKIT_API std::optional<Kind> kind_from_name(std::string_view name);
/// Every kind, in number order.
DETKIT_API const std::vector<Kind>& all_kinds();
/// Whether components of this kind are torch::nn::Module objects (and so accept `init_cfg`).
DETKIT_API bool kind_is_module(Kind kind);

}  // namespace detkit
