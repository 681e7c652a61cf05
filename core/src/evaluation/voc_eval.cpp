// VOC mAP as MMDetection 2.25's eval_map computes it. The float32/float64 choices below follow
// numpy 1.x's promotion rules in mmdet's code: boxes, IoUs, gt areas and precisions are float32;
// recalls, the AP sum and the area of a detection in the matching loop are float64.
#include "detkit/core/voc_eval.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "ascii_table.h"
#include "detkit/core/runtime.h"
#include "eval_utils.h"

namespace detkit {

namespace {

using Box = std::array<float, 4>;

/// tp / fp (0 or 1) of each detection of one image, per scale range.
struct TpFp {
  std::vector<std::vector<float>> tp, fp;
};

/// mmdet's bbox_overlaps (mode 'iou', eps 1e-6) of one pair, in float32.
float box_iou(const Box& a, const Box& b, float extra) {
  const float area_a = (a[2] - a[0] + extra) * (a[3] - a[1] + extra);
  const float area_b = (b[2] - b[0] + extra) * (b[3] - b[1] + extra);
  const float w = std::max(std::min(a[2], b[2]) - std::max(a[0], b[0]) + extra, 0.0f);
  const float h = std::max(std::min(a[3], b[3]) - std::max(a[1], b[1]) + extra, 0.0f);
  const float overlap = w * h;
  const float union_area = std::max(area_a + area_b - overlap, static_cast<float>(1e-6));
  return overlap / union_area;
}

/// mmdet's tpfp_default for one image and class.
TpFp tpfp_default(const std::vector<const VocDetection*>& dets, const std::vector<Box>& gts,
                  const std::vector<Box>& ignored, double iou_threshold,
                  const std::vector<std::pair<double, double>>& area_ranges, float extra) {
  const size_t num_dets = dets.size();
  const size_t scales = area_ranges.empty() ? 1 : area_ranges.size();
  TpFp out;
  out.tp.assign(scales, std::vector<float>(num_dets, 0.0f));
  out.fp.assign(scales, std::vector<float>(num_dets, 0.0f));
  std::vector<Box> all_gts = gts;
  all_gts.insert(all_gts.end(), ignored.begin(), ignored.end());
  const size_t num_gts = all_gts.size();
  auto float_area = [extra](const Box& b) { return (b[2] - b[0] + extra) * (b[3] - b[1] + extra); };
  if (num_gts == 0) {
    for (size_t k = 0; k < scales; ++k) {
      for (size_t i = 0; i < num_dets; ++i) {
        const float area = float_area(dets[i]->box);
        const bool in_range =
            area_ranges.empty() || (area >= static_cast<float>(area_ranges[k].first) &&
                                    area < static_cast<float>(area_ranges[k].second));
        if (in_range) out.fp[k][i] = 1;
      }
    }
    return out;
  }
  // The best ground truth of each detection (first one on ties, as numpy's argmax).
  std::vector<float> best_iou(num_dets, -1.0f);
  std::vector<size_t> best_gt(num_dets, 0);
  for (size_t i = 0; i < num_dets; ++i) {
    for (size_t j = 0; j < num_gts; ++j) {
      const float iou = box_iou(dets[i]->box, all_gts[j], extra);
      if (iou > best_iou[i] || j == 0) {
        best_iou[i] = iou;
        best_gt[i] = j;
      }
    }
  }
  std::vector<size_t> order(num_dets);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return dets[a]->score > dets[b]->score; });
  for (size_t k = 0; k < scales; ++k) {
    std::vector<uint8_t> covered(num_gts, 0), area_ignored(num_gts, 0);
    if (!area_ranges.empty()) {
      for (size_t j = 0; j < num_gts; ++j) {
        const float area = float_area(all_gts[j]);
        area_ignored[j] = area < static_cast<float>(area_ranges[k].first) ||
                          area >= static_cast<float>(area_ranges[k].second);
      }
    }
    for (size_t i : order) {
      if (static_cast<double>(best_iou[i]) >= iou_threshold) {
        const size_t j = best_gt[i];
        if (!(j >= gts.size() || area_ignored[j])) {
          if (!covered[j]) {
            covered[j] = 1;
            out.tp[k][i] = 1;
          } else {
            out.fp[k][i] = 1;
          }
        }
      } else if (area_ranges.empty()) {
        out.fp[k][i] = 1;
      } else {
        const Box& b = dets[i]->box;
        const double area =
            (static_cast<double>(b[2] - b[0]) + extra) * (static_cast<double>(b[3] - b[1]) + extra);
        if (area >= area_ranges[k].first && area < area_ranges[k].second) out.fp[k][i] = 1;
      }
    }
  }
  return out;
}

