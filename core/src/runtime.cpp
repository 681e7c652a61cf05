// Start-up: built-in components and threads.
#include "detkit/core/runtime.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <mutex>
#include <thread>

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
    register_builtins();
  });
}

}  // namespace detkit
