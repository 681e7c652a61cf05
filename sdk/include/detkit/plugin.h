// The plugin entry point. Exactly one source file of a plugin writes
//
//   DETKIT_PLUGIN("losses", "1.0.0", "MMDetection's losses");
//
// which defines the plugin's descriptor and its only exported symbol, `detkit_plugin_v1`, placed
// in the ELF section `dkplug` so the host can tell a plugin from any other .so without loading it.
// The descriptor carries the binary contract (entry ABI, SDK ABI, LibTorch version, string ABI,
// CUDA, compiler, and the layout fingerprint of the SDK headers the plugin was compiled with:
// detkit/abi_fingerprint.h), which the host checks before calling anything else in the plugin;
// its `register_components` function then hands the host the components the plugin's
// DETKIT_REGISTER* lines declared. The components cross the boundary as C++ objects
// (ComponentInfo), which is safe because the fingerprint guarantees both sides agree on every
// layout involved.
#pragma once

#include <c10/core/CPUAllocator.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

#include "detkit/abi_fingerprint.h"
#include "detkit/registry.h"
#include "detkit/version.h"

extern "C" {

/// What the host passes to a plugin's register_components.
typedef struct detkit_host_context {
  uint32_t struct_size;
  /// The address of a LibTorch function as the host sees it; a plugin that sees another address
  /// uses a second copy of LibTorch and must refuse to register.
  const void* torch_identity;
  /// A std::vector<detkit::ComponentInfo>* the plugin appends its components to.
  void* components;
} detkit_host_context;

/// The plugin descriptor (C layout; fields are only ever appended, `struct_size` tells how many
/// a plugin has).
typedef struct detkit_plugin_descriptor {
  uint32_t struct_size;
  uint32_t entry_abi;
  uint32_t sdk_abi_major;
  uint32_t sdk_abi_minor;
  uint32_t torch_major;
  uint32_t torch_minor;
  uint32_t cxx11_abi;
  uint32_t cuda;
  /// 1 = GCC, 2 = Clang.
  uint32_t compiler_id;
  uint32_t compiler_major;
  /// libstdc++ release (_GLIBCXX_RELEASE); a plugin's must be <= the host's.
  uint32_t glibcxx_release;
  /// Must equal the file name between "libdetkit-" and ".so".
  const char* name;
  const char* version;
  const char* description;
  /// Appends the plugin's components to host->components. Returns 0, or non-zero with a message
  /// in `error` (never throws).
  int (*register_components)(const detkit_host_context* host, char* error, size_t error_size);
  /// The ABI tripwire (keeps a data relocation to it, so dlopen resolves it even lazily).
  const int* tripwire;
  /// detkit::sdk_layout_fingerprint() of the SDK headers the plugin was compiled with; must
  /// equal the host's (BuildInfo::layout_fingerprint()). Since SDK 1.0; a descriptor without it
  /// (smaller struct_size) is rejected.
  uint64_t layout_fingerprint;
} detkit_plugin_descriptor;

typedef const detkit_plugin_descriptor* (*detkit_plugin_entry_fn)(void);

// Bounds of this library's `detkit_components` section, provided by the linker.
extern const detkit::detail::DescribeFn __start_detkit_components[]
    __attribute__((weak, visibility("hidden")));
extern const detkit::detail::DescribeFn __stop_detkit_components[]
    __attribute__((weak, visibility("hidden")));
}

#if defined(DETKIT_WITH_CUDA)
#define DETKIT_BUILT_WITH_CUDA 1u
#else
#define DETKIT_BUILT_WITH_CUDA 0u
#endif

#if defined(__clang__)
#define DETKIT_COMPILER_ID 2u
#define DETKIT_COMPILER_MAJOR static_cast<uint32_t>(__clang_major__)
#elif defined(__GNUC__)
#define DETKIT_COMPILER_ID 1u
#define DETKIT_COMPILER_MAJOR static_cast<uint32_t>(__GNUC__)
#else
#define DETKIT_COMPILER_ID 0u
#define DETKIT_COMPILER_MAJOR 0u
#endif

