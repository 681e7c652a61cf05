// Freezing parts of a backbone and MMDetection's norm_eval, shared by backbones (ResNet,
// MobileNetV2, third-party ones): what their `_freeze_stages()` and `train(mode)` do.
#pragma once

#include <torch/nn/module.h>

#include <algorithm>
#include <string>
#include <vector>

#include "detkit/modeling/base_module.h"

namespace detkit {

/// MMDetection's freezing of one part: eval mode and no gradient for its parameters (they stay
/// in the optimizer, and get no gradient).
inline void freeze_module(torch::nn::Module& module) {
  module.eval();
  for (auto& parameter : module.parameters())
    parameter.set_requires_grad(false);
}

/// MMDetection's norm_eval: every BatchNorm below `root` (MMCV's `_BatchNorm`: BN, SyncBN, and
/// plugins' norm layers that answer to that base name) in eval mode, so running statistics stay
/// frozen while training; their affine parameters still learn. GN and LN are not affected.
inline void batch_norms_to_eval(torch::nn::Module& root) {
  for (auto& module : root.modules(/*include_self=*/false)) {
    const std::vector<std::string> bases = mmcv_base_names(*module);
    if (std::find(bases.begin(), bases.end(), "_BatchNorm") != bases.end()) module->eval();
  }
}

}  // namespace detkit
