#!/usr/bin/python3
"""Reference values for weight initialisation (tests/core/modeling/*_test.cpp).

Regenerate with Debian's Python and PyTorch (python3-torch 1.13), the same PyTorch as the
LibTorch detkit links, so that a seeded draw gives the same numbers in both:

    /usr/bin/python3 tests/reference/gen_init.py

It rewrites tests/data/init/reference.pt (deterministic), a torch.save'd dict the C++ tests read
with torch::pickle_load; they never run Python. mmcv is not installed here, so the semantics of
mmcv-1.7.2 (mmcv/cnn/utils/weight_init.py, mmcv/runner/base_module.py,
mmcv/cnn/bricks/conv_module.py; summarised in docs/mmdet-semantics.md section 3) are written
out below on top of torch.nn.init:

  * initializers Constant, Xavier, Normal, TruncNormal, Uniform, Kaiming (fan_out, relu,
    normal), Caffe2Xavier: weight and bias of each module whose class name or direct base class
    name is in `layer`, visited as nn.Module.apply does (children first);
  * initialize(): entries in order, `override` on whole direct children (a name-only override
    takes the entry's type and arguments, minus layer);
  * BaseModule.init_weights(): own init_cfg, early return after a Pretrained dict, then the
    children that have init_weights, recording per parameter which step changed its mean; the
    log text as _dump_init_info writes it to a log file;
  * ConvModule's construction (conv reset_parameters draw, then kaiming_init of the conv).

Layout of the file (every dict holds two or more keys and every list two or more items or none:
LibTorch's unpickler knows neither SETITEM nor APPEND):
  "toy_names": [name, ...]       the Toy model's parameter names (named_parameters order)
  "toy_before": tensor           its parameters before init_weights, flattened and concatenated
  "cases": [ {name, root_cfg, head_cfg, blocks_cfg (JSON text or ""), seed,
              after: tensor (flattened as toy_before), log: text, messages: lines joined by "\n"} ]
  "conv_modules": [ {name, seed, in, out, kernel, padding, norm (bool), act ("ReLU" |
              "LeakyReLU" | ""), slope, conv_weight, conv_bias (or empty tensor)} ]
  "layers": [ {name, ...} ]  construction draws and forward outputs of the built-in layers
"""

import copy
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "init", "reference.pt")

MESSAGES = []  # what MMCV's print_log would print (except the per-parameter dump)


# ----------------------------------------------------------------------------------------------
# MMCV 1.7.2 initializers, restated
# ----------------------------------------------------------------------------------------------

def bias_with_prob(p):
    return float(-math.log((1 - p) / p))


def has(module, name):
    return getattr(module, name, None) is not None


class Init:
    """BaseInit: bias (or bias_prob), layer; subclasses define fill(m) and info()."""

    def __init__(self, bias=0, bias_prob=None, layer=None):
        self.bias = bias_with_prob(bias_prob) if bias_prob is not None else bias
        self.layer = [] if layer is None else ([layer] if isinstance(layer, str) else layer)
        self.whole = False

    def selects(self, m):
        names = {type(m).__name__} | {b.__name__ for b in type(m).__bases__}
        return bool(names & set(self.layer))

    def set_bias(self, m):
        if has(m, "bias"):
            nn.init.constant_(m.bias, self.bias)

    def __call__(self, module):
        def visit(m):
            if self.whole or self.selects(m):
                if has(m, "weight"):
                    self.fill(m.weight)
                self.set_bias(m)
        module.apply(visit)
        if hasattr(module, "_params_init_info"):
            update_init_info(module, self.info())


class Constant(Init):
    def __init__(self, val, **kw):
        super().__init__(**kw)
        self.val = val

    def fill(self, w):
        nn.init.constant_(w, self.val)

    def info(self):
        return f"ConstantInit: val={self.val}, bias={self.bias}"


class Xavier(Init):
    def __init__(self, gain=1, distribution="normal", **kw):
        super().__init__(**kw)
        self.gain, self.distribution = gain, distribution

    def fill(self, w):
        (nn.init.xavier_uniform_ if self.distribution == "uniform" else nn.init.xavier_normal_)(
            w, gain=self.gain)

    def info(self):
        return f"XavierInit: gain={self.gain}, distribution={self.distribution}, bias={self.bias}"