/// mmdet's average_precision for one curve (recalls float64, precisions float32).
float average_precision(const std::vector<double>& recalls, const std::vector<float>& precisions,
                        VocApMode mode) {
  const size_t n = recalls.size();
  if (mode == VocApMode::eleven_points) {
    float ap = 0.0f;
    for (int i = 0; i <= 10; ++i) {
      const double threshold = i * 0.1;
      float best = 0.0f;
      bool any = false;
      for (size_t j = 0; j < n; ++j) {
        if (recalls[j] >= threshold && (!any || precisions[j] > best)) {
          best = precisions[j];
          any = true;
        }
      }
      ap += best;
    }
    return ap / 11.0f;
  }
  std::vector<double> mrec(n + 2), mpre(n + 2);
  mrec[0] = 0.0;
  mpre[0] = 0.0;
  for (size_t j = 0; j < n; ++j) {
    mrec[j + 1] = recalls[j];
    mpre[j + 1] = precisions[j];
  }
  mrec[n + 1] = 1.0;
  mpre[n + 1] = 0.0;
  for (size_t i = n + 1; i > 0; --i)
    mpre[i - 1] = std::max(mpre[i - 1], mpre[i]);
  std::vector<double> terms;
  for (size_t i = 0; i + 1 < mrec.size(); ++i) {
    if (mrec[i + 1] != mrec[i]) terms.push_back((mrec[i + 1] - mrec[i]) * mpre[i + 1]);
  }
  return static_cast<float>(eval_utils::numpy_sum(terms));
}

void check_inputs(const std::vector<VocImageAnnotations>& annotations,
                  const std::vector<std::vector<VocDetection>>& detections,
                  const VocEvalOptions& options) {
  if (annotations.size() != detections.size())
    throw Error(fmt::format("VOC evaluation: {} images of annotations but {} of detections",
                            annotations.size(), detections.size()));
  if (options.num_classes <= 0) throw Error("VOC evaluation: num_classes must be positive");
  if (options.iou_thresholds.empty()) throw Error("VOC evaluation: no IoU threshold given");
  auto check_label = [&](int label, size_t image, const char* what) {
    if (label < 0 || label >= options.num_classes)
      throw Error(fmt::format("VOC evaluation: image {}: {} label {} is outside [0, {})", image,
                              what, label, options.num_classes));
  };
  for (size_t i = 0; i < annotations.size(); ++i) {
    const auto& ann = annotations[i];
    if (ann.boxes.size() != ann.labels.size() ||
        ann.ignored_boxes.size() != ann.ignored_labels.size())
      throw Error(fmt::format("VOC evaluation: image {}: boxes and labels differ in length", i));
    for (int label : ann.labels)
      check_label(label, i, "ground-truth");
    for (int label : ann.ignored_labels)
      check_label(label, i, "ignored ground-truth");
    for (const auto& det : detections[i]) {
      check_label(det.label, i, "detection");
      if (!std::isfinite(det.score) || !std::isfinite(det.box[0]) || !std::isfinite(det.box[1]) ||
          !std::isfinite(det.box[2]) || !std::isfinite(det.box[3]))
        throw Error(
            fmt::format("VOC evaluation: image {}: a detection has a non-finite box or "
                        "score",
                        i));
    }
  }
}

/// eval_map for one class at one threshold.
VocClassResult evaluate_class(int label, const std::vector<VocImageAnnotations>& annotations,
                              const std::vector<std::vector<VocDetection>>& detections,
                              double iou_threshold,
                              const std::vector<std::pair<double, double>>& ranges,
                              const VocEvalOptions& options) {
  const float extra = options.use_legacy_coordinate ? 1.0f : 0.0f;
  const size_t scales = ranges.empty() ? 1 : ranges.size();
  VocClassResult result;
  result.num_gts.assign(scales, 0);
  std::vector<float> scores;
  std::vector<std::vector<float>> tp(scales), fp(scales);
  std::vector<const VocDetection*> dets;
  std::vector<Box> gts, ignored;
  for (size_t image = 0; image < annotations.size(); ++image) {
    const auto& ann = annotations[image];
    dets.clear();
    gts.clear();
    ignored.clear();
    for (const auto& det : detections[image]) {
      if (det.label == label) dets.push_back(&det);
    }
    for (size_t j = 0; j < ann.labels.size(); ++j) {
      if (ann.labels[j] == label) gts.push_back(ann.boxes[j]);
    }
    for (size_t j = 0; j < ann.ignored_labels.size(); ++j) {
      if (ann.ignored_labels[j] == label) ignored.push_back(ann.ignored_boxes[j]);
    }
    const TpFp image_tpfp = tpfp_default(dets, gts, ignored, iou_threshold, ranges, extra);
    for (size_t k = 0; k < scales; ++k) {
      tp[k].insert(tp[k].end(), image_tpfp.tp[k].begin(), image_tpfp.tp[k].end());
      fp[k].insert(fp[k].end(), image_tpfp.fp[k].begin(), image_tpfp.fp[k].end());
    }
    for (const VocDetection* det : dets)
      scores.push_back(det->score);
    for (const Box& box : gts) {
      const float area = (box[2] - box[0] + extra) * (box[3] - box[1] + extra);
      for (size_t k = 0; k < scales; ++k) {
        if (ranges.empty() || (area >= static_cast<float>(ranges[k].first) &&
                               area < static_cast<float>(ranges[k].second)))
          ++result.num_gts[k];
      }
    }
  }
  const size_t n = scores.size();
  result.num_dets = static_cast<int64_t>(n);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  for (size_t k = 0; k < scales; ++k) {
    std::vector<double> recalls(n);
    std::vector<float> precisions(n);
    float tp_sum = 0.0f, fp_sum = 0.0f;
    const double gts_or_eps =
        std::max(static_cast<double>(result.num_gts[k]), static_cast<double>(FLT_EPSILON));
    for (size_t j = 0; j < n; ++j) {
      tp_sum += tp[k][order[j]];
      fp_sum += fp[k][order[j]];
      recalls[j] = static_cast<double>(tp_sum) / gts_or_eps;
      precisions[j] = tp_sum / std::max(tp_sum + fp_sum, FLT_EPSILON);
    }
    result.recall.push_back(n > 0 ? static_cast<float>(recalls[n - 1]) : 0.0f);
    result.ap.push_back(average_precision(recalls, precisions, options.mode));
  }
  return result;
}

}  // namespace

