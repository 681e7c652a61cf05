#!/usr/bin/python3
"""Reference values for the box ops (tests/core/ops/*_test.cpp).

Regenerate with Debian's Python and PyTorch (python3-torch 1.13, python3-torchvision 0.14), not
with another python3 that may come first on PATH:

    /usr/bin/python3 tests/reference/gen_ops.py

It rewrites tests/data/ops/reference.pt (deterministic: fixed seed), a torch.save'd list of
cases that the C++ tests read with torch::pickle_load; they never run Python. Each case is a
dict: "name", "op", the inputs, the parameters and "expected".

Expected values:
  box_iou              torchvision.ops.box_iou
  generalized_box_iou  torchvision.ops.generalized_box_iou
  bbox_overlaps        MMDetection 2.x mmdet/core/bbox/iou_calculators/iou2d_calculator.py
                       bbox_overlaps (modes iou / iof / giou, is_aligned, eps, batch dims),
                       transcribed below from its documented semantics and checked against
                       torchvision where the two agree and against the docstring's example
  nms                  torchvision.ops.nms
  batched_nms          torchvision.ops.batched_nms (both of its code paths: the coordinate
                       offset trick up to 1000 boxes on CPU, per-class NMS above)

The NMS cases include exact score ties on identical boxes, where the order in which tied boxes
are visited decides which survives. torchvision's CPU kernel source (csrc/ops/cpu/nms_kernel.cpp)
has been written both with `scores.sort(0, descending=True)` (not a stable sort) and with a
stable sort; Debian's torchvision 0.14 behaves as the stable one: the generator asserts that its
result on the tie cases equals a plain greedy NMS over the stable order and differs from one
over the unstable order. batched_nms's per-class path (> 1000 boxes on CPU) then sorts the
survivors with Python's `sort(descending=True)`, which is unstable: the generator asserts that
this case's tied survivors come out in an order a stable sort would not give.
"""

import os

import torch
import torchvision

torch.manual_seed(20240611)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "ops", "reference.pt")


def bbox_overlaps(bboxes1, bboxes2, mode="iou", is_aligned=False, eps=1e-6):
    """MMDetection 2.x bbox_overlaps: pairwise (..., M, N) or aligned (..., M) overlaps.

    iou = overlap / max(union, eps); iof = overlap / max(area1, eps);
    giou = iou - (enclose - union) / max(enclose, eps) with union already clamped to eps.
    Empty inputs give an empty (..., M, N) or (..., M) result.
    """
    assert mode in ("iou", "iof", "giou")
    assert bboxes1.shape[:-2] == bboxes2.shape[:-2]
    batch_shape = bboxes1.shape[:-2]
    rows, cols = bboxes1.size(-2), bboxes2.size(-2)
    if is_aligned:
        assert rows == cols
    if rows * cols == 0:
        shape = batch_shape + ((rows,) if is_aligned else (rows, cols))
        return bboxes1.new_zeros(shape)

    def area(b):
        return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])

    area1, area2 = area(bboxes1), area(bboxes2)
    if is_aligned:
        a, b = bboxes1, bboxes2
        u_area1, u_area2 = area1, area2
    else:
        a, b = bboxes1[..., :, None, :], bboxes2[..., None, :, :]
        u_area1, u_area2 = area1[..., :, None], area2[..., None, :]
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    union = u_area1 + u_area2 - overlap if mode in ("iou", "giou") else u_area1.expand_as(overlap)
    eps_t = union.new_tensor([eps])
    union = torch.max(union, eps_t)
    ious = overlap / union
    if mode in ("iou", "iof"):
        return ious
    enclose_wh = (torch.max(a[..., 2:], b[..., 2:]) - torch.min(a[..., :2], b[..., :2])).clamp(min=0)
    enclose_area = torch.max(enclose_wh[..., 0] * enclose_wh[..., 1], eps_t)
    return ious - (enclose_area - union) / enclose_area


def random_boxes(n, dtype=torch.float32, size=100.0, degenerate=0.0, batch=()):
    """n random xyxy boxes inside [0, 1.5 * size]; a `degenerate` fraction has zero width."""
    xy = torch.rand(batch + (n, 2), dtype=torch.float64) * size
    wh = torch.rand(batch + (n, 2), dtype=torch.float64) * size / 2 + 0.5
    if degenerate > 0:
        zero = torch.rand(batch + (n,)) < degenerate
        wh[..., 0][zero] = 0
    return torch.cat([xy, xy + wh], -1).to(dtype)