class Normal(Init):
    def __init__(self, mean=0, std=1, **kw):
        super().__init__(**kw)
        self.mean, self.std = mean, std

    def fill(self, w):
        nn.init.normal_(w, self.mean, self.std)

    def info(self):
        return f"NormalInit: mean={self.mean}, std={self.std}, bias={self.bias}"


class TruncNormal(Init):
    def __init__(self, mean=0, std=1, a=-2, b=2, **kw):
        super().__init__(**kw)
        self.mean, self.std, self.a, self.b = mean, std, a, b

    def fill(self, w):
        # MMCV's own trunc_normal_: uniform in CDF space, inverse CDF, scale, shift, clamp.
        cdf = lambda x: (1. + math.erf(x / math.sqrt(2.))) / 2.
        lo, hi = cdf((self.a - self.mean) / self.std), cdf((self.b - self.mean) / self.std)
        with torch.no_grad():
            w.uniform_(2 * lo - 1, 2 * hi - 1)
            w.erfinv_()
            w.mul_(self.std * math.sqrt(2.))
            w.add_(self.mean)
            w.clamp_(min=self.a, max=self.b)

    def info(self):
        return (f"TruncNormalInit: a={self.a}, b={self.b}, mean={self.mean}, std={self.std}, "
                f"bias={self.bias}")


class Uniform(Init):
    def __init__(self, a=0., b=1., **kw):
        super().__init__(**kw)
        self.a, self.b = a, b

    def fill(self, w):
        nn.init.uniform_(w, self.a, self.b)

    def info(self):
        return f"UniformInit: a={self.a}, b={self.b}, bias={self.bias}"


class Kaiming(Init):
    label = "KaimingInit"

    def __init__(self, a=0, mode="fan_out", nonlinearity="relu", distribution="normal", **kw):
        super().__init__(**kw)
        self.a, self.mode, self.nonlinearity, self.distribution = a, mode, nonlinearity, distribution

    def fill(self, w):
        f = nn.init.kaiming_uniform_ if self.distribution == "uniform" else nn.init.kaiming_normal_
        f(w, a=self.a, mode=self.mode, nonlinearity=self.nonlinearity)

    def info(self):
        return (f"{self.label}: a={self.a}, mode={self.mode}, nonlinearity={self.nonlinearity}, "
                f"distribution ={self.distribution}, bias={self.bias}")


class Caffe2Xavier(Kaiming):
    label = "Caffe2XavierInit"

    def __init__(self, **kw):
        super().__init__(a=1, mode="fan_in", nonlinearity="leaky_relu", distribution="uniform", **kw)


INITIALIZERS = dict(Constant=Constant, Xavier=Xavier, Normal=Normal, TruncNormal=TruncNormal,
                    Uniform=Uniform, Kaiming=Kaiming, Caffe2Xavier=Caffe2Xavier)


def run_entry(module, cfg, whole):
    cfg = dict(cfg)
    init = INITIALIZERS[cfg.pop("type")](**cfg)
    init.whole = whole
    init(module)


def initialize(module, init_cfg):
    for cfg in ([init_cfg] if isinstance(init_cfg, dict) else init_cfg):
        cfg = copy.deepcopy(cfg)
        override = cfg.pop("override", None)
        run_entry(module, cfg, whole=False)
        if override is None:
            continue
        cfg.pop("layer", None)
        for item in ([override] if isinstance(override, dict) else override):
            item = copy.deepcopy(item)
            name = item.pop("name")
            if not item:
                item = dict(cfg)
            assert "type" in item
            run_entry(getattr(module, name), item, whole=True)


def update_init_info(module, info):
    for _, p in module.named_parameters():
        record = module._params_init_info[p]
        mean = p.data.mean()
        if record["mean"] != mean:
            record["info"], record["mean"] = info, mean


class BaseModule(nn.Module):
    def __init__(self, init_cfg=None):
        super().__init__()
        self._is_init = False
        self.init_cfg = copy.deepcopy(init_cfg)

    def init_weights(self):
        top = not hasattr(self, "_params_init_info")
        if top:
            table = {}
            for _, p in self.named_parameters():
                table[p] = dict(info="The value is the same before and after calling "
                                     f"`init_weights` of {type(self).__name__} ",
                                mean=p.data.mean())
            for m in self.modules():
                m._params_init_info = table
        name = type(self).__name__
        if not self._is_init:
            if self.init_cfg:
                MESSAGES.append(f"initialize {name} with init_cfg {self.init_cfg}")
                initialize(self, self.init_cfg)
                if isinstance(self.init_cfg, dict) and self.init_cfg["type"] == "Pretrained":
                    return
            for m in self.children():
                if hasattr(m, "init_weights"):
                    m.init_weights()
                    update_init_info(m, "Initialized by user-defined `init_weights` in "
                                        f"{type(m).__name__} ")
            self._is_init = True
        else:
            MESSAGES.append(f"init_weights of {name} has been called more than once.")
        if top:
            log = "Name of parameter - Initialization information\n"
            for n, p in self.named_parameters():
                log += f"\n{n} - {p.shape}: \n{self._params_init_info[p]['info']} \n"
            for m in self.modules():
                del m._params_init_info
            return log


