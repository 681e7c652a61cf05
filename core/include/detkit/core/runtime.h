// Process start-up for the host and for tests.
#pragma once

#include "detkit/export.h"

namespace detkit {

/// Registers libdetkit's built-in components (through the same section mechanism plugins use)
/// and sets LibTorch's intra-op threads to the number of cores (Debian's LibTorch defaults to
/// 1; DETKIT_NUM_THREADS overrides), and tunes glibc's malloc to keep freed tensor memory for
/// reuse instead of returning it to the system on every free (DETKIT_MALLOC_TUNING=0: glibc's
/// defaults). Idempotent.
DETKIT_API void initialize_runtime();

/// Number of hardware threads (at least 1).
DETKIT_API int hardware_threads();

}  // namespace detkit
