// detkit: the command-line host. Parses the subcommand and hands over; every error a user can
// cause ends here as one clear message and a non-zero exit code, never a stack trace.
#include <csignal>
#include <iostream>

#include "cli.h"
#include "detkit/core/runtime.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "detkit/version.h"

namespace {

void print_usage(std::ostream& out) {
  out << "usage: detkit <command> [options]\n\ncommands:\n";
  for (const auto& command : detkit::cli::commands()) {
    std::string name = command.name;
    out << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ')
        << command.summary << "\n";
  }
  out << "\nRun `detkit <command> --help` for a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) makes writes fail with EFBIG, which detkit reports (and a
  // checkpoint being written is abandoned, the previous one kept), instead of killing it.
  std::signal(SIGXFSZ, SIG_IGN);
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    using detkit::BuildInfo;
    std::cout << "detkit " << BuildInfo::version() << " (SDK ABI " << DETKIT_SDK_ABI_MAJOR << "."
              << DETKIT_SDK_ABI_MINOR << ", LibTorch " << BuildInfo::torch_major() << "."
              << BuildInfo::torch_minor() << ", " << (BuildInfo::cuda() ? "CUDA" : "CPU only")
              << "; plugins must reference " << BuildInfo::tripwire_symbol() << ")\n";
    return 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& command : detkit::cli::commands()) {
    if (name != command.name) continue;
    try {
      detkit::initialize_runtime();
      return command.run(args);
    } catch (const detkit::cli::UsageError& e) {
      std::cerr << "detkit " << name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const detkit::Error& e) {
      std::cerr << "detkit " << name << ": error: " << e.what() << "\n";
    } catch (const std::exception& e) {
      std::cerr << "detkit " << name << ": error: " << detkit::exception_message(e) << "\n";
    }
    return 1;
  }
  std::vector<std::string> names;
  for (const auto& command : detkit::cli::commands())
    names.push_back(command.name);
  std::cerr << "detkit: unknown command '" << name << "'" << detkit::did_you_mean(name, names)
            << "\n";
  print_usage(std::cerr);
  return 2;
}
