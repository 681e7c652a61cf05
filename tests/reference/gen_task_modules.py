#!/usr/bin/python3
"""Reference values for the task modules (tests/core/task_modules/*_test.cpp).

Run with Debian's Python and PyTorch (python3-torch 1.13, python3-torchvision 0.14), not with
another python3 that may come first on PATH. The tests run it AT TEST TIME (a ctest fixture):

    /usr/bin/python3 tests/reference/gen_task_modules.py OUT.pt

It writes OUT.pt (deterministic: fixed seeds), a torch.save'd list of cases that the C++ tests
read with torch::pickle_load. Each case is a dict with "name", "module", the inputs, the
parameters (as a YAML flow map in "yaml" where the C++ side builds the module from a config) and
the expected outputs.

Expected values:
  anchor_generator   MMDetection 2.x AnchorGenerator, written below from its documented
                     formulas (docs/mmdet-semantics.md 7.1, the class docstring): float32 base
                     anchors base_size * scale * (1/sqrt(r), sqrt(r)) around the centre, ratio
                     outermost when scale_major, shifted by (x * stride_w, y * stride_h),
                     location-major.
  torchvision_anchor torchvision.models.detection.anchor_utils.AnchorGenerator as
                     retinanet_resnet50_fpn builds it (retinanet._default_anchorgen), run on
                     ImageLists of 800x1216 and of 97x131 (feature maps of a ResNet-FPN's sizes).
  box_coder_tv       torchvision.models.detection._utils.BoxCoder(weights=(1, 1, 1, 1))
                     encode_single / decode_single (deltas within torchvision's clamp range, which
                     only bounds dw, dh from above).
  box_coder_mmdet    MMDetection 2.x bbox2delta / delta2bbox, written below from their documented
                     formulas, with stds [0.1, 0.1, 0.2, 0.2], means, clipping, add_ctr_clamp and
                     huge deltas.
  assigner_tv        torchvision's Matcher(0.5, 0.4, allow_low_quality_matches=True) on random
                     boxes drawn so that it and MaxIoUAssigner(0.5, 0.4, min_pos_iou=0) agree by
                     definition: every ground truth overlaps some prior, and every prior that is
                     a ground truth's best has that ground truth as its own best.
"""

import math
import sys

import torch
import torchvision
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection import retinanet
from torchvision.models.detection.image_list import ImageList

assert torch.__version__.startswith("1.13"), torch.__version__
assert torchvision.__version__.startswith("0.14"), torchvision.__version__


