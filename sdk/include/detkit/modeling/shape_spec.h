// ShapeSpec: what a feature map looks like, without the tensor (detectron2's ShapeSpec).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// Channels and stride of one feature map: downstream components are built from these instead
/// of repeating channel counts in configs.
struct DETKIT_API ShapeSpec {
  int64_t channels = 0;
  int64_t stride = 1;
};

/// "[(256, /4), (256, /8)]": the shapes as messages print them.
DETKIT_API std::string shapes_text(const std::vector<ShapeSpec>& shapes);

}  // namespace detkit
