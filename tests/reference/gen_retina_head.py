"""Reference values for detkit's RetinaHead, from torchvision 0.14's RetinaNet.

Run with Debian's Python (torch 1.13, torchvision 0.14): /usr/bin/python3 gen_retina_head.py OUT.pt

The test tests/plugins/retinanet/retina_head_reference_test.cpp runs this at test time into a
temporary folder and reads OUT.pt (a dict of tensors written by torch.save) with LibTorch.

One image of 72 x 56 pixels and three feature levels of 9 x 7, 5 x 4 and 3 x 2 cells (8
channels; torchvision's strides image // featmap are 8, 14 and 24, 28), 3 classes, 9 anchors per
location (torchvision's retinanet_resnet50_fpn anchor sizes of the first three levels). The
head's weights are drawn here under MMDetection's names (`cls_convs.0.conv.weight`, ...,
`retina_cls.weight`) and copied into torchvision's RetinaNetHead under its names
(`classification_head.conv.0.0.weight`, ..., `classification_head.cls_logits.weight`).

Written tensors:
  weight.<mmdet key>       the head's parameters
  feat.<l>                 (1, 8, H_l, W_l) input of level l
  cls.<l>, reg.<l>         torchvision's raw outputs in MMDetection's layout, (1, A*C, H, W) and
                           (1, A*4, H, W) (torchvision's (N, HWA, C) rows are location-major,
                           then anchor: the same order)
  anchors.<l>              torchvision's anchors of level l, (H_l * W_l * A, 4)
  gt_boxes, gt_labels      two well-separated ground-truth boxes
  loss_cls, loss_bbox      torchvision's RetinaNet.compute_loss (focal loss and L1 on the
                           encoded boxes, both divided by max(1, positives))
  num_pos                  anchors matched to a box
  det_boxes, det_scores, det_labels   torchvision's postprocess_detections (score_thresh 0.05,
                           topk_candidates 1000, nms_thresh 0.5, detections_per_img 300)
"""
import sys

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet, RetinaNetHead

IMAGE_SIZE = (72, 56)
LEVELS = [(9, 7), (5, 4), (3, 2)]
CHANNELS = 8
NUM_CLASSES = 3
NUM_ANCHORS = 9
STACKED_CONVS = 4


class _NoBackbone(nn.Module):
    """RetinaNet's constructor only reads the backbone's out_channels."""

    out_channels = CHANNELS


def mmdet_weights(generator):
    """The head's parameters under MMDetection's RetinaHead names."""
    weights = {}
    for branch in ("cls_convs", "reg_convs"):
        for i in range(STACKED_CONVS):
            weights[f"{branch}.{i}.conv.weight"] = torch.randn(
                CHANNELS, CHANNELS, 3, 3, generator=generator) * 0.15
            weights[f"{branch}.{i}.conv.bias"] = torch.randn(CHANNELS, generator=generator) * 0.1
    weights["retina_cls.weight"] = torch.randn(
        NUM_ANCHORS * NUM_CLASSES, CHANNELS, 3, 3, generator=generator) * 0.1
    weights["retina_cls.bias"] = torch.randn(NUM_ANCHORS * NUM_CLASSES, generator=generator) - 1.0
    weights["retina_reg.weight"] = torch.randn(
        NUM_ANCHORS * 4, CHANNELS, 3, 3, generator=generator) * 0.05
    weights["retina_reg.bias"] = torch.randn(NUM_ANCHORS * 4, generator=generator) * 0.1
    return weights


def torchvision_state_dict(weights):
    """MMDetection's names mapped to torchvision's RetinaNetHead names."""
    state = {}
    for i in range(STACKED_CONVS):
        for kind in ("weight", "bias"):
            state[f"classification_head.conv.{i}.0.{kind}"] = weights[f"cls_convs.{i}.conv.{kind}"]
            state[f"regression_head.conv.{i}.0.{kind}"] = weights[f"reg_convs.{i}.conv.{kind}"]
    for kind in ("weight", "bias"):
        state[f"classification_head.cls_logits.{kind}"] = weights[f"retina_cls.{kind}"]
        state[f"regression_head.bbox_reg.{kind}"] = weights[f"retina_reg.{kind}"]
    return state


