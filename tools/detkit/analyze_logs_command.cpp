// `detkit analyze-logs plot_curve LOG.json... --keys K... [--out PNG] [--title T] [--legend L...]`
// and `detkit analyze-logs cal_train_time LOG.json...`: MMDetection's
// tools/analysis_tools/analyze_logs.py on MMCV's JSON training logs.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/core/curve_plot.h"
#include "detkit/core/training_log.h"

namespace detkit::cli {

namespace {

constexpr const char* kPlotUsage =
    "detkit analyze-logs plot_curve LOG.json [LOG.json ...] --keys KEY [KEY ...] [--out PNG] "
    "[--title TEXT] [--legend NAME ...]";
constexpr const char* kTimeUsage = "detkit analyze-logs cal_train_time LOG.json [LOG.json ...]";

/// plot_curve: one panel, one line per (log, key), as analyze_logs.py (train values against the
/// global iteration; val metrics such as bbox_mAP against the epoch, with markers).
int plot_curve(const std::vector<std::string>& args) {
  po::options_description options("detkit analyze-logs plot_curve");
  add_common_options(options);
  options.add_options()("logs", po::value<std::vector<std::string>>()->required(),
                        "MMCV .log.json files")(
      "keys",
      po::value<std::vector<std::string>>()->multitoken()->default_value({"bbox_mAP"}, "bbox_mAP"),
      "logged values to plot (e.g. loss loss_cls lr)")(
      "out", po::value<std::string>(), "write the chart to this PNG (default: KEY.png)")(
      "title", po::value<std::string>()->default_value(""), "chart title")(
      "legend", po::value<std::vector<std::string>>()->multitoken(),
      "one label per log x key (default: LOG_KEY)");
  po::positional_options_description positional;
  positional.add("logs", -1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, kPlotUsage)) return 0;
  const auto logs = vm["logs"].as<std::vector<std::string>>();
  const auto keys = vm["keys"].as<std::vector<std::string>>();
  std::vector<std::string> legend;
  if (vm.count("legend")) legend = vm["legend"].as<std::vector<std::string>>();
  if (!legend.empty() && legend.size() != logs.size() * keys.size()) {
    throw UsageError(fmt::format("--legend needs {} names (logs x keys), got {}",
                                 logs.size() * keys.size(), legend.size()));
  }
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : keys.front() + ".png";
  refuse_output_over_inputs("--out", out, logs);

  CurvePanel panel;
  panel.title = vm["title"].as<std::string>();
  for (size_t i = 0; i < logs.size(); ++i) {
    const TrainingLog log = read_training_log(logs[i]);
    const std::string stem = std::filesystem::path(logs[i]).stem().stem().string();
    for (size_t j = 0; j < keys.size(); ++j) {
      const TrainingCurve curve = training_curve(log, keys[j]);
      CurveSeries series;
      series.label = legend.empty() ? (logs.size() > 1 ? stem + "_" + keys[j] : keys[j])
                                    : legend[i * keys.size() + j];
      series.x = curve.x;
      series.y = curve.y;
      series.markers = curve.x_unit == "epoch";
      panel.x_label = curve.x_unit;
      std::cout << fmt::format("plot curve of {}, metric is {} ({} points)\n", logs[i], keys[j],
                               curve.x.size());
      panel.series.push_back(std::move(series));
    }
  }
  write_curve_plot({panel}, CurvePlotOptions{}, out);
  std::cout << "wrote " << out << "\n";
  return 0;
}

/// cal_train_time: per log, the slowest and fastest epochs and the average iteration time (the
/// "time" of train entries), as analyze_logs.py.
int cal_train_time(const std::vector<std::string>& args) {
  po::options_description options("detkit analyze-logs cal_train_time");
  add_common_options(options);
  options.add_options()("logs", po::value<std::vector<std::string>>()->required(),
                        "MMCV .log.json files")(
      "include-outliers", "keep the first iteration of each epoch (slower: data loader start)");
  po::positional_options_description positional;
  positional.add("logs", -1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, kTimeUsage)) return 0;
  for (const std::string& path : vm["logs"].as<std::vector<std::string>>()) {
    const TrainingLog log = read_training_log(path);
    std::map<int64_t, std::vector<double>> per_epoch;
    for (const TrainingLogEntry& entry : log.entries) {
      const auto time = entry.values.find("time");
      if (entry.mode == "train" && time != entry.values.end())
        per_epoch[entry.epoch].push_back(time->second);
    }
    std::cout << "-----Analyze train time of " << path << "-----\n";
    if (per_epoch.empty()) {
      std::cout << "no timed training iterations in the log\n";
      continue;
    }
    std::vector<std::pair<int64_t, double>> means;
    double sum = 0;
    size_t count = 0;
    for (auto& [epoch, times] : per_epoch) {
      if (!vm.count("include-outliers") && times.size() > 1) times.erase(times.begin());
      double epoch_sum = 0;
      for (double t : times)
        epoch_sum += t;
      means.emplace_back(epoch, epoch_sum / double(times.size()));
      sum += epoch_sum;
      count += times.size();
    }
    const auto [slowest, fastest] =
        std::minmax_element(means.begin(), means.end(),
                            [](const auto& a, const auto& b) { return a.second > b.second; });
    double variance = 0;
    for (const auto& [epoch, mean] : means)
      variance += std::pow(mean - sum / double(count), 2);
    std::cout << fmt::format("slowest epoch {}, average time is {:.4f}\n", slowest->first,
                             slowest->second)
              << fmt::format("fastest epoch {}, average time is {:.4f}\n", fastest->first,
                             fastest->second)
              << fmt::format("time std over epochs is {:.4f}\n",
                             std::sqrt(variance / double(means.size())))
              << fmt::format("average iter time: {:.4f} s/iter\n\n", sum / double(count));
  }
  return 0;
}

}  // namespace

int run_analyze_logs_plot_curve(const std::vector<std::string>& args) {
  return plot_curve(args);
}

int run_analyze_logs_cal_train_time(const std::vector<std::string>& args) {
  return cal_train_time(args);
}

}  // namespace detkit::cli
