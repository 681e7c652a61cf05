// Version numbers of detkit and of the binary contract between the host and its plugins.
#pragma once

#include <torch/version.h>

#include <cstddef>  // defines _GLIBCXX_USE_CXX11_ABI (libstdc++'s c++config.h)
#include <cstdint>

#include "detkit/build_config.h"
#include "detkit/export.h"

/// detkit release version.
#define DETKIT_VERSION_STRING "0.1.0"

/// Entry-point ABI: the layout of detkit_plugin_descriptor. A new layout gets a new symbol
/// (detkit_plugin_v2) so that hosts and plugins of different layouts never misread each other.
#define DETKIT_PLUGIN_ENTRY_ABI 1

/// SDK ABI major: bumped on any incompatible change of an SDK function signature or of the layout
/// of a type compiled into plugins (every type listed in detkit/abi_fingerprint.h; the layout
/// fingerprint makes the host reject a plugin whose layouts differ, whatever its major says).
/// Host and plugin majors must be equal.
#define DETKIT_SDK_ABI_MAJOR 1
/// SDK ABI minor: bumped on backward-compatible additions (new functions, kinds, non-inline
/// members), never on a layout change. A plugin's minor must be <= the host's.
/// 2: detkit/modeling/detector_parts.h, ConfigNode::typed().
/// 3: detkit/engine/dist_utils.h (rank, world size, collectives for hooks and SyncBN).
#define DETKIT_SDK_ABI_MINOR 3

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define DETKIT_CXX11_ABI _GLIBCXX_USE_CXX11_ABI
#else
#define DETKIT_CXX11_ABI 0
#endif

/// The link-level tripwire: a symbol whose *name* encodes the binary contract, defined only in
/// libdetkit. A plugin built against another SDK major, LibTorch
/// major.minor or string ABI references a name libdetkit does not define, so dlopen() refuses
/// it before any of its static initializers run.
#define DETKIT_ABI_TRIPWIRE                                                                   \
  DETKIT_CAT(DETKIT_CAT(DETKIT_CAT(DETKIT_CAT(detkit_abi_, DETKIT_SDK_ABI_MAJOR), _torch_),   \
                        DETKIT_CAT(DETKIT_CAT(TORCH_VERSION_MAJOR, _), TORCH_VERSION_MINOR)), \
             DETKIT_CAT(_cxx11abi_, DETKIT_CXX11_ABI))

extern "C" DETKIT_API const int DETKIT_ABI_TRIPWIRE;

// Code compiled against these headers must use the LibTorch and the string ABI libdetkit was
// built with (detkit/build_config.h records them); otherwise it would fail to link with a wall
// of undefined references, or crash.
static_assert(TORCH_VERSION_MAJOR == DETKIT_BUILT_TORCH_MAJOR &&
                  TORCH_VERSION_MINOR == DETKIT_BUILT_TORCH_MINOR,
              "detkit ABI mismatch: libdetkit was built with LibTorch " DETKIT_BUILT_TORCH_TEXT
              "; this code compiles against another LibTorch: build it with the same one");
static_assert(DETKIT_CXX11_ABI == DETKIT_BUILT_CXX11_ABI,
              "detkit ABI mismatch: libdetkit was built with "
              "_GLIBCXX_USE_CXX11_ABI=" DETKIT_BUILT_CXX11_ABI_TEXT
              "; compile this code with the same value");

namespace detkit {

/// Version numbers of this build of libdetkit (the host side of the contract).
struct DETKIT_API BuildInfo {
  static const char* version();
  static const char* tripwire_symbol();
  static int torch_major();
  static int torch_minor();
  static bool cuda();
  /// detkit::sdk_layout_fingerprint() as libdetkit was compiled (detkit/abi_fingerprint.h).
  static uint64_t layout_fingerprint();
};

}  // namespace detkit
