// Reads MMCV's `.log.json` training logs back (for `detkit analyze-logs`).
#include "detkit/core/training_log.h"

#include <simdjson.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit {

namespace {

namespace dom = simdjson::dom;

/// The entry of one JSON object, or nothing for a line without "mode" (the meta line).
std::optional<TrainingLogEntry> parse_entry(dom::object object) {
  TrainingLogEntry entry;
  bool has_mode = false;
  for (const dom::key_value_pair field : object) {
    const std::string key(field.key);
    const dom::element value = field.value;
    if (key == "mode" && value.is_string()) {
      entry.mode = std::string(std::string_view(value));
      has_mode = true;
    } else if (key == "epoch" && value.is_int64()) {
      entry.epoch = int64_t(value);
    } else if (key == "iter" && value.is_int64()) {
      entry.iter = int64_t(value);
    } else if (value.is_number()) {
      entry.values[key] = double(value);
    }
  }
  if (!has_mode) return std::nullopt;
  return entry;
}

/// Whether the train entries' iterations never go back (an IterBasedRunner log, or one epoch):
/// then `iter` is already the global iteration.
bool iterations_are_global(const TrainingLog& log) {
  int64_t last = 0;
  for (const TrainingLogEntry& entry : log.entries) {
    if (entry.mode != "train") continue;
    if (entry.iter < last) return false;
    last = entry.iter;
  }
  return true;
}

/// The iterations of one epoch: the largest train iteration logged in the first epoch (MMDetection
/// takes the second-to-last of epoch 1's iterations; the largest is the same on a full epoch and
/// does not depend on whether a val line closes it).
int64_t iterations_per_epoch(const TrainingLog& log) {
  int64_t first_epoch = -1, largest = 0;
  for (const TrainingLogEntry& entry : log.entries) {
    if (entry.mode != "train") continue;
    if (first_epoch < 0) first_epoch = entry.epoch;
    if (entry.epoch == first_epoch) largest = std::max(largest, entry.iter);
  }
  return largest;
}

}  // namespace

TrainingLog read_training_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError(path + ": cannot open the training log (" + std::strerror(errno) + ")");
  TrainingLog log;
  log.path = path;
  dom::parser parser;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    dom::element root;
    if (parser.parse(line).get(root) != simdjson::SUCCESS || !root.is_object()) {
      throw DataError(
          fmt::format("{}:{}: not a JSON object (is this an MMCV .log.json?)", path, number));
    }
    if (auto entry = parse_entry(root.get_object().value())) log.entries.push_back(*entry);
  }
  if (in.bad()) throw DataError(path + ": cannot read the training log");
  return log;
}

std::vector<std::string> logged_keys(const TrainingLog& log) {
  std::set<std::string> keys;
  for (const TrainingLogEntry& entry : log.entries)
    for (const auto& [key, value] : entry.values)
      keys.insert(key);
  return {keys.begin(), keys.end()};
}

TrainingCurve training_curve(const TrainingLog& log, const std::string& key) {
  bool in_train = false, in_val = false;
  for (const TrainingLogEntry& entry : log.entries) {
    if (!entry.values.count(key)) continue;
    (entry.mode == "train" ? in_train : in_val) = true;
  }
  if (!in_train && !in_val) {
    const std::vector<std::string> keys = logged_keys(log);
    throw ConfigError(log.path + ": no key '" + key + "' in the log" + did_you_mean(key, keys) +
                      " (logged: " + join(keys, ", ") + ")");
  }
  TrainingCurve curve;
  curve.key = key;
  const std::string mode = in_train ? "train" : "val";
  curve.x_unit = in_train ? "iter" : "epoch";
  const bool global = iterations_are_global(log);
  const int64_t per_epoch = iterations_per_epoch(log);
  for (const TrainingLogEntry& entry : log.entries) {
    const auto value = entry.values.find(key);
    if (entry.mode != mode || value == entry.values.end()) continue;
    double x = double(entry.epoch);
    if (in_train) x = double(global ? entry.iter : (entry.epoch - 1) * per_epoch + entry.iter);
    curve.x.push_back(x);
    curve.y.push_back(value->second);
  }
  return curve;
}

}  // namespace detkit
