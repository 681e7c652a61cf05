// The mobilenet_v2 plugin: MMDetection 2.x's MobileNetV2 backbone.
#include "detkit/plugin.h"

DETKIT_PLUGIN("mobilenet_v2", "1.0.0", "MMDetection 2.x's MobileNetV2 backbone");
