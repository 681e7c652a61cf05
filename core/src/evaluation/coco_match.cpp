// COCOeval's computeIoU() + evaluateImg() for one (image, category): box IoU with crowd regions,
// then greedy matching per area range and IoU threshold, decision for decision as pycocotools
// makes it (including its tie rules: a later ground truth with an equal IoU wins).
#include <algorithm>

#include "coco_eval_internal.h"

namespace detkit::coco_detail {

namespace {

/// pycocotools' bbIou (maskApi.c) for one detection / ground-truth pair, [x, y, w, h] boxes.
double box_iou(const std::array<double, 4>& d, const std::array<double, 4>& g, bool crowd) {
  const double w = std::min(d[2] + d[0], g[2] + g[0]) - std::max(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::min(d[3] + d[1], g[3] + g[1]) - std::max(d[1], g[1]);
  if (h <= 0) return 0;
  const double intersection = w * h;
  const double det_area = d[2] * d[3];
  const double union_area = crowd ? det_area : det_area + g[2] * g[3] - intersection;
  return intersection / union_area;
}

bool outside(double area, const CocoAreaRange& range) {
  return area < range.lo || area > range.hi;
}

}  // namespace

void match_image(ImageCategoryInput& input, const CocoEvalParams& params, MatchScratch& scratch,
                 CategoryMatches& out) {
  // Detections: highest score first (numpy's stable mergesort on -score), at most maxDets[-1].
  auto& dets = scratch.dets;
  dets.assign(input.dets.begin(), input.dets.end());
  std::stable_sort(dets.begin(), dets.end(), [](const CocoDetection* a, const CocoDetection* b) {
    return a->score > b->score;
  });
  if (dets.size() > static_cast<size_t>(params.max_dets.back()))
    dets.resize(static_cast<size_t>(params.max_dets.back()));
  const auto& gts = input.gts;
  const size_t D = dets.size(), G = gts.size();
  const size_t T = params.iou_thresholds.size(), A = params.area_ranges.size();

  const size_t first = out.scores.size();
  for (const CocoDetection* det : dets)
    out.scores.push_back(det->score);
  out.det_begin.push_back(static_cast<uint32_t>(out.scores.size()));
  out.flags.resize(out.scores.size() * A * T, 0);
  uint8_t* flags = out.flags.data() + first * A * T;

  // ious[d * G + g], ground truth in file order.
  auto& ious = scratch.ious;
  ious.resize(D * G);
  for (size_t d = 0; d < D; ++d) {
    for (size_t g = 0; g < G; ++g)
      ious[d * G + g] = box_iou(dets[d]->bbox, gts[g]->bbox, gts[g]->iscrowd);
  }
  // pycocotools: gt['ignore'] = iscrowd (its _prepare overwrites any `ignore` field).
  auto& base_ignore = scratch.gt_base_ignore;
  base_ignore.resize(G);
  for (size_t g = 0; g < G; ++g)
    base_ignore[g] = gts[g]->iscrowd || (params.use_ignore_flag && gts[g]->ignore);

  auto& ignore = scratch.gt_ignore;
  auto& taken = scratch.gt_taken;
  auto& position = scratch.gt_position;  // sorted position -> file-order index
  for (size_t a = 0; a < A; ++a) {
    const CocoAreaRange& range = params.area_ranges[a];
    // Ground truth sorted by _ignore (stable): regular first, ignored last.
    position.clear();
    for (size_t g = 0; g < G; ++g) {
      if (!(base_ignore[g] || outside(gts[g]->area, range)))
        position.push_back(static_cast<uint32_t>(g));
    }
    const size_t regular = position.size();
    out.num_positive[a] += static_cast<int64_t>(regular);
    for (size_t g = 0; g < G; ++g) {
      if (base_ignore[g] || outside(gts[g]->area, range))
        position.push_back(static_cast<uint32_t>(g));
    }
    ignore.assign(G, 0);
    for (size_t s = regular; s < G; ++s)
      ignore[s] = 1;  // indexed by sorted position

    for (size_t t = 0; t < T; ++t) {
      taken.assign(G, 0);
      const double threshold = std::min(params.iou_thresholds[t], 1 - 1e-10);
      for (size_t d = 0; d < D; ++d) {
        double best = threshold;
        long m = -1;
        if (G > 0) {
          for (size_t s = 0; s < G; ++s) {
            const size_t g = position[s];
            // Already matched and not a crowd region: skip.
            if (taken[s] && !gts[g]->iscrowd) continue;
            // Matched to a regular ground truth and reached the ignored ones: stop.
            if (m > -1 && !ignore[m] && ignore[s]) break;
            const double iou = ious[d * G + g];
            if (iou < best) continue;
            best = iou;
            m = static_cast<long>(s);
          }
        }
        uint8_t flag = 0;
        int64_t matched_id = 0;  // dtm: 0 = unmatched (as is a match to a gt with id 0)
        if (m > -1) {
          taken[m] = 1;
          if (ignore[m]) flag |= kIgnored;
          matched_id = gts[position[m]]->id;
          if (matched_id != 0) flag |= kMatched;
        }
        // Unmatched detections outside the area range are ignored.
        if (matched_id == 0) {
          const auto& box = dets[d]->bbox;
          if (outside(box[2] * box[3], range)) flag |= kIgnored;
        }
        flags[(d * A + a) * T + t] = flag;
      }
    }
  }
}

}  // namespace detkit::coco_detail
