// InterruptHandler and TrainingInterrupted: see detkit/core/interrupt.h.
#include "detkit/core/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

#include <fmt/format.h>

namespace detkit {

namespace {

/// The signal of the pending request (0: none). Lock-free, so the handler may set it.
std::atomic<int> g_requested{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free int");

struct sigaction g_previous_int, g_previous_term;

/// The handler: a first signal records the request, a second one ends the process now. Only
/// async-signal-safe calls (write, _exit).
extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  if (g_requested.compare_exchange_strong(expected, signal)) {
    static const char message[] =
        "\ndetkit: stopping after the current iteration (press Ctrl-C again to quit now)\n";
    const ssize_t ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    return;
  }
  ::_exit(128 + signal);
}

}  // namespace

InterruptHandler::InterruptHandler() {
  g_requested = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress carry on
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptHandler::~InterruptHandler() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
}

int interrupt_signal() {
  return g_requested.load();
}

void request_interrupt(int signal) {
  g_requested = signal;
}

TrainingInterrupted::TrainingInterrupted(int signal, int64_t epoch, int64_t iter,
                                         std::string last_checkpoint)
    : Error(fmt::format("interrupted at epoch {} iter {}; last checkpoint: {}", epoch, iter,
                        last_checkpoint.empty() ? "none written yet" : last_checkpoint)),
      signal_(signal),
      last_checkpoint_(std::move(last_checkpoint)) {}

TrainingInterrupted::~TrainingInterrupted() = default;

}  // namespace detkit
