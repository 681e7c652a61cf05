// The out-of-process plugin scan (private to the plugin loader). Static initialisers that crash,
// abort, exit or hang cannot be caught in-process, so a plugin file that is new or changed is
// first loaded in a forked child (what audio hosts do with VST plugins and GStreamer with
// gst-plugin-scanner); only a file whose scan succeeded is then loaded into the host. Verdicts
// are cached per file (canonical path, size, mtime) and detkit build, so a warm start forks
// nothing. fork() rather than spawning a helper binary: the child only dlopens, registers into
// a scratch list and _exit()s (no atexit handlers, no static destructors), which glibc supports
// even when the host already has threads; a child stuck on a lock is caught by the time limit.
//
// Environment: DETKIT_PLUGIN_SCAN=0 turns the scan off (plugins load in-process directly);
// DETKIT_PLUGIN_SCAN_TIMEOUT (seconds, default 20) limits one scan; DETKIT_CACHE_DIR places the
// cache (default $XDG_CACHE_HOME/detkit, else ~/.cache/detkit).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace detkit::plugin_detail {

/// What loading a plugin (in a scan process, or in the host) concluded.
struct ScanOutcome {
  bool ok = false;
  /// Why it was rejected (one line).
  std::string reason;
  /// False for verdicts that may change while the file does not (dlopen failing on a missing
  /// dependency): those are not cached.
  bool cacheable = true;
  /// The time limit a scan ran out of (seconds), 0 if it did not time out. A cached time-out is
  /// rescanned when the limit is raised.
  double timed_out_after = 0;
};

/// Where a verdict came from.
enum class ScanSource { off, child, cache };

/// The scan settings, from the environment.
struct ScanSettings {
  /// DETKIT_PLUGIN_SCAN is not "0".
  bool enabled = true;
  /// DETKIT_PLUGIN_SCAN_TIMEOUT, seconds.
  double timeout_s = 20;
  /// The cache file; "" when no cache folder is known.
  std::string cache_file;
  /// Reads the environment; throws PluginError for a malformed DETKIT_PLUGIN_SCAN_TIMEOUT.
  static ScanSettings from_environment();
};

/// Runs `trial` in a forked child that writes its outcome through a pipe and _exit()s. A child
/// killed by a signal, exiting without an outcome, or running longer than `timeout_s` (then
/// killed) gives a rejection saying so, with the last line the child wrote to stderr.
ScanOutcome run_in_scan_process(const std::function<ScanOutcome()>& trial, double timeout_s);

/// Identity of a plugin file for the cache.
struct ScanKey {
  /// Canonical path.
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

/// The verdict cache: one small text file with a checksum, read once, rewritten atomically
/// (temporary file + rename) after each new verdict. A missing, unreadable, corrupt or
/// other-build file is ignored (everything is rescanned), never trusted in part.
class ScanCache {
 public:
  explicit ScanCache(std::string file);
  /// The cached verdict of `key`, if any.
  std::optional<ScanOutcome> find(const ScanKey& key);
  /// Records a verdict and rewrites the file (merged with what other processes wrote since).
  /// Write errors are ignored: the cache only saves time.
  void store(const ScanKey& key, const ScanOutcome& outcome);

  /// The cache file of `text`'s entries parsed; false when `text` is not a valid cache of this
  /// build. Exposed for the checks of corrupt files.
  struct Entry {
    ScanKey key;
    ScanOutcome outcome;
  };
  static bool parse(const std::string& text, const std::string& build_id,
                    std::map<std::string, Entry>& entries);
  static std::string format(const std::map<std::string, Entry>& entries,
                            const std::string& build_id);
  /// Identifies this build of detkit (version, layout fingerprint, libdetkit's size and mtime).
  static const std::string& build_id();

 private:
  std::map<std::string, Entry> read_file() const;
  std::string file_;
  bool loaded_ = false;
  std::map<std::string, Entry> entries_;
};

/// Counts of the verdicts of this process, for `plugins list`.
struct ScanStats {
  /// scan_plugin was called.
  bool used = false;
  int scanned = 0;
  int cached = 0;
  bool enabled = true;
  std::string cache_file;
};

/// The scan of the plugin file `path`: the cached verdict when the file is unchanged, else the
/// outcome of `trial` in a scan process (then cached). Returns nullopt when the scan is off.
std::optional<ScanOutcome> scan_plugin(const std::string& path,
                                       const std::function<ScanOutcome()>& trial,
                                       ScanSource* source = nullptr);

/// What scan_plugin did so far in this process.
const ScanStats& scan_stats();

}  // namespace detkit::plugin_detail
