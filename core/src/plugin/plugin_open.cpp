// Opening a plugin file in this process (or in the scan process): dlopen, the descriptor checks,
// the registration call and the checks of every component handed over.
#include "plugin_open.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <boost/dll/shared_library.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "detkit/plugin.h"

namespace detkit::plugin_detail {

namespace {

std::string demangle(const std::string& symbol) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) return symbol;
  std::string out = demangled;
  std::free(demangled);
  return out;
}

/// Turns Boost.DLL's load error into one line a user can act on.
std::string explain_load_error(const std::string& raw) {
  std::string message = raw;
  const std::string marker = "dlerror system message: ";
  const size_t start = message.find(marker);
  if (start != std::string::npos) {
    message = message.substr(start + marker.size());
    const size_t end = message.rfind(')');
    if (end != std::string::npos) message = message.substr(0, end);
  }
  static const std::regex undefined(R"(undefined symbol: ([A-Za-z0-9_.$@]+))");
  std::smatch match;
  if (std::regex_search(message, match, undefined)) {
    const std::string symbol = match[1].str();
    static const std::regex tripwire(R"(detkit_abi_(\d+)_torch_(\d+)_(\d+)_cxx11abi_(\d+))");
    std::smatch t;
    if (std::regex_match(symbol, t, tripwire)) {
      return "built against SDK ABI " + t[1].str() + " / LibTorch " + t[2].str() + "." +
             t[3].str() + " / cxx11 ABI " + t[4].str() + ", but this host provides SDK ABI " +
             std::to_string(DETKIT_SDK_ABI_MAJOR) + " / LibTorch " +
             std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
             " / cxx11 ABI " + std::to_string(DETKIT_CXX11_ABI) +
             "; rebuild the plugin against this SDK";
    }
    if (symbol.rfind("detkit_abi_", 0) == 0) {
      return "built against an incompatible detkit SDK (needs " + symbol + ", host provides " +
             BuildInfo::tripwire_symbol() + "); rebuild the plugin against this SDK";
    }
    return "unresolved symbol " + demangle(symbol) +
           "; the plugin is missing a dependency or was built against another library version";
  }
  return "dlopen failed: " + message;
}

/// Handles of loaded plugins, intentionally leaked: plugins are never unloaded.
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static auto* libraries = new std::vector<boost::dll::shared_library>();
  return *libraries;
}

/// "0x0123456789abcdef".
std::string hex64(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

/// Checks every field of a descriptor; returns "" or the first mismatch.
std::string check_descriptor(const detkit_plugin_descriptor* d, const std::string& stem) {
  if (d == nullptr) return "entry point returned no descriptor";
  constexpr size_t fingerprint_offset = offsetof(detkit_plugin_descriptor, layout_fingerprint);
  if (d->struct_size < fingerprint_offset) {
    return "descriptor is too small (" + std::to_string(d->struct_size) + " bytes, expected " +
           std::to_string(sizeof(detkit_plugin_descriptor)) + ")";
  }
  auto mismatch = [](const std::string& what, const std::string& got, const std::string& want) {
    return what + " mismatch: plugin has " + got + ", host supports " + want;
  };
  if (d->entry_abi != DETKIT_PLUGIN_ENTRY_ABI)
    return mismatch("entry ABI", std::to_string(d->entry_abi),
                    std::to_string(DETKIT_PLUGIN_ENTRY_ABI));
  if (d->sdk_abi_major != DETKIT_SDK_ABI_MAJOR)
    return mismatch("SDK ABI major", std::to_string(d->sdk_abi_major),
                    std::to_string(DETKIT_SDK_ABI_MAJOR)) +
           "; rebuild the plugin against this SDK";
  if (d->sdk_abi_minor > DETKIT_SDK_ABI_MINOR)
    return mismatch("SDK ABI minor", std::to_string(d->sdk_abi_minor),
                    "<= " + std::to_string(DETKIT_SDK_ABI_MINOR)) +
           "; the plugin needs a newer detkit";
  if (d->torch_major != TORCH_VERSION_MAJOR || d->torch_minor != TORCH_VERSION_MINOR)
    return mismatch(
        "LibTorch version", std::to_string(d->torch_major) + "." + std::to_string(d->torch_minor),
        std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR));
  if (d->cxx11_abi != DETKIT_CXX11_ABI)
    return mismatch("_GLIBCXX_USE_CXX11_ABI", std::to_string(d->cxx11_abi),
                    std::to_string(DETKIT_CXX11_ABI));
  if (d->cuda != DETKIT_BUILT_WITH_CUDA)
    return mismatch("CUDA build", d->cuda ? "CUDA" : "CPU-only",
                    DETKIT_BUILT_WITH_CUDA ? "CUDA" : "CPU-only");
  if (d->glibcxx_release > DETKIT_GLIBCXX_RELEASE)
    return mismatch("libstdc++ release", std::to_string(d->glibcxx_release),
                    "<= " + std::to_string(DETKIT_GLIBCXX_RELEASE));
  // Fields after `tripwire` are read only when struct_size says the plugin has them.
  if (d->struct_size < fingerprint_offset + sizeof(d->layout_fingerprint))
    return "built against an SDK without layout fingerprint; rebuild it against this detkit";
  if (d->layout_fingerprint != BuildInfo::layout_fingerprint())
    return "SDK layout fingerprint " + hex64(d->layout_fingerprint) + " differs from the host's " +
           hex64(BuildInfo::layout_fingerprint()) +
           ": the plugin was built against SDK headers with other struct layouts; rebuild it "
           "against this detkit";
  auto empty = [](const char* s) { return s == nullptr || *s == '\0'; };
  if (empty(d->name)) return "descriptor field 'name' is empty";
  if (empty(d->version)) return "descriptor field 'version' is empty";
  if (empty(d->description)) return "descriptor field 'description' is empty";
  if (d->name != stem)
    return "descriptor name '" + std::string(d->name) +
           "' does not match the file name (expected '" + stem + "' for libdetkit-" + stem + ".so)";
  if (d->register_components == nullptr) return "descriptor has no register_components";
  return {};
}

