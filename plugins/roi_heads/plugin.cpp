// The roi_heads plugin: MMDetection 2.x's two-stage RoI head StandardRoIHead and its parts: the
// RoI feature extractor SingleRoIExtractor and the box heads ConvFCBBoxHead / Shared2FCBBoxHead
// (registered here, declared in convfc_bbox_head.h so that roi_heads_test can drive their
// losses).
#include "detkit/plugin.h"

#include "convfc_bbox_head.h"
#include "detkit/registry.h"

DETKIT_PLUGIN("roi_heads", "1.0.0",
              "MMDetection's StandardRoIHead (proposals sampled, pooled, classified and "
              "regressed); SingleRoIExtractor: RoI features pooled from the level that fits "
              "each RoI's scale (RoIAlign or RoIPool); ConvFCBBoxHead and Shared2FCBBoxHead: "
              "RoI box heads (convs and fcs, softmax scores with background last, deltas)");

namespace roi_heads_plugin {
DETKIT_REGISTER_MODULE(bbox_head, ConvFCBBoxHead);
DETKIT_REGISTER_MODULE(bbox_head, Shared2FCBBoxHead);
}  // namespace roi_heads_plugin
