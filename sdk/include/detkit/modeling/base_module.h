// The module base of MMCV 1.7 (mmcv.runner.BaseModule): a module that carries an `init_cfg`
// and initialises itself, then its children, in init_weights() — plus MMCV's containers
// Sequential and ModuleList that accept an `init_cfg` too, and the init log every model keeps.
//
// LibTorch components derive from torch::nn::Module through their kind's base class
// (BackboneBase, NeckBase, ...), so BaseModule is a mixin, not a Module:
//
//   class MyHeadImpl : public detkit::DenseHeadBase, public detkit::BaseModule {
//    public:
//     MyHeadImpl() : BaseModule(default_init_cfg()) { ... register_module("cls", ...); }
//     void init_weights() override {    // optional, as MMDetection heads override it
//       BaseModule::init_weights();     // init_cfg first, then the children
//       detkit::normal_init(*cls, 0, 0.01, detkit::bias_init_with_prob(0.01));
//     }
//   };
//
// Components that do not derive from BaseModule still behave as MMDetection's (which are all
// BaseModules): the registry attaches the config's `init_cfg` to every backbone, neck, head,
// RoI extractor and detector it builds (set_init_cfg below), and init_weights(model) treats
// them as BaseModules named by their `type`. A config's init_cfg replaces the one a component
// chose for itself, as in MMDetection, where a class default (ResNet's Kaiming + Constant)
// applies only when init_cfg is None; a component with such a default derives from BaseModule
// and passes it to BaseModule's constructor (set_init_cfg() on a module that is not a
// BaseModule needs a shared_ptr owner, which a constructor does not have yet).
//
// The semantics follow mmcv-1.7.2 exactly (docs/mmdet-semantics.md §3.4): nothing is
// initialised at construction; init_weights() applies the module's own init_cfg (unless it ran
// before: then it warns "init_weights of X has been called more than once."), returns early
// after a Pretrained dict, then calls init_weights() of each direct child that has one, so a
// child's own init_cfg wins over its parent's. A top-level call records, for every parameter,
// which initializer changed it (compared by mean) into the model's init log.
//
// One difference from mmcv-1.7.2: a top-level init_weights() that returns early after a
// Pretrained dict still records and reports its init log (MMCV skips the dump there). The
// Pretrained initializer reads checkpoints written by torch::save (C++) and torch.save'd dicts
// of tensors; PyTorch state_dict .pth files (OrderedDicts) need detkit's checkpoint reader.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/export.h"

namespace detkit {

/// The names a module answers to in MMCV's `layer` matching (`m.__class__.__name__` and the
/// names of its direct base classes `m.__class__.__bases__`). Modules that do not implement it
/// are named by mmcv_class_name() below.
class DETKIT_API MmcvNamed {
 public:
  virtual ~MmcvNamed();
  /// MMCV's class name, e.g. "BatchNorm2d", "ConvModule", "ResNet".
  virtual std::string mmcv_class_name() const = 0;
  /// The names of the direct base classes in MMCV, e.g. {"_BatchNorm"} for BatchNorm2d.
  virtual std::vector<std::string> mmcv_base_names() const;
};

/// The class name MMCV would give `module`: its MmcvNamed answer; else the `type` it was built
/// as by the registry; else LibTorch's own layers under their Python names
/// (torch::nn::Conv2dImpl -> "Conv2d", LinearImpl -> "Linear", BatchNorm2dImpl ->
/// "BatchNorm2d"); else the C++ class name without namespace and "Impl" suffix.
DETKIT_API std::string mmcv_class_name(const torch::nn::Module& module);
/// The names of the direct base classes MMCV would see (torch::nn::BatchNorm2dImpl ->
/// {"_BatchNorm"}, Conv2dImpl -> {"_ConvNd"}, LinearImpl -> {"Module"}).
DETKIT_API std::vector<std::string> mmcv_base_names(const torch::nn::Module& module);

/// One parameter's entry of the init log.
struct DETKIT_API InitRecord {
  /// The parameter's name in the model ("backbone.conv1.weight").
  std::string name;
  std::vector<int64_t> shape;
  /// What set it, in MMCV's words: "KaimingInit: a=0, mode=fan_out, nonlinearity=relu,
  /// distribution =normal, bias=0", "Initialized by user-defined `init_weights` in ConvModule ",
  /// or, for a parameter no initializer changed, "The value is the same before and after
  /// calling `init_weights` of RetinaNet ".
  std::string info;
};
/// The init log of a model: one record per parameter, in named_parameters() order.
using InitLog = std::vector<InitRecord>;

/// The init_cfg state of one module: its config and whether init_weights() already ran.
struct DETKIT_API InitState {
  /// A map (one initializer), a list of maps, or null.
  ConfigNode init_cfg;
  /// Where init_cfg came from, for messages ("model.backbone.init_cfg", "ResNet.init_cfg").
  std::string path;
  /// MMCV's `_is_init`.
  bool is_init = false;
  /// The init log of the last top-level init_weights() on this module.
  InitLog log;
};

/// MMCV's BaseModule, as a mixin of a torch::nn::Module subclass.
class DETKIT_API BaseModule : public MmcvNamed {
 public:
  /// `init_cfg`: a map, a list of maps, or null (nothing of its own to apply).
  explicit BaseModule(ConfigNode init_cfg = {});
  ~BaseModule() override;
  BaseModule(const BaseModule&) = default;
  BaseModule& operator=(const BaseModule&) = default;