def to_mmdet_layout(rows, level_sizes, per_anchor):
    """torchvision's (N, sum HWA, K) rows back to MMDetection's per-level (N, A*K, H, W)."""
    outputs, start = [], 0
    for h, w in level_sizes:
        count = h * w * NUM_ANCHORS
        level = rows[:, start:start + count].reshape(rows.size(0), h, w, NUM_ANCHORS * per_anchor)
        outputs.append(level.permute(0, 3, 1, 2).contiguous())
        start += count
    return outputs


def main(out_path):
    generator = torch.Generator().manual_seed(20260417)
    weights = mmdet_weights(generator)
    head = RetinaNetHead(CHANNELS, NUM_ANCHORS, NUM_CLASSES)
    head.load_state_dict(torchvision_state_dict(weights))
    head.eval()

    features = [torch.randn(1, CHANNELS, h, w, generator=generator) for h, w in LEVELS]
    sizes = ((32, 40, 50), (64, 80, 101), (128, 161, 203))
    anchor_generator = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    model = RetinaNet(_NoBackbone(), NUM_CLASSES, anchor_generator=anchor_generator, head=head,
                      score_thresh=0.05, nms_thresh=0.5, detections_per_img=300,
                      topk_candidates=1000)
    model.eval()

    images = ImageList(torch.zeros(1, 3, *IMAGE_SIZE), [IMAGE_SIZE])
    anchors = model.anchor_generator(images, features)
    with torch.no_grad():
        outputs = head(features)

    result = {f"weight.{k}": v for k, v in weights.items()}
    for level, feature in enumerate(features):
        result[f"feat.{level}"] = feature
    cls = to_mmdet_layout(outputs["cls_logits"], LEVELS, NUM_CLASSES)
    reg = to_mmdet_layout(outputs["bbox_regression"], LEVELS, 4)
    level_anchors = anchors[0].split([h * w * NUM_ANCHORS for h, w in LEVELS])
    for level in range(len(LEVELS)):
        result[f"cls.{level}"] = cls[level]
        result[f"reg.{level}"] = reg[level]
        result[f"anchors.{level}"] = level_anchors[level]

    # Losses: two boxes far apart, so that MMDetection's low-quality matches (each box's best
    # anchors) agree with torchvision's Matcher (those anchors keep their own best box).
    gt_boxes = torch.tensor([[3.0, 5.0, 29.0, 37.0], [30.0, 38.0, 54.0, 70.0]])
    gt_labels = torch.tensor([1, 2])
    targets = [{"boxes": gt_boxes, "labels": gt_labels}]
    with torch.no_grad():
        losses = model.compute_loss(targets, outputs, anchors)
        matched = model.proposal_matcher(
            __import__("torchvision").ops.box_iou(gt_boxes, anchors[0]))
    result["gt_boxes"] = gt_boxes
    result["gt_labels"] = gt_labels
    result["loss_cls"] = losses["classification"].reshape(1)
    result["loss_bbox"] = losses["bbox_regression"].reshape(1)
    result["num_pos"] = (matched >= 0).sum().reshape(1)

    # Predictions, as RetinaNet.forward splits the outputs per level.
    num_per_level = [h * w * NUM_ANCHORS for h, w in LEVELS]
    split_outputs = {k: list(v.split(num_per_level, dim=1)) for k, v in outputs.items()}
    split_anchors = [list(a.split(num_per_level)) for a in anchors]
    with torch.no_grad():
        detections = model.postprocess_detections(split_outputs, split_anchors, [IMAGE_SIZE])
    result["det_boxes"] = detections[0]["boxes"]
    result["det_scores"] = detections[0]["scores"]
    result["det_labels"] = detections[0]["labels"]
    torch.save(result, out_path)


if __name__ == "__main__":
    main(sys.argv[1])
