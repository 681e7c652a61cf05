// LossBase key function and MMDetection's weight_reduce_loss.
#include "detkit/modeling/loss.h"

#include <torch/torch.h>

#include <limits>

#include "detkit/error.h"

namespace detkit {

LossBase::~LossBase() = default;

LossInput LossBase::input_form() const {
  return LossInput::elementwise;
}

Reduction reduction_from_string(const std::string& text) {
  if (text == "none") return Reduction::none;
  if (text == "mean") return Reduction::mean;
  if (text == "sum") return Reduction::sum;
  throw Error("unknown reduction '" + text + "' (expected none, mean or sum)");
}

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::none:
      return "none";
    case Reduction::mean:
      return "mean";
    case Reduction::sum:
      return "sum";
  }
  return "?";
}

torch::Tensor weight_reduce_loss(torch::Tensor loss, const torch::Tensor& weight,
                                 Reduction reduction, std::optional<double> avg_factor) {
  if (weight.defined()) loss = loss * weight;
  if (!avg_factor) {
    switch (reduction) {
      case Reduction::none:
        return loss;
      case Reduction::mean:
        return loss.mean();
      case Reduction::sum:
        return loss.sum();
    }
  }
  switch (reduction) {
    case Reduction::mean: {
      // MMDetection adds the float eps so that avg_factor = 0 does not divide by zero.
      const double eps = std::numeric_limits<float>::epsilon();
      return loss.sum() / (*avg_factor + eps);
    }
    case Reduction::none:
      return loss;
    case Reduction::sum:
      break;
  }
  throw Error("avg_factor can not be used with reduction=\"sum\"");
}

}  // namespace detkit
