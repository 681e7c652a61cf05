#!/usr/bin/python3
"""The reference of detkit's Faster R-CNN against torchvision 0.14, made at test time.

    /usr/bin/python3 tests/reference/gen_faster_rcnn.py OUT_DIR

Builds torchvision 0.14's fasterrcnn_resnet50_fpn (v1, 91 classes, random weights, fixed
seeds), perturbs every BatchNorm's statistics and affine parameters, calibrates the RPN and box
predictor layers on the first input (calibrate), and writes to OUT_DIR:
  weights.pth     the model's state_dict, as torch.save writes it (an OrderedDict)
  reference.pth   a dict of tensors, for each input k in {0, 1} (two sizes):
                    in{k}                       the input (1, 3, H, W)
                    rpn_cls{k}_{l}, rpn_reg{k}_{l}  model.rpn.head's outputs per level l in 0..4
                                                (FPN '0'..'3', 'pool'): (1, A, H_l, W_l) and
                                                (1, 4A, H_l, W_l)
                    proposals{k}, proposal_scores{k}  the eval-mode RPN's proposals (P, 4)
                                                after NMS and their sigmoid scores (P)
                    roi_boxes{k}, roi_feats{k}  20 boxes (tiny, huge, one partly outside) and
                                                box_roi_pool on them (20, 256, 7, 7)
                    det_boxes{k}, det_scores{k}, det_labels{k}  model.roi_heads on the eval
                                                proposals: the eval pipeline without transform
                    gt_boxes{k}, gt_labels{k}   the targets of the losses (3 boxes, labels 1..90)
                    loss_objectness{k}, loss_rpn_box_reg{k}, loss_classifier{k},
                    loss_box_reg{k}             train-mode RPN and RoI head losses, shape (1,)

The losses are deterministic: both samplers keep every positive and negative
(batch_size_per_image 10**6), and only model.rpn and model.roi_heads are in train mode (the
backbone's BatchNorm uses its running statistics); the script checks that two torch seeds give
equal losses. The inputs bypass torchvision's GeneralizedRCNNTransform (no normalisation, no
resizing, no padding: both sizes are multiples of 32), so the comparison is of the model alone.

    /usr/bin/python3 tests/reference/gen_faster_rcnn.py OUT_DIR infer

writes instead, for `detkit infer`: weights.pth (calibrated on the image), image.png (800x1216,
which torchvision's transform does not resize: min_size 800, max_size 1333) and expected.json,
torchvision's own end-to-end detections (model([image]) in eval mode) as detkit infer writes
them ({bbox, score, label}, torchvision's labels 1..90, by decreasing score); gen_retinanet.py's
`compare` checks detkit's JSON against them.
"""

import collections
import json
import os
import sys
import time

import torch
import torchvision
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers

from gen_retinanet import perturb_batch_norms, smooth_image, targets_for

SIZES = [(288, 416), (224, 320)]
LEVELS = ["0", "1", "2", "3", "pool"]


def prepared_model(generator):
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91)
    perturb_batch_norms(model, generator)
    return model.eval()


def rpn_proposals(model, images, features):
    """model.rpn's proposals of the one image and their sigmoid scores (what its forward
    computes; forward returns the boxes only)."""
    levels = list(features.values())
    objectness, deltas = model.rpn.head(levels)
    anchors = model.rpn.anchor_generator(images, levels)
    per_level = [o[0].numel() for o in objectness]
    objectness, deltas = concat_box_prediction_layers(objectness, deltas)
    proposals = model.rpn.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
    boxes, scores = model.rpn.filter_proposals(proposals, objectness, images.image_sizes,
                                               per_level)
    return boxes[0], scores[0]


def calibrate(model, x, generator):
    """Rescales the RPN's and the box predictor's last layers so that, on input `x`, RPN
    objectness logits spread around random biases with std 1.5, RPN deltas with std 0.2, box
    classification logits with std 1.5 over the proposals (foreground biases randn * 1.5 - 1)
    and box deltas with std 0.5: random weights otherwise saturate the scores (ties everywhere)
    or leave no detection above score 0.05."""
    with torch.no_grad():
        images = ImageList(x, [tuple(x.shape[-2:])])
        features = model.backbone(x)
        head = model.rpn.head
        hidden = [head.conv(f) for f in features.values()]
        cls = torch.cat([(head.cls_logits(t) - head.cls_logits.bias[:, None, None]).flatten()
                         for t in hidden])
        reg = torch.cat([(head.bbox_pred(t) - head.bbox_pred.bias[:, None, None]).flatten()
                         for t in hidden])
        head.cls_logits.weight.mul_(1.5 / cls.std())
        head.cls_logits.bias.copy_(
            torch.randn(head.cls_logits.bias.shape, generator=generator) * 0.5)
        head.bbox_pred.weight.mul_(0.2 / reg.std())
        head.bbox_pred.bias.zero_()

        proposals, _ = rpn_proposals(model, images, features)
        roi_heads = model.roi_heads
        box_features = roi_heads.box_head(
            roi_heads.box_roi_pool(features, [proposals], images.image_sizes))
        predictor = roi_heads.box_predictor
        # The pooled features of different proposals are alike: most of a logit is a per-class
        # constant, which the bias absorbs, leaving the spread over proposals.
        cls = predictor.cls_score(box_features) - predictor.cls_score.bias
        scale = 1.5 / (cls - cls.mean(0)).std()
        predictor.cls_score.weight.mul_(scale)
        bias = torch.randn(predictor.cls_score.bias.shape, generator=generator) * 1.5 - 1.0
        bias[0] = 8.5  # torchvision's background: some 50 to 100 detections above score 0.05
        predictor.cls_score.bias.copy_(bias - cls.mean(0) * scale)
        reg = predictor.bbox_pred(box_features) - predictor.bbox_pred.bias
        predictor.bbox_pred.weight.mul_(0.5 / reg.std())
        predictor.bbox_pred.bias.zero_()


