// COCOeval's evaluate(): validation, grouping by (category, image) and the per-category matching
// on worker threads.
#include "detkit/core/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "coco_eval_internal.h"
#include "detkit/core/runtime.h"
#include "eval_utils.h"

namespace detkit {

using coco_detail::CategoryMatches;

CocoEvalParams::CocoEvalParams() {
  // numpy.linspace(start, stop, num): i * ((stop - start) / (num - 1)) + start, last = stop.
  const double iou_step = (0.95 - 0.5) / 9;
  for (int i = 0; i < 10; ++i)
    iou_thresholds.push_back(i * iou_step + 0.5);
  iou_thresholds.back() = 0.95;
  const double recall_step = 1.0 / 100;
  for (int i = 0; i < 101; ++i)
    recall_thresholds.push_back(i * recall_step + 0.0);
  recall_thresholds.back() = 1.0;
  max_dets = {1, 10, 100};
  area_ranges = {{"all", 0.0, 1e5 * 1e5},
                 {"small", 0.0, 32.0 * 32.0},
                 {"medium", 32.0 * 32.0, 96.0 * 96.0},
                 {"large", 96.0 * 96.0, 1e5 * 1e5}};
}

const std::array<const char*, 12>& coco_stat_names() {
  static const std::array<const char*, 12> names = {
      "bbox_mAP",  "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s",    "bbox_mAP_m",    "bbox_mAP_l",
      "bbox_AR@1", "bbox_AR@10",  "bbox_AR@100", "bbox_AR_s@100", "bbox_AR_m@100", "bbox_AR_l@100"};
  return names;
}

double CocoEvalResult::precision_at(size_t t, size_t r, size_t k, size_t a, size_t m) const {
  const size_t R = params.recall_thresholds.size(), K = category_ids.size(),
               A = params.area_ranges.size(), M = params.max_dets.size();
  return precision.at((((t * R + r) * K + k) * A + a) * M + m);
}

double CocoEvalResult::recall_at(size_t t, size_t k, size_t a, size_t m) const {
  const size_t K = category_ids.size(), A = params.area_ranges.size(), M = params.max_dets.size();
  return recall.at(((t * K + k) * A + a) * M + m);
}

struct CocoEvaluator::Impl {
  const CocoGroundTruth& gt;
  const std::vector<CocoDetection>& dets;
  CocoEvalParams params;
  std::string origin;
  bool evaluated = false;
  std::vector<int64_t> category_ids;
  std::vector<std::string> category_names;
  std::vector<CategoryMatches> matches;

  Impl(const CocoGroundTruth& g, const std::vector<CocoDetection>& d, CocoEvalParams p,
       std::string o)
      : gt(g), dets(d), params(std::move(p)), origin(std::move(o)) {}

