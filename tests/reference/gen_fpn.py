#!/usr/bin/python3
"""Reference outputs of the fpn plugin's necks (tests/plugins/fpn/fpn_reference_test.cpp).

Run with Debian's Python and PyTorch (python3-torch 1.13, python3-torchvision 0.14); the C++ test
runs it at test time into a temporary folder:

    /usr/bin/python3 tests/reference/gen_fpn.py OUT_DIR

and reads OUT_DIR/fpn_reference.pt, a torch.save'd dict, with torch::pickle_load. Two kinds of
reference:

  * torchvision's FeaturePyramidNetwork with LastLevelP6P7(c, c), as torchvision's RetinaNet
    builds it (C3..C5 in, P6 from P5 since the block's in and out channels are equal, ReLU
    before P7). Its parameters are renamed to MMDetection's names (the table TV_TO_MMDET below;
    every torchvision key must be mapped), and detkit's FPN with add_extra_convs: on_output,
    relu_before_extra_convs: true, num_outs 5 must give the same five maps.
  * MMDetection 2.x's FPN and PAFPN (mmdet/models/necks/{fpn,pafpn}.py), written below from
    their documented semantics (mmdet is not installed here) as plain functions of a weight dict
    keyed by MMDetection's parameter names: ConvModule = conv, optional GroupNorm, optional
    ReLU; laterals on levels start_level..end_level; top-down sum with F.interpolate (to the
    finer size, or by scale_factor); 3x3 outputs; PAFPN's bottom-up path (each stride-2 conv
    reads the level already summed); extra levels by max_pool2d(1, stride 2) or stride-2 convs
    on the last input / lateral / output, ReLU before the later ones if asked.

Every case runs on two input sizes, odd ones included (C3 13x17 -> C4 7x9 -> C5 4x5), so that
nearest upsampling to the finer level's size is exercised.

Layout (LibTorch's unpickler knows neither SETITEM nor APPEND, so every dict has two or more keys
and every list two or more items):
  "names": [case name, ...]
  "cases": [ {"name", "yaml" (the detkit config, JSON flow style), "check_order" (bool: detkit's
             parameter order must equal "weight_names"), "weight_names": [...],
             "weights": {name: tensor}, "runs": [ {"inputs": [maps], "outputs": [maps]}, ...]} ]
"""

import collections
import json
import os
import sys

import torch
import torch.nn.functional as F
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7

# Input sizes (H, W) of C2..C5 for the two runs of a case: odd sizes (ratios that are not 2)
# and even ones. scale_factor 2 needs exact halving: SIZES_EXACT.
SIZES = [[(26, 34), (13, 17), (7, 9), (4, 5)], [(32, 24), (16, 12), (8, 6), (4, 3)]]
SIZES_EXACT = [[(32, 24), (16, 12), (8, 6), (4, 3)], [(16, 16), (8, 8), (4, 4), (2, 2)]]
GN_EPS = 1e-5


# ------------------------------------------------------------------------------------------
# MMDetection's FPN / PAFPN as functions of a weight dict.


def conv_module_params(weights, prefix, cin, cout, kernel, norm, gen):
    """Adds a ConvModule's parameters in MMDetection's order: conv.weight, conv.bias (only
    without norm), gn.weight, gn.bias."""
    fan_in = cin * kernel * kernel
    weights[prefix + ".conv.weight"] = torch.randn(cout, cin, kernel, kernel, generator=gen) / fan_in**0.5
    if not norm:
        weights[prefix + ".conv.bias"] = 0.1 * torch.randn(cout, generator=gen)
    else:
        weights[prefix + ".gn.weight"] = 1 + 0.1 * torch.randn(cout, generator=gen)
        weights[prefix + ".gn.bias"] = 0.1 * torch.randn(cout, generator=gen)