VocEvalResult evaluate_voc(const std::vector<VocImageAnnotations>& annotations,
                           const std::vector<std::vector<VocDetection>>& detections,
                           const VocEvalOptions& options) {
  check_inputs(annotations, detections, options);
  VocEvalResult result;
  result.class_names = options.class_names;
  if (result.class_names.empty()) {
    for (int c = 0; c < options.num_classes; ++c)
      result.class_names.push_back(std::to_string(c));
  }
  if (result.class_names.size() != static_cast<size_t>(options.num_classes))
    throw Error("VOC evaluation: class_names must have num_classes entries");
  std::vector<std::pair<double, double>> area_ranges;
  for (const auto& [lo, hi] : options.scale_ranges)
    area_ranges.emplace_back(lo * lo, hi * hi);
  result.scale_ranges = area_ranges;
  const size_t scales = area_ranges.empty() ? 1 : area_ranges.size();
  const int threads = options.num_threads > 0 ? options.num_threads : hardware_threads();
  double sum_of_maps = 0;
  for (const double iou_threshold : options.iou_thresholds) {
    VocThresholdResult at;
    at.iou_threshold = iou_threshold;
    at.classes.resize(static_cast<size_t>(options.num_classes));
    eval_utils::parallel_for(at.classes.size(), threads, [&](size_t c) {
      at.classes[c] = evaluate_class(static_cast<int>(c), annotations, detections, iou_threshold,
                                     area_ranges, options);
    });
    for (size_t k = 0; k < scales; ++k) {
      std::vector<float> aps;
      for (const auto& cls : at.classes) {
        if (cls.num_gts[k] > 0) aps.push_back(cls.ap[k]);
      }
      at.mean_ap.push_back(aps.empty() ? 0.0 : static_cast<double>(eval_utils::numpy_mean(aps)));
    }
    sum_of_maps += at.mean_ap[0];
    result.thresholds.push_back(std::move(at));
  }
  result.mean_ap = sum_of_maps / static_cast<double>(options.iou_thresholds.size());
  return result;
}

std::string format_voc_table(const VocEvalResult& result) {
  std::string out;
  const std::string rule(15, '-');
  for (const auto& at : result.thresholds) {
    out += "\n" + rule + "iou_thr: " + fmt::format("{}", at.iou_threshold) + rule + "\n";
    for (size_t k = 0; k < at.mean_ap.size(); ++k) {
      if (!result.scale_ranges.empty())
        out += fmt::format("Scale range ({}, {})\n", result.scale_ranges[k].first,
                           result.scale_ranges[k].second);
      std::vector<std::vector<std::string>> rows = {{"class", "gts", "dets", "recall", "ap"}};
      for (size_t c = 0; c < at.classes.size(); ++c) {
        const auto& cls = at.classes[c];
        rows.push_back({result.class_names[c], std::to_string(cls.num_gts[k]),
                        std::to_string(cls.num_dets), fmt::format("{:.3f}", cls.recall[k]),
                        fmt::format("{:.3f}", cls.ap[k])});
      }
      rows.push_back({"mAP", "", "", "", fmt::format("{:.3f}", at.mean_ap[k])});
      out += "\n" + eval_utils::format_ascii_table(rows, true) + "\n";
    }
  }
  return out;
}

}  // namespace detkit