  void check_params() const;
  void run();
};

namespace {

/// Indices 0..n-1 sorted by (category index, image index), keeping input order within a pair:
/// two stable counting sorts. `cat_begin` gets the K+1 category boundaries.
template <typename ImageOf, typename CategoryOf>
std::vector<uint32_t> group_by_category_and_image(size_t n, size_t num_images,
                                                  size_t num_categories, ImageOf image_of,
                                                  CategoryOf category_of,
                                                  std::vector<size_t>& cat_begin) {
  std::vector<size_t> count(num_images + 1, 0);
  for (size_t i = 0; i < n; ++i)
    ++count[image_of(i) + 1];
  for (size_t i = 1; i <= num_images; ++i)
    count[i] += count[i - 1];
  std::vector<uint32_t> by_image(n);
  for (size_t i = 0; i < n; ++i)
    by_image[count[image_of(i)]++] = static_cast<uint32_t>(i);
  cat_begin.assign(num_categories + 1, 0);
  for (size_t i = 0; i < n; ++i)
    ++cat_begin[category_of(i) + 1];
  for (size_t k = 1; k <= num_categories; ++k)
    cat_begin[k] += cat_begin[k - 1];
  std::vector<size_t> next(cat_begin.begin(), cat_begin.end() - 1);
  std::vector<uint32_t> order(n);
  for (uint32_t index : by_image)
    order[next[category_of(index)]++] = index;
  return order;
}

}  // namespace

void CocoEvaluator::Impl::check_params() const {
  const auto& p = params;
  if (p.iou_thresholds.empty() || p.recall_thresholds.empty() || p.max_dets.empty() ||
      p.area_ranges.empty())
    throw Error(
        "COCO evaluation: iou_thresholds, recall_thresholds, max_dets and area_ranges "
        "must not be empty");
  if (!std::is_sorted(p.max_dets.begin(), p.max_dets.end()) || p.max_dets.front() < 1)
    throw Error("COCO evaluation: max_dets must be positive and ascending");
  if (!std::is_sorted(p.recall_thresholds.begin(), p.recall_thresholds.end()))
    throw Error("COCO evaluation: recall_thresholds must be ascending");
}

void CocoEvaluator::Impl::run() {
  check_params();
  // Images and categories in sorted id order (COCOeval's params.imgIds / catIds).
  std::vector<int64_t> image_ids;
  image_ids.reserve(gt.images.size());
  for (const auto& image : gt.images)
    image_ids.push_back(image.id);
  std::sort(image_ids.begin(), image_ids.end());
  image_ids.erase(std::unique(image_ids.begin(), image_ids.end()), image_ids.end());
  std::vector<std::pair<int64_t, std::string>> categories;
  for (const auto& category : gt.categories)
    categories.emplace_back(category.id, category.name);
  std::stable_sort(categories.begin(), categories.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  categories.erase(std::unique(categories.begin(), categories.end(),
                               [](const auto& a, const auto& b) { return a.first == b.first; }),
                   categories.end());
  category_ids.clear();
  category_names.clear();
  for (auto& [id, name] : categories) {
    category_ids.push_back(id);
    category_names.push_back(name);
  }
  std::unordered_map<int64_t, uint32_t> image_index, category_index;
  image_index.reserve(image_ids.size());
  for (size_t i = 0; i < image_ids.size(); ++i)
    image_index.emplace(image_ids[i], i);
  for (size_t k = 0; k < category_ids.size(); ++k)
    category_index.emplace(category_ids[k], k);

  // Look up every annotation and detection once; unknown ids are errors.
  const size_t G = gt.annotations.size(), D = dets.size();
  std::vector<uint32_t> gt_image(G), gt_category(G), det_image(D), det_category(D);
  for (size_t i = 0; i < G; ++i) {
    const CocoAnnotation& ann = gt.annotations[i];
    const auto image = image_index.find(ann.image_id);
    const auto category = category_index.find(ann.category_id);
    if (image == image_index.end() || category == category_index.end())
      throw DataError(gt.source + ": annotation id " + std::to_string(ann.id) + " refers to " +
                      (image == image_index.end()
                           ? "image_id " + std::to_string(ann.image_id) + ", which is not in images"
                           : "category_id " + std::to_string(ann.category_id) +
                                 ", which is not in categories"));
    gt_image[i] = image->second;
    gt_category[i] = category->second;
  }
  for (size_t i = 0; i < D; ++i) {
    const CocoDetection& det = dets[i];
    const std::string where = origin + ": detection " + std::to_string(i) + " (image_id " +
                              std::to_string(det.image_id) + ")";
    const auto image = image_index.find(det.image_id);
    if (image == image_index.end())
      throw DataError(where + ": image_id " + std::to_string(det.image_id) +
                      " is not an image of the ground truth " + gt.source +
                      " (the results do not belong to this annotation file)");
    const auto category = category_index.find(det.category_id);
    if (category == category_index.end())
      throw DataError(where + ": category_id " + std::to_string(det.category_id) +
                      " is not a category of the ground truth " + gt.source +
                      " (results must use the annotation file's category ids, not 0-based labels)");
    if (!std::isfinite(det.score) || !std::isfinite(det.bbox[0]) || !std::isfinite(det.bbox[1]) ||
        !std::isfinite(det.bbox[2]) || !std::isfinite(det.bbox[3]))
      throw DataError(where + ": the box or score is not a finite number");
    det_image[i] = image->second;
    det_category[i] = category->second;
  }

  const size_t I = image_ids.size(), K = category_ids.size();
  std::vector<size_t> gt_cat_begin, det_cat_begin;
  const std::vector<uint32_t> gt_order = group_by_category_and_image(
      G, I, K, [&](size_t i) { return gt_image[i]; }, [&](size_t i) { return gt_category[i]; },
      gt_cat_begin);
  const std::vector<uint32_t> det_order = group_by_category_and_image(
      D, I, K, [&](size_t i) { return det_image[i]; }, [&](size_t i) { return det_category[i]; },
      det_cat_begin);

  matches.assign(K, CategoryMatches{});
  const int threads = params.num_threads > 0 ? params.num_threads : hardware_threads();
  eval_utils::parallel_for(K, threads, [&](size_t k) {
    CategoryMatches& out = matches[k];
    out.num_positive.assign(params.area_ranges.size(), 0);
    coco_detail::MatchScratch scratch;
    coco_detail::ImageCategoryInput input;
    size_t g = gt_cat_begin[k], d = det_cat_begin[k];
    const size_t g_end = gt_cat_begin[k + 1], d_end = det_cat_begin[k + 1];
    while (g < g_end || d < d_end) {
      // The next image (in sorted order) with ground truth or detections of category k.
      const uint32_t image = std::min(g < g_end ? gt_image[gt_order[g]] : UINT32_MAX,
                                      d < d_end ? det_image[det_order[d]] : UINT32_MAX);
      input.gts.clear();
      input.dets.clear();
      for (; g < g_end && gt_image[gt_order[g]] == image; ++g)
        input.gts.push_back(&gt.annotations[gt_order[g]]);
      for (; d < d_end && det_image[det_order[d]] == image; ++d)
        input.dets.push_back(&dets[det_order[d]]);
      coco_detail::match_image(input, params, scratch, out);
    }
  });
  evaluated = true;
}

CocoEvaluator::CocoEvaluator(const CocoGroundTruth& ground_truth,
                             const std::vector<CocoDetection>& detections, CocoEvalParams params,
                             std::string detections_origin)
    : impl_(std::make_unique<Impl>(ground_truth, detections, std::move(params),
                                   std::move(detections_origin))) {}

CocoEvaluator::~CocoEvaluator() = default;

void CocoEvaluator::evaluate() {
  impl_->run();
}

CocoEvalResult CocoEvaluator::accumulate() {
  if (!impl_->evaluated) impl_->run();
  CocoEvalResult result;
  result.params = impl_->params;
  result.category_ids = impl_->category_ids;
  result.category_names = impl_->category_names;
  const auto& p = result.params;
  const size_t T = p.iou_thresholds.size(), R = p.recall_thresholds.size(),
               K = result.category_ids.size(), A = p.area_ranges.size(), M = p.max_dets.size();
  result.precision.assign(T * R * K * A * M, -1.0);
  result.recall.assign(T * K * A * M, -1.0);
  const int threads = p.num_threads > 0 ? p.num_threads : hardware_threads();
  eval_utils::parallel_for(K, threads, [&](size_t k) {
    coco_detail::accumulate_category(impl_->matches[k], k, result);
  });
  coco_detail::summarize(result);
  return result;
}

CocoEvalResult evaluate_coco(const CocoGroundTruth& ground_truth,
                             const std::vector<CocoDetection>& detections,
                             const CocoEvalParams& params, const std::string& detections_origin) {
  CocoEvaluator evaluator(ground_truth, detections, params, detections_origin);
  evaluator.evaluate();
  return evaluator.accumulate();
}

}  // namespace detkit