def conv_module(cfg, weights, prefix, x, stride, norm):
    """ConvModule(conv, GN if `norm`, ReLU if act_cfg) with MMDetection's padding kernel // 2."""
    weight = weights[prefix + ".conv.weight"]
    x = F.conv2d(x, weight, weights.get(prefix + ".conv.bias"), stride, weight.shape[-1] // 2)
    if norm:
        groups = cfg["norm_cfg"]["num_groups"]
        x = F.group_norm(x, groups, weights[prefix + ".gn.weight"], weights[prefix + ".gn.bias"], GN_EPS)
    if cfg.get("act_cfg"):
        x = F.relu(x)
    return x


def levels(cfg):
    """(start, backbone_end_level, extra source or None) as MMDetection's FPN.__init__ sets them."""
    num_ins = len(cfg["in_channels"])
    start = cfg.get("start_level", 0)
    end = cfg.get("end_level", -1)
    end_level = num_ins if end in (-1, num_ins - 1) else end + 1
    extra = cfg.get("add_extra_convs", False)
    if extra is True:
        extra = "on_input"
    return start, end_level, extra or None


def pyramid_params(cfg, pafpn, gen):
    """The weight dict of an FPN / PAFPN config, in MMDetection's state_dict order."""
    weights = collections.OrderedDict()
    start, end_level, extra = levels(cfg)
    inc, out = cfg["in_channels"], cfg["out_channels"]
    norm = cfg.get("norm_cfg") is not None
    for j, i in enumerate(range(start, end_level)):
        conv_module_params(weights, f"lateral_convs.{j}", inc[i], out, 1,
                           norm and not cfg.get("no_norm_on_lateral", False), gen)
    used = end_level - start
    for j in range(used):
        conv_module_params(weights, f"fpn_convs.{j}", out, out, 3, norm, gen)
    if extra:
        for k in range(cfg["num_outs"] - used):
            cin = inc[end_level - 1] if k == 0 and extra == "on_input" else out
            conv_module_params(weights, f"fpn_convs.{used + k}", cin, out, 3, norm, gen)
    if pafpn:
        for j in range(used - 1):
            conv_module_params(weights, f"downsample_convs.{j}", out, out, 3, norm, gen)
        for j in range(used - 1):
            conv_module_params(weights, f"pafpn_convs.{j}", out, out, 3, norm, gen)
    return weights


def pyramid_forward(cfg, weights, inputs, pafpn):
    """MMDetection 2.x FPN.forward / PAFPN.forward."""
    start, end_level, extra = levels(cfg)
    norm = cfg.get("norm_cfg") is not None
    lateral_norm = norm and not cfg.get("no_norm_on_lateral", False)
    laterals = [conv_module(cfg, weights, f"lateral_convs.{j}", inputs[i], 1, lateral_norm)
                for j, i in enumerate(range(start, end_level))]
    up = dict(cfg.get("upsample_cfg", {"mode": "nearest"}))
    for i in range(len(laterals) - 1, 0, -1):
        if "scale_factor" in up:
            upsampled = F.interpolate(laterals[i], **up)
        else:
            upsampled = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], **up)
        laterals[i - 1] = laterals[i - 1] + upsampled
    outs = [conv_module(cfg, weights, f"fpn_convs.{i}", lat, 1, norm) for i, lat in enumerate(laterals)]
    if pafpn:
        for i in range(len(outs) - 1):
            outs[i + 1] = outs[i + 1] + conv_module(cfg, weights, f"downsample_convs.{i}", outs[i], 2, norm)
        outs = [outs[0]] + [conv_module(cfg, weights, f"pafpn_convs.{i - 1}", outs[i], 1, norm)
                            for i in range(1, len(outs))]
    used = len(outs)
    if cfg["num_outs"] > used:
        if not extra:
            while len(outs) < cfg["num_outs"]:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        else:
            source = {"on_input": inputs[end_level - 1], "on_lateral": laterals[-1],
                      "on_output": outs[-1]}[extra]
            outs.append(conv_module(cfg, weights, f"fpn_convs.{used}", source, 2, norm))
            for i in range(used + 1, cfg["num_outs"]):
                previous = F.relu(outs[-1]) if cfg.get("relu_before_extra_convs") else outs[-1]
                outs.append(conv_module(cfg, weights, f"fpn_convs.{i}", previous, 2, norm))
    return outs


def random_inputs(in_channels, sizes, gen):
    """One (1, C, H, W) map per level; `sizes` lists C2..C5, the last len(in_channels) used."""
    sizes = sizes[len(sizes) - len(in_channels):]
    return [torch.randn(1, c, h, w, generator=gen) for c, (h, w) in zip(in_channels, sizes)]


def mmdet_case(name, cfg, pafpn, gen, sizes=SIZES):
    """A case checked against the MMDetection reference above."""
    weights = pyramid_params(cfg, pafpn, gen)
    runs = []
    for run_sizes in sizes:
        inputs = random_inputs(cfg["in_channels"], run_sizes, gen)
        with torch.no_grad():
            outputs = pyramid_forward(cfg, weights, inputs, pafpn)
        assert len(outputs) == cfg["num_outs"]
        runs.append({"inputs": inputs, "outputs": outputs})
    detkit_cfg = dict(type="PAFPN" if pafpn else "FPN", **cfg)
    return {"name": name, "yaml": json.dumps(detkit_cfg), "check_order": True,
            "weight_names": list(weights), "weights": dict(weights), "runs": runs}


# ------------------------------------------------------------------------------------------
# torchvision's RetinaNet FPN.


def tv_to_mmdet(tv_key, num_levels):
    """The MMDetection name of a torchvision FeaturePyramidNetwork + LastLevelP6P7 key:
    inner_blocks.i.0.X -> lateral_convs.i.conv.X, layer_blocks.i.0.X -> fpn_convs.i.conv.X,
    extra_blocks.p6.X -> fpn_convs.<levels>.conv.X, extra_blocks.p7.X -> fpn_convs.<levels+1>."""
    parts = tv_key.split(".")
    if parts[0] == "inner_blocks" and parts[2] == "0":
        return f"lateral_convs.{parts[1]}.conv.{parts[3]}"
    if parts[0] == "layer_blocks" and parts[2] == "0":
        return f"fpn_convs.{parts[1]}.conv.{parts[3]}"
    if parts[0] == "extra_blocks" and parts[1] in ("p6", "p7"):
        return f"fpn_convs.{num_levels + (parts[1] == 'p7')}.conv.{parts[2]}"
    raise KeyError(f"torchvision key {tv_key} has no MMDetection name")


