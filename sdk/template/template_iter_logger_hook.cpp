// TemplateIterLoggerHook: counts the training iterations and prints a line every `interval`
// of them. The template's example hook (kind `hook`, registered as `TemplateIterLoggerHook`).
//
//   custom_hooks: [{type: TemplateIterLoggerHook, interval: 10}]
//
// A hook overrides only the points it needs (every point of detkit::HookBase has an empty
// default) and reads the runner's position from the RunnerBase it receives.
#include <detkit/engine/hook.h>
#include <detkit/engine/runner.h>
#include <detkit/params.h>
#include <detkit/registry.h>
#include <torch/arg.h>

#include <cstdint>
#include <iostream>

namespace mobilenet_plugin {

/// Options of TemplateIterLoggerHook; the config keys have the same names.
struct TemplateIterLoggerHookOptions {
  /// Print every `interval` training iterations.
  TORCH_ARG(int64_t, interval) = 50;

 public:
  /// The parameters, declared once (schema, config reading, checks, printed form).
  template <class P>
  void declare(P& p) {
    p.summary("Count training iterations and print a line every `interval` of them.");
    DETKIT_PARAM(p, interval, "print every `interval` training iterations").min(1);
  }
};

/// The hook. Prints, to standard output, after every `interval`-th training iteration since
/// before_run:
///   "TemplateIterLoggerHook: 20 iterations (epoch 2, iter 20/120)"
/// where epoch is 1-based and iter is runner.iter() + 1 (in after_train_iter the runner has not
/// yet counted the iteration that just ended, as in MMCV).
class TemplateIterLoggerHook : public detkit::HookBase {
 public:
  /// The declared options (the registry reads them from the config and calls the constructor;
  /// a hook's build context, the runner, is not needed here).
  using Options = TemplateIterLoggerHookOptions;

  /// Checks the options against their declaration (InvalidParameter on a violation).
  explicit TemplateIterLoggerHook(const TemplateIterLoggerHookOptions& options_ = {})
      : options(options_) {
    detkit::check_options(options, "TemplateIterLoggerHook");
  }

  /// Starts counting from zero.
  void before_run(detkit::RunnerBase&) override { count_ = 0; }

  /// Counts one iteration; prints every `interval`.
  void after_train_iter(detkit::RunnerBase& runner) override {
    ++count_;
    if (count_ % options.interval() != 0) return;
    std::cout << "TemplateIterLoggerHook: " << count_ << " iterations (epoch " << runner.epoch() + 1
              << ", iter " << runner.iter() + 1 << "/" << runner.max_iters() << ")" << std::endl;
  }

  /// Loggers run after the other hooks of a point (MMCV: VERY_LOW).
  int default_priority() const override { return static_cast<int>(detkit::HookPriority::very_low); }

  /// The number of training iterations seen since before_run.
  int64_t count() const { return count_; }

  /// The options the hook was built with.
  TemplateIterLoggerHookOptions options;

 private:
  int64_t count_ = 0;
};

DETKIT_REGISTER(hook, TemplateIterLoggerHook);

}  // namespace mobilenet_plugin
