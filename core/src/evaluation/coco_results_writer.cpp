// Writing COCO result files (and any text file) through a temporary name and a rename, so a
// kill never leaves a half-written file where a good one was (DESIGN.md section 6).
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "detkit/core/coco_json.h"

namespace detkit {

std::string format_coco_results(const std::vector<CocoDetection>& detections) {
  fmt::memory_buffer out;
  out.push_back('[');
  for (size_t i = 0; i < detections.size(); ++i) {
    const CocoDetection& d = detections[i];
    if (!std::isfinite(d.score) || !std::isfinite(d.bbox[0]) || !std::isfinite(d.bbox[1]) ||
        !std::isfinite(d.bbox[2]) || !std::isfinite(d.bbox[3]))
      throw Error(
          fmt::format("detection {} (image_id {}) has a non-finite box or score", i, d.image_id));
    fmt::format_to(std::back_inserter(out),
                   "{}{{\"image_id\": {}, \"category_id\": {}, \"bbox\": [{}, {}, {}, {}], "
                   "\"score\": {}}}",
                   i == 0 ? "" : ", ", d.image_id, d.category_id, d.bbox[0], d.bbox[1], d.bbox[2],
                   d.bbox[3], d.score);
  }
  out.push_back(']');
  return fmt::to_string(out);
}

void write_coco_results(const std::string& path, const std::vector<CocoDetection>& detections) {
  write_file_atomically(path, format_coco_results(detections));
}

void write_file_atomically(const std::string& path, std::string_view text) {
  namespace fs = std::filesystem;
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + path + " (" + std::strerror(errno) + ")");
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw Error("cannot write " + path + " (disk full?)");
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw Error("cannot write " + path + " (" + error.message() + ")");
  }
}

}  // namespace detkit
