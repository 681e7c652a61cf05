// The files a user names: one clear line for an input that is not a readable regular file (a
// folder, a FIFO, a symlink loop, a missing file), never a blocked read or a bare "Bad
// address"; and the check that an output does not overwrite an input.
#pragma once

#include <string>
#include <vector>

#include "detkit/error.h"
#include "detkit/export.h"

namespace detkit {

/// Why `path` cannot be read as an input file, as a phrase to follow "PATH: " ("cannot open: no
/// such file", "is a folder, expected a file", "is a symlink loop (too many levels of symbolic
/// links)", "is a FIFO (named pipe), not a regular file", "cannot open: permission denied",
/// ...); "" when it is a regular file that can be opened for reading. Never opens the file, so
/// a FIFO does not block it.
DETKIT_API std::string input_file_problem(const std::string& path);

/// Reads the whole regular file `path`; returns "" or, as input_file_problem, why it could not.
DETKIT_API std::string read_input_file_into(const std::string& path, std::string& content);

/// Throws `Exception` ("PATH: PROBLEM") when `path` is not a readable regular file.
template <typename Exception = DataError>
void require_input_file(const std::string& path) {
  const std::string problem = input_file_problem(path);
  if (!problem.empty()) throw Exception(path + ": " + problem);
}

/// The content of the regular file `path`; throws `Exception` ("PATH: PROBLEM") when it cannot
/// be read.
template <typename Exception = DataError>
std::string read_input_file(const std::string& path) {
  std::string content;
  const std::string problem = read_input_file_into(path, content);
  if (!problem.empty()) throw Exception(path + ": " + problem);
  return content;
}

/// Why writing the file or folder `output` would destroy one of `inputs` (files or folders), as
/// a phrase to follow "OUTPUT: " ("would overwrite the input IN", "would overwrite IN, inside the
/// input folder DIR"); "" when it would not. Paths are compared after resolving symbolic links
/// (and hard links to one file are the same file). An output inside an input folder is refused
/// only where a file exists already (a new file beside the inputs destroys nothing).
DETKIT_API std::string output_overwrites_input(const std::string& output,
                                               const std::vector<std::string>& inputs);

/// Whether `path` is a folder with something in it.
DETKIT_API bool is_non_empty_folder(const std::string& path);

}  // namespace detkit
