// The outputs of `detkit schedule` (detkit/core/schedule.h): the trace as a compact table, as
// JSON, and as a plot.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "detkit/core/coco_json.h"
#include "detkit/core/schedule.h"
#include "detkit/error.h"

namespace detkit {

namespace {

/// Group values as "0.02" or "0.02, 0.01".
std::string values_text(const std::vector<double>& values) {
  std::string out;
  for (size_t g = 0; g < values.size(); ++g)
    out += fmt::format("{}{:.6g}", g ? ", " : "", values[g]);
  return out;
}

/// Whether any value of iteration i differs from iteration i - 1.
bool changes_at(const ScheduleTrace& trace, size_t i) {
  return i == 0 || trace.lr[i] != trace.lr[i - 1] || trace.momentum[i] != trace.momentum[i - 1];
}

/// Whether series[i] moves more than 4 times as far as at either neighbouring iteration: a
/// step inside a ramp.
bool jumps_at(const std::vector<std::vector<double>>& series, size_t i) {
  auto change = [&](size_t j, size_t g) {
    return j == 0 || j >= series.size() ? 0.0 : std::abs(series[j][g] - series[j - 1][g]);
  };
  for (size_t g = 0; g < series[i].size(); ++g) {
    if (change(i, g) > 4 * std::max(change(i - 1, g), change(i + 1, g))) return true;
  }
  return false;
}

/// One line of the per-iteration series: first, last, min, max and how often it changes.
std::string series_summary(const char* name, const std::vector<std::vector<double>>& series) {
  if (series.empty()) return fmt::format("{}: no iterations", name);
  double low = series.front().front(), high = low;
  size_t changes = 0;
  for (size_t i = 0; i < series.size(); ++i) {
    for (double v : series[i]) {
      low = std::min(low, v);
      high = std::max(high, v);
    }
    if (i > 0 && series[i] != series[i - 1]) ++changes;
  }
  if (changes == 0) return fmt::format("{}: constant {}", name, values_text(series.front()));
  return fmt::format(
      "{}: {} at the start, {} at the end, min {:.6g}, max {:.6g}; changes {} time(s)", name,
      values_text(series.front()), values_text(series.back()), low, high, changes);
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) for about `count` ticks over `span`.
double nice_step(double span, int count) {
  const double raw = span / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (raw <= m * power) return m * power;
  }
  return 10.0 * power;
}

/// Draws one panel: `series[i][0]` (the first group) against i in the rectangle `area`.
void draw_panel(cv::Mat& image, const cv::Rect& area,
                const std::vector<std::vector<double>>& series, const ScheduleTrace& trace,
                const std::string& label, const cv::Scalar& color) {
  const cv::Scalar black(0, 0, 0), grey(215, 215, 215), text(60, 60, 60);
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const size_t n = series.size();
  double low = series.front().front(), high = low;
  for (const auto& values : series) {
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  if (high - low <= std::abs(high) * 1e-12) {
    const double pad = high != 0.0 ? std::abs(high) * 0.1 : 1.0;
    low -= pad;
    high += pad;
  }
  const double margin = (high - low) * 0.05;
  low -= margin;
  high += margin;
  const double last = static_cast<double>(std::max<size_t>(n, 2) - 1);
  auto x_of = [&](double i) {
    return area.x + static_cast<int>(std::lround(i / last * area.width));
  };
  auto y_of = [&](double v) {
    return area.y + area.height -
           static_cast<int>(std::lround((v - low) / (high - low) * area.height));
  };
  // Epoch boundaries (when there are few enough to see).
  if (trace.run.by_epoch && trace.run.max_epochs > 1 && trace.run.max_epochs <= 60) {
    for (int64_t e = 1; e < trace.run.max_epochs; ++e) {
      const int x = x_of(static_cast<double>(e * trace.run.iters_per_epoch));
      cv::line(image, {x, area.y}, {x, area.y + area.height}, grey, 1);
    }
  }
  // Y ticks and labels.
  const double y_step = nice_step(high - low, 5);
  for (double v = std::ceil(low / y_step) * y_step; v <= high; v += y_step) {
    const int y = y_of(v);
    cv::line(image, {area.x - 5, y}, {area.x, y}, black, 1);
    const std::string tick = fmt::format("{:.3g}", std::abs(v) < y_step * 1e-6 ? 0.0 : v);
    int baseline = 0;
    const cv::Size size = cv::getTextSize(tick, font, 0.4, 1, &baseline);
    cv::putText(image, tick, {area.x - 8 - size.width, y + size.height / 2}, font, 0.4, text, 1,
                cv::LINE_AA);
  }
  // X ticks and labels (iterations).
  const double x_step = std::max(1.0, nice_step(last, 8));
  for (double i = 0; i <= last; i += x_step) {
    const int x = x_of(i);
    cv::line(image, {x, area.y + area.height}, {x, area.y + area.height + 5}, black, 1);
    const std::string tick = fmt::format("{}", static_cast<int64_t>(i));
    int baseline = 0;
    const cv::Size size = cv::getTextSize(tick, font, 0.4, 1, &baseline);
    cv::putText(image, tick, {x - size.width / 2, area.y + area.height + 8 + size.height}, font,
                0.4, text, 1, cv::LINE_AA);
  }
  cv::putText(image, "iteration", {area.x + area.width / 2 - 30, area.y + area.height + 38}, font,
              0.45, text, 1, cv::LINE_AA);
  cv::putText(image, label, {area.x, area.y - 8}, font, 0.5, black, 1, cv::LINE_AA);
  // The curve, one point per iteration.
  std::vector<cv::Point> points;
  points.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const double v = series[i].front();
    if (std::isfinite(v)) points.emplace_back(x_of(static_cast<double>(i)), y_of(v));
  }
  cv::polylines(image, points, false, color, 2, cv::LINE_AA);
  cv::rectangle(image, area, black, 1);
}

}  // namespace

