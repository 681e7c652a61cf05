// The faster_rcnn plugin: MMDetection 2.x's two-stage detector, registered as FasterRCNN. Its
// heads come from other plugins through the registries (RPNHead from rpn, StandardRoIHead from
// roi_heads), so any dense head or RoI head a config names can take their place.
#include "detkit/plugin.h"

DETKIT_PLUGIN("faster_rcnn", "1.0.0",
              "MMDetection's two-stage detector FasterRCNN: backbone, neck, an RPN head for "
              "proposals and a RoI head for the detections");