def torchvision_case(name, in_channels, start_level, out_channels, gen):
    """torchvision's RetinaNet FPN on C3..C5 (the last three levels) against detkit's FPN over all
    `in_channels` from `start_level`."""
    used = in_channels[start_level:]
    assert len(used) == 3
    fpn = FeaturePyramidNetwork(used, out_channels, extra_blocks=LastLevelP6P7(out_channels, out_channels))
    assert fpn.extra_blocks.use_P5
    with torch.no_grad():
        for tensor in fpn.state_dict().values():  # random biases too, not torchvision's zeros
            tensor.copy_(0.3 * torch.randn(tensor.shape, generator=gen))
    weights = {tv_to_mmdet(k, len(used)): v.clone() for k, v in fpn.state_dict().items()}
    expected = {f"lateral_convs.{i}.conv.{p}" for i in range(3) for p in ("weight", "bias")}
    expected |= {f"fpn_convs.{i}.conv.{p}" for i in range(5) for p in ("weight", "bias")}
    assert set(weights) == expected, sorted(weights)
    runs = []
    for run_sizes in SIZES:
        inputs = random_inputs(in_channels, run_sizes, gen)
        named = collections.OrderedDict((str(i), x) for i, x in enumerate(inputs[start_level:]))
        with torch.no_grad():
            outputs = list(fpn(named).values())
        assert len(outputs) == 5
        runs.append({"inputs": inputs, "outputs": outputs})
    cfg = dict(type="FPN", in_channels=in_channels, out_channels=out_channels, num_outs=5,
               start_level=start_level, add_extra_convs="on_output", relu_before_extra_convs=True)
    return {"name": name, "yaml": json.dumps(cfg), "check_order": False,
            "weight_names": sorted(weights), "weights": weights, "runs": runs}


def main():
    out_dir = sys.argv[1]
    gen = torch.Generator().manual_seed(20260301)
    gn = {"type": "GN", "num_groups": 2}
    c4 = [4, 6, 8, 10]
    fpn = lambda **kw: dict(in_channels=c4, out_channels=8, **kw)
    cases = [
        torchvision_case("torchvision_retinanet_c3_c5", [6, 8, 10], 0, 8, gen),
        torchvision_case("torchvision_retinanet_start_level_1", [4, 6, 8, 10], 1, 8, gen),
        mmdet_case("mmdet_retinanet", fpn(start_level=1, add_extra_convs="on_input", num_outs=5), False, gen),
        mmdet_case("mmdet_extra_convs_true", dict(in_channels=[4, 6, 8], out_channels=8, num_outs=5,
                                                  add_extra_convs=True), False, gen),
        mmdet_case("mmdet_faster_rcnn_max_pool", fpn(num_outs=5), False, gen),
        mmdet_case("mmdet_on_lateral_relu", fpn(start_level=1, add_extra_convs="on_lateral",
                                                relu_before_extra_convs=True, num_outs=6), False, gen),
        mmdet_case("mmdet_gn_relu_on_output", fpn(start_level=1, add_extra_convs="on_output", num_outs=5,
                                                  norm_cfg=gn, act_cfg={"type": "ReLU"}), False, gen),
        mmdet_case("mmdet_gn_no_norm_on_lateral", fpn(num_outs=4, norm_cfg=gn, no_norm_on_lateral=True),
                   False, gen),
        mmdet_case("mmdet_scale_factor_2", fpn(num_outs=5, upsample_cfg={"mode": "nearest", "scale_factor": 2.0}),
                   False, gen, SIZES_EXACT),
        mmdet_case("mmdet_bilinear", fpn(num_outs=4, upsample_cfg={"mode": "bilinear", "align_corners": False}),
                   False, gen),
        mmdet_case("mmdet_end_level_2", fpn(end_level=2, num_outs=3), False, gen),
        mmdet_case("pafpn_max_pool", fpn(num_outs=5), True, gen),
        mmdet_case("pafpn_on_input_relu", fpn(start_level=1, add_extra_convs="on_input",
                                              relu_before_extra_convs=True, num_outs=5), True, gen),
        mmdet_case("pafpn_gn_on_lateral", fpn(num_outs=5, add_extra_convs="on_lateral", norm_cfg=gn), True, gen),
        mmdet_case("pafpn_relu_on_output", fpn(num_outs=6, add_extra_convs="on_output", relu_before_extra_convs=True,
                                               act_cfg={"type": "ReLU"}), True, gen),
    ]
    os.makedirs(out_dir, exist_ok=True)
    torch.save({"names": [c["name"] for c in cases], "cases": cases}, os.path.join(out_dir, "fpn_reference.pt"))


if __name__ == "__main__":
    main()
