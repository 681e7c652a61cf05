// Helpers shared by the file-format datasets.
#include "dataset_utils.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "detkit/core/file_io.h"

namespace detkit::data_detail {

Boxes make_boxes(const std::vector<float>& xyxy) {
  if (xyxy.empty()) return Boxes();
  const int64_t n = static_cast<int64_t>(xyxy.size() / 4);
  return Boxes(torch::from_blob(const_cast<float*>(xyxy.data()), {n, 4}, torch::kFloat32).clone());
}

Instances make_instances(const std::vector<float>& xyxy, const std::vector<int64_t>& labels) {
  if (labels.empty()) return Instances(Boxes(), torch::zeros({0}, torch::kInt64));
  const int64_t n = static_cast<int64_t>(labels.size());
  torch::Tensor label_tensor =
      torch::from_blob(const_cast<int64_t*>(labels.data()), {n}, torch::kInt64).clone();
  return Instances(make_boxes(xyxy), std::move(label_tensor));
}

InvalidEntries::InvalidEntries(std::string dataset_type, std::string source, bool skip_invalid)
    : dataset_type_(std::move(dataset_type)),
      source_(std::move(source)),
      skip_invalid_(skip_invalid) {}

void InvalidEntries::report(const std::string& message) {
  if (!skip_invalid_) throw DataError(message);
  ++count_;
  if (examples_.size() < 3) examples_.push_back(message);
}

void InvalidEntries::add_skipped(size_t count, const std::vector<std::string>& messages) {
  count_ += count;
  for (const auto& message : messages) {
    if (examples_.size() < 3) examples_.push_back(message);
  }
}

void InvalidEntries::print_summary() const {
  if (count_ == 0) return;
  std::string line =
      fmt::format("warning: {}: skipped {} invalid annotation{} in {} (skip_invalid)",
                  dataset_type_, count_, count_ == 1 ? "" : "s", source_);
  if (!examples_.empty()) line += "; first: " + examples_.front();
  std::cerr << line << "\n";
}

std::vector<std::string> read_lines(const std::string& path, const std::string& what) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored))
    throw DataError(fmt::format("{}: the {} is a folder, expected a text file", path, what));
  // A FIFO, a symlink loop or a broken link: one line naming it, never a blocked read.
  if (const std::string problem = input_file_problem(path); !problem.empty())
    throw DataError(fmt::format("{}: the {} {}", path, what, problem));
  std::ifstream in(path);
  if (!in) {
    throw DataError(fmt::format("{}: cannot open the {} ({})", path, what, std::strerror(errno)));
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    const auto begin = line.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) continue;
    const auto end = line.find_last_not_of(" \t\r\n");
    lines.push_back(line.substr(begin, end - begin + 1));
  }
  return lines;
}

std::string join_path(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  return (std::filesystem::path(prefix) / name).string();
}

bool overlaps_image(double x1, double y1, double x2, double y2, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) return true;
  const double inter_w = std::max(0.0, std::min(x2, double(width)) - std::max(x1, 0.0));
  const double inter_h = std::max(0.0, std::min(y2, double(height)) - std::max(y1, 0.0));
  return inter_w * inter_h > 0;
}

std::string format_number(double value) {
  return fmt::format("{}", value);
}

}  // namespace detkit::data_detail
