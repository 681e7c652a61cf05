// Helpers shared by the built-in layers (core/src/modeling/layers): Python-style reprs and
// argument checks.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "detkit/error.h"

namespace detkit::layers {

/// Python's repr of a bool: "True" / "False".
inline const char* py_bool(bool value) {
  return value ? "True" : "False";
}

/// Python's repr of a tuple of ints: "(3, 3)".
inline std::string py_tuple(const std::vector<int64_t>& values) {
  std::string out = "(";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(values[i]);
  }
  return out + (values.size() == 1 ? ",)" : ")");
}

/// A 2-D geometry argument: one value (used for both dimensions) or two. Throws ConfigError
/// naming `what` otherwise.
inline std::vector<int64_t> pair_of(const std::vector<int64_t>& values, const std::string& what) {
  if (values.size() == 1) return {values[0], values[0]};
  if (values.size() == 2) return values;
  throw ConfigError(what + " must have 1 or 2 values for a 2-D layer, got " +
                    std::to_string(values.size()));
}

/// Sets requires_grad of every parameter of `module` (MMCV's build_norm_layer requires_grad).
inline void set_requires_grad(torch::nn::Module& module, bool requires_grad) {
  for (auto& parameter : module.parameters())
    parameter.set_requires_grad(requires_grad);
}

/// Throws Error unless `input` has `dims` dimensions (any of them when `dims` has several):
/// "expected 4D input (got 3D input)", as PyTorch's norm layers say.
inline void check_input_dims(const torch::Tensor& input, std::initializer_list<int64_t> dims,
                             const std::string& layer) {
  for (int64_t d : dims) {
    if (input.dim() == d) return;
  }
  std::string expected;
  for (int64_t d : dims)
    expected += (expected.empty() ? "" : " or ") + std::to_string(d) + "D";
  throw Error(layer + ": expected " + expected + " input (got " + std::to_string(input.dim()) +
              "D input)");
}

}  // namespace detkit::layers