def roi_boxes_for(h, w, generator):
    """20 boxes inside the image of sizes log-uniform from a pixel to the image's, but boxes 0
    and 1 are tiny (0.5 to 2.5 pixels), box 2 is the whole image and box 19 is partly outside
    it."""
    def rand(*shape):
        return torch.rand(*shape, generator=generator)

    sizes = torch.exp(rand(20, 2) * torch.log(torch.tensor([float(w), float(h)])))
    sizes[:2] = rand(2, 2) * 2 + 0.5
    corners = rand(20, 2) * (torch.tensor([float(w), float(h)]) - sizes)
    boxes = torch.cat([corners, corners + sizes], dim=1)
    boxes[2] = torch.tensor([0.0, 0.0, w, h])
    boxes[19] = torch.tensor([w - 60.0, h - 50.0, w + 30.0, h + 25.0])
    return boxes


def train_losses(model, images, features, targets, seed):
    """The train-mode RPN and RoI head losses with every sample kept (deterministic)."""
    torch.manual_seed(seed)
    model.rpn.train()
    model.roi_heads.train()
    try:
        proposals, rpn_losses = model.rpn(images, features, targets)
        _, roi_losses = model.roi_heads(features, proposals, images.image_sizes, targets)
    finally:
        model.eval()
    return {**rpn_losses, **roi_losses}


def write_infer_case(out_dir, generator):
    model = prepared_model(generator)
    image = smooth_image(800, 1216, generator)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    calibrate(model, ((image.float() / 255 - mean) / std)[None], generator)
    torch.save(model.state_dict(), os.path.join(out_dir, "weights.pth"))
    torchvision.io.write_png(image, os.path.join(out_dir, "image.png"))
    with torch.no_grad():
        images, _ = model.transform([image.float() / 255])
        assert images.image_sizes == [(800, 1216)], images.image_sizes  # not resized
        found = model([image.float() / 255])[0]
    expected = [{"bbox": [float(v) for v in box], "score": float(score), "label": int(label)}
                for box, score, label in zip(found["boxes"], found["scores"], found["labels"])]
    assert len(expected) >= 10, len(expected)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
    return f"{len(expected)} detections"


def write_reference(out_dir, generator):
    model = prepared_model(generator)
    inputs = [torch.randn(1, 3, h, w, generator=generator) for h, w in SIZES]
    calibrate(model, inputs[0], generator)
    torch.save(model.state_dict(), os.path.join(out_dir, "weights.pth"))
    model.rpn.fg_bg_sampler.batch_size_per_image = 10**6
    model.roi_heads.fg_bg_sampler.batch_size_per_image = 10**6

    out = collections.OrderedDict()
    with torch.no_grad():
        for k, ((h, w), x) in enumerate(zip(SIZES, inputs)):
            out[f"in{k}"] = x
            images = ImageList(x, [(h, w)])
            features = model.backbone(x)
            assert list(features) == LEVELS
            objectness, deltas = model.rpn.head(list(features.values()))
            for level, (cls, reg) in enumerate(zip(objectness, deltas)):
                out[f"rpn_cls{k}_{level}"] = cls
                out[f"rpn_reg{k}_{level}"] = reg
            proposals, scores = rpn_proposals(model, images, features)
            assert torch.equal(proposals, model.rpn(images, features)[0][0])
            out[f"proposals{k}"] = proposals
            out[f"proposal_scores{k}"] = scores
            roi_boxes = roi_boxes_for(h, w, generator)
            out[f"roi_boxes{k}"] = roi_boxes
            out[f"roi_feats{k}"] = model.roi_heads.box_roi_pool(features, [roi_boxes], [(h, w)])
            dets = model.roi_heads(features, [proposals], [(h, w)])[0][0]
            assert len(dets["scores"]) >= 10 and len(dets["scores"].unique()) >= 0.9 * len(
                dets["scores"]), dets["scores"]
            out[f"det_boxes{k}"] = dets["boxes"]
            out[f"det_scores{k}"] = dets["scores"]
            out[f"det_labels{k}"] = dets["labels"]
            gt_boxes, gt_labels = targets_for(h, w, generator)
            out[f"gt_boxes{k}"] = gt_boxes
            out[f"gt_labels{k}"] = gt_labels
            targets = [{"boxes": gt_boxes, "labels": gt_labels}]
            losses = train_losses(model, images, features, targets, seed=1)
            again = train_losses(model, images, features, targets, seed=2)
            for name, value in losses.items():
                assert torch.equal(value, again[name]), (name, value, again[name])
                out[f"{name}{k}"] = value.reshape(1)
    torch.save(dict(out), os.path.join(out_dir, "reference.pth"))
    return ", ".join(
        f"input {k}: {len(out[f'proposals{k}'])} proposals, {len(out[f'det_scores{k}'])} "
        f"detections (scores {out[f'det_scores{k}'].min():.3f}..{out[f'det_scores{k}'].max():.3f})"
        for k in range(len(SIZES)))


def main():
    out_dir = sys.argv[1]
    start = time.time()
    torch.manual_seed(20261201)
    generator = torch.Generator().manual_seed(7)
    if len(sys.argv) > 2 and sys.argv[2] == "infer":
        summary = write_infer_case(out_dir, generator)
    else:
        summary = write_reference(out_dir, generator)
    print(f"wrote {out_dir}: {summary} ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
