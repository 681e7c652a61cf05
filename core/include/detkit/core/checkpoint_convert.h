// Converting torchvision checkpoints to MMDetection's parameter names, so that a torchvision
// state dict loads into detkit's MMDetection-style modules (`detkit checkpoint convert`).
#pragma once

#include <string>
#include <vector>

#include "detkit/checkpoint.h"
#include "detkit/export.h"

namespace detkit {

/// The models convert_torchvision_state_dict knows: "retinanet", "fasterrcnn", "resnet".
DETKIT_API std::vector<std::string> torchvision_conversion_models();

/// Renames the keys of a torchvision state dict to MMDetection 2.x's, keeping the tensors
/// (shared, not copied, except fasterrcnn's box classifier, which is rebuilt) and their order:
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
///   * "fasterrcnn": fasterrcnn_resnet50_fpn (v1) — backbone and FPN as retinanet's (no extra
///     blocks), rpn.head.conv(.0.0) -> rpn_head.rpn_conv, rpn.head.cls_logits ->
///     rpn_head.rpn_cls, rpn.head.bbox_pred -> rpn_head.rpn_reg, roi_heads.box_head.fc6/fc7 ->
///     roi_head.bbox_head.shared_fcs.0/1, roi_heads.box_predictor.cls_score ->
///     roi_head.bbox_head.fc_cls, box_predictor.bbox_pred -> roi_head.bbox_head.fc_reg
///     (unchanged: 4C rows, one box per class). detkit keeps torchvision's labels (label k is
///     torchvision's k; its class 0 "__background__" a class that never scores) and puts
///     MMDetection's background last, so fc_cls gets C + 1 rows from torchvision's C: row 0 a new
///     one (weight 0, bias -10000: its exp underflows to 0, the softmax over the others is
///     torchvision's), rows 1..C-1 torchvision's, row C torchvision's row 0 (its background).
/// A BatchNorm without `num_batches_tracked` (torchvision's FrozenBatchNorm2d) gets a 0 int64
/// one, as MMDetection's BatchNorm2d has it. Shapes are kept: torchvision's P6 convolution reads
/// P5 (256 input channels) where MMDetection's RetinaNet reads C5 (add_extra_convs='on_input',
/// 2048), and torchvision's COCO head has 91 classes, not 80; loading reports these as size
/// mismatches. Throws CheckpointError for an unknown model, any key the model does not have
/// (listing every one) or a fasterrcnn box classifier that is not (C, in) / (C).
DETKIT_API StateDict convert_torchvision_state_dict(const StateDict& state_dict,
                                                    const std::string& model);

}  // namespace detkit
