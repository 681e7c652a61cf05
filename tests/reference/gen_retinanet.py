#!/usr/bin/python3
"""The reference of tests/plugins/retinanet/retinanet_reference_test.cpp, made at test time.

    /usr/bin/python3 tests/reference/gen_retinanet.py OUT_DIR {r50|r18}

Builds torchvision 0.14's RetinaNet (v1: retinanet_resnet50_fpn, or the same architecture on a
ResNet-18) with a fixed seed and random weights, perturbs every BatchNorm's statistics and
affine parameters (so eval-mode BN is no identity and frozen-BN paths are exercised), and
writes to OUT_DIR:
  weights.pth     the model's state_dict, as torch.save writes it (an OrderedDict)
  reference.pth   a dict of tensors, for each input k in {0, 1} (two sizes):
                    in{k}             the normalised input (1, 3, H, W)
                    fpn{k}_{l}        the FPN outputs P3..P7
                    cls{k}_{l}        raw classification outputs per level (1, A*91, H_l, W_l)
                    reg{k}_{l}        raw regression outputs per level (1, A*4, H_l, W_l)
                    gt_boxes{k}, gt_labels{k}   the targets of the losses
                    loss_cls{k}, loss_bbox{k}   torchvision's compute_loss on them
                    det_boxes{k}, det_scores{k}, det_labels{k}  postprocess_detections

    /usr/bin/python3 tests/reference/gen_retinanet.py OUT_DIR r50 infer
    /usr/bin/python3 tests/reference/gen_retinanet.py compare EXPECTED.json ACTUAL.json

`infer` writes instead, for `detkit infer`: weights.pth, image.png (800x1216, an image the
test pipeline does not resize) and expected.json, torchvision's own end-to-end detections on it
(model([image]) in eval mode: its transform, normalisation, post-processing), as detkit infer
writes them ({bbox, score, label}, by decreasing score). `compare` checks that detkit's JSON
equals them (boxes and scores to 1e-3, labels exact, same order up to score ties) and exits 1
with the differences otherwise.

The inputs of the default mode bypass torchvision's GeneralizedRCNNTransform (no resizing, no padding: both sizes
are multiples of 32, as detkit's Pad(size_divisor=32) leaves them), so the comparison is of the
model alone.
"""

import collections
import json
import os
import sys

import torch
import torchvision
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.image_list import ImageList
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

SIZES = [(288, 416), (224, 320)]


def build(variant):
    if variant == "r50":
        return torchvision.models.detection.retinanet_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=91)
    body = torchvision.models.resnet18()
    backbone = _resnet_fpn_extractor(body, 5, returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(256, 256))
    anchor_sizes = tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3)))
                         for x in [32, 64, 128, 256, 512])
    anchors = torchvision.models.detection.anchor_utils.AnchorGenerator(
        anchor_sizes, ((0.5, 1.0, 2.0),) * len(anchor_sizes))
    return torchvision.models.detection.RetinaNet(backbone, 91, anchor_generator=anchors)


def perturb_batch_norms(model, generator):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def targets_for(h, w, generator):
    """Three well-separated boxes (so the low-quality-match rules of torchvision's Matcher and
    MMDetection's MaxIoUAssigner agree)."""
    boxes = []
    cells = [(0.05, 0.05), (0.55, 0.1), (0.2, 0.6)]
    for fx, fy in cells:
        x1, y1 = fx * w, fy * h
        bw = (0.15 + 0.2 * torch.rand(1, generator=generator).item()) * w
        bh = (0.15 + 0.2 * torch.rand(1, generator=generator).item()) * h
        boxes.append([x1, y1, x1 + bw, y1 + bh])
    labels = torch.tensor([1, 17, 62])
    return torch.tensor(boxes, dtype=torch.float32), labels


def prepared_model(variant, generator):
    model = build(variant)
    perturb_batch_norms(model, generator)
    # Scores of a randomly initialised head sit near sigmoid(log(0.01/0.99)); a spread of
    # classification biases gives post-processing real work (many boxes above score_thr).
    with torch.no_grad():
        model.head.classification_head.cls_logits.bias.copy_(
            torch.randn(model.head.classification_head.cls_logits.bias.shape,
                        generator=generator) * 1.5 - 2.0)
    return model.eval()


def calibrate(model, x):
    """Rescales the final classification and regression convolutions so that, on input `x`,
    the logits spread around their biases with std 1 and the deltas with std 0.2: random
    ResNet weights with real-image statistics otherwise saturate every score at 1.0 (ties
    everywhere, no order to compare) and make degenerate boxes."""
    with torch.no_grad():
        features = list(model.backbone(x).values())
        cls_head = model.head.classification_head
        reg_head = model.head.regression_head
        cls = torch.cat([(cls_head.cls_logits(cls_head.conv(f)) - cls_head.cls_logits.bias[:, None, None]).flatten()
                         for f in features])
        reg = torch.cat([(reg_head.bbox_reg(reg_head.conv(f)) - reg_head.bbox_reg.bias[:, None, None]).flatten()
                         for f in features])
        cls_head.cls_logits.weight.div_(cls.std())
        reg_head.bbox_reg.weight.mul_(0.2 / reg.std())


