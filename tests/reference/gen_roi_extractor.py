#!/usr/bin/python3
"""Reference values for SingleRoIExtractor with level_mapping: torchvision
(tests/plugins/roi_heads/single_roi_extractor_test.cpp).

Run AT TEST TIME by the test with Debian's Python and PyTorch (python3-torch 1.13,
python3-torchvision 0.14):

    /usr/bin/python3 tests/reference/gen_roi_extractor.py OUT.pt

It writes OUT.pt (deterministic: fixed seed), a torch.save'd dict of tensors: "f0" ... "f3"
(2, 8, 256 / s, 256 / s) features of strides s = 4, 8, 16, 32 of a 256 x 256 padded batch of
two images (256 x 256 and 200 x 240), "rois" (K, 5) [image, x1, y1, x2, y2] covering every
level (tiny to larger than the image), and "expected": torchvision.ops.MultiScaleRoIAlign
(output_size 7, sampling_ratio 2, canonical_scale 224, canonical_level 4) on them.
"""

import collections
import sys

import torch
import torchvision

torch.manual_seed(20241201)


def make_boxes(count, image_h, image_w):
    """`count` random xyxy boxes of sides 4 ... 545 pixels, centred inside the image."""
    sides = torch.exp(torch.empty(count, 2).uniform_(1.4, 6.3))
    centres = torch.rand(count, 2) * torch.tensor([image_w, image_h])
    return torch.cat([centres - sides / 2, centres + sides / 2], dim=1)


def main():
    out = sys.argv[1]
    features = collections.OrderedDict()
    for i, stride in enumerate([4, 8, 16, 32]):
        features[str(i)] = torch.randn(2, 8, 256 // stride, 256 // stride)
    fixed = torch.tensor([[10.0, 10.0, 40.0, 40.0], [0.0, 0.0, 256.0, 256.0],
                          [50.0, 60.0, 162.0, 172.0], [5.0, 5.0, 5.5, 6.0], [-100.0, -100.0, 400.0, 400.0]])
    boxes = [torch.cat([fixed, make_boxes(20, 256, 256)]), make_boxes(16, 200, 240)]
    pooler = torchvision.ops.MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    expected = pooler(features, boxes, [(256, 256), (200, 240)])
    rois = torchvision.ops._utils.convert_boxes_to_roi_format(boxes)
    result = {"f%d" % i: features[str(i)] for i in range(4)}
    result["rois"] = rois
    result["expected"] = expected
    torch.save(result, out)


if __name__ == "__main__":
    main()
