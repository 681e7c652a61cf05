// Helpers of the checkpoint tests: running tests/reference/gen_checkpoints.py with Debian's
// /usr/bin/python3 at test time, and the manifest format it writes ("<file> <key> <dtype>
// <shape> <hex bytes>", '-' for an empty shape or no bytes).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "detkit/checkpoint.h"
#include "test_support.h"

namespace detkit::testing {

/// Runs gen_checkpoints.py with `args`; fails the test (with Python's output) unless it exits 0.
inline ProcessResult run_reference(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "/usr/bin/python3", std::string(DETKIT_SOURCE_DIR) + "/tests/reference/gen_checkpoints.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult result = run_process(argv);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  return result;
}

/// One tensor of a manifest.
struct ManifestEntry {
  std::string file, key, dtype, shape, hex;
};

/// The lines of a manifest file.
inline std::vector<ManifestEntry> read_manifest(const std::string& path) {
  std::ifstream in(path);
  std::vector<ManifestEntry> entries;
  ManifestEntry e;
  while (in >> e.file >> e.key >> e.dtype >> e.shape >> e.hex)
    entries.push_back(e);
  return entries;
}

/// The manifest fields of `tensor`: {dtype, shape, hex of the row-major bytes}.
inline std::vector<std::string> describe(const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.contiguous();
  std::string shape;
  for (const int64_t size : t.sizes())
    shape += (shape.empty() ? "" : ",") + std::to_string(size);
  std::string hex;
  const auto* bytes = static_cast<const unsigned char*>(t.data_ptr());
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < t.nbytes(); ++i) {
    hex += digits[bytes[i] >> 4];
    hex += digits[bytes[i] & 15];
  }
  return {python_dtype_name(t.scalar_type()), shape.empty() ? "-" : shape, hex.empty() ? "-" : hex};
}

/// Writes a manifest of `state_dict` for `gen_checkpoints.py check`.
inline void write_manifest(const std::string& path, const StateDict& state_dict) {
  std::ofstream out(path);
  for (const auto& item : state_dict) {
    const auto d = describe(item.value());
    out << "- " << item.key() << " " << d[0] << " " << d[1] << " " << d[2] << "\n";
  }
}

/// The message of the CheckpointError `body` throws ("no error" if none).
template <typename Body>
std::string checkpoint_error(Body body) {
  try {
    body();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace detkit::testing
