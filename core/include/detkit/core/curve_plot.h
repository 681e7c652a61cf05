// Line charts written as PNG with OpenCV (training loss, learning rate, momentum, metrics): what
// matplotlib draws for MMDetection's analyze_logs.py, without a Python dependency.
#pragma once

#include <string>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// One line of a chart.
struct CurveSeries {
  std::string label;
  std::vector<double> x, y;
  /// Draw a dot at each point (few points, e.g. per-epoch metrics).
  bool markers = false;
};

/// One chart (panel) of a figure: its series share the axes.
struct CurvePanel {
  /// Shown above the panel (and as the legend when there is one series without a label).
  std::string title;
  std::string x_label = "iter";
  std::vector<CurveSeries> series;
  /// Light vertical lines at these x values (e.g. epoch boundaries).
  std::vector<double> x_guides;
};

/// The figure's title and size.
struct CurvePlotOptions {
  std::string title;
  int width = 1000;
  /// Height of each panel, axes and labels included.
  int panel_height = 380;
};

/// Draws the panels one below the other ("nice" ticks, grid, a legend when a panel has several
/// labelled series) and writes the PNG to `path` atomically (temporary file + rename).
/// Throws Error when a panel has no finite point or the file cannot be written.
DETKIT_API void write_curve_plot(const std::vector<CurvePanel>& panels,
                                 const CurvePlotOptions& options, const std::string& path);

/// Tick positions covering [low, high]: about `target` multiples of 1, 2 or 5 x 10^k.
DETKIT_API std::vector<double> nice_ticks(double low, double high, int target = 6);

}  // namespace detkit