def smooth_image(h, w, generator):
    """A uint8 RGB image of blobs and gradients (a decoded photo's statistics, roughly)."""
    low = torch.rand(1, 3, h // 32, w // 32, generator=generator)
    img = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    img = img + 0.1 * torch.rand(1, 3, h, w, generator=generator)
    return (img[0].clamp(0, 1) * 255).round().to(torch.uint8)


def write_infer_case(out_dir, variant, generator):
    model = prepared_model(variant, generator)
    image = smooth_image(800, 1216, generator)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    calibrate(model, ((image.float() / 255 - mean) / std)[None])
    torch.save(model.state_dict(), os.path.join(out_dir, "weights.pth"))
    torchvision.io.write_png(image, os.path.join(out_dir, "image.png"))
    with torch.no_grad():
        found = model([image.float() / 255])[0]
    expected = [{"bbox": [float(v) for v in box], "score": float(score), "label": int(label)}
                for box, score, label in zip(found["boxes"], found["scores"], found["labels"])]
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("wrote", out_dir, len(expected), "detections")


def compare(expected_path, actual_path):
    expected = json.load(open(expected_path))
    actual = json.load(open(actual_path))
    problems = []
    if len(expected) != len(actual):
        problems.append(f"{len(actual)} detections, torchvision has {len(expected)}")
    displaced = 0
    for i, (e, a) in enumerate(zip(expected, actual)):
        if abs(e["score"] - a["score"]) > 1e-3:
            problems.append(f"detection {i}: score {a['score']} vs {e['score']}")
        same = e["label"] == a["label"] and max(
            abs(x - y) for x, y in zip(e["bbox"], a["bbox"])) <= 1e-3 * max(1.0, *map(abs, e["bbox"]))
        if not same:
            displaced += 1
            gaps = [abs(expected[j]["score"] - e["score"]) for j in (i - 1, i + 1)
                    if 0 <= j < len(expected)]
            if not gaps or min(gaps) > 1e-5:
                problems.append(f"detection {i}: {a} vs torchvision {e} (no score tie)")
    if displaced > len(expected) // 20:
        problems.append(f"{displaced} detections out of torchvision's order")
    if problems:
        print("\n".join(problems[:20]))
        sys.exit(1)
    print("equal:", len(expected), "detections,", displaced, "swapped score ties")


def main():
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
        return
    out_dir, variant = sys.argv[1], sys.argv[2]
    torch.manual_seed(20261201)
    generator = torch.Generator().manual_seed(7)
    if len(sys.argv) > 3 and sys.argv[3] == "infer":
        write_infer_case(out_dir, variant, generator)
        return
    model = prepared_model(variant, generator)
    calibrate(model, torch.randn(1, 3, *SIZES[0], generator=generator))
    torch.save(model.state_dict(), os.path.join(out_dir, "weights.pth"))

    out = collections.OrderedDict()
    with torch.no_grad():
        for k, (h, w) in enumerate(SIZES):
            x = torch.randn(1, 3, h, w, generator=generator)
            out[f"in{k}"] = x
            features = list(model.backbone(x).values())
            for level, f in enumerate(features):
                out[f"fpn{k}_{level}"] = f
            cls_head = model.head.classification_head
            reg_head = model.head.regression_head
            for level, f in enumerate(features):
                out[f"cls{k}_{level}"] = cls_head.cls_logits(cls_head.conv(f))
                out[f"reg{k}_{level}"] = reg_head.bbox_reg(reg_head.conv(f))
            head_outputs = model.head(features)
            images = ImageList(x, [(h, w)])
            anchors = model.anchor_generator(images, features)
            gt_boxes, gt_labels = targets_for(h, w, generator)
            out[f"gt_boxes{k}"] = gt_boxes
            out[f"gt_labels{k}"] = gt_labels
            losses = model.compute_loss([{"boxes": gt_boxes, "labels": gt_labels}], head_outputs,
                                        anchors)
            out[f"loss_cls{k}"] = losses["classification"].reshape(1)
            out[f"loss_bbox{k}"] = losses["bbox_regression"].reshape(1)
            per_level = [f.size(2) * f.size(3) for f in features]
            a = head_outputs["cls_logits"].size(1) // sum(per_level)
            per_level = [n * a for n in per_level]
            split_head = {key: list(v.split(per_level, dim=1)) for key, v in head_outputs.items()}
            split_anchors = [list(t.split(per_level)) for t in anchors]
            dets = model.postprocess_detections(split_head, split_anchors, images.image_sizes)[0]
            out[f"det_boxes{k}"] = dets["boxes"]
            out[f"det_scores{k}"] = dets["scores"]
            out[f"det_labels{k}"] = dets["labels"]
    torch.save(dict(out), os.path.join(out_dir, "reference.pth"))
    print("wrote", out_dir, variant, {k: len(out[f"det_scores{k}"]) for k in range(len(SIZES))})


if __name__ == "__main__":
    main()
