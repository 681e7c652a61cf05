// Plugin discovery, ABI checks and registration.
// Boost 1.74's library_info.hpp needs <vector> before it with BOOST_DLL_USE_STD_FS.
#include <vector>

#include <cxxabi.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/text.h"
#include "detkit/plugin.h"

namespace detkit {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "libdetkit-";
constexpr const char* kSuffix = ".so";

/// The plugin name of a file name, or "" if it is not named like a plugin.
std::string plugin_name_of(const std::string& file_name) {
  const std::string prefix = kPrefix, suffix = kSuffix;
  if (file_name.size() <= prefix.size() + suffix.size()) return {};
  if (file_name.compare(0, prefix.size(), prefix) != 0) return {};
  if (file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0) return {};
  return file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
}

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

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return a == b;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
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

}  // namespace

std::vector<std::string> PluginRecord::warnings() const {
  std::vector<std::string> out;
  for (const auto& skip : skipped) {
    out.push_back("plugin " + path + ": " + kind_name(skip.kind) + " type '" + skip.type +
                  "' skipped: already registered by " + skip.registered_by +
                  " (the first registration wins)");
  }
  return out;
}

const char* plugin_status_name(PluginStatus status) {
  switch (status) {
    case PluginStatus::loaded:
      return "LOADED";
    case PluginStatus::rejected:
      return "REJECTED";
    case PluginStatus::shadowed:
      return "SHADOWED";
  }
  return "?";
}

PluginManager& PluginManager::instance() {
  static auto* manager = new PluginManager();  // never destroyed (plugins are never unloaded)
  return *manager;
}

std::vector<std::string> PluginManager::default_folders() {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path exe_dir = fs::path(boost::dll::program_location(ec).string()).parent_path();
  if (ec) return out;
  for (const fs::path& candidate :
       {exe_dir / ".." / "lib" / "detkit" / "plugins", exe_dir / ".." / "plugins"}) {
    if (fs::is_directory(candidate, ec)) out.push_back(candidate.lexically_normal().string());
  }
  return out;
}

std::vector<std::string> PluginManager::load(const PluginSearch& search) {
  const size_t first_new = records_.size();
  for (const auto& path : search.command_line)
    consider_path(path, "--plugin", true);
  for (const auto& path : search.config)
    consider_path(path, "config", true);
  if (search.use_environment) {
    if (const char* env = std::getenv("DETKIT_PLUGIN_PATH")) {
      std::string value = env;
      size_t start = 0;
      while (start <= value.size()) {
        const size_t colon = value.find(':', start);
        const std::string item =
            value.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (!item.empty()) consider_path(item, "DETKIT_PLUGIN_PATH", false);
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    }
  }
  if (search.use_default_folders) {
    for (const auto& folder : default_folders())
      scan_folder(folder, "plugin folder");
  }
  std::vector<std::string> warnings;
  for (size_t i = first_new; i < records_.size(); ++i) {
    for (auto& line : records_[i].warnings())
      warnings.push_back(std::move(line));
  }
  return warnings;
}

PluginRecord PluginManager::load_file(const std::string& path, const std::string& source) {
  const size_t before = records_.size();
  consider_path(path, source, true);
  if (records_.size() == before) {
    for (const auto& record : records_) {
      if (same_file(record.path, path)) return record;
    }
  }
  return records_.back();
}

void PluginManager::consider_path(const std::string& path, const std::string& source,
                                  bool requested) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    scan_folder(path, source);
    return;
  }
  PluginRecord record;
  record.path = fs::absolute(path, ec).lexically_normal().string();
  record.source = source;
  record.name = plugin_name_of(fs::path(path).filename().string());
  if (!fs::exists(path, ec)) {
    record.reason = "file not found";
    if (requested) records_.push_back(record);
    return;
  }
  for (const auto& seen : seen_files_) {
    if (same_file(seen, record.path)) return;  // the same file reached twice
  }
  seen_files_.push_back(record.path);
  if (record.name.empty()) {
    record.reason = "not named like a plugin (plugin files are named libdetkit-<name>.so)";
    records_.push_back(record);
    return;
  }
  for (const auto& other : records_) {
    if (other.name != record.name || other.status == PluginStatus::shadowed) continue;
    record.status = PluginStatus::shadowed;
    record.reason = "shadowed by " + other.path;
    if (requested && (other.source == "--plugin" || other.source == "config")) {
      record.status = PluginStatus::rejected;
      record.reason = "plugin name '" + record.name + "' is also requested as " + other.path +
                      " (two requested plugins cannot share a name)";
    }
    records_.push_back(record);
    return;
  }
  load_candidate(record);
  records_.push_back(record);
}

