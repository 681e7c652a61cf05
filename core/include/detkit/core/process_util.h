// Helpers for code that runs child processes: how a signal is named in messages, and reading
// what a non-blocking pipe holds. Header-only: shared by the plugin scan process (core) and
// `detkit dist-train` (CLI) without new exports.
#pragma once

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>

namespace detkit {

/// "signal 9, SIGKILL: Killed": the number, the abbreviation where glibc has sigabbrev_np, and
/// strsignal's description.
inline std::string signal_text(int signal_number) {
  std::string out = "signal " + std::to_string(signal_number);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* abbrev = ::sigabbrev_np(signal_number)) out += std::string(", SIG") + abbrev;
#endif
  if (const char* description = ::strsignal(signal_number)) out += std::string(": ") + description;
  return out;
}

/// Reads what the non-blocking `fd` has now into `out` (keeping at most `limit` bytes: the first
/// ones for `keep_head`, else the last ones); returns false at end of file or on an error.
inline bool read_available(int fd, std::string& out, size_t limit = std::string::npos,
                           bool keep_head = false) {
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > limit) {
      if (keep_head) {
        out.resize(limit);
      } else {
        out.erase(0, out.size() - limit);
      }
    }
  }
}

}  // namespace detkit