def self_checks():
    """The transcription against MMDetection's docstring example and torchvision."""
    b1 = torch.tensor([[0, 0, 10, 10], [10, 10, 20, 20], [32, 32, 38, 42]], dtype=torch.float32)
    b2 = torch.tensor([[0, 0, 10, 20], [0, 10, 10, 19], [10, 10, 20, 20]], dtype=torch.float32)
    doc_iou = torch.tensor([[0.5, 0, 0], [0, 0, 1], [0, 0, 0]])
    doc_giou = torch.tensor([[0.5, 0.0, -0.5], [-0.25, -0.05, 1.0], [-0.8371, -0.8766, -0.8214]])
    assert torch.allclose(bbox_overlaps(b1, b2), doc_iou)
    assert torch.allclose(bbox_overlaps(b1, b2, "giou", eps=1e-7), doc_giou, atol=1e-4)
    a, b = random_boxes(30, torch.float64), random_boxes(20, torch.float64)
    assert torch.allclose(bbox_overlaps(a, b, eps=0), torchvision.ops.box_iou(a, b))
    assert torch.allclose(bbox_overlaps(a, b, "giou", eps=0), torchvision.ops.generalized_box_iou(a, b))
    assert torch.allclose(bbox_overlaps(a, a, is_aligned=True), bbox_overlaps(a, a).diagonal())


def iou_cases():
    cases = []
    for name, m, n, dtype in [("random", 23, 17, torch.float32), ("float64", 9, 11, torch.float64),
                              ("empty_rows", 0, 5, torch.float32), ("empty_cols", 4, 0, torch.float32),
                              ("empty_both", 0, 0, torch.float32)]:
        a, b = random_boxes(m, dtype), random_boxes(n, dtype)
        cases.append(dict(name=f"box_iou/{name}", op="box_iou", boxes1=a, boxes2=b,
                          expected=torchvision.ops.box_iou(a, b)))
        cases.append(dict(name=f"generalized_box_iou/{name}", op="generalized_box_iou", boxes1=a,
                          boxes2=b, expected=torchvision.ops.generalized_box_iou(a, b)))
    # Touching / identical / nested boxes (exact 0, 1 and containment values).
    a = torch.tensor([[0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 10, 10], [2, 2, 4, 4]], dtype=torch.float32)
    cases.append(dict(name="box_iou/special", op="box_iou", boxes1=a, boxes2=a,
                      expected=torchvision.ops.box_iou(a, a)))

    shapes = [("random", (), 13, 8, torch.float32, 0.0), ("degenerate", (), 12, 10, torch.float32, 0.3),
              ("float64", (), 7, 6, torch.float64, 0.0), ("batched", (2, 3), 5, 4, torch.float32, 0.0),
              ("empty_rows", (), 0, 6, torch.float32, 0.0), ("empty_cols", (), 6, 0, torch.float32, 0.0),
              ("empty_both", (), 0, 0, torch.float32, 0.0), ("batched_empty", (2,), 0, 3, torch.float32, 0.0)]
    for name, batch, m, n, dtype, degenerate in shapes:
        a = random_boxes(m, dtype, degenerate=degenerate, batch=batch)
        b = random_boxes(n, dtype, degenerate=degenerate, batch=batch)
        for mode in ("iou", "iof", "giou"):
            cases.append(dict(name=f"bbox_overlaps/{name}/{mode}", op="bbox_overlaps", boxes1=a,
                              boxes2=b, mode=mode, is_aligned=False, eps=1e-6,
                              expected=bbox_overlaps(a, b, mode)))
            if m == n or name == "batched_empty":
                continue
            aligned_b = random_boxes(m, dtype, degenerate=degenerate, batch=batch)
            cases.append(dict(name=f"bbox_overlaps/{name}/{mode}/aligned", op="bbox_overlaps",
                              boxes1=a, boxes2=aligned_b, mode=mode, is_aligned=True, eps=1e-6,
                              expected=bbox_overlaps(a, aligned_b, mode, is_aligned=True)))
    a, b = random_boxes(6, degenerate=0.5), random_boxes(6, degenerate=0.5)
    cases.append(dict(name="bbox_overlaps/eps", op="bbox_overlaps", boxes1=a, boxes2=b, mode="giou",
                      is_aligned=False, eps=0.5, expected=bbox_overlaps(a, b, "giou", eps=0.5)))
    return cases


def tied_scores(n, levels):
    """Scores with many exact ties: `levels` distinct values."""
    return (torch.randint(0, levels, (n,)).float() + 1) / levels


