// Text and JSON forms of a COCO evaluation: pycocotools' summarize() lines, MMDetection's
// classwise table, and a JSON document for tools.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "ascii_table.h"
#include "detkit/core/coco_eval.h"
#include "detkit/core/coco_writer.h"

namespace detkit {

namespace {

/// One summarize() line: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'.
std::string summary_line(const CocoEvalParams& p, bool ap, double iou, const char* area,
                         int max_dets, double value) {
  const std::string iou_text =
      iou < 0 ? fmt::format("{:0.2f}:{:0.2f}", p.iou_thresholds.front(), p.iou_thresholds.back())
              : fmt::format("{:0.2f}", iou);
  return fmt::format(" {:<18} {} @[ IoU={:<9} | area={:>6} | maxDets={:>3d} ] = {:0.3f}\n",
                     ap ? "Average Precision" : "Average Recall", ap ? "(AP)" : "(AR)", iou_text,
                     area, max_dets, value);
}

/// A JSON number (shortest round-trip form; non-finite values as null).
std::string json_number(double value) {
  return std::isfinite(value) ? fmt::format("{}", value) : "null";
}

}  // namespace

std::string format_coco_summary(const CocoEvalResult& result) {
  const CocoEvalParams& p = result.params;
  const size_t M = p.max_dets.size();
  auto max_det = [&](size_t i) { return i < M ? p.max_dets[i] : -1; };
  const auto& s = result.stats;
  std::string out;
  out += summary_line(p, true, -1, "all", 100, s[0]);
  out += summary_line(p, true, 0.5, "all", max_det(2), s[1]);
  out += summary_line(p, true, 0.75, "all", max_det(2), s[2]);
  out += summary_line(p, true, -1, "small", max_det(2), s[3]);
  out += summary_line(p, true, -1, "medium", max_det(2), s[4]);
  out += summary_line(p, true, -1, "large", max_det(2), s[5]);
  out += summary_line(p, false, -1, "all", max_det(0), s[6]);
  out += summary_line(p, false, -1, "all", max_det(1), s[7]);
  out += summary_line(p, false, -1, "all", max_det(2), s[8]);
  out += summary_line(p, false, -1, "small", max_det(2), s[9]);
  out += summary_line(p, false, -1, "medium", max_det(2), s[10]);
  out += summary_line(p, false, -1, "large", max_det(2), s[11]);
  return out;
}

std::string format_coco_per_category(const CocoEvalResult& result) {
  const size_t K = result.category_ids.size();
  std::vector<std::string> flat;  // name, AP, name, AP, ...
  for (size_t k = 0; k < K; ++k) {
    flat.push_back(result.category_names[k]);
    const double ap = result.per_category_ap[k];
    flat.push_back(ap > -1 ? fmt::format("{:0.3f}", ap) : "nan");
  }
  const size_t columns = std::min<size_t>(6, K * 2);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  for (size_t c = 0; c < columns / 2; ++c) {
    header.push_back("category");
    header.push_back("AP");
  }
  rows.push_back(header);
  // Column c of the table holds flat[c], flat[c + columns], ... (MMDetection's zip_longest).
  for (size_t start = 0; columns > 0 && start < flat.size(); start += columns) {
    std::vector<std::string> row(columns);
    for (size_t c = 0; c < columns && start + c < flat.size(); ++c)
      row[c] = flat[start + c];
    rows.push_back(row);
  }
  return eval_utils::format_ascii_table(rows) + "\n";
}

std::string coco_result_to_json(const CocoEvalResult& result) {
  std::string out = "{\n  \"stats\": [";
  for (size_t i = 0; i < result.stats.size(); ++i)
    out += (i ? ", " : "") + json_number(result.stats[i]);
  out += "],\n  \"metrics\": {";
  for (size_t i = 0; i < result.stats.size(); ++i)
    out += std::string(i ? ", " : "") + "\"" + coco_stat_names()[i] +
           "\": " + json_number(result.stats[i]);
  out += "},\n  \"per_category_ap\": {";
  for (size_t k = 0; k < result.category_ids.size(); ++k)
    out += std::string(k ? ", " : "") + "\"" + std::to_string(result.category_ids[k]) +
           "\": " + json_number(result.per_category_ap[k]);
  out += "},\n  \"per_category_name\": {";
  for (size_t k = 0; k < result.category_ids.size(); ++k)
    out += std::string(k ? ", " : "") + "\"" + std::to_string(result.category_ids[k]) +
           "\": " + json_quote(result.category_names[k]);
  out += "}\n}\n";
  return out;
}

}  // namespace detkit
