// Key functions of the engine interfaces and the hooks' empty defaults.
#include <torch/torch.h>

#include "detkit/engine/hook.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/engine/scheduler.h"

namespace detkit {

OptimizerBase::~OptimizerBase() = default;
OptimizerConstructorBase::~OptimizerConstructorBase() = default;
RunnerBase::~RunnerBase() = default;
HookBase::~HookBase() = default;
SchedulerBase::~SchedulerBase() = default;

size_t OptimizerBase::num_groups() {
  return optimizer().param_groups().size();
}

double OptimizerBase::lr(size_t group) {
  return optimizer().param_groups().at(group).options().get_lr();
}

void OptimizerBase::set_lr(size_t group, double value) {
  optimizer().param_groups().at(group).options().set_lr(value);
}

void HookBase::before_run(RunnerBase&) {}
void HookBase::after_run(RunnerBase&) {}
void HookBase::before_train_epoch(RunnerBase&) {}
void HookBase::after_train_epoch(RunnerBase&) {}
void HookBase::before_val_epoch(RunnerBase&) {}
void HookBase::after_val_epoch(RunnerBase&) {}
void HookBase::before_train_iter(RunnerBase&) {}
void HookBase::after_train_iter(RunnerBase&) {}
void HookBase::before_val_iter(RunnerBase&) {}
void HookBase::after_val_iter(RunnerBase&) {}

}  // namespace detkit