  /// MMCV's BaseModule.init_weights(); override it to add custom initialisation and call
  /// BaseModule::init_weights() from the override (MMCV's super().init_weights()).
  virtual void init_weights();

  /// The init_cfg (a copy is kept: later changes to the caller's node do not matter).
  const ConfigNode& init_cfg() const { return state_.init_cfg; }
  /// Replaces the init_cfg; `path` names it in messages (default: "<Class>.init_cfg").
  void set_init_cfg(ConfigNode init_cfg, std::string path = {});
  /// Whether init_weights() has run (MMCV's is_init).
  bool is_init() const { return state_.is_init; }

  /// The C++ class name without namespace and "Impl" suffix ("FooImpl" -> "Foo").
  std::string mmcv_class_name() const override;
  /// {"BaseModule"}.
  std::vector<std::string> mmcv_base_names() const override;

  /// The init state (init_cfg, path, is_init), for the host's init_weights.
  InitState& init_state() { return state_; }
  const InitState& init_state() const { return state_; }

 protected:
  /// This object as the torch::nn::Module it must also be; throws detkit::Error otherwise.
  torch::nn::Module& as_module();
  const torch::nn::Module& as_module() const;

 private:
  InitState state_;
};

/// MMCV's mmcv.runner.Sequential: a torch::nn::Sequential with an init_cfg.
///   detkit::Sequential blocks(init_cfg, conv, bn, relu);
class DETKIT_API SequentialImpl : public torch::nn::SequentialImpl, public BaseModule {
 public:
  SequentialImpl() = default;
  /// The modules (ModuleHolders or shared_ptrs), in order, named "0", "1", ...
  template <typename... Modules>
  explicit SequentialImpl(ConfigNode init_cfg, Modules&&... modules)
      : BaseModule(std::move(init_cfg)) {
    (push_back(std::forward<Modules>(modules)), ...);
  }
  /// "Sequential".
  std::string mmcv_class_name() const override;
  /// {"BaseModule", "Sequential"}.
  std::vector<std::string> mmcv_base_names() const override;
};
/// A ModuleHolder (shared pointer) of SequentialImpl.
TORCH_MODULE(Sequential);

/// MMCV's mmcv.runner.ModuleList: a torch::nn::ModuleList with an init_cfg.
class DETKIT_API ModuleListImpl : public torch::nn::ModuleListImpl, public BaseModule {
 public:
  ModuleListImpl() = default;
  /// The modules (ModuleHolders or shared_ptrs), in order, named "0", "1", ...
  template <typename... Modules>
  explicit ModuleListImpl(ConfigNode init_cfg, Modules&&... modules)
      : BaseModule(std::move(init_cfg)) {
    (push_back(std::forward<Modules>(modules)), ...);
  }
  /// "ModuleList".
  std::string mmcv_class_name() const override;
  /// {"BaseModule", "ModuleList"}.
  std::vector<std::string> mmcv_base_names() const override;
};
/// A ModuleHolder (shared pointer) of ModuleListImpl.
TORCH_MODULE(ModuleList);

/// Gives `module` an init_cfg (replacing the one it has). A BaseModule keeps it itself; any
/// other module (it must be owned by a std::shared_ptr, as ModuleHolders and registry-built
/// components are) becomes a BaseModule for init_weights(), named `class_name` (default:
/// mmcv_class_name(module)).
DETKIT_API void set_init_cfg(torch::nn::Module& module, ConfigNode init_cfg, std::string path = {},
                             std::string class_name = {});
/// The init state of `module` if it is a BaseModule (by class or by set_init_cfg), else null.
DETKIT_API const InitState* init_state(const torch::nn::Module& module);
/// Whether init_weights() would call `module`'s init_weights (MMCV's hasattr(m,
/// 'init_weights')).
DETKIT_API bool has_init_weights(const torch::nn::Module& module);

/// Initialises a model: `model`'s init_weights() (a module that has none is treated as a
/// BaseModule without init_cfg). When this is the top-level call, returns the init log, also
/// kept with the model (init_log()) and reported through the model messages' info channel;
/// else an empty log.
DETKIT_API InitLog init_weights(torch::nn::Module& model);
/// The init log of the last top-level init_weights() of `model` (empty if none ran).
DETKIT_API InitLog init_log(const torch::nn::Module& model);
/// The log as MMCV's _dump_init_info writes it to a log file: the line "Name of parameter -
/// Initialization information", then per parameter "\n{name} - torch.Size([...]): \n{info} \n".
DETKIT_API std::string format_init_log(const InitLog& log);

/// Where init_weights(), the initializers and ConvModule report, as MMCV's logger and
/// `warnings.warn` do. Each channel may be empty (the message is dropped).
struct DETKIT_API ModelMessages {
  /// MMCV's print_log(..., logger='mmcv'): "initialize ResNet with init_cfg {...}", "load
  /// model from: x.pth", the init log of a top-level init_weights.
  std::function<void(const std::string&)> info;
  /// MMCV's warnings: "init_weights of ResNet has been called more than once.", checkpoint
  /// keys that do not match, "Unnecessary conv bias before batch/instance norm".
  std::function<void(const std::string&)> warning;
};
/// Installs the process-wide message sink and returns the previous one. The default drops info
/// and writes each warning to stderr as "UserWarning: <text>".
DETKIT_API ModelMessages set_model_messages(ModelMessages messages);
/// Sends a line to the current sink's info channel.
DETKIT_API void model_info(const std::string& text);
/// Sends a line to the current sink's warning channel.
DETKIT_API void model_warning(const std::string& text);

}  // namespace detkit
