// Line charts as PNG, drawn with OpenCV: axes with "nice" ticks, grid, one polyline per series,
// a legend, a title and axis labels.
#include "detkit/core/curve_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string_view>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "detkit/core/coco_json.h"
#include "detkit/error.h"

namespace detkit {

namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kInk(40, 40, 40), kGrid(225, 225, 225), kWhite(255, 255, 255);

/// matplotlib's default colour cycle (tab10), in BGR.
cv::Scalar series_colour(size_t index) {
  static const cv::Scalar colours[] = {
      {180, 119, 31}, {14, 127, 255},  {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
      {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};
  return colours[index % 10];
}

/// A tick label: integers without decimals, small or large values in exponent form.
std::string tick_label(double value, double step) {
  char text[32];
  if (value == 0) return "0";
  if (std::fabs(value) >= 1e5 || std::fabs(step) < 1e-3) {
    std::snprintf(text, sizeof(text), "%.2g", value);
  } else {
    const int decimals = std::max(0, int(std::ceil(-std::log10(step))));
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  }
  return text;
}

/// The finite range of the series' x or y values.
std::pair<double, double> value_range(const std::vector<CurveSeries>& series, bool use_x) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const CurveSeries& s : series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const double v = use_x ? s.x[i] : s.y[i];
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  if (low == high && std::isfinite(low)) {
    const double pad = low == 0 ? 1 : std::fabs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  return {low, high};
}

void put_text(cv::Mat& image, const std::string& text, cv::Point origin, double scale = 0.45,
              int thickness = 1) {
  cv::putText(image, text, origin, kFont, scale, kInk, thickness, cv::LINE_AA);
}

cv::Size text_size(const std::string& text, double scale = 0.45, int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, scale, thickness, &baseline);
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int target) {
  if (!(high > low) || !std::isfinite(low) || !std::isfinite(high)) return {low};
  const double raw = (high - low) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double tick = std::ceil(low / step) * step; tick <= high + step * 1e-9; tick += step)
    ticks.push_back(std::fabs(tick) < step * 1e-9 ? 0.0 : tick);
  return ticks;
}

namespace {

/// Draws one panel into `image` within `frame` (its labels included).
void draw_panel(cv::Mat& image, const cv::Rect& frame, const CurvePanel& panel) {
  const std::vector<CurveSeries>& series = panel.series;
  const auto [x_low, x_high] = value_range(series, true);
  const auto [y_low, y_high] = value_range(series, false);
  if (!std::isfinite(x_low) || !std::isfinite(y_low))
    throw Error("the chart '" + panel.title + "' has nothing to plot (no finite values)");
  const int left = 80, right = 24, top = 30, bottom = 50;
  const cv::Rect area(frame.x + left, frame.y + top, frame.width - left - right,
                      frame.height - top - bottom);
  const double y_pad = (y_high - y_low) * 0.05;
  const double y0 = y_low - y_pad, y1 = y_high + y_pad;
  const double x_span = x_high > x_low ? x_high - x_low : 1.0;
  const auto to_pixel = [&](double x, double y) {
    return cv::Point(area.x + int(std::lround((x - x_low) / x_span * area.width)),
                     area.y + int(std::lround((y1 - y) / (y1 - y0) * area.height)));
  };

  const std::vector<double> x_ticks = nice_ticks(x_low, x_high), y_ticks = nice_ticks(y0, y1, 5);
  const double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1;
  for (double x : panel.x_guides) {
    if (x <= x_low || x >= x_high) continue;
    const cv::Point p = to_pixel(x, y0);
    cv::line(image, {p.x, area.y}, {p.x, area.y + area.height}, kGrid, 1);
  }
  for (double x : x_ticks) {
    const cv::Point p = to_pixel(x, y0);
    if (panel.x_guides.empty()) cv::line(image, {p.x, area.y}, {p.x, area.y + area.height}, kGrid);
    cv::line(image, {p.x, area.y + area.height}, {p.x, area.y + area.height + 5}, kInk);
    const std::string label = tick_label(x, x_step);
    put_text(image, label, {p.x - text_size(label).width / 2, area.y + area.height + 20});
  }
  for (double y : y_ticks) {
    const cv::Point p = to_pixel(x_low, y);
    cv::line(image, {area.x, p.y}, {area.x + area.width, p.y}, kGrid, 1);
    cv::line(image, {area.x - 5, p.y}, {area.x, p.y}, kInk);
    const std::string label = tick_label(y, y_step);
    put_text(image, label, {area.x - 8 - text_size(label).width, p.y + 5});
  }
  cv::rectangle(image, area, kInk, 1);

  for (size_t s = 0; s < series.size(); ++s) {
    std::vector<cv::Point> points;
    const CurveSeries& curve = series[s];
    for (size_t i = 0; i < std::min(curve.x.size(), curve.y.size()); ++i)
      if (std::isfinite(curve.x[i]) && std::isfinite(curve.y[i]))
        points.push_back(to_pixel(curve.x[i], curve.y[i]));
    cv::polylines(image, points, false, series_colour(s), 2, cv::LINE_AA);
    if (curve.markers)
      for (const cv::Point& p : points)
        cv::circle(image, p, 4, series_colour(s), cv::FILLED, cv::LINE_AA);
  }

  const bool legend =
      series.size() > 1 || std::any_of(series.begin(), series.end(),
                                       [](const CurveSeries& s) { return !s.label.empty(); });
  if (legend) {
    int widest = 0;
    for (const CurveSeries& s : series)
      widest = std::max(widest, text_size(s.label).width);
    const cv::Rect box(area.x + area.width - widest - 48, area.y + 8, widest + 40,
                       int(series.size()) * 20 + 8);
    cv::rectangle(image, box, kWhite, cv::FILLED);
    cv::rectangle(image, box, kGrid, 1);
    for (size_t s = 0; s < series.size(); ++s) {
      const int y = box.y + 18 + int(s) * 20;
      cv::line(image, {box.x + 6, y - 4}, {box.x + 26, y - 4}, series_colour(s), 2, cv::LINE_AA);
      put_text(image, series[s].label, {box.x + 32, y});
    }
  }
  put_text(image, panel.title, {area.x, area.y - 10}, 0.5);
  put_text(image, panel.x_label,
           {area.x + (area.width - text_size(panel.x_label).width) / 2, area.y + area.height + 42});
}

}  // namespace

void write_curve_plot(const std::vector<CurvePanel>& panels, const CurvePlotOptions& options,
                      const std::string& path) {
  if (panels.empty()) throw Error(path + ": nothing to plot");
  if (options.width < 300 || options.panel_height < 150)
    throw ConfigError("a chart needs at least 300x150 pixels per panel");
  const int header = options.title.empty() ? 8 : 40;
  cv::Mat image(header + int(panels.size()) * options.panel_height, options.width, CV_8UC3, kWhite);
  if (!options.title.empty())
    put_text(image, options.title, {(options.width - text_size(options.title, 0.6).width) / 2, 28},
             0.6);
  for (size_t i = 0; i < panels.size(); ++i) {
    const cv::Rect frame(0, header + int(i) * options.panel_height, options.width,
                         options.panel_height);
    draw_panel(image, frame, panels[i]);
  }
  std::vector<uchar> png;
  if (!cv::imencode(".png", image, png)) throw Error(path + ": cannot encode the chart as PNG");
  write_file_atomically(path,
                        std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

}  // namespace detkit
