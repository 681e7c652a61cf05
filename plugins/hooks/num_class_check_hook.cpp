// NumClassCheckHook (MMDetection 2.25's mmdet/datasets/utils.py): before each training and
// validation epoch, checks that the model predicts as many classes as the phase's dataset has
// (`CLASSES`); warns when the dataset does not name its classes.
#include <torch/torch.h>

#include "detkit/engine/hook.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/params.h"
#include "detkit/registry.h"

namespace detkit::hooks {

/// NumClassCheckHook has no parameters.
struct NumClassCheckHookOptions {
  /// The (empty) declaration.
  template <class P>
  void declare(P& p) {
    p.summary(
        "Check the model's number of classes against the dataset's CLASSES (MMDetection "
        "NumClassCheckHook).");
  }
};

/// MMDetection's NumClassCheckHook (priority NORMAL).
class NumClassCheckHook : public HookBase {
 public:
  using Options = NumClassCheckHookOptions;
  /// Nothing to configure.
  explicit NumClassCheckHook(const NumClassCheckHookOptions& = {}) {}

  /// Checks the phase's dataset against the model.
  void before_train_epoch(RunnerBase& runner) override { check_head(runner); }
  void before_val_epoch(RunnerBase& runner) override { check_head(runner); }

 private:
  /// The model's class without namespace and LibTorch's `Impl` suffix ("RetinaNet").
  static std::string model_name(const torch::nn::Module& model) {
    std::string name = model.name();
    const size_t colon = name.rfind("::");
    if (colon != std::string::npos) name = name.substr(colon + 2);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) {
      name.resize(name.size() - 4);
    }
    return name;
  }

  static void check_head(RunnerBase& runner) {
    const std::vector<std::string> classes = runner.dataset_classes();
    const std::string dataset = "the " + runner.mode() + " dataset";
    if (classes.empty()) {
      runner.log_info("Please set `CLASSES` in " + dataset +
                      " and check if it is consistent with the `num_classes` of head");
      return;
    }
    DetectorBase& model = runner.model();
    const size_t num_classes = model.class_names().size();
    if (num_classes != classes.size()) {
      throw Error("The `num_classes` (" + std::to_string(num_classes) + ") in " +
                  model_name(model) + " does not match the length of `CLASSES` (" +
                  std::to_string(classes.size()) + ") in " + dataset);
    }
  }
};

DETKIT_REGISTER(hook, NumClassCheckHook);

}  // namespace detkit::hooks