std::string format_schedule(const ScheduleTrace& trace, bool every_iteration) {
  const ScheduleRun& run = trace.run;
  std::string out;
  if (run.by_epoch) {
    out += fmt::format("{}: {} epochs x {} iterations = {} iterations\n", run.runner_type,
                       run.max_epochs, run.iters_per_epoch, run.max_iters);
  } else {
    out += fmt::format("{}: {} iterations ({} per loader epoch)\n", run.runner_type, run.max_iters,
                       run.iters_per_epoch);
  }
  out +=
      fmt::format("lr policy: {}; momentum policy: {}\n",
                  trace.lr_policy.empty() ? "none (lr_config)" : trace.lr_policy,
                  trace.momentum_policy.empty() ? "none (momentum_config)" : trace.momentum_policy);
  const size_t n = trace.lr.size();
  out += fmt::format("{:>8} {:>6} {:>6}  {:<14} {}\n", "iter", "epoch", "inner", "lr",
                     trace.has_momentum ? "momentum" : "");
  auto row = [&](size_t i) {
    const int64_t epoch = static_cast<int64_t>(i) / run.iters_per_epoch;
    const int64_t inner = static_cast<int64_t>(i) % run.iters_per_epoch;
    out += fmt::format("{:>8} {:>6} {:>6}  {:<14} {}\n", i, epoch, inner, values_text(trace.lr[i]),
                       trace.has_momentum ? values_text(trace.momentum[i]) : "");
  };
  // The iterations shown: the first, the last, and each one where a value changes. A run of
  // more than four consecutive changes (a warmup, a per-iteration curve) is shortened to its
  // ends and the jumps inside it (a by-epoch step during a warmup), each with the iteration
  // before it.
  std::vector<size_t> shown;
  for (size_t i = 0; i < n; ++i) {
    if (every_iteration || i + 1 == n || changes_at(trace, i)) shown.push_back(i);
  }
  for (size_t k = 0; k < shown.size();) {
    size_t end = k;
    while (!every_iteration && end + 1 < shown.size() && shown[end + 1] == shown[end] + 1)
      ++end;
    const size_t first = shown[k], last = shown[end];
    if (end - k + 1 <= 4) {
      for (size_t j = k; j <= end; ++j)
        row(shown[j]);
    } else {
      std::vector<size_t> kept = {first};
      for (size_t i = first + 1; i < last; ++i) {
        if (!jumps_at(trace.lr, i) && !jumps_at(trace.momentum, i)) continue;
        if (i - 1 > kept.back()) kept.push_back(i - 1);
        kept.push_back(i);
      }
      if (last > kept.back()) kept.push_back(last);
      for (size_t j = 0; j < kept.size(); ++j) {
        if (j > 0 && kept[j] > kept[j - 1] + 1) {
          out += fmt::format("{:>8} ({} iterations, a new value at each)\n", "...",
                             kept[j] - kept[j - 1] - 1);
        }
        row(kept[j]);
      }
    }
    k = end + 1;
  }
  out += series_summary("lr", trace.lr) + "\n";
  if (trace.has_momentum) out += series_summary("momentum", trace.momentum) + "\n";
  return out;
}

std::string schedule_json(const ScheduleTrace& trace) {
  fmt::memory_buffer out;
  auto series = [&](const char* name, const std::vector<std::vector<double>>& values) {
    fmt::format_to(std::back_inserter(out), "\"{}\": [", name);
    for (size_t i = 0; i < values.size(); ++i) {
      fmt::format_to(std::back_inserter(out), "{}[", i ? ", " : "");
      for (size_t g = 0; g < values[i].size(); ++g) {
        if (!std::isfinite(values[i][g]))
          throw Error(
              fmt::format("the {} of iteration {} is not finite ({})", name, i, values[i][g]));
        fmt::format_to(std::back_inserter(out), "{}{}", g ? ", " : "", values[i][g]);
      }
      out.push_back(']');
    }
    out.push_back(']');
  };
  out.push_back('{');
  series("lr", trace.lr);
  fmt::format_to(std::back_inserter(out), ", ");
  series("momentum", trace.momentum);
  fmt::format_to(std::back_inserter(out), "}}\n");
  return fmt::to_string(out);
}

void write_schedule_png(const ScheduleTrace& trace, const std::string& path,
                        const std::string& title) {
  if (trace.lr.empty()) throw Error("the run has no iterations: nothing to plot");
  const int width = 1000, panel = 300, top = 50, gap = 80;
  const int panels = trace.has_momentum ? 2 : 1;
  cv::Mat image(top + panels * (panel + gap), width, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(image, title, {20, 28}, cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1,
              cv::LINE_AA);
  const cv::Rect lr_area(90, top + 20, width - 120, panel - 20);
  draw_panel(image, lr_area, trace.lr, trace,
             "lr" + (trace.lr_policy.empty() ? std::string() : " (" + trace.lr_policy + ")"),
             cv::Scalar(180, 90, 20));
  if (trace.has_momentum) {
    const cv::Rect momentum_area(90, top + panel + gap + 20, width - 120, panel - 20);
    draw_panel(image, momentum_area, trace.momentum, trace,
               "momentum" + (trace.momentum_policy.empty() ? std::string()
                                                           : " (" + trace.momentum_policy + ")"),
               cv::Scalar(40, 40, 200));
  }
  std::vector<uchar> png;
  if (!cv::imencode(".png", image, png)) throw Error("cannot encode the plot for " + path);
  write_file_atomically(path,
                        std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

}  // namespace detkit
