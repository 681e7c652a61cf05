#!/usr/bin/python3
"""Reference values for the losses plugin (tests/plugins/losses/losses_reference_test.cpp).

Regenerate with Debian's Python and PyTorch (python3-torch 1.13, python3-torchvision 0.14), not
with another python3 that may come first on PATH:

    /usr/bin/python3 tests/reference/gen_losses.py

It rewrites tests/data/losses/reference.json (deterministic: fixed seed, float64). The C++ test
reads only that file; it never runs Python.

Each case holds a loss config (as detkit would read it from YAML), the call's inputs (pred,
target, optional weight / avg_factor / reduction_override), the expected output, and the
gradient of pred: for a scalar output the gradient of the output itself, otherwise of
sum(output * grad_output) with the stored random grad_output.

Expected values come from PyTorch / torchvision primitives:
  FocalLoss         torchvision.ops.sigmoid_focal_loss (reduction='none')
  CrossEntropyLoss  torch.nn.functional.cross_entropy / binary_cross_entropy_with_logits
  L1Loss            torch.nn.functional.l1_loss
  SmoothL1Loss      torch.nn.functional.smooth_l1_loss
  GIoULoss          torchvision.ops.generalized_box_iou_loss
always with reduction='none'; weights, avg_factor, loss_weight, label expansion and ignore
masks are then applied in Python exactly as MMDetection 2.25 composes them around those
primitives (mmdet.models.losses.utils.weight_reduce_loss and the per-loss wrappers). Where a
case also equals a plain torch call (e.g. the default mean), the generator asserts it.

Weights and soft targets are rounded to float32-representable values: MMDetection casts
CrossEntropyLoss weights and labels with `.float()`, so only such values give one answer
whether a float64 weight is first truncated to float32 (MMDetection) or not (detkit).
"""

import json
import os

import torch
import torch.nn.functional as F
import torchvision

torch.manual_seed(20240517)
DTYPE = torch.float64
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "losses", "reference.json")

# MMDetection's weight_reduce_loss adds float32's eps to avg_factor.
FLOAT32_EPS = torch.finfo(torch.float32).eps


def weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):
    """mmdet.models.losses.utils.weight_reduce_loss (2.25), verbatim in behaviour."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == "mean":
            return loss.mean()
        if reduction == "sum":
            return loss.sum()
        return loss
    if reduction == "mean":
        return loss.sum() / (avg_factor + FLOAT32_EPS)
    if reduction == "none":
        return loss
    raise ValueError('avg_factor can not be used with reduction="sum"')


def f32(t):
    """Rounds to the nearest float32 value, kept as float64."""
    return t.float().to(DTYPE)


def randn(*shape):
    return torch.randn(*shape, dtype=DTYPE)


def rand(*shape):
    return torch.rand(*shape, dtype=DTYPE)


def encode(t):
    t = t.detach()
    if t.dtype in (torch.float32, torch.float64):
        data = [float(v) for v in t.reshape(-1).tolist()]
        dtype = "float64"
    else:
        data = [int(v) for v in t.reshape(-1).tolist()]
        dtype = "int64"
    return {"dtype": dtype, "shape": list(t.shape), "data": data}


CASES = []


def add_case(name, config, pred, target, expected_fn, weight=None, avg_factor=None,
             reduction_override=None):
    """Runs expected_fn(pred) with autograd and records inputs, output and pred's gradient."""
    pred = pred.detach().clone().requires_grad_(True)
    out = expected_fn(pred)
    case = {"name": name, "config": config, "pred": encode(pred), "target": encode(target)}
    if weight is not None:
        case["weight"] = encode(weight)
    if avg_factor is not None:
        case["avg_factor"] = float(avg_factor)
    if reduction_override is not None:
        case["reduction_override"] = reduction_override
    if out.dim() == 0:
        out.backward()
    else:
        grad_output = randn(*out.shape)
        out.backward(grad_output)
        case["grad_output"] = encode(grad_output)
    assert torch.isfinite(out).all(), name
    case["expected"] = encode(out)
    case["pred_grad"] = encode(pred.grad)
    CASES.append(case)


