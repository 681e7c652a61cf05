// Build information and the definition of the ABI tripwire symbol (see detkit/version.h).
#include "detkit/version.h"

#include "detkit/abi_fingerprint.h"

extern "C" DETKIT_API const int DETKIT_ABI_TRIPWIRE = DETKIT_SDK_ABI_MAJOR;

namespace detkit {

const char* BuildInfo::version() {
  return DETKIT_VERSION_STRING;
}
const char* BuildInfo::tripwire_symbol() {
  return DETKIT_STR(DETKIT_ABI_TRIPWIRE);
}
int BuildInfo::torch_major() {
  return TORCH_VERSION_MAJOR;
}
int BuildInfo::torch_minor() {
  return TORCH_VERSION_MINOR;
}
bool BuildInfo::cuda() {
#if defined(DETKIT_WITH_CUDA)
  return true;
#else
  return false;
#endif
}
uint64_t BuildInfo::layout_fingerprint() {
  constexpr uint64_t fingerprint = sdk_layout_fingerprint();  // evaluated at compile time
  return fingerprint;
}

}  // namespace detkit
