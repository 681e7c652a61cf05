// The resnet plugin: MMDetection 2.x's ResNet backbones.
#include "detkit/plugin.h"

DETKIT_PLUGIN("resnet", "1.0.0",
              "MMDetection 2.x's ResNet backbones: ResNet (depth 18/34/50/101/152), ResNetV1d");
