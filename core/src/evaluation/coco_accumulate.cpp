// COCOeval's accumulate() and summarize(): per (category, area range, maxDets) the detections of
// all images sorted by score (stable), cumulative TP/FP per IoU threshold, the monotone precision
// envelope sampled at the recall thresholds; then the 12 means over the valid entries.
#include <algorithm>
#include <cfloat>
#include <functional>
#include <numeric>

#include "coco_eval_internal.h"
#include "eval_utils.h"

namespace detkit::coco_detail {

void accumulate_category(const CategoryMatches& matches, size_t k, CocoEvalResult& result) {
  const CocoEvalParams& p = result.params;
  const size_t T = p.iou_thresholds.size(), R = p.recall_thresholds.size(),
               K = result.category_ids.size(), A = p.area_ranges.size(), M = p.max_dets.size();
  // No image has ground truth or detections of this category: everything stays -1.
  if (matches.num_entries() == 0) return;
  const double eps = DBL_EPSILON;  // np.spacing(1)
  std::vector<uint32_t> order;
  std::vector<double> recall_curve, precision_curve;
  for (size_t m = 0; m < M; ++m) {
    const size_t max_det = static_cast<size_t>(p.max_dets[m]);
    // The first max_det detections of every image, in image order, then sorted by score.
    order.clear();
    for (size_t e = 0; e < matches.num_entries(); ++e) {
      const uint32_t begin = matches.det_begin[e];
      const uint32_t end =
          std::min<uint32_t>(matches.det_begin[e + 1], begin + static_cast<uint32_t>(max_det));
      for (uint32_t n = begin; n < end; ++n)
        order.push_back(n);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return matches.scores[a] > matches.scores[b]; });
    const size_t nd = order.size();
    recall_curve.resize(T * nd);
    precision_curve.resize(T * nd);
    std::vector<double> tp(T), fp(T);
    for (size_t a = 0; a < A; ++a) {
      const int64_t num_positive = matches.num_positive[a];
      if (num_positive == 0) continue;
      // Cumulative TP / FP of every threshold in one pass over the sorted detections.
      std::fill(tp.begin(), tp.end(), 0.0);
      std::fill(fp.begin(), fp.end(), 0.0);
      for (size_t j = 0; j < nd; ++j) {
        const uint8_t* flags = &matches.flags[(order[j] * A + a) * T];
        for (size_t t = 0; t < T; ++t) {
          if (!(flags[t] & kIgnored)) {
            if (flags[t] & kMatched) {
              tp[t] += 1;
            } else {
              fp[t] += 1;
            }
          }
          recall_curve[t * nd + j] = tp[t] / static_cast<double>(num_positive);
          precision_curve[t * nd + j] = tp[t] / (fp[t] + tp[t] + eps);
        }
      }
      for (size_t t = 0; t < T; ++t) {
        const double* rc = recall_curve.data() + t * nd;
        double* pr = precision_curve.data() + t * nd;
        result.recall[((t * K + k) * A + a) * M + m] = nd > 0 ? rc[nd - 1] : 0.0;
        for (size_t i = nd; i-- > 1;) {
          if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        }
        // np.searchsorted(rc, recThrs, side='left'); thresholds past the last recall keep 0.
        for (size_t r = 0; r < R; ++r) {
          const size_t index =
              static_cast<size_t>(std::lower_bound(rc, rc + nd, p.recall_thresholds[r]) - rc);
          result.precision[(((t * R + r) * K + k) * A + a) * M + m] = index < nd ? pr[index] : 0.0;
        }
      }
    }
  }
}

namespace {

/// numpy's mean of the entries > -1 of a selection, or -1 when there are none.
double mean_of_valid(std::vector<double>& values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !(v > -1); }),
               values.end());
  return values.empty() ? -1.0 : eval_utils::numpy_mean(values);
}

std::vector<size_t> indices_where(size_t n, const std::function<bool(size_t)>& keep) {
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) {
    if (keep(i)) out.push_back(i);
  }
  return out;
}

}  // namespace

void summarize(CocoEvalResult& result) {
  const CocoEvalParams& p = result.params;
  const size_t T = p.iou_thresholds.size(), R = p.recall_thresholds.size(),
               K = result.category_ids.size(), A = p.area_ranges.size(), M = p.max_dets.size();
  // pycocotools' _summarize(ap, iouThr, areaRng, maxDets): the mean over the selected entries.
  auto stat = [&](bool ap, double iou, const char* area, int max_dets) {
    const std::vector<size_t> ts =
        indices_where(T, [&](size_t t) { return iou < 0 || p.iou_thresholds[t] == iou; });
    const std::vector<size_t> as =
        indices_where(A, [&](size_t a) { return p.area_ranges[a].label == area; });
    const std::vector<size_t> ms =
        indices_where(M, [&](size_t m) { return p.max_dets[m] == max_dets; });
    std::vector<double> values;
    // The selection s[t, (r,) k, a, m] flattened in C order.
    for (size_t t : ts) {
      for (size_t r = 0; r < (ap ? R : 1); ++r) {
        for (size_t k = 0; k < K; ++k) {
          for (size_t a : as) {
            for (size_t m : ms) {
              values.push_back(ap ? result.precision[(((t * R + r) * K + k) * A + a) * M + m]
                                  : result.recall[((t * K + k) * A + a) * M + m]);
            }
          }
        }
      }
    }
    return mean_of_valid(values);
  };
  auto max_det = [&](size_t i) { return i < M ? p.max_dets[i] : -1; };
  result.stats = {stat(true, -1, "all", 100),
                  stat(true, 0.5, "all", max_det(2)),
                  stat(true, 0.75, "all", max_det(2)),
                  stat(true, -1, "small", max_det(2)),
                  stat(true, -1, "medium", max_det(2)),
                  stat(true, -1, "large", max_det(2)),
                  stat(false, -1, "all", max_det(0)),
                  stat(false, -1, "all", max_det(1)),
                  stat(false, -1, "all", max_det(2)),
                  stat(false, -1, "small", max_det(2)),
                  stat(false, -1, "medium", max_det(2)),
                  stat(false, -1, "large", max_det(2))};
  // Per category (MMDetection's classwise AP): precision[:, :, k, area 0, maxDets -1].
  result.per_category_ap.assign(K, -1.0);
  std::vector<double> values;
  for (size_t k = 0; k < K; ++k) {
    values.clear();
    for (size_t t = 0; t < T; ++t) {
      for (size_t r = 0; r < R; ++r)
        values.push_back(result.precision[(((t * R + r) * K + k) * A + 0) * M + (M - 1)]);
    }
    result.per_category_ap[k] = mean_of_valid(values);
  }
}

}  // namespace detkit::coco_detail