def reduction_of(config, reduction_override):
    return reduction_override or config.get("reduction", "mean")


# --------------------------------------------------------------------------------------------
# FocalLoss. MMDetection (CPU path) turns labels into one_hot(num_classes + 1)[:, :num_classes]
# (label == num_classes is background), computes the sigmoid focal loss element-wise, reshapes a
# weight of shape (N,) to (N, 1) and a flat (N * C,) one to (N, C), then weight_reduce_loss.
# torchvision's sigmoid_focal_loss is the same element-wise formula.


def focal_weight_like(weight, loss):
    if weight is None or weight.shape == loss.shape:
        return weight
    if weight.size(0) == loss.size(0):
        return weight.view(-1, 1)
    assert weight.numel() == loss.numel()
    return weight.view(loss.size(0), -1)


def labels_to_onehot(labels, num_classes):
    return F.one_hot(labels, num_classes + 1)[:, :num_classes].to(DTYPE)


def focal_case(name, config, pred, target, weight=None, avg_factor=None, reduction_override=None):
    gamma = config.get("gamma", 2.0)
    alpha = config.get("alpha", 0.25)
    loss_weight = config.get("loss_weight", 1.0)
    activated = config.get("activated", False)
    reduction = reduction_of(config, reduction_override)
    t = labels_to_onehot(target, pred.size(1)) if target.dim() == 1 else target.to(DTYPE)

    def expected(p):
        if activated:
            # No torch primitive takes probabilities: MMDetection's py_focal_loss_with_prob is
            # F.binary_cross_entropy on probabilities times the same focal weight.
            pt = (1 - p) * t + p * (1 - t)
            focal = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma)
            loss = F.binary_cross_entropy(p, t, reduction="none") * focal
        else:
            loss = torchvision.ops.sigmoid_focal_loss(p, t, alpha=alpha, gamma=gamma,
                                                      reduction="none")
        w = focal_weight_like(weight, loss)
        return loss_weight * weight_reduce_loss(loss, w, reduction, avg_factor)

    add_case(name, config, pred, target, expected, weight, avg_factor, reduction_override)


def make_labels(n, num_classes):
    """Labels in [0, num_classes], each class and background present at least once."""
    labels = torch.randint(0, num_classes + 1, (n,), dtype=torch.int64)
    labels[: num_classes + 1] = torch.randperm(num_classes + 1)
    return labels[torch.randperm(n)]


N, C = 8, 5
focal_pred = randn(N, C) * 2
focal_labels = make_labels(N, C)

# Sanity: the default (mean, no weight) equals torchvision's own mean.
with torch.no_grad():
    onehot = labels_to_onehot(focal_labels, C)
    ours = weight_reduce_loss(torchvision.ops.sigmoid_focal_loss(focal_pred, onehot, reduction="none"))
    assert torch.allclose(ours, torchvision.ops.sigmoid_focal_loss(focal_pred, onehot,
                                                                   reduction="mean"))

focal_case("focal_labels_mean", {"type": "FocalLoss"}, focal_pred, focal_labels)
focal_case("focal_labels_sum", {"type": "FocalLoss", "reduction": "sum"}, focal_pred, focal_labels)
focal_case("focal_labels_none", {"type": "FocalLoss", "reduction": "none"}, focal_pred,
           focal_labels)
focal_case("focal_anchor_weight_avg_factor", {"type": "FocalLoss"}, focal_pred, focal_labels,
           weight=f32((rand(N) > 0.3).to(DTYPE) * rand(N)), avg_factor=5.0)
focal_case("focal_elementwise_weight", {"type": "FocalLoss", "loss_weight": 2.0}, focal_pred,
           focal_labels, weight=f32(rand(N, C)))
