// ProgressBar: the progress of a long loop over items (images) on stderr, for `detkit test`,
// `detkit infer` and `detkit data synth`:
//
//   test [#########...........] 120/500, 12.3 img/s, elapsed 10s, ETA 31s
//
// On a terminal the line is redrawn in place (at most every 0.1 s, and at the end); elsewhere
// (a log file, a pipe, CI) each update prints a line of its own, at most one per
// `min_interval` seconds (the first and the last item always print), so logs stay readable.
//
//   detkit::ProgressBar bar(images.size(), detkit::ProgressOptions().label("infer"));
//   for (...) { ...; bar.update(); }
//   bar.finish();
#pragma once

#include <torch/arg.h>

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>

#include "detkit/export.h"

namespace detkit {

/// How a ProgressBar looks and where it goes.
struct DETKIT_API ProgressOptions {
  /// Text before the bar ("test", "synth train"); none when empty.
  TORCH_ARG(std::string, label) = "";
  /// What one item is, for the rate ("img" gives "12.3 img/s").
  TORCH_ARG(std::string, unit) = "img";
  /// Characters of the bar between the brackets.
  TORCH_ARG(int, width) = 20;
  /// Redraw in place (a terminal) or print lines; unset: whether stderr is a terminal.
  TORCH_ARG(std::optional<bool>, interactive) = std::nullopt;
  /// Line mode: the least time between two printed lines, in seconds (0: one line per update).
  TORCH_ARG(double, min_interval) = 1.0;
};

/// A progress bar (see the file comment). Thread-safe: update() may be called from workers.
class DETKIT_API ProgressBar {
 public:
  /// A bar for `total` items written to `out` (default std::cerr). Nothing is drawn until the
  /// first update; a total of 0 draws nothing.
  explicit ProgressBar(int64_t total, ProgressOptions options = {}, std::ostream* out = nullptr);
  /// Ends the line (finish()).
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Counts `n` more items done and redraws (or prints a line) when due.
  void update(int64_t n = 1);
  /// Prints `line` (and a newline) above the bar, which is redrawn under it on a terminal (as
  /// tqdm.write): for per-item messages that would otherwise break the bar.
  void write(const std::string& line, std::ostream& to);
  /// Draws the final state and ends the line; later calls do nothing.
  void finish();

  /// The bar's text for `done` of the total after `elapsed` seconds (no newline).
  std::string format(int64_t done, double elapsed) const;
  /// "7s", "1m05s", "2h03m".
  static std::string format_duration(double seconds);

 private:
  void draw_locked(bool force);

  int64_t total_;
  ProgressOptions options_;
  std::ostream* out_;
  bool interactive_;
  int64_t done_ = 0;
  bool drawn_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
};

}  // namespace detkit
