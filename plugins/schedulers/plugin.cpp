// The schedulers plugin: MMCV's LR and momentum policies (`lr_config` / `momentum_config`).
#include "detkit/plugin.h"

DETKIT_PLUGIN("schedulers", "1.0.0",
              "MMCV's LR policies (Fixed, Step, Exp, Poly, Inv, CosineAnnealing, "
              "FlatCosineAnnealing, CosineRestart, Cyclic, OneCycle, LinearAnnealing) and momentum "
              "policies (Step, CosineAnnealing, LinearAnnealing, Cyclic, OneCycle), with warmup");
