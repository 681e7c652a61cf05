// The hook interface (kind `hook`): CheckpointHook, TextLoggerHook, EvalHook, ...
//
// Contract: built with a HookContext (the runner it is attached to); the runner calls the
// points below in MMCV's order, hooks sorted by priority (lower value first; MMCV's names
// HIGHEST = 0 ... LOWEST = 100). Every point has an empty default.
#pragma once

#include <string>

#include "detkit/kind.h"

namespace detkit {

class RunnerBase;

/// MMCV's priority names and values.
enum class HookPriority : int {
  highest = 0,
  very_high = 10,
  high = 30,
  above_normal = 40,
  normal = 50,
  below_normal = 60,
  low = 70,
  very_low = 90,
  lowest = 100,
};

/// Base class of hooks.
class DETKIT_API HookBase {
 public:
  virtual ~HookBase();
  virtual void before_run(RunnerBase& runner);
  virtual void after_run(RunnerBase& runner);
  virtual void before_train_epoch(RunnerBase& runner);
  virtual void after_train_epoch(RunnerBase& runner);
  virtual void before_val_epoch(RunnerBase& runner);
  virtual void after_val_epoch(RunnerBase& runner);
  virtual void before_train_iter(RunnerBase& runner);
  virtual void after_train_iter(RunnerBase& runner);
  virtual void before_val_iter(RunnerBase& runner);
  virtual void after_val_iter(RunnerBase& runner);
  /// The priority a hook has when the config does not set one.
  virtual int default_priority() const { return static_cast<int>(HookPriority::normal); }
};

}  // namespace detkit
