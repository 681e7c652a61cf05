// detkit: the command-line host. Every error a user can cause ends as one clear message and a
// non-zero exit code (cli::run_command_line), never a stack trace.
#include <csignal>

#include "cli.h"

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) makes writes fail with EFBIG, which detkit reports (and a
  // checkpoint being written is abandoned, the previous one kept), instead of killing it.
  std::signal(SIGXFSZ, SIG_IGN);
  return detkit::cli::run_command_line({argv + 1, argv + argc});
}