# ---------------------------------------------------------------- MMDetection anchor formulas
def mmdet_base_anchors(base_size, scales, ratios, scale_major, center):
    """Base anchors (A, 4) of one level, float32, in MMDetection's order."""
    scales = torch.tensor(scales, dtype=torch.float32)
    ratios = torch.tensor(ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    if scale_major:  # ratio outermost
        ws = (base_size * w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (base_size * h_ratios[:, None] * scales[None, :]).reshape(-1)
    else:
        ws = (base_size * scales[:, None] * w_ratios[None, :]).reshape(-1)
        hs = (base_size * scales[:, None] * h_ratios[None, :]).reshape(-1)
    cx, cy = center
    return torch.stack([cx - 0.5 * ws, cy - 0.5 * hs, cx + 0.5 * ws, cy + 0.5 * hs], dim=-1)


def mmdet_anchors(cfg, featmap_sizes):
    strides = [(s, s) if isinstance(s, int) else tuple(s) for s in cfg["strides"]]
    base_sizes = cfg.get("base_sizes") or [min(s) for s in strides]
    if "scales" in cfg:
        scales = cfg["scales"]
    else:
        n = cfg["scales_per_octave"]
        scales = [2 ** (i / n) * cfg["octave_base_scale"] for i in range(n)]
    offset = cfg.get("center_offset", 0.0)
    out = []
    for level, ((stride_w, stride_h), (feat_h, feat_w)) in enumerate(zip(strides, featmap_sizes)):
        size = base_sizes[level]
        center = cfg["centers"][level] if "centers" in cfg else (offset * size, offset * size)
        base = mmdet_base_anchors(size, scales, cfg["ratios"], cfg.get("scale_major", True), center)
        xs = torch.arange(feat_w, dtype=torch.float32) * stride_w
        ys = torch.arange(feat_h, dtype=torch.float32) * stride_h
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        shifts = torch.stack([xx, yy, xx, yy], dim=-1)
        out.append((shifts[:, None, :] + base[None, :, :]).reshape(-1, 4))
    return out


def flow(cfg):
    """A YAML flow map of a dict of ints, floats, bools, strings and lists."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, float):
            return repr(v)
        return str(v)
    return "{" + ", ".join(f"{k}: {value(v)}" for k, v in cfg.items()) + "}"


def anchor_cases():
    retina = dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                  ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])
    rpn = dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0],
               strides=[4, 8, 16, 32, 64])
    custom = dict(type="AnchorGenerator", strides=[[8, 16], [16, 32]], ratios=[0.5, 1.0, 2.0],
                  scales=[2.0, 3.0], base_sizes=[10, 20], scale_major=False, center_offset=0.5)
    centers = dict(type="AnchorGenerator", strides=[16, 32], ratios=[1.0, 0.25], scales=[1.0],
                   base_sizes=[9, 18], centers=[[2.0, 3.0], [7.5, 7.5]])
    cases = [
        ("retinanet_800x1216", retina, [(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)]),
        ("retinanet_small", retina, [(13, 17), (7, 9), (4, 5), (2, 3), (1, 1)]),
        ("retinanet_1x1", retina, [(1, 1)] * 5),
        ("rpn_128x160", rpn, [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)]),
        ("rpn_1x1", rpn, [(1, 1)] * 5),
        ("wh_strides_offset_scale_minor", custom, [(3, 4), (1, 1)]),
        ("centers", centers, [(2, 2), (1, 3)]),
    ]
    out = []
    for name, cfg, sizes in cases:
        params = {k: v for k, v in cfg.items() if k != "type"}
        out.append(dict(name=name, module="anchor_generator", yaml=flow(cfg),
                        featmap_sizes=torch.tensor(sizes, dtype=torch.int64),
                        expected=mmdet_anchors(params, sizes)))
    return out


# ------------------------------------------------------------------- torchvision anchors
def torchvision_anchor_cases():
    generator = retinanet._default_anchorgen()
    out = []
    # (name, padded image size, feature-map sizes of ResNet-FPN P3-P7 on it)
    for name, image, sizes in [
        ("800x1216", (800, 1216), [(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)]),
        ("97x131", (97, 131), [(13, 17), (7, 9), (4, 5), (2, 3), (1, 2)]),
    ]:
        def run(image_size):
            images = ImageList(torch.zeros(1, 3, *image_size), [tuple(image_size)])
            features = [torch.zeros(1, 4, h, w) for h, w in sizes]
            anchors = generator(images, features)[0]
            counts = [h * w * n for (h, w), n in zip(sizes, generator.num_anchors_per_location())]
            return list(anchors.split(counts))
        inferred = (sizes[0][0] * 8, sizes[0][1] * 8)
        out.append(dict(name=name, module="torchvision_anchor",
                        sizes=[list(map(float, s)) for s in generator.sizes],
                        aspect_ratios=[list(map(float, a)) for a in generator.aspect_ratios],
                        image_size=torch.tensor(image, dtype=torch.int64),
                        featmap_sizes=torch.tensor(sizes, dtype=torch.int64),
                        expected=run(image), expected_inferred=run(inferred)))
    return out


# ---------------------------------------------------------------------------- box coders
def random_boxes(n, size, min_side=1.0, generator=None):
    xy = torch.rand(n, 2, generator=generator) * size
    wh = torch.rand(n, 2, generator=generator) * size / 2 + min_side
    return torch.cat([xy, xy + wh], dim=1)


def mmdet_encode(priors, gts, means, stds):
    px, py = (priors[:, 0] + priors[:, 2]) * 0.5, (priors[:, 1] + priors[:, 3]) * 0.5
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    gx, gy = (gts[:, 0] + gts[:, 2]) * 0.5, (gts[:, 1] + gts[:, 3]) * 0.5
    gw, gh = gts[:, 2] - gts[:, 0], gts[:, 3] - gts[:, 1]
    deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw),
                          torch.log(gh / ph)], dim=-1)
    return (deltas - torch.tensor(means)[None]) / torch.tensor(stds)[None]


def mmdet_decode(priors, deltas, means, stds, max_shape, clip_border, add_ctr_clamp, ctr_clamp):
    n = deltas.size(0)
    k = deltas.size(1) // 4
    d = deltas.reshape(-1, 4) * torch.tensor(stds)[None] + torch.tensor(means)[None]
    rois = priors.repeat(1, k).reshape(-1, 4)
    pxy = (rois[:, :2] + rois[:, 2:]) * 0.5
    pwh = rois[:, 2:] - rois[:, :2]
    dxy_wh = pwh * d[:, :2]
    max_ratio = abs(math.log(16 / 1000))
    if add_ctr_clamp:
        dxy_wh = dxy_wh.clamp(min=-ctr_clamp, max=ctr_clamp)
        dwh = d[:, 2:].clamp(max=max_ratio)
    else:
        dwh = d[:, 2:].clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    if clip_border and max_shape is not None:
        boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=max_shape[1])
        boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=max_shape[0])
    return boxes.reshape(n, -1)


def coder_cases():
    g = torch.Generator().manual_seed(7)
    out = []
    priors = random_boxes(64, 100.0, generator=g)
    gts = random_boxes(64, 100.0, generator=g)
    deltas = torch.randn(64, 4, generator=g)
    deltas[:, 2:] = deltas[:, 2:].clamp(min=-3.0)
    deltas[:8, 2:] = 12.0  # above the clamp: both clamp dw, dh to log(1000 / 16)
    coder = det_utils.BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
    out.append(dict(name="torchvision_stds_1", module="box_coder_tv",
                    yaml="{type: DeltaXYWHBBoxCoder}", priors=priors, gt_boxes=gts,
                    deltas=deltas, expected_encode=coder.encode_single(gts, priors),
                    expected_decode=coder.decode_single(deltas, priors)))
    means, stds = [0.1, -0.05, 0.02, 0.0], [0.1, 0.1, 0.2, 0.2]
    huge = torch.randn(64, 8, generator=g) * 3
    huge[:6] = torch.tensor([40.0, -40.0, 50.0, -50.0, -30.0, 30.0, -60.0, 60.0])
    for name, clip, ctr, shape in [("stds_clip", True, False, (60, 80)),
                                   ("stds_noclip", False, False, (60, 80)),
                                   ("stds_ctr_clamp", True, True, (60, 80)),
                                   ("stds_no_shape", True, False, None)]:
        cfg = dict(type="DeltaXYWHBBoxCoder", target_means=means, target_stds=stds,
                   clip_border=clip, add_ctr_clamp=ctr, ctr_clamp=32)
        out.append(dict(name=name, module="box_coder_mmdet", yaml=flow(cfg), priors=priors,
                        gt_boxes=gts, deltas=huge,
                        max_shape=torch.tensor(shape or (0, 0), dtype=torch.int64),
                        expected_encode=mmdet_encode(priors, gts, means, stds),
                        expected_decode=mmdet_decode(priors, huge, means, stds, shape, clip,
                                                     ctr, 32)))
    return out


# ------------------------------------------------------------------------------ assigner
def agree_by_definition(iou):
    gt_max, _ = iou.max(dim=1)
    if (gt_max <= 0).any():
        return False
    _, best_gt = iou.max(dim=0)
    for i in range(iou.size(0)):
        ties = (iou[i] == gt_max[i]).nonzero().view(-1)
        if (best_gt[ties] != i).any():
            return False
    return True


def assigner_cases():
    out = []
    g = torch.Generator().manual_seed(11)
    matcher = det_utils.Matcher(0.5, 0.4, allow_low_quality_matches=True)
    found = 0
    while found < 4:
        priors = random_boxes(300, 64.0, min_side=4.0, generator=g)
        gts = random_boxes(6, 64.0, min_side=8.0, generator=g)
        iou = torchvision.ops.box_iou(gts, priors)
        if not agree_by_definition(iou):
            continue
        matches = matcher(iou)
        # torchvision: -1 below low, -2 between, k >= 0 matched; MMDetection: 0, -1, k + 1.
        gt_inds = torch.where(matches >= 0, matches + 1,
                              torch.where(matches == -1, torch.zeros_like(matches),
                                          -torch.ones_like(matches)))
        labels = torch.randint(0, 80, (6,), generator=g)
        out.append(dict(name=f"random_{found}", module="assigner_tv",
                        yaml="{type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, "
                             "min_pos_iou: 0.0}",
                        priors=priors, gt_boxes=gts, gt_labels=labels, expected_gt_inds=gt_inds,
                        expected_max_overlaps=iou.max(dim=0)[0],
                        expected_labels=torch.where(gt_inds > 0, labels[(gt_inds - 1).clamp(min=0)],
                                                    -torch.ones_like(gt_inds))))
        found += 1
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 gen_task_modules.py OUT.pt")
    torch.manual_seed(0)
    cases = anchor_cases() + torchvision_anchor_cases() + coder_cases() + assigner_cases()
    torch.save(cases, sys.argv[1])
    print(f"wrote {len(cases)} cases to {sys.argv[1]}")


if __name__ == "__main__":
    main()