focal_case("focal_flat_weight_sum", {"type": "FocalLoss", "reduction": "sum"}, focal_pred,
           focal_labels, weight=f32(rand(N * C)))
focal_case("focal_onehot_target_none", {"type": "FocalLoss", "reduction": "none"}, focal_pred,
           labels_to_onehot(make_labels(N, C), C))
focal_case("focal_soft_target_gamma_alpha",
           {"type": "FocalLoss", "gamma": 1.5, "alpha": 0.5, "loss_weight": 0.75}, focal_pred,
           f32(rand(N, C)))
focal_case("focal_gamma0_override_sum", {"type": "FocalLoss", "gamma": 0.0, "alpha": 0.4},
           focal_pred, focal_labels, reduction_override="sum")
focal_case("focal_override_none_avg_factor", {"type": "FocalLoss"}, focal_pred, focal_labels,
           weight=f32(rand(N)), avg_factor=3.0, reduction_override="none")
focal_probs = torch.sigmoid(randn(N, C) * 2)
focal_case("focal_activated_labels", {"type": "FocalLoss", "activated": True, "loss_weight": 0.5},
           focal_probs, focal_labels, weight=f32(rand(N)), avg_factor=4.0)
focal_case("focal_activated_soft_none",
           {"type": "FocalLoss", "activated": True, "reduction": "none", "gamma": 3.0},
           focal_probs, f32(rand(N, C)))

# --------------------------------------------------------------------------------------------
# CrossEntropyLoss, softmax path: MMDetection's cross_entropy is F.cross_entropy(reduction
# 'none', weight=class_weight, ignore_index) then weight_reduce_loss; its mean divides by N
# (ignored labels included), not by the summed class weights as F.cross_entropy's mean does,
# unless avg_non_ignore, which sets avg_factor = number of non-ignored labels.


def ce_case(name, config, pred, target, weight=None, avg_factor=None, reduction_override=None):
    reduction = reduction_of(config, reduction_override)
    loss_weight = config.get("loss_weight", 1.0)
    ignore_index = config.get("ignore_index")
    ignore_index = -100 if ignore_index is None else ignore_index
    class_weight = config.get("class_weight")
    avg_non_ignore = config.get("avg_non_ignore", False)

    def expected(p):
        cw = None if class_weight is None else p.new_tensor(class_weight)
        loss = F.cross_entropy(p, target, weight=cw, reduction="none", ignore_index=ignore_index)
        factor = avg_factor
        if factor is None and avg_non_ignore and reduction == "mean":
            factor = target.numel() - (target == ignore_index).sum().item()
        w = None if weight is None else weight.float()  # MMDetection: weight.float()
        return loss_weight * weight_reduce_loss(loss, w, reduction, factor)

    add_case(name, config, pred, target, expected, weight, avg_factor, reduction_override)


N, C = 10, 6
ce_pred = randn(N, C) * 2
ce_labels = torch.randint(0, C, (N,), dtype=torch.int64)
ce_labels_ignored = ce_labels.clone()
ce_labels_ignored[[1, 4, 7]] = 255
ce_labels_default_ignored = ce_labels.clone()
ce_labels_default_ignored[[0, 5]] = -100
class_weight = [1.0, 0.5, 2.0, 1.5, 0.25, 3.0]

with torch.no_grad():
    # Sanity: without extras the mean is F.cross_entropy's mean; with avg_non_ignore (and no
    # class weight) it is F.cross_entropy's mean over non-ignored labels.
    assert torch.allclose(weight_reduce_loss(F.cross_entropy(ce_pred, ce_labels, reduction="none")),
                          F.cross_entropy(ce_pred, ce_labels))
    kept = ce_labels_ignored != 255
    assert torch.allclose(
        weight_reduce_loss(F.cross_entropy(ce_pred, ce_labels_ignored, reduction="none",
                                           ignore_index=255), avg_factor=int(kept.sum())),
        F.cross_entropy(ce_pred, ce_labels_ignored, ignore_index=255), rtol=1e-6)

