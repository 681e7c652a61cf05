// Start-up: built-in components and threads.
#include "detkit/core/runtime.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "detkit/core/text.h"
#include "detkit/plugin.h"

namespace detkit {

namespace {
void register_builtins() {
  std::vector<ComponentInfo> components;
  detkit_host_context host{sizeof(detkit_host_context), detail::torch_identity(), &components};
  char error[1024] = {0};
  // libdetkit's own `detkit_components` section: the same records a plugin's macros make.
  if (detail::register_section_components(&host, error, sizeof(error)) != 0) {
    throw PluginError(std::string("registering libdetkit's built-in components failed: ") + error);
  }
  for (auto& info : components) {
    info.origin = "libdetkit";
    Registry::of(info.kind).add(std::move(info));
  }
}
/// Keeps freed tensor memory in the heap for the next allocation of the same size (what
/// PyTorch's CUDA caching allocator does for GPU memory): glibc serves blocks from 128 KiB up
/// by mmap and returns them on free, so every forward pass page-faults its activations in
/// afresh (at 800x1216 a ResNet-50 spends a quarter of its time in the kernel doing that).
/// Blocks up to 32 MiB (glibc's largest mmap threshold) now come from the heap, which is not
/// trimmed. DETKIT_MALLOC_TUNING=0 keeps glibc's defaults.
void tune_malloc() {
#if defined(__GLIBC__)
  const char* env = std::getenv("DETKIT_MALLOC_TUNING");
  if (env != nullptr && std::strcmp(env, "0") == 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
}

}  // namespace

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void initialize_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    int threads = hardware_threads();
    if (const char* env = std::getenv("DETKIT_NUM_THREADS")) {
      const int requested = std::atoi(env);
      if (requested > 0) threads = requested;
    }
    at::set_num_threads(threads);
    tune_malloc();
    register_builtins();
  });
}

}  // namespace detkit
