#!/usr/bin/python3
"""Reference numbers for detkit's VOC mAP (core/src/evaluation/voc_eval.cpp).

This script re-implements, in numpy and in our own words, the logic of MMDetection 2.25's
mmdet/core/evaluation/mean_ap.py (eval_map with tpfp_default, average_precision in 'area' and
'11points' modes, scale ranges, use_legacy_coordinate) and mmdet/core/evaluation/bbox_overlaps.py,
keeping numpy's dtypes (float32 boxes, IoUs and precisions; float64 recalls), so that it does not
need MMDetection installed. Checked: on the inputs of every tests/data/voc_eval/case_*.json,
MMDetection 2.25's own eval_map gives the same numbers as the goldens this script wrote, to the
last bit. Detection scores are all distinct, because mmdet sorts with numpy's unstable quicksort
and ties would make its order (and so its numbers) unspecified.

    /usr/bin/python3 tests/reference/voc_eval_reference.py tests/data/voc_eval

writes case_*.json: the inputs (images with gt / ignored gt / detections), the options, and the
expected per-class num_gts, num_dets, final recall, AP and the mAPs.
"""
import json
import os
import random
import sys

import numpy as np


def overlaps(dets, gts, extra):
    """IoU matrix (float32), as mmdet's bbox_overlaps(mode='iou', eps=1e-6)."""
    a = dets[:, :4].astype(np.float32)
    b = gts[:, :4].astype(np.float32)
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    if a.shape[0] * b.shape[0] == 0:
        return out
    area_a = (a[:, 2] - a[:, 0] + extra) * (a[:, 3] - a[:, 1] + extra)
    area_b = (b[:, 2] - b[:, 0] + extra) * (b[:, 3] - b[:, 1] + extra)
    for i in range(a.shape[0]):
        w = np.maximum(np.minimum(a[i, 2], b[:, 2]) - np.maximum(a[i, 0], b[:, 0]) + extra, 0)
        h = np.maximum(np.minimum(a[i, 3], b[:, 3]) - np.maximum(a[i, 1], b[:, 1]) + extra, 0)
        inter = w * h
        union = np.maximum(area_a[i] + area_b - inter, 1e-6)
        out[i, :] = inter / union
    return out


def image_tpfp(dets, gts, gts_ignored, iou_thr, area_ranges, extra):
    """Per-image TP/FP flags of one class (mmdet's tpfp_default)."""
    is_ignored = np.concatenate((np.zeros(gts.shape[0], dtype=np.bool_),
                                 np.ones(gts_ignored.shape[0], dtype=np.bool_)))
    all_gts = np.vstack((gts, gts_ignored))
    ranges = area_ranges if area_ranges is not None else [(None, None)]
    tp = np.zeros((len(ranges), dets.shape[0]), dtype=np.float32)
    fp = np.zeros((len(ranges), dets.shape[0]), dtype=np.float32)
    if all_gts.shape[0] == 0:
        if area_ranges is None:
            fp[...] = 1
        else:
            det_areas = (dets[:, 2] - dets[:, 0] + extra) * (dets[:, 3] - dets[:, 1] + extra)
            for k, (lo, hi) in enumerate(ranges):
                fp[k, (det_areas >= lo) & (det_areas < hi)] = 1
        return tp, fp
    ious = overlaps(dets, all_gts, extra)
    best_iou = ious.max(axis=1)
    best_gt = ious.argmax(axis=1)
    by_score = np.argsort(-dets[:, -1])
    for k, (lo, hi) in enumerate(ranges):
        covered = np.zeros(all_gts.shape[0], dtype=bool)
        if lo is None:
            out_of_range = np.zeros_like(is_ignored, dtype=bool)
        else:
            gt_areas = (all_gts[:, 2] - all_gts[:, 0] + extra) * (all_gts[:, 3] - all_gts[:, 1] + extra)
            out_of_range = (gt_areas < lo) | (gt_areas >= hi)
        for i in by_score:
            if best_iou[i] >= iou_thr:  # np.float32 scalar vs Python float: compared in float64
                j = best_gt[i]
                if not (is_ignored[j] or out_of_range[j]):
                    if not covered[j]:
                        covered[j] = True
                        tp[k, i] = 1
                    else:
                        fp[k, i] = 1
            elif lo is None:
                fp[k, i] = 1
            else:
                box = dets[i, :4]
                area = (box[2] - box[0] + extra) * (box[3] - box[1] + extra)  # float64 scalar
                if area >= lo and area < hi:
                    fp[k, i] = 1
    return tp, fp