ce_case("ce_mean", {"type": "CrossEntropyLoss"}, ce_pred, ce_labels)
ce_case("ce_sum", {"type": "CrossEntropyLoss", "reduction": "sum", "loss_weight": 2.0}, ce_pred,
        ce_labels)
ce_case("ce_none", {"type": "CrossEntropyLoss", "reduction": "none"}, ce_pred, ce_labels)
ce_case("ce_weight_avg_factor", {"type": "CrossEntropyLoss"}, ce_pred, ce_labels,
        weight=f32(rand(N)), avg_factor=7.0)
ce_case("ce_class_weight_mean", {"type": "CrossEntropyLoss", "class_weight": class_weight},
        ce_pred, ce_labels)
ce_case("ce_ignore_index_mean", {"type": "CrossEntropyLoss", "ignore_index": 255}, ce_pred,
        ce_labels_ignored)
ce_case("ce_ignore_index_avg_non_ignore",
        {"type": "CrossEntropyLoss", "ignore_index": 255, "avg_non_ignore": True}, ce_pred,
        ce_labels_ignored)
ce_case("ce_ignore_class_weight_weight_avg_non_ignore",
        {"type": "CrossEntropyLoss", "ignore_index": 255, "avg_non_ignore": True,
         "class_weight": class_weight, "loss_weight": 1.5}, ce_pred, ce_labels_ignored,
        weight=f32(rand(N)))
ce_case("ce_default_ignore_index", {"type": "CrossEntropyLoss", "avg_non_ignore": True}, ce_pred,
        ce_labels_default_ignored)
ce_case("ce_override_none_weight", {"type": "CrossEntropyLoss", "ignore_index": 255}, ce_pred,
        ce_labels_ignored, weight=f32(rand(N)), reduction_override="none")
ce_case("ce_config_none_override_sum", {"type": "CrossEntropyLoss", "reduction": "none"}, ce_pred,
        ce_labels, reduction_override="sum")

# --------------------------------------------------------------------------------------------
# CrossEntropyLoss, sigmoid path: MMDetection's binary_cross_entropy. Labels of shape (N,) are
# expanded to one-hot (N, C) by _expand_onehot_labels (labels < 0, == ignore_index or >= C give
# an all-zero row; rows of ignored / negative labels get weight 0); same-shape targets are masked
# where target < 0 or == ignore_index. class_weight is BCE's pos_weight.


def expand_onehot_labels(labels, label_weights, label_channels, ignore_index):
    """mmdet.models.losses.cross_entropy_loss._expand_onehot_labels (2.25)."""
    bin_labels = labels.new_full((labels.size(0), label_channels), 0)
    valid_mask = (labels >= 0) & (labels != ignore_index)
    inds = torch.nonzero(valid_mask & (labels < label_channels), as_tuple=False)
    if inds.numel() > 0:
        bin_labels[inds, labels[inds]] = 1
    valid_mask = valid_mask.view(-1, 1).expand(labels.size(0), label_channels).float()
    if label_weights is None:
        bin_label_weights = valid_mask
    else:
        bin_label_weights = label_weights.view(-1, 1).repeat(1, label_channels)
        bin_label_weights *= valid_mask
    return bin_labels, bin_label_weights, valid_mask


