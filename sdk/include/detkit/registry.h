// The component registries (one per Kind) and `register_module`, in C++.
//
// A component is registered by one macro line next to its class:
//
//   class FocalLossImpl : public LossBase {
//    public:
//     static Schema schema();                                   // its parameters
//     static std::shared_ptr<FocalLossImpl> create(const ComponentConfig& cfg);
//     ...
//   };
//   TORCH_MODULE(FocalLoss);
//   DETKIT_REGISTER_MODULE(loss, FocalLoss);   // type "FocalLoss", class FocalLossImpl
//
// DETKIT_REGISTER(kind, Class) registers a plain class under its own name, and
// DETKIT_REGISTER_AS(kind, Class, "Name") under another name. The macros do not run code at load
// time: they place a pointer to a describe function in the `detkit_components` section of the
// library, and the host calls those functions explicitly (from the plugin's entry point, or from
// libdetkit for built-ins), so a registration that throws is reported, not fatal.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "detkit/component_config.h"
#include "detkit/error.h"
#include "detkit/kind.h"
#include "detkit/schema.h"

namespace detkit {

/// Builds a component from its validated config; returns a pointer to the kind's base class
/// (KindBase<kind>::type), type-erased.
using ComponentFactory = std::function<std::shared_ptr<void>(const ComponentConfig&)>;

/// Everything the host knows about one registered component.
struct DETKIT_API ComponentInfo {
  Kind kind = Kind::backbone;
  /// The `type:` name, case-sensitive.
  std::string type;
  Schema schema;
  ComponentFactory factory;
  /// The file that provided it (plugin path, or "libdetkit" for built-ins); set by the host.
  std::string origin;
};

/// The registry of one kind. Registries live in libdetkit (one instance per process).
class DETKIT_API Registry {
 public:
  /// The registry of `kind`.
  static Registry& of(Kind kind);

  Kind kind() const { return kind_; }
  /// "backbone", "loss", ...
  const char* name() const;
  /// Adds a component. Throws PluginError if the type is already registered, naming both files.
  void add(ComponentInfo info);
  /// The component named `type`, or nullptr.
  const ComponentInfo* find(std::string_view type) const;
  /// The component named `type`; throws ConfigError "unknown <kind> type 'X'" with a
  /// did-you-mean, the known types and the plugins that were rejected (which may have held it).
  const ComponentInfo& get(std::string_view type, const SourceMark& where = {},
                           const std::string& path = {}) const;
  /// All components, sorted by type.
  std::vector<const ComponentInfo*> components() const;
  /// All type names, sorted.
  std::vector<std::string> types() const;

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

 private:
  explicit Registry(Kind kind);
  struct State;
  Kind kind_;
  std::shared_ptr<State> state_;
};

/// Finds the component a config map names (its `type:`) in the registry of `kind`, checks every
/// key against its schema, fills the defaults, and returns the typed view. `default_args` are
/// merged in first where the config does not set them (MMDetection's build_from_cfg
/// default_args). Throws one ConfigError listing every problem found, each with file:line:col,
/// the dotted path and a suggestion.
DETKIT_API ComponentConfig validate_component(Kind kind, const ConfigNode& cfg,
                                              const std::string& path,
                                              const ConfigNode* default_args = nullptr);

/// Validates `cfg` and calls the component's factory; the result points to KindBase<kind>::type.
DETKIT_API std::shared_ptr<void> build_component(Kind kind, const ConfigNode& cfg,
                                                 const std::string& path,
                                                 const ConfigNode* default_args = nullptr);

/// Builds a component of the kind whose base class is `Base`:
///   auto loss = detkit::build<LossBase>(cfg.at("loss_cls"), "model.bbox_head.loss_cls");
template <class Base>
std::shared_ptr<Base> build(const ConfigNode& cfg, const std::string& path = {},
                            const ConfigNode* default_args = nullptr) {
  return std::static_pointer_cast<Base>(
      build_component(KindOf<Base>::value, cfg, path, default_args));
}

namespace detail {

/// A registration record: returns the description of one component.
using DescribeFn = ComponentInfo (*)();

/// The ComponentInfo of class C registered as `type` in kind K. C provides
/// `static Schema schema()` and `static std::shared_ptr<C> create(const ComponentConfig&)`.
template <Kind K, class C>
ComponentInfo describe(const char* type) {
  using Base = typename KindBase<K>::type;
  static_assert(std::is_base_of_v<Base, C>,
                "a component must derive from the base class of its kind (see KindBase)");
  ComponentInfo info;
  info.kind = K;
  info.type = type;
  info.schema = C::schema();
  info.factory = [](const ComponentConfig& cfg) -> std::shared_ptr<void> {
    std::shared_ptr<Base> object = C::create(cfg);
    if (!object) throw Error(std::string("factory of '") + cfg.type() + "' returned null");
    return object;
  };
  return info;
}

}  // namespace detail
}  // namespace detkit

#if defined(__ELF__)
#define DETKIT_COMPONENT_SECTION \
  __attribute__((used, section("detkit_components"), aligned(sizeof(void*))))
#else
#error "detkit component registration needs an ELF target (Linux); see docs on Windows support"
#endif

#define DETKIT_REGISTER_RECORD_(KIND, CLASS, NAME, ID)                           \
  static ::detkit::ComponentInfo DETKIT_CAT(detkit_describe_, ID)() {            \
    return ::detkit::detail::describe<::detkit::Kind::KIND, CLASS>(NAME);        \
  }                                                                              \
  DETKIT_COMPONENT_SECTION static const ::detkit::detail::DescribeFn DETKIT_CAT( \
      detkit_component_, ID) = &DETKIT_CAT(detkit_describe_, ID)

/// Registers CLASS in the registry of KIND under the type name NAME (a string literal).
#define DETKIT_REGISTER_AS(KIND, CLASS, NAME) \
  DETKIT_REGISTER_RECORD_(KIND, CLASS, NAME, __COUNTER__)
/// Registers CLASS in the registry of KIND under its own name.
#define DETKIT_REGISTER(KIND, CLASS) DETKIT_REGISTER_AS(KIND, CLASS, #CLASS)
/// Registers the module NAMEImpl (a TORCH_MODULE(NAME) component) under the type name NAME.
#define DETKIT_REGISTER_MODULE(KIND, NAME) DETKIT_REGISTER_AS(KIND, NAME##Impl, #NAME)