def curve_ap(recalls, precisions, mode):
    """mmdet's average_precision on (num_scales, num_dets) curves; float32 result."""
    scales = recalls.shape[0]
    ap = np.zeros(scales, dtype=np.float32)
    if mode == 'area':
        zeros = np.zeros((scales, 1), dtype=recalls.dtype)
        ones = np.ones((scales, 1), dtype=recalls.dtype)
        mrec = np.hstack((zeros, recalls, ones))
        mpre = np.hstack((zeros, precisions, zeros))
        for i in range(mpre.shape[1] - 1, 0, -1):
            mpre[:, i - 1] = np.maximum(mpre[:, i - 1], mpre[:, i])
        for s in range(scales):
            steps = np.where(mrec[s, 1:] != mrec[s, :-1])[0]
            ap[s] = np.sum((mrec[s, steps + 1] - mrec[s, steps]) * mpre[s, steps + 1])
    else:
        for s in range(scales):
            for thr in np.arange(0, 1 + 1e-3, 0.1):
                picked = precisions[s, recalls[s, :] >= thr]
                ap[s] += picked.max() if picked.size > 0 else 0
        ap /= 11
    return ap


def map_at(images, num_classes, iou_thr, scale_ranges, mode, legacy):
    """mmdet's eval_map (no printing): (mean_ap list per scale, per-class results)."""
    extra = 1. if legacy else 0.
    scales = len(scale_ranges) if scale_ranges is not None else 1
    area_ranges = [(lo**2, hi**2) for lo, hi in scale_ranges] if scale_ranges is not None else None
    results = []
    for c in range(num_classes):
        tps, fps, all_dets, num_gts = [], [], [], np.zeros(scales, dtype=int)
        for img in images:
            dets = img['det_array'][img['det_array'][:, 5] == c][:, :5]
            gts = img['gt_array'][img['gt_labels'] == c]
            ign = img['ign_array'][img['ign_labels'] == c]
            tp, fp = image_tpfp(dets, gts, ign, iou_thr, area_ranges, extra)
            tps.append(tp)
            fps.append(fp)
            all_dets.append(dets)
            if area_ranges is None:
                num_gts[0] += gts.shape[0]
            else:
                areas = (gts[:, 2] - gts[:, 0] + extra) * (gts[:, 3] - gts[:, 1] + extra)
                for k, (lo, hi) in enumerate(area_ranges):
                    num_gts[k] += np.sum((areas >= lo) & (areas < hi))
        dets = np.vstack(all_dets)
        order = np.argsort(-dets[:, -1])
        tp = np.cumsum(np.hstack(tps)[:, order], axis=1)
        fp = np.cumsum(np.hstack(fps)[:, order], axis=1)
        eps = np.finfo(np.float32).eps
        recalls = tp / np.maximum(num_gts[:, np.newaxis], eps)
        precisions = tp / np.maximum((tp + fp), eps)
        ap = curve_ap(recalls, precisions, mode)
        final_recall = np.zeros(scales, dtype=np.float32)
        if recalls.size > 0:
            final_recall[:] = recalls[:, -1]
        results.append({'num_gts': [int(n) for n in num_gts], 'num_dets': int(dets.shape[0]),
                        'recall': [float(r) for r in final_recall], 'ap': [float(a) for a in ap]})
    all_ap = np.array([[r['ap'][k] for k in range(scales)] for r in results], dtype=np.float32)
    all_gts = np.array([r['num_gts'] for r in results])
    mean_ap = []
    for k in range(scales):
        has_gt = all_gts[:, k] > 0
        mean_ap.append(float(all_ap[has_gt, k].mean()) if has_gt.any() else 0.0)
    return mean_ap, results


