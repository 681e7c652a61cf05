// The losses plugin: MMDetection's classification and box-regression losses.
#include "detkit/plugin.h"

DETKIT_PLUGIN("losses", "1.0.0",
              "MMDetection's losses: FocalLoss, CrossEntropyLoss, L1Loss, SmoothL1Loss, GIoULoss");
