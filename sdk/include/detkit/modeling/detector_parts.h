// What every detector builds first: its backbone and (optional) neck, each through its registry
// with the context it needs (the backbone none, the neck the backbone's output shapes), and the
// context its heads are then built with. Shared by single-stage (RetinaNet) and two-stage
// (FasterRCNN) detectors; implemented in libdetkit.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/config_node.h"
#include "detkit/export.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/neck.h"

namespace detkit {

/// Builds `backbone_cfg` at `<prefix>backbone` into `backbone` and, unless `neck_cfg` is null,
/// `neck_cfg` at `<prefix>neck` (against the backbone's shapes) into `neck` (else null).
/// `prefix` is the detector's config path plus a dot ("model.") or empty; config errors name
/// those paths. Returns the context of the heads: the levels the parts produce, who produced
/// them ("neck FPN (model.neck)") and, when `classes` is known, their number. The caller
/// registers the parts as its children `backbone` and `neck` (MMDetection's parameter names).
DETKIT_API HeadContext build_feature_extractor(const ConfigNode& backbone_cfg,
                                               const ConfigNode& neck_cfg,
                                               const std::string& prefix,
                                               const Known<std::vector<std::string>>& classes,
                                               std::shared_ptr<BackboneBase>& backbone,
                                               std::shared_ptr<NeckBase>& neck);

/// "ResNet (model.backbone)": the `type` of the component configured by `cfg` at `path`.
DETKIT_API std::string component_origin(const ConfigNode& cfg, const std::string& path);

/// The feature levels of `images` (N, C, H, W): the backbone's, through `neck` when not null.
DETKIT_API std::vector<torch::Tensor> extract_features(BackboneBase& backbone, NeckBase* neck,
                                                       const torch::Tensor& images);

/// "0", "1", ..., "<count - 1>": the class names of a detector built without the dataset's.
DETKIT_API std::vector<std::string> index_class_names(int64_t count);

}  // namespace detkit