def clustered_boxes(n, clusters, dtype=torch.float32):
    """Boxes jittered around a few centres (many overlaps), some of them exact duplicates."""
    centres = random_boxes(clusters, torch.float64)
    boxes = centres[torch.randint(0, clusters, (n,))]
    boxes = boxes + torch.randn(n, 4, dtype=torch.float64) * 3
    boxes[:, 2:] = torch.max(boxes[:, 2:], boxes[:, :2] + 1)
    dup = torch.randint(0, n, (n // 4,))
    boxes[torch.randint(0, n, (n // 4,))] = boxes[dup]
    return boxes.to(dtype)


def greedy_nms(boxes, iou_threshold, order):
    """Greedy NMS visiting the boxes in `order` (a plain reference, torchvision's arithmetic)."""
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.min(x2[i], x2) - torch.max(x1[i], x1)).clamp(min=0)
        h = (torch.min(y2[i], y2) - torch.max(y1[i], y1)).clamp(min=0)
        inter = w * h
        suppressed |= inter / (areas[i] + areas - inter) > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def nms_cases():
    cases = []
    specs = [("random", random_boxes(200), torch.rand(200), 0.5),
             ("clustered", clustered_boxes(300, 10), torch.rand(300), 0.5),
             ("clustered_low_threshold", clustered_boxes(300, 10), torch.rand(300), 0.2),
             ("ties", clustered_boxes(400, 8), tied_scores(400, 5), 0.5),
             ("all_tied", clustered_boxes(64, 3), torch.ones(64), 0.6),
             ("float64", clustered_boxes(100, 5, torch.float64), torch.rand(100, dtype=torch.float64), 0.5),
             ("threshold_zero", clustered_boxes(50, 4), torch.rand(50), 0.0),
             ("threshold_one", clustered_boxes(50, 4), tied_scores(50, 3), 1.0),
             # IoU 0 > -0.1: even disjoint boxes are suppressed.
             ("threshold_negative", random_boxes(30), torch.rand(30), -0.1),
             ("single", random_boxes(1), torch.rand(1), 0.5),
             ("empty", random_boxes(0), torch.rand(0), 0.5)]
    for name, boxes, scores, thr in specs:
        scores = scores.to(boxes.dtype)
        cases.append(dict(name=f"nms/{name}", op="nms", boxes=boxes, scores=scores, iou_threshold=thr,
                          expected=torchvision.ops.nms(boxes, scores, thr)))
    for tied in (c for c in cases if c["name"] in ("nms/ties", "nms/all_tied")):
        scores = tied["scores"]
        stable = torch.sort(scores, descending=True, stable=True)[1]
        unstable = scores.sort(0, descending=True)[1]
        args = (tied["boxes"], tied["iou_threshold"])
        assert torch.equal(tied["expected"], greedy_nms(*args, stable)), tied["name"]
        assert not torch.equal(tied["expected"], greedy_nms(*args, unstable)), tied["name"]

    batched = [("random", random_boxes(150), torch.rand(150), torch.randint(0, 4, (150,)), 0.5),
               ("ties", clustered_boxes(300, 6), tied_scores(300, 4), torch.randint(0, 3, (300,)), 0.5),
               # > 1000 boxes: torchvision switches to one NMS per class (another tie order).
               ("per_class_path", clustered_boxes(1500, 12), tied_scores(1500, 6),
                torch.randint(0, 5, (1500,)), 0.5),
               ("negative_and_sparse_idxs", clustered_boxes(80, 4), torch.rand(80),
                torch.tensor([-1, 7, 100])[torch.randint(0, 3, (80,))], 0.4),
               ("float64", clustered_boxes(90, 5, torch.float64), torch.rand(90, dtype=torch.float64),
                torch.randint(0, 3, (90,)), 0.5),
               ("empty", random_boxes(0), torch.rand(0), torch.zeros(0, dtype=torch.int64), 0.5)]
    for name, boxes, scores, idxs, thr in batched:
        scores = scores.to(boxes.dtype)
        cases.append(dict(name=f"batched_nms/{name}", op="batched_nms", boxes=boxes, scores=scores,
                          idxs=idxs, iou_threshold=thr,
                          expected=torchvision.ops.batched_nms(boxes, scores, idxs, thr)))
    per_class = next(c for c in cases if c["name"] == "batched_nms/per_class_path")
    kept_scores = per_class["scores"][per_class["expected"]]
    assert not torch.equal(torch.sort(kept_scores, descending=True, stable=True)[1],
                           kept_scores.sort(0, descending=True)[1])
    return cases


def main():
    self_checks()
    cases = iou_cases() + nms_cases()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    torch.save(cases, OUT)
    print(f"wrote {len(cases)} cases to {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
