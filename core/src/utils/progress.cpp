// ProgressBar: see detkit/core/progress.h.
#include "detkit/core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include <fmt/format.h>

namespace detkit {

namespace {

/// Seconds between two redraws of a terminal bar.
constexpr double kRedrawInterval = 0.1;
/// Seconds of work before a rate and an ETA are shown.
constexpr double kMinRateSeconds = 0.5;

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

ProgressBar::ProgressBar(int64_t total, ProgressOptions options, std::ostream* out)
    : total_(std::max<int64_t>(0, total)),
      options_(std::move(options)),
      out_(out != nullptr ? out : &std::cerr),
      interactive_(options_.interactive().value_or(::isatty(STDERR_FILENO) == 1)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; the output is best effort
  }
}

std::string ProgressBar::format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
}

std::string ProgressBar::format(int64_t done, double elapsed) const {
  const int width = std::max(1, options_.width());
  const int64_t clamped = std::clamp<int64_t>(done, 0, total_);
  const int filled =
      total_ > 0 ? static_cast<int>(clamped * width / total_) : 0;  // floor: full only at the end
  std::string text;
  if (!options_.label().empty()) text += options_.label() + " ";
  text += "[" + std::string(static_cast<size_t>(filled), '#') +
          std::string(static_cast<size_t>(width - filled), '.') + "] ";
  text += fmt::format("{}/{}", done, total_);
  // A rate from a few milliseconds says nothing: it waits for half a second (or the end).
  const bool timed = done > 0 && elapsed > 0 && (elapsed >= kMinRateSeconds || done >= total_);
  if (timed)
    text += fmt::format(", {:.1f} {}/s", static_cast<double>(done) / elapsed, options_.unit());
  text += ", elapsed " + format_duration(elapsed);
  if (timed && done < total_)
    text += ", ETA " + format_duration(elapsed / static_cast<double>(done) *
                                       static_cast<double>(total_ - done));
  return text;
}

void ProgressBar::draw_locked(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since_last = seconds_between(last_draw_, now);
  const bool first = !drawn_, last = done_ >= total_;
  if (!force && !first && !last) {
    const double interval = interactive_ ? kRedrawInterval : options_.min_interval();
    if (since_last < interval) return;
  }
  const std::string text = format(done_, seconds_between(start_, now));
  if (interactive_) {
    // Back to the start of the line, the text, then erase what a longer previous text left.
    *out_ << '\r' << text << "\033[K" << std::flush;
  } else {
    *out_ << text << '\n' << std::flush;
  }
  drawn_ = true;
  last_draw_ = now;
}

void ProgressBar::update(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_ || total_ == 0) return;
  done_ += n;
  draw_locked(/*force=*/false);
}

void ProgressBar::write(const std::string& line, std::ostream& to) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (interactive_ && drawn_ && !finished_) {
    *out_ << "\r\033[K" << std::flush;
    to << line << '\n' << std::flush;
    draw_locked(/*force=*/true);
    return;
  }
  to << line << '\n' << std::flush;
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_ || total_ == 0) return;
  finished_ = true;
  if (!drawn_) return;
  // A line mode bar has printed its last state at the last item; a terminal bar is redrawn
  // with its final numbers and the line ended.
  if (interactive_) {
    draw_locked(/*force=*/true);
    *out_ << '\n' << std::flush;
  } else if (done_ < total_) {
    draw_locked(/*force=*/true);
  }
}

}  // namespace detkit
