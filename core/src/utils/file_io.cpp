// Input files a user names, checked before they are opened; outputs checked against inputs.
#include "detkit/core/file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace detkit {

namespace {

namespace fs = std::filesystem;

/// A failed stat() or access() in detkit's words.
std::string errno_phrase(int error, const std::string& path) {
  switch (error) {
    case ENOENT: {
      struct stat link;
      if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
        return "cannot open: a broken symbolic link (its target does not exist)";
      return "cannot open: no such file";
    }
    case ENOTDIR:
      return "cannot open: no such file (a folder in the path is a file)";
    case ELOOP:
      return "is a symlink loop (too many levels of symbolic links)";
    case EACCES:
      return "cannot open: permission denied";
    case ENAMETOOLONG:
      return "cannot open: the name is too long";
    default:
      return std::string("cannot open: ") + std::strerror(error);
  }
}

/// What kind of file `mode` is, for "is a ..., not a regular file".
const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

/// `path` with symbolic links resolved (as far as it exists), for comparisons.
fs::path resolved(const std::string& path) {
  std::error_code error;
  const fs::path out = fs::weakly_canonical(fs::absolute(path, error), error);
  return error ? fs::path(path).lexically_normal() : out;
}

/// Whether `path` lies strictly inside `folder` (both resolved).
bool is_inside(const fs::path& path, const fs::path& folder) {
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f, ++p) {
    if (f->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *f) return false;
  }
  return p != path.end();
}

bool same_file(const fs::path& a, const fs::path& b) {
  if (a == b) return true;
  std::error_code error;
  return fs::equivalent(a, b, error) && !error;
}

}  // namespace

std::string input_file_problem(const std::string& path) {
  if (path.empty()) return "cannot open: an empty file name";
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return errno_phrase(errno, path);
  if (S_ISDIR(info.st_mode)) return "is a folder, expected a file";
  if (!S_ISREG(info.st_mode))
    return std::string("is ") + file_kind(info.st_mode) + ", not a regular file";
  if (::access(path.c_str(), R_OK) != 0) return errno_phrase(errno, path);
  return "";
}

std::string read_input_file_into(const std::string& path, std::string& content) {
  const std::string problem = input_file_problem(path);
  if (!problem.empty()) return problem;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return errno_phrase(errno, path);
  const std::streamoff size = in.tellg();
  if (size < 0) return "cannot read the file";
  content.assign(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (size > 0 && !in.read(content.data(), size))
    return std::string("cannot read the file (") + std::strerror(errno) + ")";
  return "";
}

std::string output_overwrites_input(const std::string& output,
                                    const std::vector<std::string>& inputs) {
  const fs::path out = resolved(output);
  std::error_code error;
  for (const std::string& input : inputs) {
    if (input.empty()) continue;
    const fs::path in = resolved(input);
    if (same_file(out, in)) return "would overwrite the input " + input + " (the same file)";
    if (fs::is_directory(in, error) && is_inside(out, in) && fs::exists(out, error))
      return "would overwrite " + out.string() + ", inside the input folder " + input;
  }
  return "";
}

bool is_non_empty_folder(const std::string& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) return false;
  return fs::directory_iterator(path, error) != fs::directory_iterator();
}

}  // namespace detkit
