// Drawing detections on an image (`detkit infer`, `detkit test --show-dir`): a colour per class,
// readable labels.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "detkit/core/inference.h"
#include "detkit/error.h"

namespace detkit {

std::array<int, 3> class_color(int64_t label) {
  // Hues spaced by the golden angle: neighbouring labels get far-apart colours; full
  // saturation and value 230 keep them visible on photos.
  const double hue = std::fmod(static_cast<double>(label) * 137.50776405, 360.0);
  const double value = 230.0, chroma = value;
  const double h = hue / 60.0;
  const double x = chroma * (1.0 - std::fabs(std::fmod(h, 2.0) - 1.0));
  double r = 0, g = 0, b = 0;
  if (h < 1) {
    r = chroma, g = x;
  } else if (h < 2) {
    r = x, g = chroma;
  } else if (h < 3) {
    g = chroma, b = x;
  } else if (h < 4) {
    g = x, b = chroma;
  } else if (h < 5) {
    r = x, b = chroma;
  } else {
    r = chroma, b = x;
  }
  return {static_cast<int>(b), static_cast<int>(g), static_cast<int>(r)};
}

void draw_detections(cv::Mat& image, const std::vector<Detection>& detections) {
  if (image.empty()) return;
  const int longer = std::max(image.cols, image.rows);
  // Line and font sizes that stay readable from 64 px thumbnails to 4000 px photos.
  const int thickness = std::max(1, longer / 400);
  const double font_scale = std::clamp(longer / 1600.0, 0.35, 2.0);
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  // Lowest score first, so the best detections are drawn on top.
  for (auto it = detections.rbegin(); it != detections.rend(); ++it) {
    const Detection& d = *it;
    const auto color = class_color(d.label);
    const cv::Scalar bgr(color[0], color[1], color[2]);
    const cv::Point top_left(static_cast<int>(std::lround(d.bbox[0])),
                             static_cast<int>(std::lround(d.bbox[1])));
    const cv::Point bottom_right(static_cast<int>(std::lround(d.bbox[2])),
                                 static_cast<int>(std::lround(d.bbox[3])));
    cv::rectangle(image, top_left, bottom_right, bgr, thickness, cv::LINE_AA);
    const std::string text = fmt::format("{} {:.2f}", d.class_name, d.score);
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, font, font_scale, 1, &baseline);
    const int pad = 2;
    // The label sits above the box, or inside it at the top when there is no room above;
    // it is shifted left to stay inside the image.
    int x = std::clamp(top_left.x, 0, std::max(0, image.cols - size.width - 2 * pad));
    int y = top_left.y - size.height - baseline - 2 * pad;
    if (y < 0)
      y = std::clamp(top_left.y, 0, std::max(0, image.rows - size.height - baseline - 2 * pad));
    const cv::Rect background(x, y, size.width + 2 * pad, size.height + baseline + 2 * pad);
    cv::rectangle(image, background & cv::Rect(0, 0, image.cols, image.rows), bgr, cv::FILLED);
    // Black text on light colours, white on dark ones (ITU-R BT.601 luma).
    const double luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2];
    const cv::Scalar ink = luma > 140 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
    cv::putText(image, text, cv::Point(x + pad, y + pad + size.height), font, font_scale, ink, 1,
                cv::LINE_AA);
  }
}

void write_image_atomically(const std::string& path, const cv::Mat& image) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  // imwrite picks the encoder from the extension: a temporary name that keeps it.
  const fs::path temporary = target.parent_path() / (".tmp." + std::to_string(::getpid()) + "." +
                                                     target.filename().string());
  bool written = false;
  try {
    written = cv::imwrite(temporary.string(), image);
  } catch (const cv::Exception&) {
    written = false;
  }
  std::error_code error;
  if (written) fs::rename(temporary, target, error);
  if (!written || error) {
    fs::remove(temporary, error);
    throw Error("cannot write " + path);
  }
}

}  // namespace detkit