def bce_case(name, config, pred, target, weight=None, avg_factor=None, reduction_override=None):
    config = dict(config, use_sigmoid=True)
    reduction = reduction_of(config, reduction_override)
    loss_weight = config.get("loss_weight", 1.0)
    ignore_index = config.get("ignore_index")
    ignore_index = -100 if ignore_index is None else ignore_index
    class_weight = config.get("class_weight")
    avg_non_ignore = config.get("avg_non_ignore", False)

    def expected(p):
        label, w = target, weight
        if p.dim() != label.dim():
            label, w, valid_mask = expand_onehot_labels(label, w, p.size(-1), ignore_index)
        else:
            valid_mask = ((label >= 0) & (label != ignore_index)).float()
            w = valid_mask if w is None else w * valid_mask
        factor = avg_factor
        if factor is None and avg_non_ignore and reduction == "mean":
            factor = valid_mask.sum().item()
        w = w.float()
        cw = None if class_weight is None else p.new_tensor(class_weight)
        loss = F.binary_cross_entropy_with_logits(p, label.to(DTYPE), pos_weight=cw,
                                                  reduction="none")
        return loss_weight * weight_reduce_loss(loss, w, reduction, factor)

    add_case(name, config, pred, target, expected, weight, avg_factor, reduction_override)


bce_pred = randn(N, C) * 2
bce_labels = make_labels(N, C)  # C = background
bce_labels_ignored = bce_labels.clone()
bce_labels_ignored[[2, 6]] = 255
bce_labels_negative = bce_labels.clone()
bce_labels_negative[[3]] = -1
bce_soft = f32(rand(N, C))
bce_soft_ignored = bce_soft.clone()
bce_soft_ignored[0, 1] = -1.0
bce_soft_ignored[4, 3] = -1.0

bce_case("bce_labels_mean", {"type": "CrossEntropyLoss"}, bce_pred, bce_labels)
bce_case("bce_labels_weight_avg_factor", {"type": "CrossEntropyLoss"}, bce_pred, bce_labels,
         weight=f32(rand(N)), avg_factor=6.0)
bce_case("bce_class_weight_sum",
         {"type": "CrossEntropyLoss", "reduction": "sum", "class_weight": class_weight},
         bce_pred, bce_labels)
bce_case("bce_ignore_index_avg_non_ignore",
         {"type": "CrossEntropyLoss", "ignore_index": 255, "avg_non_ignore": True,
          "loss_weight": 2.0}, bce_pred, bce_labels_ignored, weight=f32(rand(N)))
bce_case("bce_ignore_index_mean", {"type": "CrossEntropyLoss", "ignore_index": 255}, bce_pred,
         bce_labels_ignored)
bce_case("bce_negative_label_none", {"type": "CrossEntropyLoss", "reduction": "none"}, bce_pred,
         bce_labels_negative)
bce_case("bce_soft_target_weight_none", {"type": "CrossEntropyLoss", "reduction": "none"},
         bce_pred, bce_soft, weight=f32(rand(N, C)))
bce_case("bce_soft_target_masked_avg_non_ignore",
         {"type": "CrossEntropyLoss", "avg_non_ignore": True, "class_weight": class_weight},
         bce_pred, bce_soft_ignored)
bce_case("bce_single_channel_override_sum", {"type": "CrossEntropyLoss"}, randn(N, 1) * 2,
         torch.randint(0, 2, (N,), dtype=torch.int64), reduction_override="sum")

# --------------------------------------------------------------------------------------------
# L1Loss and SmoothL1Loss: MMDetection's l1_loss / smooth_l1_loss (element-wise, equal to
# F.l1_loss / F.smooth_l1_loss with reduction 'none'; an empty target gives pred.sum() * 0)
# wrapped by @weighted_loss, i.e. weight_reduce_loss.


def elementwise_case(name, config, pred, target, primitive, weight=None, avg_factor=None,
                     reduction_override=None):
    reduction = reduction_of(config, reduction_override)
    loss_weight = config.get("loss_weight", 1.0)

    def expected(p):
        loss = p.sum() * 0 if target.numel() == 0 else primitive(p, target)
        return loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

    add_case(name, config, pred, target, expected, weight, avg_factor, reduction_override)


def l1(p, t):
    return F.l1_loss(p, t, reduction="none")


def smooth_l1(beta):
    return lambda p, t: F.smooth_l1_loss(p, t, reduction="none", beta=beta)


