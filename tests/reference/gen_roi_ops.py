#!/usr/bin/python3
"""Reference values for roi_align / roi_pool (tests/core/ops/roi_ops_test.cpp).

Run AT TEST TIME by the test with Debian's Python and PyTorch (python3-torch 1.13,
python3-torchvision 0.14), not with another python3 that may come first on PATH:

    /usr/bin/python3 tests/reference/gen_roi_ops.py OUT.pt

It writes OUT.pt (deterministic: fixed seed), a torch.save'd list of cases that the C++ test
reads with torch::pickle_load. Each case is a dict: "name", "op" ("roi_align" / "roi_pool"),
"input" (N, C, H, W), "rois" (K, 5), "output_size" [h, w], "spatial_scale", for roi_align
"sampling_ratio" and "aligned", "grad_output" (a random gradient of the output) and the
expected values: "expected" (torchvision's output) and "expected_grad" (the gradient of the
input that torchvision's backward gives for grad_output).

The RoIs are in image pixels of a 120 x 96 image whose features are 15 x 12 at spatial_scale
1/8 (and a 15 x 12 image at scale 1): RoIs inside the map, partly outside, wholly outside
(beyond the -1 pixel border where samples count as 0, and within it), tiny (under a pixel),
larger than the map, of zero and of negative size, on both images of the batch.
"""

import sys

import torch
import torchvision

torch.manual_seed(20240701)


def make_rois(scale):
    """(K, 5) RoIs in image pixels for features of 15 x 12 at `scale`."""
    s = 1.0 / scale
    fixed = [
        [0, 2, 3, 9, 8],  # inside
        [1, 0.4, 0.6, 14.2, 11.3],  # almost the whole map
        [0, -3, -2, 4, 5],  # partly outside, top left
        [1, 10, 7, 19, 16],  # partly outside, bottom right
        [0, -9, -8, -2.5, -1.5],  # wholly outside, beyond the -1 border
        [1, -1.8, -1.7, -0.2, -0.1],  # wholly outside but within the -1 border
        [0, 16.5, 1, 22, 4],  # wholly outside on the right
        [1, 5.1, 6.2, 5.3, 6.3],  # tiny (under a pixel)
        [0, -20, -15, 40, 30],  # larger than the map
        [1, 7, 7, 7, 7],  # zero size
        [0, 9, 8, 4, 3],  # negative size
        [1, 3, 9, 8, 2.5],  # negative height only
        [0, 14.6, 11.6, 15.4, 12.4],  # around the bottom-right corner
    ]
    rois = torch.tensor(fixed, dtype=torch.float32)
    rois[:, 1:] *= s
    # Random RoIs, partly outside too.
    k = 12
    xy = torch.rand(k, 2) * torch.tensor([18.0, 15.0]) - 2
    wh = torch.rand(k, 2) * torch.tensor([10.0, 8.0]) + 0.2
    random = torch.cat([torch.randint(0, 2, (k, 1)).float(), xy, xy + wh], dim=1)
    random[:, 1:] *= s
    return torch.cat([rois, random], dim=0)


def backward(fn, features, grad_output):
    """The gradient of `features` through fn for grad_output."""
    x = features.clone().requires_grad_(True)
    out = fn(x)
    out.backward(grad_output)
    return out.detach(), x.grad.detach()


def align_case(name, features, rois, output_size, scale, sampling_ratio, aligned):
    if aligned and sampling_ratio <= 0:
        # torchvision sizes its sample buffer by the product of ceil(size / output size) per
        # side, negative for a RoI of negative height but positive width: it then fails with
        # "cannot create std::vector larger than max_size()". detkit gives 0 there (tested on
        # its own in roi_ops_test.cpp), so these RoIs are left out of the comparison.
        rois = rois[(rois[:, 3] >= rois[:, 1]) & (rois[:, 4] >= rois[:, 2])]
    k, c = rois.size(0), features.size(1)
    grad_output = torch.randn(k, c, *output_size, dtype=features.dtype)

    def fn(x):
        return torchvision.ops.roi_align(x, rois, output_size, scale, sampling_ratio, aligned)

    out, grad = backward(fn, features, grad_output)
    return {"name": name, "op": "roi_align", "input": features, "rois": rois,
            "output_size": list(output_size), "spatial_scale": scale,
            "sampling_ratio": sampling_ratio, "aligned": aligned, "grad_output": grad_output,
            "expected": out, "expected_grad": grad}


def pool_case(name, features, rois, output_size, scale):
    k, c = rois.size(0), features.size(1)
    grad_output = torch.randn(k, c, *output_size, dtype=features.dtype)

    def fn(x):
        return torchvision.ops.roi_pool(x, rois, output_size, scale)

    out, grad = backward(fn, features, grad_output)
    return {"name": name, "op": "roi_pool", "input": features, "rois": rois,
            "output_size": list(output_size), "spatial_scale": scale, "grad_output": grad_output,
            "expected": out, "expected_grad": grad}


def main():
    out_path = sys.argv[1]
    features = torch.randn(2, 3, 12, 15)
    cases = []
    for scale in (1.0 / 8, 1.0):
        rois = make_rois(scale)
        for aligned in (False, True):
            for sampling_ratio in (0, 2, -1):
                for output_size in ((7, 7), (2, 3), (1, 1)):
                    name = "align s=%g aligned=%d sr=%d out=%dx%d" % (
                        scale, aligned, sampling_ratio, *output_size)
                    cases.append(align_case(name, features, rois, output_size, scale,
                                            sampling_ratio, aligned))
        for output_size in ((7, 7), (2, 3), (1, 1)):
            name = "pool s=%g out=%dx%d" % (scale, *output_size)
            cases.append(pool_case(name, features, rois, output_size, scale))
    rois = make_rois(1.0 / 8)
    cases.append(align_case("align float64", features.double(), rois.double(), (5, 4), 1.0 / 8,
                            0, True))
    cases.append(pool_case("pool float64", features.double(), rois.double(), (5, 4), 1.0 / 8))
    empty = torch.zeros(0, 5)
    cases.append(align_case("align no rois", features, empty, (7, 7), 1.0 / 8, 0, True))
    cases.append(pool_case("pool no rois", features, empty, (7, 7), 1.0 / 8))
    torch.save(cases, out_path)


if __name__ == "__main__":
    main()
