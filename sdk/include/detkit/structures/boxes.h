// Boxes: an (N, 4) float32 tensor of (x1, y1, x2, y2) boxes in absolute pixels.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// Flip directions of MMDetection's RandomFlip.
enum class FlipDirection { horizontal, vertical, diagonal };

/// "horizontal" / "vertical" / "diagonal".
DETKIT_API const char* flip_direction_name(FlipDirection direction);
/// Parses a flip direction; throws Error for anything else.
DETKIT_API FlipDirection flip_direction_from_string(const std::string& text);

/// (N, 4) xyxy float32 boxes on any device. Geometric operations follow MMDetection 2.x exactly
/// (no +1 in widths; a horizontal flip maps x to W - x). Every operation keeps the boxes on
/// their device: nothing creates a tensor on another one.
class DETKIT_API Boxes {
 public:
  /// No boxes: a (0, 4) tensor on the CPU.
  Boxes();
  /// Wraps `xyxy` (N, 4) on its device; converts it to float32. An undefined or empty tensor
  /// gives no boxes. Throws Error on another shape.
  explicit Boxes(torch::Tensor xyxy);

  const torch::Tensor& tensor() const { return xyxy_; }
  int64_t size() const { return xyxy_.size(0); }
  bool empty() const { return size() == 0; }
  /// The device the boxes are on.
  torch::Device device() const { return xyxy_.device(); }
  /// The same boxes on `device` (no copy when they are there already).
  Boxes to(const torch::Device& device) const;

  /// Widths, heights and areas, each (N,).
  torch::Tensor widths() const;
  torch::Tensor heights() const;
  torch::Tensor areas() const;
  /// Clamps to [0, width] x [0, height].
  void clip(int64_t height, int64_t width);
  /// Multiplies x by `sx` and y by `sy`.
  void scale(double sx, double sy);
  /// Adds (dx, dy).
  void translate(double dx, double dy);
  /// Flips inside an image of the given size.
  void flip(int64_t height, int64_t width, FlipDirection direction);
  /// (N,) bool: boxes whose width and height are both > min_size.
  torch::Tensor nonempty(double min_size = 0.0) const;
  /// The boxes selected by a bool mask or an index tensor.
  Boxes index(const torch::Tensor& selection) const;
  /// Concatenation. Empty parts are skipped, so default (CPU) Boxes() join boxes on any
  /// device; the non-empty parts must share one device (Error otherwise).
  static Boxes cat(const std::vector<Boxes>& parts);

 private:
  torch::Tensor xyxy_;
};

}  // namespace detkit
