// The scan verdict cache file:
//
//   detkit-plugin-scan-cache 1 <FNV-1a 64 of everything after this line, 16 hex digits>
//   build<TAB><build id>
//   <ok 0|1><TAB><time-out ms><TAB><size><TAB><mtime ns><TAB><canonical path><TAB><reason>
//   ...
//
// Strings escape backslash, tab and newline. A file that fails any check (header, checksum,
// field count, number, escape, build) is ignored whole: its plugins are scanned again.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "detkit/version.h"
#include "plugin_scan.h"

namespace detkit::plugin_detail {

namespace {

namespace fs = std::filesystem;

constexpr const char* kMagic = "detkit-plugin-scan-cache 1 ";
/// Larger files are not cache files of ours.
constexpr std::uintmax_t kMaxCacheFile = 8u << 20;

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string hex16(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool unescape(const std::string& text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return false;
    if (text[i] == '\\') {
      out += '\\';
    } else if (text[i] == 't') {
      out += '\t';
    } else if (text[i] == 'n') {
      out += '\n';
    } else {
      return false;
    }
  }
  return true;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

template <class T>
bool parse_number(const std::string& text, T& out) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

ScanCache::ScanCache(std::string file) : file_(std::move(file)) {}

const std::string& ScanCache::build_id() {
  static const std::string id = [] {
    std::string out = std::string("detkit ") + BuildInfo::version() + " layout " +
                      hex16(BuildInfo::layout_fingerprint());
    // libdetkit itself: a rebuilt library rescans every plugin.
    Dl_info info{};
    struct stat file {};
    if (::dladdr(reinterpret_cast<const void*>(&BuildInfo::layout_fingerprint), &info) != 0 &&
        info.dli_fname != nullptr && ::stat(info.dli_fname, &file) == 0) {
      out += " lib " + std::to_string(file.st_size) + ":" + std::to_string(file.st_mtim.tv_sec) +
             "." + std::to_string(file.st_mtim.tv_nsec);
    }
    return out;
  }();
  return id;
}

bool ScanCache::parse(const std::string& text, const std::string& build,
                      std::map<std::string, Entry>& entries) {
  entries.clear();
  const size_t header_end = text.find('\n');
  const std::string magic = kMagic;
  if (header_end == std::string::npos || header_end != magic.size() + 16 ||
      text.compare(0, magic.size(), magic) != 0)
    return false;
  const std::string body = text.substr(header_end + 1);
  if (text.compare(magic.size(), 16, hex16(fnv1a(body))) != 0) return false;
  if (body.empty() || body.back() != '\n') return false;
  const std::vector<std::string> lines = split(body.substr(0, body.size() - 1), '\n');
  std::string stored_build;
  if (lines[0].rfind("build\t", 0) != 0 || !unescape(lines[0].substr(6), stored_build) ||
      stored_build != build)
    return false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> fields = split(lines[i], '\t');
    if (fields.size() != 6 || (fields[0] != "0" && fields[0] != "1")) return false;
    Entry entry;
    uint64_t timeout_ms = 0;
    if (!parse_number(fields[1], timeout_ms) || !parse_number(fields[2], entry.key.size) ||
        !parse_number(fields[3], entry.key.mtime_ns) || !unescape(fields[4], entry.key.path) ||
        !unescape(fields[5], entry.outcome.reason) || entry.key.path.empty())
      return false;
    entry.outcome.ok = fields[0] == "1";
    entry.outcome.timed_out_after = static_cast<double>(timeout_ms) / 1000.0;
    if (entry.outcome.ok == !entry.outcome.reason.empty()) return false;  // ok has no reason
    entries[entry.key.path] = entry;
  }
  return true;
}

std::string ScanCache::format(const std::map<std::string, Entry>& entries,
                              const std::string& build) {
  std::string body = "build\t" + escape(build) + "\n";
  for (const auto& [path, entry] : entries) {
    const auto timeout_ms =
        static_cast<uint64_t>(std::llround(entry.outcome.timed_out_after * 1000));
    body += std::string(entry.outcome.ok ? "1" : "0") + "\t" + std::to_string(timeout_ms) + "\t" +
            std::to_string(entry.key.size) + "\t" + std::to_string(entry.key.mtime_ns) + "\t" +
            escape(entry.key.path) + "\t" + escape(entry.outcome.reason) + "\n";
  }
  return kMagic + hex16(fnv1a(body)) + "\n" + body;
}

std::map<std::string, ScanCache::Entry> ScanCache::read_file() const {
  std::map<std::string, Entry> entries;
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file_, ec);
  if (ec || size > kMaxCacheFile || !fs::is_regular_file(file_, ec)) return entries;
  std::ifstream in(file_, std::ios::binary);
  if (!in) return entries;
  std::ostringstream text;
  text << in.rdbuf();
  if (!parse(text.str(), build_id(), entries)) entries.clear();
  return entries;
}

std::optional<ScanOutcome> ScanCache::find(const ScanKey& key) {
  if (!loaded_) {
    entries_ = read_file();
    loaded_ = true;
  }
  auto it = entries_.find(key.path);
  if (it == entries_.end() || it->second.key.size != key.size ||
      it->second.key.mtime_ns != key.mtime_ns)
    return std::nullopt;
  return it->second.outcome;
}

void ScanCache::store(const ScanKey& key, const ScanOutcome& outcome) {
  // What other detkit processes wrote since we read it, plus this verdict; files that are gone
  // are dropped.
  std::map<std::string, Entry> merged = read_file();
  merged[key.path] = Entry{key, outcome};
  if (outcome.ok) merged[key.path].outcome.reason.clear();
  std::error_code ec;
  for (auto it = merged.begin(); it != merged.end();) {
    if (fs::exists(it->first, ec)) {
      ++it;
    } else {
      it = merged.erase(it);
    }
  }
  entries_ = merged;
  loaded_ = true;
  const fs::path target(file_);
  fs::create_directories(target.parent_path(), ec);
  const std::string temporary = file_ + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << format(merged, build_id());
    out.flush();
    if (!out) {
      fs::remove(temporary, ec);
      return;
    }
  }
  fs::rename(temporary, target, ec);
  if (ec) fs::remove(temporary, ec);
}

}  // namespace detkit::plugin_detail
