// The retinanet plugin: MMDetection 2.x's RetinaNet detector and its RetinaHead.
#include "detkit/plugin.h"

DETKIT_PLUGIN("retinanet", "1.0.0",
              "MMDetection's RetinaNet: the RetinaNet detector and RetinaHead (an AnchorHead)");