N = 7
reg_pred = randn(N, 4) * 2
reg_target = randn(N, 4) * 2
with torch.no_grad():
    assert torch.allclose(weight_reduce_loss(l1(reg_pred, reg_target)), F.l1_loss(reg_pred, reg_target))
    assert torch.allclose(weight_reduce_loss(smooth_l1(0.5)(reg_pred, reg_target)),
                          F.smooth_l1_loss(reg_pred, reg_target, beta=0.5))
empty = torch.zeros(0, 4, dtype=DTYPE)

elementwise_case("l1_mean", {"type": "L1Loss"}, reg_pred, reg_target, l1)
elementwise_case("l1_sum", {"type": "L1Loss", "reduction": "sum", "loss_weight": 2.5}, reg_pred,
                 reg_target, l1)
elementwise_case("l1_none_weight", {"type": "L1Loss", "reduction": "none"}, reg_pred, reg_target,
                 l1, weight=f32(rand(N, 4)))
elementwise_case("l1_weight_avg_factor", {"type": "L1Loss"}, reg_pred, reg_target, l1,
                 weight=f32((rand(N, 1) > 0.4).to(DTYPE).expand(N, 4).contiguous()),
                 avg_factor=12.0)
elementwise_case("l1_override_none", {"type": "L1Loss"}, reg_pred, reg_target, l1,
                 reduction_override="none")
elementwise_case("l1_empty_mean", {"type": "L1Loss"}, empty, empty, l1)
elementwise_case("smooth_l1_mean", {"type": "SmoothL1Loss"}, reg_pred, reg_target, smooth_l1(1.0))
elementwise_case("smooth_l1_beta_half_sum",
                 {"type": "SmoothL1Loss", "beta": 0.5, "reduction": "sum"}, reg_pred, reg_target,
                 smooth_l1(0.5))
elementwise_case("smooth_l1_beta2_none_weight",
                 {"type": "SmoothL1Loss", "beta": 2.0, "reduction": "none"}, reg_pred, reg_target,
                 smooth_l1(2.0), weight=f32(rand(N, 4)))
elementwise_case("smooth_l1_weight_avg_factor",
                 {"type": "SmoothL1Loss", "beta": 0.11, "loss_weight": 3.0}, reg_pred, reg_target,
                 smooth_l1(0.11), weight=f32(rand(N, 4)), avg_factor=9.5)
elementwise_case("smooth_l1_override_mean", {"type": "SmoothL1Loss", "reduction": "sum"},
                 reg_pred, reg_target, smooth_l1(1.0), reduction_override="mean")
elementwise_case("smooth_l1_empty_avg_factor", {"type": "SmoothL1Loss"}, empty, empty,
                 smooth_l1(1.0), avg_factor=4.0)

# --------------------------------------------------------------------------------------------
# GIoULoss: MMDetection's forward (all-zero weight -> (pred * weight).sum(); a weight of shape
# (N, 4) -> weight.mean(-1)), then giou_loss = 1 - bbox_overlaps(mode='giou', is_aligned=True,
# eps), then weight_reduce_loss. MMDetection clamps union and enclosing area with max(., eps)
# where torchvision adds eps to the denominators; for boxes whose areas are far above eps the
# clamp never acts, so torchvision's loss with eps=0 is MMDetection's function exactly.


def make_boxes(n):
    xy = rand(n, 2) * 50
    wh = 5 + rand(n, 2) * 35
    return torch.cat([xy, xy + wh], dim=1)


