// Types the model interfaces share: loss dictionaries and multi-level head outputs.
#pragma once

#include <torch/ordered_dict.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace detkit {

/// Named losses in the order they are logged (MMDetection's losses dict): every value is a
/// scalar tensor, or a list of per-level scalars summed by the runner. Keys containing "loss"
/// are summed into the total loss, as MMDetection's parse_losses does.
using LossDict = torch::OrderedDict<std::string, torch::Tensor>;

/// A dense head's raw outputs: outputs[k][level] is the k-th output (e.g. 0 = class scores
/// (N, A*C, H, W), 1 = box deltas (N, A*4, H, W)) at one feature level.
using MultiLevelOutputs = std::vector<std::vector<torch::Tensor>>;

}  // namespace detkit
