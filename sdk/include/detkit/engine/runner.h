// The runner interface (kind `runner`: EpochBasedRunner, IterBasedRunner).
//
// Contract: built with a RunnerContext (the model, the optimizer and the work dir); run()
// executes the config's workflow, calling its hooks at MMCV's points in priority order. Hooks
// and policies read the position (epoch, iter, inner_iter) and the limits from it.
#pragma once

#include <cstdint>
#include <string>

#include "detkit/kind.h"

namespace detkit {

class OptimizerBase;
class DetectorBase;

/// Base class of runners.
class DETKIT_API RunnerBase {
 public:
  virtual ~RunnerBase();
  /// Runs the workflow to the end.
  virtual void run() = 0;
  /// Completed epochs (0-based index of the current one).
  virtual int64_t epoch() const = 0;
  /// Completed training iterations, over all epochs.
  virtual int64_t iter() const = 0;
  /// The iteration within the current epoch.
  virtual int64_t inner_iter() const = 0;
  /// The limits (one of them is what the runner counts; the other is derived or 0).
  virtual int64_t max_epochs() const = 0;
  virtual int64_t max_iters() const = 0;
  /// The output folder.
  virtual const std::string& work_dir() const = 0;
  /// The model and the optimizer being trained (the optimizer may be null in val/test).
  virtual DetectorBase& model() = 0;
  virtual OptimizerBase* optimizer() = 0;
};

}  // namespace detkit
