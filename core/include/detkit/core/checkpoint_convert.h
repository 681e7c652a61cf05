// Converting torchvision checkpoints to MMDetection's parameter names, so that a torchvision
// state dict loads into detkit's MMDetection-style modules (`detkit checkpoint convert`).
#pragma once

#include <string>
#include <vector>

#include "detkit/checkpoint.h"
#include "detkit/export.h"

namespace detkit {

/// The models convert_torchvision_state_dict knows: "retinanet", "resnet".
DETKIT_API std::vector<std::string> torchvision_conversion_models();

/// Renames the keys of a torchvision state dict to MMDetection 2.x's, keeping the tensors
/// (shared, not copied) and their order:
///   * "resnet": a classification ResNet (torchvision.models.resnet*; what a `Pretrained`
///     backbone starts from, MMDetection's torchvision://resnet50): the keys stay, `fc.*` is
///     dropped.
///   * "retinanet": retinanet_resnet50_fpn — backbone.body.* -> backbone.*,
///     backbone.fpn.inner_blocks.i -> neck.lateral_convs.i.conv, layer_blocks.i ->
///     neck.fpn_convs.i.conv, extra_blocks.p6/p7 -> neck.fpn_convs.{L,L+1}.conv (L levels),
///     head.classification_head.conv.i -> bbox_head.cls_convs.i.conv, cls_logits ->
///     bbox_head.retina_cls, regression_head.conv.i -> bbox_head.reg_convs.i.conv, bbox_reg ->
///     bbox_head.retina_reg. Both torchvision layouts of the FPN and head convolutions (0.13+
///     `<i>.0.weight`, older `<i>.weight` with ReLUs at odd indices) are read.
/// A BatchNorm without `num_batches_tracked` (torchvision's FrozenBatchNorm2d) gets a 0 int64
/// one, as MMDetection's BatchNorm2d has it. Shapes are kept: torchvision's P6 convolution reads
/// P5 (256 input channels) where MMDetection's RetinaNet reads C5 (add_extra_convs='on_input',
/// 2048), and torchvision's COCO head has 91 classes, not 80; loading reports these as size
/// mismatches. Throws CheckpointError for an unknown model or any key the model does not have
/// (listing every one).
DETKIT_API StateDict convert_torchvision_state_dict(const StateDict& state_dict,
                                                    const std::string& model);

}  // namespace detkit
