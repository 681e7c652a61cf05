// PseudoSampler: MMDetection 2.x's sampler that samples nothing (kind `sampler`): every positive
// and every negative of the assignment is used (mmdet/core/bbox/samplers/pseudo_sampler.py), as
// RetinaNet's focal loss needs.
#include <torch/torch.h>

#include <string>

#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"
#include "detkit/params.h"
#include "detkit/registry.h"
#include "sampler_checks.h"

namespace detkit {

namespace {

constexpr const char* kName = "PseudoSampler";

}  // namespace

/// Options of PseudoSampler: none (MMDetection's takes none either).
struct PseudoSamplerOptions {
  /// The (empty) declaration.
  template <class P>
  void declare(P& p) {
    p.summary("MMDetection 2.x PseudoSampler: all positives and negatives of the assignment.");
  }
};

/// The sampler (see the file comment). Positives are the priors with gt_inds > 0, negatives
/// those with gt_inds == 0, both in increasing prior order; ignored priors (-1) are neither.
class PseudoSampler : public SamplerBase {
 public:
  using Options = PseudoSamplerOptions;
  explicit PseudoSampler(const Options& options_ = {}) : options(options_) {}

  SamplingResult sample(const AssignResult& assignment, const torch::Tensor& priors,
                        const torch::Tensor& gt_boxes) const override {
    const torch::Tensor& gt_inds = assignment.gt_inds;
    const torch::Tensor gts = sampler_detail::checked_gt_boxes(kName, assignment, priors, gt_boxes);
    SamplingResult result;
    result.pos_inds = torch::nonzero(gt_inds > 0).view(-1);
    result.neg_inds = torch::nonzero(gt_inds == 0).view(-1);
    result.pos_assigned_gt_inds = gt_inds.index_select(0, result.pos_inds) - 1;
    result.pos_gt_bboxes = gts.index_select(0, result.pos_assigned_gt_inds);
    return result;
  }

  Options options;
};

DETKIT_REGISTER(sampler, PseudoSampler);

}  // namespace detkit
