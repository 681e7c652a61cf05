// The hooks plugin: MMCV's and MMDetection's training hooks.
#include "detkit/plugin.h"

DETKIT_PLUGIN("hooks", "1.0.0",
              "MMCV/MMDetection hooks: OptimizerHook, GradientCumulativeOptimizerHook, "
              "IterTimerHook, TextLoggerHook, CheckpointHook, EvalHook, NumClassCheckHook, "
              "EMAHook, ExpMomentumEMAHook, LinearMomentumEMAHook, CheckInvalidLossHook");
