// The outputs of `detkit schedule` (detkit/core/schedule.h): the trace as a compact table, as
// JSON, and as a plot.
#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "detkit/core/coco_json.h"
#include "detkit/core/curve_plot.h"
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

/// The chart of one per-iteration value (the first parameter group's), with the epoch
/// boundaries as guides when there are few enough to see.
CurvePanel schedule_panel(const std::vector<std::vector<double>>& values,
                          const ScheduleTrace& trace, const std::string& title) {
  CurvePanel panel;
  panel.title = title;
  panel.x_label = "iteration";
  CurveSeries curve;
  for (size_t i = 0; i < values.size(); ++i) {
    curve.x.push_back(double(i));
    curve.y.push_back(values[i].front());
  }
  panel.series.push_back(std::move(curve));
  if (trace.run.by_epoch && trace.run.max_epochs > 1 && trace.run.max_epochs <= 60) {
    for (int64_t e = 1; e < trace.run.max_epochs; ++e)
      panel.x_guides.push_back(double(e * trace.run.iters_per_epoch));
  }
  return panel;
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
  std::vector<CurvePanel> panels = {schedule_panel(
      trace.lr, trace, "lr" + (trace.lr_policy.empty() ? "" : " (" + trace.lr_policy + ")"))};
  if (trace.has_momentum) {
    panels.push_back(schedule_panel(
        trace.momentum, trace,
        "momentum" + (trace.momentum_policy.empty() ? "" : " (" + trace.momentum_policy + ")")));
  }
  CurvePlotOptions options;
  options.title = title;
  options.panel_height = 330;
  write_curve_plot(panels, options, path);
}

}  // namespace detkit
