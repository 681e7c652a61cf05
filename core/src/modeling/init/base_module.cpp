// BaseModule and init_weights() as mmcv-1.7.2's BaseModule runs them, the init state of
// modules that are not BaseModule subclasses (registry-built components, containers given an
// init_cfg), the init log and the model message sink.
#include "detkit/modeling/base_module.h"

#include <c10/util/Type.h>

#include <iostream>
#include <mutex>
#include <string>
#include <unordered_map>

#include "detkit/error.h"
#include "detkit/kind.h"
#include "detkit/modeling/init.h"
#include "detkit/registry.h"
#include "init_internal.h"

namespace detkit {

namespace {

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ message sink ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

std::mutex& messages_mutex() {
  static std::mutex mutex;
  return mutex;
}

ModelMessages& current_messages() {
  static ModelMessages messages{
      nullptr, [](const std::string& text) { std::cerr << "UserWarning: " << text << "\n"; }};
  return messages;
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~ init state of non-BaseModule modules ~~~~~~~~~~~~~~~~~~~~~~~~~

/// The init state of a module that is not a BaseModule, kept while the module lives.
struct SideEntry {
  std::weak_ptr<torch::nn::Module> owner;
  InitState state;
  std::string class_name;
};

struct SideTable {
  std::mutex mutex;
  std::unordered_map<const torch::nn::Module*, std::shared_ptr<SideEntry>> entries;
  size_t purge_at = 64;
};

SideTable& side_table() {
  static SideTable table;
  return table;
}

/// The live entry of `module`, or null (stale entries of destroyed modules are dropped).
std::shared_ptr<SideEntry> find_entry(const torch::nn::Module& module) {
  SideTable& table = side_table();
  std::lock_guard<std::mutex> lock(table.mutex);
  const auto found = table.entries.find(&module);
  if (found == table.entries.end()) return nullptr;
  if (found->second->owner.expired()) {
    table.entries.erase(found);
    return nullptr;
  }
  return found->second;
}

/// The entry of `module`, created if needed; throws Error if `module` is not owned by a
/// shared_ptr (its lifetime could not be followed).
std::shared_ptr<SideEntry> entry_for(torch::nn::Module& module) {
  if (auto entry = find_entry(module)) return entry;
  std::shared_ptr<torch::nn::Module> owner;
  try {
    owner = module.shared_from_this();
  } catch (const std::bad_weak_ptr&) {
    throw Error("cannot give " + mmcv_class_name(module) +
                " an init_cfg: the module must be owned by a std::shared_ptr (a ModuleHolder "
                "or std::make_shared) or derive from detkit::BaseModule");
  }
  auto entry = std::make_shared<SideEntry>();
  entry->owner = owner;
  SideTable& table = side_table();
  std::lock_guard<std::mutex> lock(table.mutex);
  if (table.entries.size() >= table.purge_at) {
    for (auto it = table.entries.begin(); it != table.entries.end();) {
      it = it->second->owner.expired() ? table.entries.erase(it) : std::next(it);
    }
    table.purge_at = std::max<size_t>(64, 2 * table.entries.size());
  }
  table.entries[&module] = entry;
  return entry;
}

/// MMCV's `if self.init_cfg:` (None, {} and [] are false).
bool truthy(const ConfigNode& node) {
  if (node.is_null()) return false;
  if (node.is_map() || node.is_list()) return node.size() != 0;
  return true;
}

void call_init_weights(torch::nn::Module& module);

/// MMCV's BaseModule.init_weights() for `self` with init state `state`.
void run_init_weights(torch::nn::Module& self, InitState& state, const std::string& class_name) {
  std::unique_ptr<detail::InitSession> own;
  if (detail::session_of(self) == nullptr) {
    own = std::make_unique<detail::InitSession>(self, class_name);
  }
  struct EndSession {
    detail::InitSession* session;
    ~EndSession() {
      if (session != nullptr) detail::end_session(session);
    }
  } end_session{own.get()};

  const auto finish = [&] {
    if (!own) return;
    state.log = own->log();
    for (const auto& record : state.log) {
      model_info("\n" + record.name + " - " + detail::torch_size_repr(record.shape) + ": \n" +
                 record.info + " \n ");
    }
  };

  if (state.is_init) {
    model_warning("init_weights of " + class_name + " has been called more than once.");
    finish();
    return;
  }
  if (truthy(state.init_cfg)) {
    model_info("initialize " + class_name + " with init_cfg " + python_repr(state.init_cfg));
    initialize(self, state.init_cfg, state.path.empty() ? class_name + ".init_cfg" : state.path);
    const ConfigNode* type = state.init_cfg.is_map() ? state.init_cfg.find("type") : nullptr;
    if (type != nullptr && type->is_string() && type->as_string() == "Pretrained") {
      // The pretrained weights must not be overwritten by the children's init_weights.
      finish();
      return;
    }
  }
  for (const auto& child : self.children()) {
    if (!has_init_weights(*child)) continue;
    call_init_weights(*child);
    detail::update_init_info(
        *child, "Initialized by user-defined `init_weights` in " + mmcv_class_name(*child) + " ");
  }
  state.is_init = true;
  finish();
}

void call_init_weights(torch::nn::Module& module) {
  if (auto* base = dynamic_cast<BaseModule*>(&module)) {
    base->init_weights();
  } else if (auto entry = find_entry(module)) {
    run_init_weights(module, entry->state, mmcv_class_name(module));
  }
}

}  // namespace

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ BaseModule ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

MmcvNamed::~MmcvNamed() = default;

std::vector<std::string> MmcvNamed::mmcv_base_names() const {
  return {};
}

BaseModule::BaseModule(ConfigNode init_cfg) {
  state_.init_cfg = std::move(init_cfg);
}

BaseModule::~BaseModule() = default;

void BaseModule::set_init_cfg(ConfigNode init_cfg, std::string path) {
  state_.init_cfg = std::move(init_cfg);
  state_.path = std::move(path);
}

void BaseModule::init_weights() {
  run_init_weights(as_module(), state_, mmcv_class_name());
}

std::string BaseModule::mmcv_class_name() const {
  std::string name = c10::demangle(typeid(*this).name());
  const size_t template_start = name.find('<');
  const size_t scope = name.rfind("::", template_start);
  if (scope != std::string::npos) name = name.substr(scope + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0)
    name.resize(name.size() - 4);
  return name;
}

std::vector<std::string> BaseModule::mmcv_base_names() const {
  return {"BaseModule"};
}

torch::nn::Module& BaseModule::as_module() {
  auto* module = dynamic_cast<torch::nn::Module*>(this);
  if (module == nullptr) {
    throw Error(mmcv_class_name() +
                " derives from detkit::BaseModule but not from torch::nn::Module: BaseModule is "
                "a mixin of modules");
  }
  return *module;
}

const torch::nn::Module& BaseModule::as_module() const {
  return const_cast<BaseModule*>(this)->as_module();
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ free functions ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

void set_init_cfg(torch::nn::Module& module, ConfigNode init_cfg, std::string path,
                  std::string class_name) {
  if (auto* base = dynamic_cast<BaseModule*>(&module)) {
    base->set_init_cfg(std::move(init_cfg), std::move(path));
    return;
  }
  auto entry = entry_for(module);
  entry->state.init_cfg = std::move(init_cfg);
  entry->state.path = std::move(path);
  if (!class_name.empty()) entry->class_name = std::move(class_name);
}

const InitState* init_state(const torch::nn::Module& module) {
  if (const auto* base = dynamic_cast<const BaseModule*>(&module)) return &base->init_state();
  auto entry = find_entry(module);
  return entry ? &entry->state : nullptr;
}

bool has_init_weights(const torch::nn::Module& module) {
  return dynamic_cast<const BaseModule*>(&module) != nullptr || find_entry(module) != nullptr;
}

InitLog init_weights(torch::nn::Module& model) {
  const bool top_level = detail::session_of(model) == nullptr;
  if (auto* base = dynamic_cast<BaseModule*>(&model)) {
    base->init_weights();
    return top_level ? base->init_state().log : InitLog();
  }
  std::shared_ptr<SideEntry> entry = find_entry(model);
  if (!entry) {
    try {
      entry = entry_for(model);
    } catch (const Error&) {
      // Not owned by a shared_ptr: a BaseModule without init_cfg for this call only.
      InitState state;
      run_init_weights(model, state, mmcv_class_name(model));
      return top_level ? state.log : InitLog();
    }
  }
  run_init_weights(model, entry->state, mmcv_class_name(model));
  return top_level ? entry->state.log : InitLog();
}

InitLog init_log(const torch::nn::Module& model) {
  const InitState* state = init_state(model);
  return state ? state->log : InitLog();
}

std::string format_init_log(const InitLog& log) {
  std::string out = "Name of parameter - Initialization information\n";
  for (const auto& record : log) {
    out += "\n" + record.name + " - " + detail::torch_size_repr(record.shape) + ": \n" +
           record.info + " \n";
  }
  return out;
}

ModelMessages set_model_messages(ModelMessages messages) {
  std::lock_guard<std::mutex> lock(messages_mutex());
  std::swap(current_messages(), messages);
  return messages;
}

void model_info(const std::string& text) {
  std::function<void(const std::string&)> sink;
  {
    std::lock_guard<std::mutex> lock(messages_mutex());
    sink = current_messages().info;
  }
  if (sink) sink(text);
}

void model_warning(const std::string& text) {
  std::function<void(const std::string&)> sink;
  {
    std::lock_guard<std::mutex> lock(messages_mutex());
    sink = current_messages().warning;
  }
  if (sink) sink(text);
}

namespace detail {

std::string registered_class_name(const torch::nn::Module& module) {
  auto entry = find_entry(module);
  return entry ? entry->class_name : std::string();
}

void attach_init_cfg(const std::shared_ptr<torch::nn::Module>& module, const ComponentConfig& cfg) {
  if (!module || !kind_is_module(cfg.kind())) return;
  const ConfigNode* init_cfg = cfg.values().find("init_cfg");
  const bool given = init_cfg != nullptr && !init_cfg->is_null();
  const std::string path = cfg.path().empty() ? "init_cfg" : cfg.path() + ".init_cfg";
  if (auto* base = dynamic_cast<BaseModule*>(module.get())) {
    // A config's init_cfg replaces the one the component chose itself (MMDetection: the
    // class default applies only when init_cfg is None).
    if (given) base->set_init_cfg(*init_cfg, path);
    return;
  }
  // MMDetection's backbones, necks, heads, RoI extractors and detectors are all BaseModules;
  // losses and layers are plain modules unless given an init_cfg.
  static const Kind kBaseModuleKinds[] = {Kind::backbone,      Kind::neck,      Kind::dense_head,
                                          Kind::roi_head,      Kind::bbox_head, Kind::mask_head,
                                          Kind::roi_extractor, Kind::detector};
  bool base_module_kind = false;
  for (Kind kind : kBaseModuleKinds)
    base_module_kind = base_module_kind || kind == cfg.kind();
  if (!given && !base_module_kind) return;
  auto entry = entry_for(*module);
  if (given) {
    entry->state.init_cfg = *init_cfg;
    entry->state.path = path;
  }
  entry->class_name = cfg.type();
}

}  // namespace detail

}  // namespace detkit