/// A plugin's error message: at most `size` bytes (a plugin may leave the buffer without a
/// NUL), control characters as spaces, so the reason stays one line.
std::string plugin_message(const char* error, size_t size) {
  std::string message(error, strnlen(error, size));
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return message;
}

/// Opens a plugin (dlopen; never unloaded), checks its descriptor, calls its registration and
/// checks every component it handed over, registering nothing: what the scan process and the
/// host both run. Fills the record's version and description.
}  // namespace

ScanOutcome open_plugin(PluginRecord& record, std::vector<ComponentInfo>& components) {
  auto reject = [](std::string reason, bool cacheable = true) {
    return ScanOutcome{false, std::move(reason), cacheable, 0};
  };
  // RTLD_NOW refuses unresolved symbols now, and the ABI tripwire with them. A failing dlopen
  // may succeed later without the file changing (a missing dependency installed): not cached.
  boost::dll::shared_library library;
  try {
    const auto mode = boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local |
                      static_cast<boost::dll::load_mode::type>(RTLD_NODELETE);
    library.load(record.path, mode);
  } catch (const std::exception& e) {
    return reject(explain_load_error(e.what()), false);
  }
  loaded_libraries().push_back(library);  // from here on, never unloaded
  if (!library.has("detkit_plugin_v1"))
    return reject("not a detkit plugin: entry point 'detkit_plugin_v1' not found");
  // The descriptor: every ABI field before anything else is called.
  const auto entry = library.get<const detkit_plugin_entry_fn>("detkit_plugin_v1");
  if (entry == nullptr) return reject("entry point 'detkit_plugin_v1' is null");
  const detkit_plugin_descriptor* descriptor = entry();
  std::string problem = check_descriptor(descriptor, record.name);
  if (!problem.empty()) return reject(problem);
  record.version = descriptor->version;
  record.description = descriptor->description;
  // Registration into a scratch list: a throw, an error or an invalid component rejects the
  // whole plugin with nothing registered.
  detkit_host_context host{sizeof(detkit_host_context), detail::torch_identity(), &components};
  char error[1024] = {0};
  int status = 0;
  try {
    status = descriptor->register_components(&host, error, sizeof(error));
  } catch (const std::exception& e) {
    return reject(std::string("registration failed: register_components threw: ") + e.what());
  } catch (...) {
    return reject("registration failed: register_components threw a non-standard exception");
  }
  if (status != 0) {
    const std::string message = plugin_message(error, sizeof(error));
    return reject("registration failed: " +
                  (message.empty() ? std::string("the plugin gave no reason") : message));
  }
  for (size_t i = 0; i < components.size(); ++i) {
    problem = component_problem(components[i]);
    if (!problem.empty()) return reject("registration failed: " + problem);
    for (size_t j = 0; j < i; ++j) {
      if (components[j].kind == components[i].kind && components[j].type == components[i].type) {
        return reject(std::string("registers ") + kind_name(components[i].kind) + " type '" +
                      components[i].type + "' twice");
      }
    }
  }
  return {true, "", true, 0};
}

}  // namespace detkit::plugin_detail
