// Helpers shared by the file-format datasets (private to libdetkit): tensors from plain vectors,
// the skip_invalid bookkeeping, id-list files and path joining.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detkit/data/dataset.h"
#include "detkit/error.h"

namespace detkit::data_detail {

/// Boxes from a flat list of x1, y1, x2, y2 values.
Boxes make_boxes(const std::vector<float>& xyxy);
/// Instances from a flat list of x1, y1, x2, y2 values and one label per box.
Instances make_instances(const std::vector<float>& xyxy, const std::vector<int64_t>& labels);

/// Collects the problems of one annotation file: with skip_invalid they are counted (and the
/// first few remembered), otherwise the first one is thrown as a DataError.
class InvalidEntries {
 public:
  InvalidEntries(std::string dataset_type, std::string source, bool skip_invalid);

  /// Reports one invalid entry: throws DataError(message) unless skipping, else counts it.
  void report(const std::string& message);
  /// Adds entries the annotation reader already dropped.
  void add_skipped(size_t count, const std::vector<std::string>& messages);
  size_t count() const { return count_; }
  bool skipping() const { return skip_invalid_; }
  /// Prints one summary line to stderr when something was skipped.
  void print_summary() const;

 private:
  std::string dataset_type_;
  std::string source_;
  bool skip_invalid_;
  size_t count_ = 0;
  std::vector<std::string> examples_;
};

/// The non-empty lines of a text file, trimmed (an id list or a class list). Throws DataError
/// when the file cannot be read.
std::vector<std::string> read_lines(const std::string& path, const std::string& what);

/// `prefix` joined with `name` as os.path.join does (an absolute `name` wins; an empty prefix
/// leaves `name` as it is).
std::string join_path(const std::string& prefix, const std::string& name);

/// Whether the box [x1, y1, x2, y2] overlaps the image (MMDetection's inter_w * inter_h > 0).
/// Images of unknown size (0) count as overlapping.
bool overlaps_image(double x1, double y1, double x2, double y2, int64_t width, int64_t height);

/// A number in shortest round-trip form ("12", "3.5").
std::string format_number(double value);

}  // namespace detkit::data_detail