def giou_targets(pred):
    """Targets with partial overlap, containment, disjoint-in-x, disjoint-in-both, near-equal."""
    n = pred.size(0)
    wh = pred[:, 2:] - pred[:, :2]
    target = make_boxes(n)
    # 0, 1: partial overlap (shifted by a fraction of the size)
    target[0] = pred[0] + torch.cat([wh[0] * 0.3, wh[0] * 0.2])
    target[1] = pred[1] + torch.cat([-wh[1] * 0.45, wh[1] * 0.1])
    # 2: target inside pred; 3: pred inside target
    target[2] = pred[2] + torch.cat([wh[2] * 0.21, -wh[2] * 0.17])
    target[3] = pred[3] + torch.cat([-wh[3] * 0.33, wh[3] * 0.27])
    # 4: disjoint in x only (overlapping y range); 5: disjoint in both
    target[4] = pred[4] + torch.tensor([wh[4, 0] * 1.3, wh[4, 1] * 0.25] * 2, dtype=DTYPE)
    target[5] = pred[5] + torch.tensor([-(wh[5, 0] * 1.7 + 3), -(wh[5, 1] * 1.2 + 2)] * 2,
                                       dtype=DTYPE)
    # 6: nearly the same box; 7: random box (whatever relation it happens to have)
    target[6] = pred[6] + torch.tensor([0.013, -0.021, 0.017, -0.011], dtype=DTYPE)
    return target


def giou_case(name, config, pred, target, weight=None, avg_factor=None, reduction_override=None):
    reduction = reduction_of(config, reduction_override)
    loss_weight = config.get("loss_weight", 1.0)

    def expected(p):
        if weight is not None and not torch.any(weight > 0):
            w = weight.unsqueeze(1) if p.dim() == weight.dim() + 1 else weight
            return (p * w).sum()
        w = weight
        if w is not None and w.dim() > 1:
            w = w.mean(-1)
        loss = torchvision.ops.generalized_box_iou_loss(p, target, reduction="none", eps=0.0)
        return loss_weight * weight_reduce_loss(loss, w, reduction, avg_factor)

    add_case(name, config, pred, target, expected, weight, avg_factor, reduction_override)


N = 8
giou_pred = make_boxes(N)
giou_target = giou_targets(giou_pred)
assert (giou_target[:, 2:] > giou_target[:, :2]).all()
with torch.no_grad():
    gious = 1 - torchvision.ops.generalized_box_iou_loss(giou_pred, giou_target, eps=0.0)
    assert gious[4] < 0 and gious[5] < 0, "cases 4 and 5 must be disjoint"
    assert gious[2] > 0 and gious[3] > 0 and gious[6] > 0.99

giou_case("giou_mean", {"type": "GIoULoss"}, giou_pred, giou_target)
giou_case("giou_sum", {"type": "GIoULoss", "reduction": "sum", "loss_weight": 2.0}, giou_pred,
          giou_target)
giou_case("giou_none", {"type": "GIoULoss", "reduction": "none", "eps": 1e-7}, giou_pred,
          giou_target)
giou_case("giou_weight_avg_factor", {"type": "GIoULoss", "loss_weight": 10.0}, giou_pred,
          giou_target, weight=f32(rand(N)), avg_factor=5.0)
giou_case("giou_box_weight_mean", {"type": "GIoULoss"}, giou_pred, giou_target,
          weight=f32(rand(N, 4)))
giou_case("giou_zero_weight", {"type": "GIoULoss", "loss_weight": 10.0}, giou_pred, giou_target,
          weight=torch.zeros(N, dtype=DTYPE))
giou_case("giou_zero_box_weight_override_none", {"type": "GIoULoss"}, giou_pred, giou_target,
          weight=torch.zeros(N, 4, dtype=DTYPE), reduction_override="none")
giou_case("giou_override_none", {"type": "GIoULoss"}, giou_pred, giou_target,
          reduction_override="none")

# --------------------------------------------------------------------------------------------

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    f.write('{"generator": "tests/reference/gen_losses.py", "torch": "%s", "torchvision": "%s",\n'
            % (torch.__version__, torchvision.__version__))
    f.write(' "cases": [\n')
    f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in CASES))
    f.write("\n]}\n")
print("wrote %d cases to %s (%d bytes)" % (len(CASES), os.path.normpath(OUT), os.path.getsize(OUT)))