class Sequential(BaseModule, nn.Sequential):
    def __init__(self, *mods, init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        nn.Sequential.__init__(self, *mods)


# ----------------------------------------------------------------------------------------------
# The toy model the C++ test rebuilds (tests/core/modeling/toy_model.h)
# ----------------------------------------------------------------------------------------------

class Head(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.cls = nn.Conv2d(4, 3, 1)
        self.reg = nn.Conv2d(4, 2, 1)


class Toy(BaseModule):
    def __init__(self, init_cfg=None, head_cfg=None, blocks_cfg=None):
        super().__init__(init_cfg)
        self.stem = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.blocks = Sequential(nn.Conv2d(4, 4, 3, bias=False), nn.GroupNorm(2, 4), nn.ReLU(),
                                 init_cfg=blocks_cfg)
        self.head = Head(head_cfg)
        self.fc = nn.Linear(8, 5)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def toy_cases():
    torch.manual_seed(7)
    reference = Toy()
    before = reference.state_dict()
    K = dict(type="Kaiming", layer="Conv2d")
    specs = [
        ("constant_layer", dict(type="Constant", layer="Conv2d", val=1, bias=2), None, None),
        ("constant_float_format", dict(type="Constant", layer="Linear", val=1.0, bias=0.0), None,
         None),
        ("constant_base_class_name", dict(type="Constant", layer="_ConvNd", val=0.3), None, None),
        ("xavier_uniform_gain", dict(type="Xavier", layer=["Conv2d", "Linear"], gain=2,
                                     distribution="uniform"), None, None),
        ("xavier_normal_default", dict(type="Xavier", layer="Conv2d"), None, None),
        ("normal_retina_head", None, dict(type="Normal", layer="Conv2d", std=0.01,
                                          override=dict(type="Normal", name="cls", std=0.01,
                                                        bias_prob=0.01)), None),
        ("normal_override_inherits", dict(type="Normal", layer="Conv2d", std=0.01, bias=0.5,
                                          override=dict(name="fc")), None, None),
        ("override_with_type_does_not_inherit", dict(type="Constant", layer="Conv2d", val=1,
                                                     bias=2, override=dict(type="Constant",
                                                                           name="head", val=3)),
         None, None),
        ("override_list_without_layer", dict(type="Normal", std=0.01, override=[
            dict(name="fc"), dict(name="stem", type="Constant", val=0.1)]), None, None),
        ("trunc_normal", dict(type="TruncNormal", layer=["Conv2d", "Linear"], std=0.02, a=-0.03,
                              b=0.03), None, None),
        ("uniform", dict(type="Uniform", layer="Linear", a=-0.5, b=0.5), None, None),
        ("kaiming_default", K, None, None),
        ("kaiming_uniform_leaky_fan_in", dict(type="Kaiming", layer=["Conv2d", "Linear"], a=0.1,
                                              mode="fan_in", nonlinearity="leaky_relu",
                                              distribution="uniform", bias=0.5), None, None),
        ("caffe2_xavier", dict(type="Caffe2Xavier", layer="Conv2d"), None, None),
        ("resnet_default_list", [K, dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])],
         None, None),
        ("child_init_cfg_wins", dict(type="Normal", layer="Conv2d", std=0.5),
         dict(type="Constant", layer="Conv2d", val=0.25), None),
        ("sequential_init_cfg", K, None, dict(type="Constant", layer="GroupNorm", val=0.5,
                                              bias=0.1)),
        ("no_init_cfg", None, None, None),
    ]
    cases = []
    for i, (name, root, head, blocks) in enumerate(specs):
        model = Toy(root, head, blocks)
        model.load_state_dict(before)
        MESSAGES.clear()
        seed = 1000 + i
        torch.manual_seed(seed)
        log = model.init_weights()
        text = lambda cfg: "" if cfg is None else json.dumps(cfg)
        cases.append(dict(name=name, root_cfg=text(root), head_cfg=text(head),
                          blocks_cfg=text(blocks), seed=seed, after=flat(model), log=log,
                          messages="\n".join(MESSAGES)))
    return [n for n, _ in reference.named_parameters()], flat(reference), cases


