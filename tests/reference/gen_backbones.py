#!/usr/bin/python3
"""Reference feature maps of the resnet and mobilenet_v2 plugins' backbones
(tests/plugins/resnet/resnet_reference_test.cpp, tests/plugins/mobilenet_v2/
mobilenet_v2_test.cpp).

Run with Debian's Python and PyTorch (python3-torch 1.13, python3-torchvision 0.14); the C++
tests run it at test time into a temporary folder:

    /usr/bin/python3 tests/reference/gen_backbones.py OUT_DIR {resnet,mobilenet_v2}

and read OUT_DIR/backbones_reference.pt, a torch.save'd dict, with torch::pickle_load.

Cases (fixed seed, eval mode, float32):
  resnet18, resnet50   torchvision.models.resnet18/50(); outputs of layer1..layer4 (C2..C5).
                       torchvision's names are MMDetection's minus `fc.`, so the weights are
                       stored under their own names with fc.* left out.
  mobilenet_v2         torchvision.models.mobilenet_v2().features: the outputs after
                       features[1] (layer1), [3] (layer2), [6], [10], [13], [16], [17] (layer7)
                       and [18] (conv2), i.e. MMDetection's out_indices 0..7. Its names are
                       mapped to MMDetection 2.x's (conv1.conv/bn, layerN.i.expand_conv /
                       depthwise_conv / linear_conv .conv/.bn, conv2.conv/bn); every key is
                       mapped.
Weights are torchvision's random init; every BatchNorm gets a random weight, bias, running mean
and running variance, so eval-mode BN is not the identity. The input is 2x3x64x96 (and a second,
odd-sized 1x3x61x75 input for ResNet).

Layout (LibTorch's unpickler knows neither SETITEM nor APPEND, so every dict has two or more keys
and every list two or more items):
  "names": [case name, ...]
  "cases": [ {"name", "yaml" (the detkit config), "keys": [state_dict keys in PyTorch order],
             "weights": {name: tensor}, "runs": [ {"input": tensor, "outputs": [maps]}, ...]} ]
"""

import collections
import os
import sys

import torch
import torchvision

SEED = 20240611
INPUTS = [(2, 3, 64, 96), (1, 3, 61, 75)]


def perturb_batch_norms(model, gen):
    """Random affine parameters and running statistics for every BatchNorm2d."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.2)
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                module.num_batches_tracked.fill_(7)


def resnet_case(name, depth, gen):
    torch.manual_seed(SEED + depth)
    model = getattr(torchvision.models, name)()
    perturb_batch_norms(model, gen)
    model.eval()
    state = collections.OrderedDict(
        (k, v.clone()) for k, v in model.state_dict().items() if not k.startswith("fc."))
    runs = []
    for shape in INPUTS:
        x = torch.randn(*shape, generator=gen)
        with torch.no_grad():
            y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
            outputs = []
            for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
                y = layer(y)
                outputs.append(y.clone())
        runs.append({"input": x, "outputs": outputs})
    return {
        "name": name,
        "yaml": "{type: ResNet, depth: %d, out_indices: [0, 1, 2, 3]}" % depth,
        "keys": list(state.keys()),
        "weights": dict(state),
        "runs": runs,
    }


def mobilenet_v2_key(key):
    """torchvision's mobilenet_v2 `features.*` key -> MMDetection 2.x's MobileNetV2 key."""
    parts = key.split(".")
    assert parts[0] == "features", key
    index = int(parts[1])
    rest = parts[2:]
    if index == 0 or index == 18:  # Conv2dNormActivation: 0 conv, 1 bn
        module = "conv1" if index == 0 else "conv2"
        return ".".join([module, {"0": "conv", "1": "bn"}[rest[0]]] + rest[1:])
    # features[1..17] are the 17 InvertedResidual blocks of layer1..layer7.
    blocks = [1, 2, 3, 4, 3, 3, 1]
    block = index - 1
    layer = 0
    while block >= blocks[layer]:
        block -= blocks[layer]
        layer += 1
    prefix = "layer%d.%d" % (layer + 1, block)
    assert rest[0] == "conv", key
    sub = rest[1]
    expanded = index != 1  # features[1] has expand ratio 1: no expand conv
    names = (["expand_conv", "depthwise_conv"] if expanded else ["depthwise_conv"])
    count = len(names)
    if int(sub) < count:  # a Conv2dNormActivation: .0 conv, .1 bn
        return ".".join([prefix, names[int(sub)], {"0": "conv", "1": "bn"}[rest[2]]] + rest[3:])
    # then the linear 1x1 conv and its BatchNorm
    module = "conv" if int(sub) == count else "bn"
    return ".".join([prefix, "linear_conv", module] + rest[2:])


def mobilenet_v2_case(gen):
    torch.manual_seed(SEED)
    features = torchvision.models.mobilenet_v2().features
    perturb_batch_norms(features, gen)
    features.eval()
    state = collections.OrderedDict()
    for key, value in features.state_dict().items():
        state[mobilenet_v2_key("features." + key)] = value.clone()
    ends = [1, 3, 6, 10, 13, 16, 17, 18]  # the last feature of layer1..layer7 and conv2
    runs = []
    for shape in INPUTS:
        x = torch.randn(*shape, generator=gen)
        outputs = []
        with torch.no_grad():
            y = x
            for i, module in enumerate(features):
                y = module(y)
                if i in ends:
                    outputs.append(y.clone())
        runs.append({"input": x, "outputs": outputs})
    return {
        "name": "mobilenet_v2",
        "yaml": "{type: MobileNetV2, out_indices: [0, 1, 2, 3, 4, 5, 6, 7]}",
        "keys": list(state.keys()),
        "weights": dict(state),
        "runs": runs,
    }


def main():
    out_dir, family = sys.argv[1], sys.argv[2]
    gen = torch.Generator().manual_seed(SEED)
    if family == "resnet":
        cases = [resnet_case("resnet18", 18, gen), resnet_case("resnet50", 50, gen)]
    elif family == "mobilenet_v2":
        # Two cases so that the list holds two items (see the layout note): the same conv
        # weights, with different BatchNorm statistics and inputs.
        cases = [mobilenet_v2_case(gen), mobilenet_v2_case(gen)]
        cases[1]["name"] = "mobilenet_v2_second_draw"
    else:
        raise SystemExit("family must be resnet or mobilenet_v2, got " + family)
    data = {"names": [c["name"] for c in cases], "cases": cases}
    torch.save(data, os.path.join(out_dir, "backbones_reference.pt"))


if __name__ == "__main__":
    main()
