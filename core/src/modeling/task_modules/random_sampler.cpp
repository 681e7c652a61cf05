// RandomSampler: MMDetection 2.x's random sampler (kind `sampler`,
// mmdet/core/bbox/samplers/random_sampler.py): at most num * pos_fraction positives drawn at
// random among the assigned ones, then num - (positives drawn) negatives (at most neg_pos_ub
// times the positives when neg_pos_ub >= 0), as RPN and R-CNN heads train.
//
// Draws use torch's global generator as MMDetection does (torch.randperm over the candidates,
// the first k kept); the returned indices are sorted (MMDetection's unique()). With
// add_gt_as_proposals and ground truth, the gt boxes are prepended to the priors, each assigned
// to itself: indices then refer to the rows of [gt_boxes; priors] (as MMDetection's), so
// anchor heads, whose indices must refer to their anchors, need it false.
#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <string>

#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "sampler_checks.h"

namespace detkit {

namespace {

constexpr const char* kName = "RandomSampler";

/// `num` random entries of `gallery` (MMDetection's random_choice); all of them if fewer.
torch::Tensor random_choice(const torch::Tensor& gallery, int64_t num) {
  if (gallery.numel() <= num) return gallery;
  const torch::Tensor perm =
      torch::randperm(gallery.numel(), torch::TensorOptions().dtype(torch::kLong))
          .slice(0, 0, num)
          .to(gallery.device());
  return gallery.index_select(0, perm);
}

}  // namespace

/// Options of RandomSampler (MMDetection's names; num and pos_fraction are required there).
struct RandomSamplerOptions {
  TORCH_ARG(std::optional<int64_t>, num) = std::nullopt;
  TORCH_ARG(std::optional<double>, pos_fraction) = std::nullopt;
  TORCH_ARG(double, neg_pos_ub) = -1;
  TORCH_ARG(bool, add_gt_as_proposals) = true;

 public:
  /// The parameters, declared once.
  template <class P>
  void declare(P& p) {
    p.summary(
        "MMDetection 2.x RandomSampler: up to num * pos_fraction random positives, the rest "
        "random negatives.");
    DETKIT_PARAM(p, num, "priors sampled per image (required)").min(0);
    DETKIT_PARAM(p, pos_fraction, "the largest share of positives (required)").range(0, 1);
    DETKIT_PARAM(p, neg_pos_ub, "at most this many negatives per positive; < 0: no bound");
    DETKIT_PARAM(p, add_gt_as_proposals,
                 "prepend the gt boxes to the priors as positives (indices then refer to "
                 "[gt_boxes; priors])");
  }
};

/// The sampler (see the file comment).
class RandomSampler : public SamplerBase {
 public:
  using Options = RandomSamplerOptions;
  explicit RandomSampler(const Options& options_ = {}) : options(options_) {
    check_options(options, kName);
    if (!options.num()) throw InvalidParameter("num", std::string(kName) + ": num must be set");
    if (!options.pos_fraction()) {
      throw InvalidParameter("pos_fraction", std::string(kName) + ": pos_fraction must be set");
    }
  }

  SamplingResult sample(const AssignResult& assignment, const torch::Tensor& priors,
                        const torch::Tensor& gt_boxes) const override {
    torch::Tensor gt_inds = assignment.gt_inds;
    const torch::Tensor gts = sampler_detail::checked_gt_boxes(kName, assignment, priors, gt_boxes);
    const int64_t num_gts = gts.size(0);
    if (options.add_gt_as_proposals() && num_gts > 0) {
      gt_inds = torch::cat({torch::arange(1, num_gts + 1, gt_inds.options()), gt_inds});
    }

    const int64_t num = *options.num();
    const int64_t expected_pos = static_cast<int64_t>(num * *options.pos_fraction());
    SamplingResult result;
    result.pos_inds = std::get<0>(
        torch::_unique(random_choice(torch::nonzero(gt_inds > 0).view(-1), expected_pos)));
    const int64_t sampled_pos = result.pos_inds.numel();
    int64_t expected_neg = num - sampled_pos;
    if (options.neg_pos_ub() >= 0) {
      const int64_t bound = static_cast<int64_t>(
          options.neg_pos_ub() * static_cast<double>(std::max<int64_t>(1, sampled_pos)));
      expected_neg = std::min(expected_neg, bound);
    }
    result.neg_inds = std::get<0>(
        torch::_unique(random_choice(torch::nonzero(gt_inds == 0).view(-1), expected_neg)));
    result.pos_assigned_gt_inds = gt_inds.index_select(0, result.pos_inds) - 1;
    result.pos_gt_bboxes = gts.index_select(0, result.pos_assigned_gt_inds);
    return result;
  }

  Options options;
};

DETKIT_REGISTER(sampler, RandomSampler);

}  // namespace detkit