#if defined(_GLIBCXX_RELEASE)
#define DETKIT_GLIBCXX_RELEASE static_cast<uint32_t>(_GLIBCXX_RELEASE)
#else
#define DETKIT_GLIBCXX_RELEASE 0u
#endif

namespace detkit::detail {

/// The identity of the LibTorch instance this library is linked to.
__attribute__((visibility("hidden"))) inline const void* torch_identity() {
  return reinterpret_cast<const void*>(&c10::GetCPUAllocator);
}

/// Copies `message` into a C buffer, truncating.
__attribute__((visibility("hidden"))) inline void copy_error(const char* message, char* error,
                                                             size_t error_size) {
  if (error == nullptr || error_size == 0) return;
  std::strncpy(error, message, error_size - 1);
  error[error_size - 1] = '\0';
}

/// Calls every describe function of this library's `detkit_components` section and appends the
/// results to the host's list. Catches everything: a throwing registration is an error message.
__attribute__((visibility("hidden"))) inline int register_section_components(
    const detkit_host_context* host, char* error, size_t error_size) {
  if (host == nullptr || host->struct_size < sizeof(detkit_host_context) ||
      host->components == nullptr) {
    copy_error("host context is missing or too small", error, error_size);
    return 1;
  }
  if (host->torch_identity != torch_identity()) {
    copy_error(
        "plugin uses a different LibTorch instance than the host (a second copy of "
        "libtorch/libc10 was loaded; rebuild the plugin against the host's LibTorch)",
        error, error_size);
    return 1;
  }
  try {
    auto* out = static_cast<std::vector<ComponentInfo>*>(host->components);
    for (const DescribeFn* fn = __start_detkit_components; fn != __stop_detkit_components; ++fn) {
      if (*fn != nullptr) out->push_back((*fn)());
    }
    return 0;
  } catch (const std::exception& e) {
    copy_error(e.what(), error, error_size);
  } catch (...) {
    copy_error("registration threw a non-standard exception", error, error_size);
  }
  return 1;
}

}  // namespace detkit::detail

/// Defines the plugin's descriptor and entry point. Use once per plugin, at global scope.
/// NAME must equal the plugin's file name between "libdetkit-" and ".so".
#define DETKIT_PLUGIN(NAME, VERSION, DESCRIPTION)                          \
  static const detkit_plugin_descriptor detkit_plugin_descriptor_ = {      \
      sizeof(detkit_plugin_descriptor),                                    \
      DETKIT_PLUGIN_ENTRY_ABI,                                             \
      DETKIT_SDK_ABI_MAJOR,                                                \
      DETKIT_SDK_ABI_MINOR,                                                \
      TORCH_VERSION_MAJOR,                                                 \
      TORCH_VERSION_MINOR,                                                 \
      DETKIT_CXX11_ABI,                                                    \
      DETKIT_BUILT_WITH_CUDA,                                              \
      DETKIT_COMPILER_ID,                                                  \
      DETKIT_COMPILER_MAJOR,                                               \
      DETKIT_GLIBCXX_RELEASE,                                              \
      NAME,                                                                \
      VERSION,                                                             \
      DESCRIPTION,                                                         \
      &::detkit::detail::register_section_components,                      \
      &DETKIT_ABI_TRIPWIRE,                                                \
      ::detkit::sdk_layout_fingerprint()};                                 \
  static const detkit_plugin_descriptor* detkit_plugin_entry_() {          \
    return &detkit_plugin_descriptor_;                                     \
  }                                                                        \
  extern "C" DETKIT_PLUGIN_EXPORT __attribute__((section("dkplug"), used)) \
  const detkit_plugin_entry_fn detkit_plugin_v1 = &detkit_plugin_entry_
