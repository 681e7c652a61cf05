// The rpn plugin: MMDetection 2.x's region proposal network head RPNHead (an AnchorHead).
#include "detkit/plugin.h"

DETKIT_PLUGIN("rpn", "1.0.0",
              "MMDetection's RPNHead: class-agnostic proposals of two-stage detectors (an "
              "AnchorHead)");