def make_images(rng, num_images, num_classes, max_size):
    """Synthetic gt, difficult gt and detections (jittered hits, duplicates, false positives)."""
    images = []
    scores = rng.sample(range(1, 1000000), 4000)  # distinct scores
    for _ in range(num_images):
        gts, labels, ign, ign_labels, dets = [], [], [], [], []

        def box(scale):
            w = scale * rng.uniform(.5, 1.5)
            h = scale * rng.uniform(.5, 1.5)
            x = rng.uniform(0, max_size - w)
            y = rng.uniform(0, max_size - h)
            return [round(x, 2), round(y, 2), round(x + w, 2), round(y + h, 2)]

        for _ in range(rng.randint(0, 6)):
            gts.append(box(rng.choice([12, 24, 40, 70, 120])))
            labels.append(rng.randrange(num_classes - 1))  # the last class has no ground truth
        for _ in range(rng.randint(0, 2)):
            ign.append(box(rng.choice([20, 50])))
            ign_labels.append(rng.randrange(num_classes - 1))
        for b, c in list(zip(gts, labels)) + list(zip(ign, ign_labels)):
            for _ in range(rng.choice([0, 1, 1, 2])):  # misses, hits and duplicates
                w, h = b[2] - b[0], b[3] - b[1]
                jitter = [rng.gauss(0, .12 * w), rng.gauss(0, .12 * h), rng.gauss(0, .12 * w),
                          rng.gauss(0, .12 * h)]
                d = [round(b[i] + jitter[i], 2) for i in range(4)]
                d[2], d[3] = max(d[2], d[0] + 1), max(d[3], d[1] + 1)
                label = c if rng.random() < .85 else rng.randrange(num_classes)
                dets.append(d + [scores.pop() / 1e6, label])
        for _ in range(rng.randint(0, 4)):
            dets.append(box(rng.choice([15, 50, 100])) + [scores.pop() / 1e6,
                                                          rng.randrange(num_classes)])
        images.append({'boxes': gts, 'labels': labels, 'ignored_boxes': ign,
                       'ignored_labels': ign_labels, 'dets': dets})
    return images


def to_arrays(images):
    """float32 arrays as mmdet holds them (and the float32 values the C++ side reads)."""
    for img in images:
        img['gt_array'] = np.array(img['boxes'], dtype=np.float32).reshape(-1, 4)
        img['gt_labels'] = np.array(img['labels'], dtype=np.int64)
        img['ign_array'] = np.array(img['ignored_boxes'], dtype=np.float32).reshape(-1, 4)
        img['ign_labels'] = np.array(img['ignored_labels'], dtype=np.int64)
        img['det_array'] = np.array(img['dets'], dtype=np.float32).reshape(-1, 6)
        # Store exactly the float32 values the reference used.
        img['boxes'] = img['gt_array'].astype(float).tolist()
        img['ignored_boxes'] = img['ign_array'].astype(float).tolist()
        img['dets'] = [[float(v) for v in row[:5]] + [int(row[5])] for row in img['det_array']]


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    cases = [
        ('case_area', dict(seed=1, images=30, classes=5, max_size=300, iou=[0.5, 0.75],
                           scales=None, mode='area', legacy=False)),
        ('case_voc07_legacy', dict(seed=2, images=25, classes=4, max_size=400, iou=[0.5],
                                   scales=None, mode='11points', legacy=True)),
        ('case_scales', dict(seed=3, images=40, classes=4, max_size=500, iou=[0.5, 0.7],
                             scales=[(0, 32), (32, 96), (96, 1e5)], mode='area', legacy=False)),
    ]
    for name, cfg in cases:
        rng = random.Random(cfg['seed'])
        images = make_images(rng, cfg['images'], cfg['classes'], cfg['max_size'])
        to_arrays(images)
        thresholds, maps = [], []
        for thr in cfg['iou']:
            mean_ap, classes = map_at(images, cfg['classes'], thr, cfg['scales'], cfg['mode'],
                                      cfg['legacy'])
            thresholds.append({'iou_thr': thr, 'mean_ap': mean_ap, 'classes': classes})
            maps.append(mean_ap[0])
        case = {
            'num_classes': cfg['classes'],
            'options': {'iou_thresholds': cfg['iou'], 'scale_ranges': cfg['scales'],
                        'mode': cfg['mode'], 'use_legacy_coordinate': cfg['legacy']},
            'images': [{k: img[k] for k in ('boxes', 'labels', 'ignored_boxes', 'ignored_labels',
                                            'dets')} for img in images],
            'expected': {'thresholds': thresholds, 'mean_ap': sum(maps) / len(maps)},
        }
        with open(os.path.join(out_dir, name + '.json'), 'w') as f:
            json.dump(case, f)
        print(name, 'mAP', case['expected']['mean_ap'])


if __name__ == '__main__':
    main()
