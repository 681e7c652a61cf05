// The checks every sampler makes on its inputs (PseudoSampler, RandomSampler).
#pragma once

#include <torch/torch.h>

#include <string>

#include "detkit/error.h"
#include "detkit/modeling/task_modules.h"

namespace detkit::sampler_detail {

/// Checks that `assignment` fits `priors` and `gt_boxes` (the messages name `sampler`); returns
/// the ground-truth boxes as (N, 4), empty when there are none.
inline torch::Tensor checked_gt_boxes(const std::string& sampler, const AssignResult& assignment,
                                      const torch::Tensor& priors, const torch::Tensor& gt_boxes) {
  const torch::Tensor& gt_inds = assignment.gt_inds;
  if (!gt_inds.defined() || gt_inds.dim() != 1)
    throw Error(sampler + ": the assignment's gt_inds must be a (P,) tensor");
  if (priors.defined() && priors.dim() >= 1 && priors.size(0) != gt_inds.size(0)) {
    throw Error(sampler + ": the assignment covers " + std::to_string(gt_inds.size(0)) +
                " priors, but " + std::to_string(priors.size(0)) + " priors were given");
  }
  const int64_t num_gts = gt_boxes.defined() ? gt_boxes.numel() / 4 : 0;
  if (num_gts != assignment.num_gts || (num_gts > 0 && gt_boxes.size(-1) != 4)) {
    throw Error(sampler + ": the assignment was made for " + std::to_string(assignment.num_gts) +
                " ground-truth boxes, but gt_boxes holds " +
                (gt_boxes.defined() ? std::to_string(num_gts) + " (N, 4) boxes" : "none"));
  }
  return gt_boxes.defined() ? gt_boxes.reshape({-1, 4})
                            : torch::empty({0, 4}, gt_inds.options().dtype(torch::kFloat32));
}

}  // namespace detkit::sampler_detail