# ----------------------------------------------------------------------------------------------
# ConvModule construction and the built-in layers
# ----------------------------------------------------------------------------------------------

def conv_module_cases():
    out = []
    specs = [("conv_bn_relu", 3, 8, 3, 1, True, "ReLU", 0.0),
             ("conv_bias_no_norm", 4, 6, 1, 0, False, "ReLU", 0.0),
             ("conv_leaky", 4, 4, 3, 1, False, "LeakyReLU", 0.2),
             ("conv_no_act", 2, 5, 3, 1, True, "", 0.0)]
    for i, (name, cin, cout, k, pad, norm, act, slope) in enumerate(specs):
        seed = 2000 + i
        torch.manual_seed(seed)
        conv = nn.Conv2d(cin, cout, k, padding=pad, bias=not norm)  # bias "auto"
        if act == "LeakyReLU":
            nn.init.kaiming_normal_(conv.weight, a=slope, mode="fan_out",
                                    nonlinearity="leaky_relu")
        else:
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_out", nonlinearity="relu")
        if conv.bias is not None:
            nn.init.constant_(conv.bias, 0)
        out.append(dict(name=name, seed=seed, cin=cin, cout=cout, kernel=k, padding=pad,
                        norm=norm, act=act, slope=slope, conv_weight=conv.weight.detach().clone(),
                        conv_bias=(conv.bias.detach().clone() if conv.bias is not None
                                   else torch.zeros(0))))
    return out


def layer_cases():
    out = []
    torch.manual_seed(3000)
    conv = nn.Conv2d(3, 6, (3, 5), stride=2, padding=(1, 2), groups=3)
    x = torch.randn(2, 3, 9, 11)
    out.append(dict(name="conv2d", seed=3000, weight=conv.weight.detach().clone(),
                    bias=conv.bias.detach().clone(), input=x, output=conv(x).detach()))
    torch.manual_seed(3001)
    deconv = nn.ConvTranspose2d(4, 2, 2, stride=2)
    x = torch.randn(1, 4, 5, 5)
    out.append(dict(name="deconv", seed=3001, weight=deconv.weight.detach().clone(),
                    bias=deconv.bias.detach().clone(), input=x, output=deconv(x).detach()))
    torch.manual_seed(3002)
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    y_train = bn(x).detach()
    y_eval = bn.eval()(x).detach()
    out.append(dict(name="batch_norm", seed=3002, weight=bn.weight.detach().clone(),
                    bias=bn.bias.detach().clone(), input=x, output=y_train, output_eval=y_eval,
                    running_mean=bn.running_mean.clone(), running_var=bn.running_var.clone()))
    torch.manual_seed(3003)
    gn = nn.GroupNorm(2, 4)
    with torch.no_grad():
        gn.weight.uniform_(0.5, 1.5)
        gn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 4, 3, 3)
    out.append(dict(name="group_norm", seed=3003, weight=gn.weight.detach().clone(),
                    bias=gn.bias.detach().clone(), input=x, output=gn(x).detach()))
    x = torch.randn(1, 2, 3, 4)
    out.append(dict(name="nearest", input=x, output=F.interpolate(x, scale_factor=2.0,
                                                                  mode="nearest")))
    out.append(dict(name="bilinear", input=x, output=F.interpolate(
        x, scale_factor=2.0, mode="bilinear", align_corners=False)))
    return out


def self_checks():
    # bias_prob 0.01 gives MMCV's documented -4.59512; Python prints it as below.
    assert repr(bias_with_prob(0.01)) == "-4.59511985013459"
    # A Constant(val=1) on a BatchNorm weight that is already 1 leaves its record unchanged.
    torch.manual_seed(0)
    m = Toy([dict(type="Constant", layer="_BatchNorm", val=1)])
    log = m.init_weights()
    assert "bn.weight - torch.Size([4]): \nThe value is the same" in log


def main():
    self_checks()
    names, before, cases = toy_cases()
    data = dict(toy_names=names, toy_before=before, cases=cases, conv_modules=conv_module_cases(),
                layers=layer_cases())
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    torch.save(data, OUT)
    print(f"wrote {len(cases)} init cases to {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
