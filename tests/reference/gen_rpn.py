"""Reference values for detkit's RPNHead, from torchvision 0.14's RegionProposalNetwork.

Run with Debian's Python (torch 1.13, torchvision 0.14): /usr/bin/python3 gen_rpn.py OUT.pt

The test tests/plugins/rpn/rpn_reference_test.cpp runs this at test time into a temporary
folder and reads OUT.pt (a dict of tensors written by torch.save) with LibTorch.

Two images of 64 x 128 and 50 x 100 pixels in a batch padded to 64 x 128, five FPN-like levels
of 64 channels (16 x 32 ... 1 x 2 cells, strides 4 ... 64), 3 anchors per location
(torchvision's fasterrcnn_resnet50_fpn anchor sizes 32 ... 512, aspect ratios 0.5, 1, 2). The
head's weights are drawn here under MMDetection's names (`rpn_conv.weight`, `rpn_cls.weight`,
`rpn_reg.weight`) and copied into torchvision's RPNHead under its names (`conv.0.0.weight`,
`cls_logits.weight`, `bbox_pred.weight`).

Written tensors:
  weight.<mmdet key>         the head's parameters
  feat.<l>                   (2, 64, H_l, W_l) input of level l
  cls.<l>, reg.<l>           torchvision's objectness (2, A, H, W) and deltas (2, A*4, H, W),
                             MMDetection's layout as they are
  anchors.<l>                torchvision's anchors of level l, (H_l * W_l * A, 4)
  boxes.<i>, scores.<i>      RegionProposalNetwork's proposals of image i in eval mode
                             (pre_nms_top_n 100, post_nms_top_n 60, nms_thresh 0.7,
                             score_thresh 0) and their objectness probabilities
"""
import sys

import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

PADDED = (64, 128)
IMAGE_SIZES = [(64, 128), (50, 100)]
LEVELS = [(16, 32), (8, 16), (4, 8), (2, 4), (1, 2)]
CHANNELS = 64
NUM_ANCHORS = 3
PRE_NMS_TOP_N = 100
POST_NMS_TOP_N = 60


def mmdet_weights(generator):
    """The head's parameters under MMDetection's RPNHead names."""
    return {
        "rpn_conv.weight": torch.randn(CHANNELS, CHANNELS, 3, 3, generator=generator) * 0.05,
        "rpn_conv.bias": torch.randn(CHANNELS, generator=generator) * 0.1,
        "rpn_cls.weight": torch.randn(NUM_ANCHORS, CHANNELS, 1, 1, generator=generator) * 0.2,
        "rpn_cls.bias": torch.randn(NUM_ANCHORS, generator=generator) * 0.1,
        "rpn_reg.weight": torch.randn(NUM_ANCHORS * 4, CHANNELS, 1, 1, generator=generator) * 0.05,
        "rpn_reg.bias": torch.randn(NUM_ANCHORS * 4, generator=generator) * 0.1,
    }


def torchvision_state_dict(weights):
    """MMDetection's names mapped to torchvision's RPNHead names."""
    names = {"rpn_conv": "conv.0.0", "rpn_cls": "cls_logits", "rpn_reg": "bbox_pred"}
    return {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in weights.items()}


def main(out_path):
    generator = torch.Generator().manual_seed(20261201)
    weights = mmdet_weights(generator)
    head = RPNHead(CHANNELS, NUM_ANCHORS)
    head.load_state_dict(torchvision_state_dict(weights))
    sizes = ((32,), (64,), (128,), (256,), (512,))
    anchor_generator = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    rpn = RegionProposalNetwork(anchor_generator, head, fg_iou_thresh=0.7, bg_iou_thresh=0.3,
                                batch_size_per_image=256, positive_fraction=0.5,
                                pre_nms_top_n={"training": 2000, "testing": PRE_NMS_TOP_N},
                                post_nms_top_n={"training": 2000, "testing": POST_NMS_TOP_N},
                                nms_thresh=0.7, score_thresh=0.0)
    rpn.eval()

    features = [torch.randn(2, CHANNELS, h, w, generator=generator) for h, w in LEVELS]
    images = ImageList(torch.zeros(2, 3, *PADDED), IMAGE_SIZES)
    named = {str(level): feature for level, feature in enumerate(features)}
    with torch.no_grad():
        objectness, deltas = head(features)
        anchors = rpn.anchor_generator(images, features)
        proposals, _ = rpn(images, named)
        # The proposals' scores: RegionProposalNetwork.forward drops them, filter_proposals
        # returns them (the same computation).
        from torchvision.models.detection.rpn import concat_box_prediction_layers
        flat_objectness, flat_deltas = concat_box_prediction_layers(objectness, deltas)
        decoded = rpn.box_coder.decode(flat_deltas.detach(), anchors).view(2, -1, 4)
        num_per_level = [o[0].numel() for o in objectness]
        boxes, scores = rpn.filter_proposals(decoded, flat_objectness, images.image_sizes,
                                             num_per_level)

    result = {f"weight.{k}": v for k, v in weights.items()}
    level_anchors = anchors[0].split([h * w * NUM_ANCHORS for h, w in LEVELS])
    for level, feature in enumerate(features):
        result[f"feat.{level}"] = feature
        result[f"cls.{level}"] = objectness[level]
        result[f"reg.{level}"] = deltas[level]
        result[f"anchors.{level}"] = level_anchors[level]
    for i in range(2):
        assert torch.equal(boxes[i], proposals[i])
        result[f"boxes.{i}"] = boxes[i]
        result[f"scores.{i}"] = scores[i]
    torch.save(result, out_path)


if __name__ == "__main__":
    main(sys.argv[1])
