// MMCV's JSON training log (`<work_dir>/<timestamp>.log.json`, one object per line, written by
// TextLoggerHook), read back for `detkit analyze-logs` (MMDetection's
// tools/analysis_tools/analyze_logs.py).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// One logged line: its mode ("train" or "val"), epoch and iteration, and its numbers
/// (lr, time, data_time, losses, metrics such as bbox_mAP).
struct TrainingLogEntry {
  std::string mode;
  int64_t epoch = 0;
  int64_t iter = 0;
  std::map<std::string, double> values;
};

/// A whole log: the entries in file order (the leading meta line, which has no `mode`, is
/// skipped, as MMDetection's load_json_logs does).
struct TrainingLog {
  std::string path;
  std::vector<TrainingLogEntry> entries;
};

/// One curve of a log: x is the global iteration for per-iteration values (train mode) and the
/// epoch for evaluation metrics (val mode), as analyze_logs.py plot_curve.
struct TrainingCurve {
  std::string key;
  /// "iter" or "epoch".
  std::string x_unit;
  std::vector<double> x, y;
};

/// Reads a `.log.json`. Throws DataError naming the file and line on unreadable files or lines
/// that are not JSON objects.
DETKIT_API TrainingLog read_training_log(const std::string& path);

/// The curve of `key`: from val entries when the key is only logged there (metrics), from train
/// entries otherwise. Throws ConfigError listing the logged keys when `key` is absent.
DETKIT_API TrainingCurve training_curve(const TrainingLog& log, const std::string& key);

/// The keys with a numeric value somewhere in the log, sorted.
DETKIT_API std::vector<std::string> logged_keys(const TrainingLog& log);

}  // namespace detkit
