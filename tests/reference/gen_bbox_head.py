#!/usr/bin/python3
"""Reference values for Shared2FCBBoxHead against torchvision's Faster R-CNN box head
(tests/plugins/roi_heads/convfc_bbox_head_test.cpp).

Run AT TEST TIME by the test with Debian's Python and PyTorch (python3-torch 1.13,
python3-torchvision 0.14):

    /usr/bin/python3 tests/reference/gen_bbox_head.py OUT.pt

It writes OUT.pt (deterministic: fixed seed), a torch.save'd dict of tensors:
  "x"           (K, 4, 3, 3) RoI features
  "fc6.weight" ... "bbox_pred.bias"   the parameters of torchvision's TwoMLPHead (fc6, fc7;
                 36 -> 16 -> 16) and FastRCNNPredictor (cls_score, bbox_pred) for 3 classes
                 plus background, which torchvision puts FIRST
  "cls_logits"  (K, 4) and "bbox_deltas" (K, 16): their forward on x
  "proposals"   (K, 4) boxes, "decoded" (K, 4, 4): torchvision's BoxCoder (weights 10, 10,
                 5, 5) decoding of bbox_deltas on them, clipped to a 60 x 80 (h x w) image.
"""

import sys

import torch
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import boxes as box_ops

torch.manual_seed(20241202)


def main():
    out = sys.argv[1]
    head = TwoMLPHead(4 * 3 * 3, 16)
    predictor = FastRCNNPredictor(16, 4)
    for p in list(head.parameters()) + list(predictor.parameters()):
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(6, 4, 3, 3)
    with torch.no_grad():
        cls_logits, bbox_deltas = predictor(head(x))
    xy = torch.rand(6, 2) * torch.tensor([70.0, 50.0])
    wh = torch.rand(6, 2) * 30 + 2
    proposals = torch.cat([xy, xy + wh], dim=1)
    coder = det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))
    decoded = coder.decode(bbox_deltas, [proposals])
    decoded = box_ops.clip_boxes_to_image(decoded, (60, 80))
    result = {"x": x, "cls_logits": cls_logits, "bbox_deltas": bbox_deltas,
              "proposals": proposals, "decoded": decoded}
    for name, value in list(head.named_parameters()) + list(predictor.named_parameters()):
        result[name] = value.detach()
    torch.save(result, out)


if __name__ == "__main__":
    main()
