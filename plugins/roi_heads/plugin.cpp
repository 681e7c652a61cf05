// The roi_heads plugin: the parts of MMDetection 2.x's two-stage RoI heads, starting with the RoI
// feature extractor SingleRoIExtractor.
#include "detkit/plugin.h"

DETKIT_PLUGIN("roi_heads", "1.0.0",
              "MMDetection's SingleRoIExtractor: RoI features pooled from the level that fits "
              "each RoI's scale (RoIAlign or RoIPool)");
