// The pre-dlopen check of a plugin file (private to the plugin loader): before anything of a file
// runs in this process, it must be a regular file holding a shared object for this machine with
// the `dkplug` section. The check reads the file with bounded reads only, so any bytes at all
// (truncated, crafted, another architecture) give a reason, never a crash or a hang.
#pragma once

#include <string>

namespace detkit::plugin_detail {

/// "" when `path` is a regular file holding an ELF shared object for this host's architecture
/// with a section named `dkplug`; else why not, in one line ("not a regular file (a FIFO)",
/// "built for aarch64, this host is x86-64", "not a detkit plugin: no 'dkplug' section ...").
std::string check_plugin_file(const std::string& path);

/// "x86-64", "aarch64", ...: the name of an ELF e_machine value ("ELF machine 1234" if unknown).
std::string elf_machine_name(unsigned machine);

}  // namespace detkit::plugin_detail
