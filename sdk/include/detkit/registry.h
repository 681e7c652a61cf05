// The component registries (one per Kind) and `register_module`, in C++.
//
// A component is registered by one macro line next to its class:
//
//   struct FocalLossOptions { ...; template <class P> void declare(P& p) {...} };
//   class FocalLossImpl : public LossBase {
//    public:
//     using Options = FocalLossOptions;
//     explicit FocalLossImpl(const Options& options = {});
//     ...
//   };
//   TORCH_MODULE(FocalLoss);
//   DETKIT_REGISTER_MODULE(loss, FocalLoss);   // type "FocalLoss", class FocalLossImpl
//
// The factory a registration generates, by what the class provides (first match wins):
//   1. `static std::shared_ptr<C> create(const ComponentConfig&, const Context&)`;
//   2. `static std::shared_ptr<C> create(const ComponentConfig&)` (kinds with NoContext);
//   3. `using Options = ...` with declare(): C(options, context) or C(options), the options read
//      from the validated config; an InvalidParameter thrown by the constructor points at the
//      parameter's line in the config.
// The schema is `static Schema schema()` when C has one, else the Options' declaration.
// Context is the kind's build context (kind_traits.h). A kind's base class is required at
// compile time (`static_assert`).
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
#include <typeinfo>
#include <vector>

#include "detkit/component_config.h"
#include "detkit/error.h"
#include "detkit/kind.h"
#include "detkit/kind_traits.h"
#include "detkit/params.h"
#include "detkit/schema.h"

