// Stopping a training cleanly on Ctrl-C (SIGINT) or SIGTERM. While an InterruptHandler lives,
// the first signal only records a request (and says so on stderr); HostRunner checks it between
// iterations and throws TrainingInterrupted, so no checkpoint is cut short (each is written
// under a temporary name and renamed anyway) and the last complete one stays `latest.pth` for
// --resume-from. A second signal ends the process at once (exit status 128 + signal).
//
//   detkit::InterruptHandler on_ctrl_c;
//   try { train_detector(config, options); }
//   catch (const detkit::TrainingInterrupted& stop) { ...; return stop.exit_status(); }
#pragma once

#include <cstdint>
#include <string>

#include "detkit/error.h"

namespace detkit {

/// Installs the SIGINT / SIGTERM handlers (see the file comment) for its lifetime and restores
/// the previous ones after; clears any earlier request. One at a time per process.
class DETKIT_API InterruptHandler {
 public:
  InterruptHandler();
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;
};

/// The signal that requested a stop (SIGINT, SIGTERM), or 0 when none did.
DETKIT_API int interrupt_signal();

/// Records a stop request as signal `signal` would (for embedding applications and tests).
DETKIT_API void request_interrupt(int signal);

/// A run stopped by a stop request between two iterations.
class DETKIT_API TrainingInterrupted : public Error {
 public:
  /// `epoch` is 1-based (the epoch being run), `iter` the iterations completed in all.
  TrainingInterrupted(int signal, int64_t epoch, int64_t iter, std::string last_checkpoint);
  ~TrainingInterrupted() override;
  int signal() const { return signal_; }
  /// The conventional exit status of a process stopped by the signal: 128 + signal (130).
  int exit_status() const { return 128 + signal_; }
  /// The newest complete checkpoint ("" when none was written).
  const std::string& last_checkpoint() const { return last_checkpoint_; }

 private:
  int signal_;
  std::string last_checkpoint_;
};

}  // namespace detkit
