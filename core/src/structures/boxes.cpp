// Boxes: (N, 4) xyxy float32 boxes.
#include "detkit/structures/boxes.h"

#include <torch/torch.h>

#include "detkit/error.h"

namespace detkit {

const char* flip_direction_name(FlipDirection direction) {
  switch (direction) {
    case FlipDirection::horizontal:
      return "horizontal";
    case FlipDirection::vertical:
      return "vertical";
    case FlipDirection::diagonal:
      return "diagonal";
  }
  return "?";
}

FlipDirection flip_direction_from_string(const std::string& text) {
  if (text == "horizontal") return FlipDirection::horizontal;
  if (text == "vertical") return FlipDirection::vertical;
  if (text == "diagonal") return FlipDirection::diagonal;
  throw Error("unknown flip direction '" + text + "' (expected horizontal, vertical or diagonal)");
}

Boxes::Boxes() : xyxy_(torch::zeros({0, 4}, torch::kFloat32)) {}

Boxes::Boxes(torch::Tensor xyxy) {
  if (!xyxy.defined()) {
    xyxy_ = torch::zeros({0, 4}, torch::kFloat32);
    return;
  }
  // A flat empty tensor (e.g. from an empty std::vector) means no boxes.
  if (xyxy.numel() == 0 && (xyxy.dim() <= 1 || xyxy.size(0) == 0)) xyxy = xyxy.reshape({0, 4});
  if (xyxy.dim() != 2 || xyxy.size(1) != 4) {
    throw Error("boxes must be an (N, 4) tensor, got shape " + std::to_string(xyxy.dim()) + "-d " +
                c10::str(xyxy.sizes()));
  }
  xyxy_ = xyxy.to(torch::kFloat32);
}

Boxes Boxes::to(const torch::Device& device) const {
  return Boxes(xyxy_.to(device));
}

torch::Tensor Boxes::widths() const {
  return xyxy_.select(1, 2) - xyxy_.select(1, 0);
}
torch::Tensor Boxes::heights() const {
  return xyxy_.select(1, 3) - xyxy_.select(1, 1);
}
torch::Tensor Boxes::areas() const {
  return widths() * heights();
}

namespace {

/// Applies `x_op` to the x columns (x1, x2) and `y_op` to the y columns (y1, y2) of a copy of
/// `xyxy`, in place and with scalars only, so no tensor is made on another device.
template <typename XOp, typename YOp>
torch::Tensor per_axis(const torch::Tensor& xyxy, XOp x_op, YOp y_op) {
  using torch::indexing::Slice;
  torch::Tensor out = xyxy.clone();
  x_op(out.index({Slice(), Slice(0, 4, 2)}));
  y_op(out.index({Slice(), Slice(1, 4, 2)}));
  return out;
}

}  // namespace

void Boxes::clip(int64_t height, int64_t width) {
  const double w = static_cast<double>(width), h = static_cast<double>(height);
  xyxy_ = per_axis(
      xyxy_, [&](torch::Tensor x) { x.clamp_(0, w); }, [&](torch::Tensor y) { y.clamp_(0, h); });
}

void Boxes::scale(double sx, double sy) {
  xyxy_ = per_axis(
      xyxy_, [&](torch::Tensor x) { x.mul_(sx); }, [&](torch::Tensor y) { y.mul_(sy); });
}

void Boxes::translate(double dx, double dy) {
  xyxy_ = per_axis(
      xyxy_, [&](torch::Tensor x) { x.add_(dx); }, [&](torch::Tensor y) { y.add_(dy); });
}

void Boxes::flip(int64_t height, int64_t width, FlipDirection direction) {
  const auto x1 = xyxy_.select(1, 0), y1 = xyxy_.select(1, 1);
  const auto x2 = xyxy_.select(1, 2), y2 = xyxy_.select(1, 3);
  const double w = static_cast<double>(width), h = static_cast<double>(height);
  switch (direction) {
    case FlipDirection::horizontal:
      xyxy_ = torch::stack({w - x2, y1, w - x1, y2}, 1);
      break;
    case FlipDirection::vertical:
      xyxy_ = torch::stack({x1, h - y2, x2, h - y1}, 1);
      break;
    case FlipDirection::diagonal:
      xyxy_ = torch::stack({w - x2, h - y2, w - x1, h - y1}, 1);
      break;
  }
}

torch::Tensor Boxes::nonempty(double min_size) const {
  return (widths() > min_size) & (heights() > min_size);
}

Boxes Boxes::index(const torch::Tensor& selection) const {
  return Boxes(xyxy_.index({selection}));
}

Boxes Boxes::cat(const std::vector<Boxes>& parts) {
  std::vector<torch::Tensor> tensors;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!tensors.empty() && p.device() != tensors.front().device()) {
      throw Error("Boxes::cat: boxes on " + tensors.front().device().str() + " and on " +
                  p.device().str() + "; move them to one device first with Boxes::to");
    }
    tensors.push_back(p.tensor());
  }
  if (tensors.empty()) return parts.empty() ? Boxes() : parts.front();
  return Boxes(torch::cat(tensors, 0));
}

}  // namespace detkit