void PluginManager::scan_folder(const std::string& folder, const std::string& source) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string file_name = entry.path().filename().string();
    if (!plugin_name_of(file_name).empty() && !entry.is_directory(ec))
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files)
    consider_path(file, source, false);
}

void PluginManager::load_candidate(PluginRecord& record) {
  record.status = PluginStatus::rejected;
  // 1. Before dlopen: a native shared object with our section, so that random .so files never
  //    run their static initializers in this process.
  try {
    boost::dll::library_info info(record.path);
    const auto sections = info.sections();
    if (std::find(sections.begin(), sections.end(), "dkplug") == sections.end()) {
      record.reason =
          "not a detkit plugin: no 'dkplug' section (entry point 'detkit_plugin_v1' not found)";
      return;
    }
  } catch (const std::exception&) {
    record.reason = "not a shared library (the file is not a valid ELF object)";
    return;
  }
  // 2. dlopen: RTLD_NOW refuses unresolved symbols now, and the ABI tripwire with them.
  boost::dll::shared_library library;
  try {
    const auto mode = boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local |
                      static_cast<boost::dll::load_mode::type>(RTLD_NODELETE);
    library.load(record.path, mode);
  } catch (const std::exception& e) {
    record.reason = explain_load_error(e.what());
    return;
  }
  loaded_libraries().push_back(library);  // from here on, never unloaded
  if (!library.has("detkit_plugin_v1")) {
    record.reason = "not a detkit plugin: entry point 'detkit_plugin_v1' not found";
    return;
  }
  // 3. The descriptor: every ABI field before anything else is called.
  const auto entry = library.get<const detkit_plugin_entry_fn>("detkit_plugin_v1");
  if (entry == nullptr) {
    record.reason = "entry point 'detkit_plugin_v1' is null";
    return;
  }
  const detkit_plugin_descriptor* descriptor = entry();
  record.reason = check_descriptor(descriptor, record.name);
  if (!record.reason.empty()) return;
  record.version = descriptor->version;
  record.description = descriptor->description;
  // 4. Registration, staged: nothing is added unless every component is valid.
  std::vector<ComponentInfo> components;
  detkit_host_context host{sizeof(detkit_host_context), detail::torch_identity(), &components};
  char error[1024] = {0};
  if (descriptor->register_components(&host, error, sizeof(error)) != 0) {
    record.reason = std::string("registration failed: ") + error;
    return;
  }
  for (size_t i = 0; i < components.size(); ++i) {
    if (!is_known_kind(static_cast<uint32_t>(components[i].kind))) {
      record.reason = "registers '" + components[i].type + "' into kind number " +
                      std::to_string(static_cast<uint32_t>(components[i].kind)) +
                      ", unknown to this detkit; the plugin needs a newer detkit";
      return;
    }
    for (size_t j = 0; j < i; ++j) {
      if (components[j].kind == components[i].kind && components[j].type == components[i].type) {
        record.reason = std::string("registers ") + kind_name(components[i].kind) + " type '" +
                        components[i].type + "' twice";
        return;
      }
    }
  }
  // A type registered before (built-ins, plugins found earlier) wins; this plugin's component is
  // skipped and reported, its other components register.
  for (auto& info : components) {
    info.origin = record.path;
    if (const ComponentInfo* existing = Registry::of(info.kind).find(info.type)) {
      record.skipped.push_back({info.kind, info.type, existing->origin});
      continue;
    }
    record.components.emplace_back(info.kind, info.type);
    Registry::of(info.kind).add(std::move(info));
  }
  record.status = PluginStatus::loaded;
  record.reason.clear();
}

void PluginManager::require_requested_loaded() const {
  std::vector<std::string> problems;
  for (const auto& record : records_) {
    if ((record.source == "--plugin" || record.source == "config") &&
        record.status != PluginStatus::loaded) {
      problems.push_back(record.path + ": " + record.reason);
    }
  }
  if (problems.empty()) return;
  throw PluginError("requested plugin" + std::string(problems.size() > 1 ? "s" : "") +
                    " could not be loaded:\n  " + join(problems, "\n  "));
}

std::string rejected_plugins_note() {
  std::string out;
  for (const auto& record : PluginManager::instance().records()) {
    if (record.status != PluginStatus::rejected) continue;
    out += "\n  note: plugin " + record.path + " was rejected: " + record.reason;
  }
  return out;
}

}  // namespace detkit
