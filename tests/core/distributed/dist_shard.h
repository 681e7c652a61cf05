// The model and data of the distributed gradient test, shared by dist_worker (one rank) and
// distributed_test (the single-process reference).
#pragma once

#include <torch/torch.h>

#include <iomanip>
#include <iostream>
#include <utility>

/// A Linear(4, 3) with seed 0's initialisation.
inline torch::nn::Linear shard_model() {
  torch::manual_seed(0);
  return torch::nn::Linear(4, 3);
}

/// Rank `rank`'s batch of 2 samples: inputs and regression targets.
inline std::pair<torch::Tensor, torch::Tensor> shard_batch(int64_t rank) {
  const torch::Tensor x =
      torch::arange(8, torch::kFloat).view({2, 4}) * static_cast<double>(rank + 1) / 10.0;
  return {x, torch::full({2, 3}, static_cast<double>(rank) - 0.5)};
}

/// Prints the values of `t` after a space each, with 9 significant digits.
inline void print_values(const torch::Tensor& t) {
  const torch::Tensor flat = t.reshape({-1}).to(torch::kDouble);
  for (int64_t i = 0; i < flat.numel(); ++i)
    std::cout << " " << std::setprecision(9) << flat[i].item<double>();
}
