// The plugin's entry point: exactly one source file of a plugin says who it is. The name must
// equal the file name between "libdetkit-" and ".so" (detkit_add_plugin(mobilenet ...) builds
// libdetkit-mobilenet.so). The components are the DETKIT_REGISTER* lines of the other files.
#include <detkit/plugin.h>

DETKIT_PLUGIN("mobilenet", "1.0.0",
              "MobileNet-style backbone and one example per kind: neck, head, loss, transform, "
              "hook, LR policy (detkit's out-of-tree plugin template)");
