// The fpn plugin: MMDetection's feature pyramid necks.
#include "detkit/plugin.h"

DETKIT_PLUGIN("fpn", "1.0.0", "MMDetection's feature pyramid necks: FPN, PAFPN");