namespace detkit {

/// Builds a component from its validated config and its kind's build context (passed as a
/// pointer to KindTraits<kind>::Context); returns a pointer to the kind's base class,
/// type-erased.
using ComponentFactory =
    std::function<std::shared_ptr<void>(const ComponentConfig&, const void* context)>;
/// The parameter values an object built by a factory holds (a config map), for components
/// declared with an Options struct; empty for others.
using ComponentValues = std::function<ConfigNode(const void* object)>;

/// Everything the host knows about one registered component.
struct DETKIT_API ComponentInfo {
  Kind kind = Kind::backbone;
  /// The `type:` name, case-sensitive.
  std::string type;
  Schema schema;
  ComponentFactory factory;
  /// typeid of the kind's base class (what the factory's pointer points to).
  const std::type_info* base_type = nullptr;
  /// The values a built object holds (see ComponentValues); may be empty.
  ComponentValues values;
  /// The file that provided it (plugin path, or "libdetkit" for built-ins); set by the host.
  std::string origin;
};

/// The registry of one kind. Registries live in libdetkit (one instance per process).
class DETKIT_API Registry {
 public:
  /// The registry of `kind`. Throws PluginError for a number that is not a kind of this SDK.
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

/// Finds the component a config map names (its `type:`, or the key `type_key` says) in the
/// registry of `kind`, checks every key against its schema, fills the defaults, and returns the
/// typed view. `default_args` are merged in first where the config does not set them
/// (MMDetection's build_from_cfg default_args). Throws one ConfigError listing every problem
/// found, each with file:line:col, the dotted path and a suggestion.
DETKIT_API ComponentConfig validate_component(Kind kind, const ConfigNode& cfg,
                                              const std::string& path,
                                              const ConfigNode* default_args = nullptr,
                                              const TypeKey& type_key = {});

/// A built component: a pointer to its kind's base class, with that class's typeid.
struct DETKIT_API BuiltComponent {
  std::shared_ptr<void> object;
  const std::type_info* base_type = nullptr;
  std::string type;
};

/// Validates `cfg` and calls the component's factory with `context` (a pointer to the kind's
/// context type).
DETKIT_API BuiltComponent build_component(Kind kind, const ConfigNode& cfg, const std::string& path,
                                          const void* context,
                                          const ConfigNode* default_args = nullptr,
                                          const TypeKey& type_key = {});

/// Throws Error unless a component built as `type` points to `expected` (the base class the
/// caller asked for): guards against a registry entry whose factory returns another class.
DETKIT_API void check_built_type(const BuiltComponent& built, Kind kind,
                                 const std::type_info& expected);

/// Builds a component of the kind whose base class is `Base`, with that kind's context:
///   auto neck = detkit::build<NeckBase>(cfg.at("neck"), "model.neck",
///                                       NeckContext{backbone->output_shapes(), "backbone"});
template <class Base>
std::shared_ptr<Base> build(const ConfigNode& cfg, const std::string& path = {},
                            const ContextOf<Base>& context = {},
                            const ConfigNode* default_args = nullptr,
                            const TypeKey& type_key = {}) {
  constexpr Kind kind = KindOf<Base>::value;
  BuiltComponent built = build_component(kind, cfg, path, &context, default_args, type_key);
  check_built_type(built, kind, typeid(Base));
  return std::static_pointer_cast<Base>(built.object);
}

namespace detail {

/// Gives a module built by a factory the `init_cfg` of its config (weight initialisation,
/// detkit/modeling/base_module.h); called by the generated factories of module kinds.
DETKIT_API void attach_init_cfg(const std::shared_ptr<torch::nn::Module>& module,
                                const ComponentConfig& cfg);

/// A registration record: returns the description of one component.
using DescribeFn = ComponentInfo (*)();

template <class C, class Ctx>
using create_with_context_t =
    decltype(C::create(std::declval<const ComponentConfig&>(), std::declval<const Ctx&>()));
template <class C>
using create_t = decltype(C::create(std::declval<const ComponentConfig&>()));
template <class C>
using schema_t = decltype(C::schema());
template <class C>
using options_t = typename C::Options;
template <class C>
using options_member_t = decltype(std::declval<const C&>().options);

template <class, template <class...> class Op, class... Args>
struct detector : std::false_type {};
template <template <class...> class Op, class... Args>
struct detector<std::void_t<Op<Args...>>, Op, Args...> : std::true_type {};
/// Whether Op<Args...> is a valid type.
template <template <class...> class Op, class... Args>
inline constexpr bool is_detected_v = detector<void, Op, Args...>::value;

/// Constructs C from options (and the context, when C takes it); an InvalidParameter becomes
/// a ConfigError at the parameter's line.
template <class C, class Context>
std::shared_ptr<C> construct_from_options(const ComponentConfig& cfg, const Context& context) {
  using Options = typename C::Options;
  const Options options = options_from<Options>(cfg);
  try {
    if constexpr (std::is_constructible_v<C, const Options&, const Context&>) {
      return std::make_shared<C>(options, context);
    } else {
      static_assert(std::is_constructible_v<C, const Options&>,
                    "a component with an Options type needs a constructor C(const Options&) or "
                    "C(const Options&, const Context&) for its kind's context");
      return std::make_shared<C>(options);
    }
  } catch (const InvalidParameter& e) {
    cfg.fail(e.param(), e.what());
  }
}

/// The ComponentInfo of class C registered as `type` in kind K.
template <Kind K, class C>
ComponentInfo describe(const char* type) {
  using Base = typename KindTraits<K>::Base;
  using Context = typename KindTraits<K>::Context;
  static_assert(std::is_base_of_v<Base, C>,
                "a component must derive from the base class of its kind (see kind_traits.h)");
  constexpr bool has_create_ctx = is_detected_v<create_with_context_t, C, Context>;
  constexpr bool has_create = is_detected_v<create_t, C>;
  constexpr bool has_options = is_detected_v<options_t, C>;
  static_assert(has_create_ctx || has_create || has_options,
                "a component needs `using Options = ...` (with declare()) or a static create()");
  static_assert(has_create_ctx || !has_create || std::is_same_v<Context, NoContext>,
                "this kind's factories receive a build context: declare "
                "create(const ComponentConfig&, const Context&) (see kind_traits.h)");
  ComponentInfo info;
  info.kind = K;
  info.type = type;
  info.base_type = &typeid(Base);
  if constexpr (is_detected_v<schema_t, C>) {
    info.schema = C::schema();
  } else {
    static_assert(has_options, "a component needs a static schema() or an Options declaration");
    info.schema = schema_of<typename C::Options>();
  }
  info.factory = [](const ComponentConfig& cfg, const void* erased) -> std::shared_ptr<void> {
    static const Context empty{};
    const Context& context = erased ? *static_cast<const Context*>(erased) : empty;
    std::shared_ptr<Base> object;
    if constexpr (has_create_ctx) {
      object = C::create(cfg, context);
    } else if constexpr (has_create) {
      object = C::create(cfg);
    } else {
      object = construct_from_options<C>(cfg, context);
    }
    if (!object) throw Error(std::string("factory of '") + cfg.type() + "' returned null");
    if constexpr (std::is_base_of_v<torch::nn::Module, Base>) attach_init_cfg(object, cfg);
    return object;
  };
  if constexpr (has_options && is_detected_v<options_member_t, C>) {
    info.values = [](const void* object) {
      const auto* base = static_cast<const Base*>(object);
      const auto* self = dynamic_cast<const C*>(base);
      return self ? values_of(self->options) : ConfigNode();
    };
  }
  return info;
}

}  // namespace detail
}  // namespace detkit

#if defined(__ELF__)
#define DETKIT_COMPONENT_SECTION \
  __attribute__((used, section("detkit_components"), aligned(sizeof(void*))))
#else
#error "detkit component registration needs an ELF target (Linux)"
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
